"""save_pretrained / load round trips and every damaged-file case."""

from __future__ import annotations

import json

import pytest
import torch

import pixelar
from helpers import tiny
from pixelar.errors import PixelarError


def test_round_trip_same_log_prob(tmp_path, model_name):
    model = tiny(model_name, (3, 4, 4), 4, num_classes=2).float()
    model.save_pretrained(tmp_path / "m")
    loaded = pixelar.load(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.randint(0, 4, (3, 3, 4, 4))
    c = torch.tensor([0, 1, 1])
    torch.testing.assert_close(loaded.log_prob(x, c), model.log_prob(x, c), rtol=0, atol=0)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["model"] == model_name and meta["config"]["image_shape"] == [3, 4, 4]


def test_float64_weights_load_as_float64(tmp_path):
    model = tiny("pixelcnn", (1, 4, 4), 2)
    model.save_pretrained(tmp_path)
    assert pixelar.load(tmp_path).dtype == torch.float64


@pytest.fixture
def saved(tmp_path):
    model = pixelar.create_model("pixelcnn", image_shape=(1, 4, 4), num_levels=2)
    return model.save_pretrained(tmp_path / "m")


def test_truncated_weights(saved):
    w = saved / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(PixelarError, match="corrupt or truncated"):
        pixelar.load(saved)


def test_garbage_weights(saved):
    (saved / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(PixelarError, match="corrupt or truncated"):
        pixelar.load(saved)


def test_corrupt_config(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(PixelarError, match="corrupt"):
        pixelar.load(saved)


def test_newer_format_version(saved):
    meta = json.loads((saved / "config.json").read_text())
    meta["version"] = 99
    (saved / "config.json").write_text(json.dumps(meta))
    with pytest.raises(PixelarError, match="newer pixelar"):
        pixelar.load(saved)


def test_weights_not_matching_config(saved):
    meta = json.loads((saved / "config.json").read_text())
    meta["config"]["hidden_channels"] = 5
    (saved / "config.json").write_text(json.dumps(meta))
    with pytest.raises(PixelarError, match=r"does not match .*other shape"):
        pixelar.load(saved)


def test_weights_of_another_layout_name_the_keys(saved):
    """Weights saved by a version with other layer names: the message names what differs."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(saved / "model.safetensors"))
    state = {k.replace("head.", "output."): v for k, v in state.items()}
    save_file(state, str(saved / "model.safetensors"))
    with pytest.raises(PixelarError, match=r"missing head\..*unexpected output\..*another pixelar version"):
        pixelar.load(saved)


def test_missing_directory_and_weights(tmp_path, saved):
    with pytest.raises(PixelarError, match="does not exist"):
        pixelar.load(tmp_path / "nowhere")
    (saved / "model.safetensors").unlink()
    with pytest.raises(PixelarError, match="missing"):
        pixelar.load(saved)


def test_wrong_image_shape_and_levels_are_clear():
    model = pixelar.create_model("pixelcnn", image_shape=(3, 8, 8), num_levels=256)
    with pytest.raises(PixelarError, match=r"expects \[batch, 3, 8, 8\]"):
        model.log_prob(torch.zeros(2, 1, 8, 8, dtype=torch.long))
    with pytest.raises(PixelarError, match="levels"):
        model.log_prob(torch.full((1, 3, 8, 8), 300))
    with pytest.raises(PixelarError, match="integer"):
        model.log_prob(torch.zeros(1, 3, 8, 8))


def test_unknown_model_and_hyperparameter():
    with pytest.raises(PixelarError, match="unknown model"):
        pixelar.create_model("pixelgan")
    with pytest.raises(PixelarError, match="no hyperparameter num_layer"):
        pixelar.create_model("pixelcnn", num_layer=3)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    path = pixelar.create_model("pixelcnn", image_shape=(1, 4, 4), num_levels=2).save_pretrained(tmp_path / "m")
    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE((path / "model.safetensors").stat().st_mode)
    assert mode == 0o666 & ~mask
