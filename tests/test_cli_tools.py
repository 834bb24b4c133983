"""pixelar complete / compress / decompress end to end, and their bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from pixelar.cli import main
from pixelar.completion import complete, known_after_unknown, rows_mask
from pixelar.imageio import read_image


@pytest.fixture(scope="module")
def binary_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("m2")
    torch.manual_seed(0)
    pixelar.create_model(
        "pixelcnn", image_shape=(1, 8, 8), num_levels=2, num_layers=1, hidden_channels=4
    ).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("m3")
    torch.manual_seed(0)
    pixelar.create_model(
        "pixelcnn", image_shape=(3, 6, 6), num_levels=256, num_layers=1, hidden_channels=6
    ).save_pretrained(d)
    return d


def run(*args) -> int:
    return main([str(a) for a in args])


def _png(path, arr):
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


def test_complete_library_keeps_top_rows(binary_model):
    model = pixelar.load(binary_model)
    x = torch.randint(0, 2, (2, 1, 8, 8))
    known = rows_mask(model.image_shape, 3)
    out = complete(model, x, known, n=3, generator=0)
    assert out.shape == (2, 3, 1, 8, 8)
    assert torch.equal(out[:, :, :, :3], x[:, None, :, :3].expand(2, 3, 1, 3, 8))
    assert not torch.equal(out[:, 0], out[:, 1])  # completions differ


def test_cli_complete_from_png_and_data(tmp_path, binary_model, capsys):
    rng = np.random.default_rng(0)
    img = _png(tmp_path / "a.png", (rng.random((8, 8)) > 0.5) * 255)
    assert (
        run(
            "complete", binary_model, "--input", img, "--keep-rows", "4", "-n", "2", "-o", tmp_path / "g.png", "--quiet"
        )
        == 0
    )
    assert Image.open(tmp_path / "g.png").size[0] > Image.open(tmp_path / "g.png").size[1]
    assert run("complete", binary_model, "--input", img, "--keep-rows", "99", "--quiet") == 2
    assert "--keep-rows" in capsys.readouterr().err


def test_cli_complete_with_a_mask(tmp_path, binary_model, capsys):
    rng = np.random.default_rng(3)
    img = _png(tmp_path / "a.png", (rng.random((8, 8)) > 0.5) * 255)
    prefix = np.zeros((8, 8))
    prefix[:3] = 255
    prefix[3, :5] = 255  # three rows and five pixels: a prefix of the generation order
    mask = _png(tmp_path / "m.png", prefix)
    args = ("complete", binary_model, "--input", img, "-n", "2", "-o", tmp_path / "g.png", "--quiet")
    assert run(*args, "--mask", mask) == 0
    out = capsys.readouterr()
    assert "29 of 64 pixels kept" in out.out and "note:" not in out.err
    bottom = _png(tmp_path / "b.png", np.flipud(prefix))
    assert run(*args, "--mask", bottom) == 0
    assert "note: the mask keeps pixels after the first one to sample" in capsys.readouterr().err
    assert run(*args, "--mask", _png(tmp_path / "small.png", np.zeros((4, 8)))) == 2
    assert "expects 8×8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # one or the other (argparse's usage error)
        run(*args, "--mask", mask, "--keep-rows", "2")
    assert exit_info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_completion_with_a_mask_keeps_exactly_the_known_pixels(binary_model):
    model = pixelar.load(binary_model)
    x = torch.randint(0, 2, (2, 1, 8, 8))
    known = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5
    assert known_after_unknown(known) and not known_after_unknown(rows_mask(model.image_shape, 3))
    out = complete(model, x, known, n=2, generator=0)
    assert torch.equal(out[:, :, known], x[:, None, known].expand(2, 2, -1))


def test_conditional_completion_library_and_cli(tmp_path, capsys):
    """A class-conditional model completes images given their labels (one per image or one for all)."""
    from helpers import randomize

    torch.manual_seed(0)
    model = randomize(pixelar.create_model("pixelcnn", image_shape=(1, 8, 8), num_levels=2, num_classes=3))
    model.save_pretrained(tmp_path / "cond")
    x = torch.randint(0, 2, (2, 1, 8, 8))
    known = rows_mask(model.image_shape, 4)
    by_label = [complete(model, x, known, n=2, cond=torch.tensor([k, k]), generator=0) for k in range(3)]
    assert all(torch.equal(o[:, :, :, :4], x[:, None, :, :4].expand(2, 2, 1, 4, 8)) for o in by_label)
    assert not torch.equal(by_label[0], by_label[2])  # the label changes the completions
    assert torch.equal(complete(model, x, known, n=2, cond=2, generator=0), by_label[2])
    with pytest.raises(pixelar.PixelarError, match="pass labels"):
        complete(model, x, known, n=2)
    with pytest.raises(pixelar.PixelarError, match="shape \\[2\\]"):
        complete(model, x, known, n=2, cond=torch.tensor([0, 1, 2]))
    img = _png(tmp_path / "a.png", (np.random.default_rng(0).random((8, 8)) > 0.5) * 255)
    args = ("complete", tmp_path / "cond", "--input", img, "-n", "2", "-o", tmp_path / "g.png", "--quiet")
    assert run(*args, "--label", "1") == 0
    assert run(*args) == 2 and "--label" in capsys.readouterr().err


def test_png_size_channels_and_levels_errors(tmp_path):
    with pytest.raises(pixelar.PixelarError, match="expects 8×8"):
        read_image(_png(tmp_path / "big.png", np.zeros((9, 8))), 1, 2, size=(8, 8))
    with pytest.raises(pixelar.PixelarError, match="channel"):
        read_image(_png(tmp_path / "grey.png", np.zeros((6, 6))), 3, 256)
    with pytest.raises(pixelar.PixelarError, match="quantise"):
        read_image(_png(tmp_path / "gray.png", np.full((8, 8), 100)), 1, 2)
    assert read_image(_png(tmp_path / "ok.png", np.full((8, 8), 255)), 1, 2).max() == 1
    rgb = np.random.default_rng(1).integers(0, 256, (6, 6, 3))
    assert torch.equal(read_image(_png(tmp_path / "rgb.png", rgb), 3, 256), torch.from_numpy(rgb).permute(2, 0, 1))


def test_cli_compress_decompress_round_trip(tmp_path, rgb_model, capsys):
    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 256, (6, 6, 3)) for _ in range(3)]
    files = [_png(tmp_path / f"{i}.png", a) for i, a in enumerate(arrays)]
    assert run("compress", rgb_model, *files, "-o", tmp_path / "x.pxz") == 0
    assert "bits/dim" in capsys.readouterr().out
    assert run("decompress", rgb_model, tmp_path / "x.pxz", "-o", tmp_path / "out", "--npy") == 0
    for i, a in enumerate(arrays):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"image_{i:04d}.png")), a)
    assert np.load(tmp_path / "out" / "images.npy").shape == (3, 3, 6, 6)


def test_cli_compresses_images_of_any_size_portably(tmp_path, binary_model, capsys):
    """Images of sizes other than the model's 8×8, mixed in one file, with --portable."""
    rng = np.random.default_rng(4)
    arrays = [rng.integers(0, 2, shape) * 255 for shape in [(5, 13), (1, 1), (12, 9)]]
    files = [_png(tmp_path / f"{i}.png", a) for i, a in enumerate(arrays)]
    assert run("compress", binary_model, *files, "--portable", "-o", tmp_path / "x.pxz") == 0
    assert "bits/dim" in capsys.readouterr().out
    assert run("decompress", binary_model, tmp_path / "x.pxz", "-o", tmp_path / "out") == 0
    for i, a in enumerate(arrays):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"image_{i:04d}.png")), a)
    assert run("decompress", binary_model, tmp_path / "x.pxz", "-o", tmp_path / "o2", "--npy") == 2
    assert "different sizes" in capsys.readouterr().err


def test_cli_decompress_errors(tmp_path, rgb_model, binary_model, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(3).integers(0, 2, (2, 1, 8, 8)))
    assert run("compress", binary_model, tmp_path / "x.npy", "-o", tmp_path / "x.pxz") == 0
    assert run("decompress", rgb_model, tmp_path / "x.pxz", "-o", tmp_path / "o") == 2
    assert "different model" in capsys.readouterr().err
    data = (tmp_path / "x.pxz").read_bytes()
    (tmp_path / "t.pxz").write_bytes(data[:-7])
    assert run("decompress", binary_model, tmp_path / "t.pxz", "-o", tmp_path / "o") == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    assert run("decompress", binary_model, tmp_path / "nope.pxz") == 2
    assert "cannot read" in capsys.readouterr().err


def test_missing_input_file_is_named(tmp_path, binary_model, capsys):
    assert run("compress", binary_model, tmp_path / "nope.png", "-o", tmp_path / "x.pxz") == 2
    assert "nope.png does not exist" in capsys.readouterr().err
