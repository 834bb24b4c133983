"""Folder datasets cut into tiles (``tiles=True``) and quantised to fewer levels (``levels=2``):
exact tiles, the split by image, the threshold, the errors, and a short training run on tiles
from the command line that a resume continues with the same settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from helpers import TINY
from pixelar.cli import main
from pixelar.data import DATASET_PARAMS, DATASETS, get_dataset
from pixelar.data.folder import image_tiles, quantise
from pixelar.errors import PixelarError
from pixelar.imageio import level_values
from pixelar.training import TrainConfig, resume_config, run_data_source, train


def cli(*argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def numbered(height: int, width: int, start: int = 0, channels: int = 0) -> np.ndarray:
    """An image whose pixels are numbered in raster order from ``start`` (mod 256), so every tile
    of it is different; [H, W] or, with channels, [H, W, C] (channel c adds 85·c)."""
    arr = (np.arange(height * width).reshape(height, width) + start) % 256
    if channels:
        arr = np.stack([(arr + 85 * c) % 256 for c in range(channels)], axis=-1)
    return arr.astype(np.uint8)


def test_tiles_are_the_non_overlapping_squares_row_by_row(tmp_path):
    arr = numbered(13, 22)  # 3 rows × 5 columns of 4×4 tiles; 1 row and 2 columns left over
    Image.fromarray(arr).save(tmp_path / "a.png")
    ds = get_dataset(f"folder:{tmp_path}", "all", image_size=4, channels=1, tiles=True)
    assert ds.images.shape == (15, 1, 4, 4) and ds.num_levels == 256 and ds.labels is None
    for index, tile in enumerate(ds.images):
        row, col = divmod(index, 5)
        assert np.array_equal(tile[0].numpy(), arr[4 * row : 4 * row + 4, 4 * col : 4 * col + 4]), index
    # an image exactly one tile wide gives one column; one of the tile's size, one tile
    Image.fromarray(numbered(9, 4, 7)).save(tmp_path / "b.png")
    Image.fromarray(numbered(4, 4, 9)).save(tmp_path / "c.png")
    ds = get_dataset(f"folder:{tmp_path}", "all", image_size=4, channels=1, tiles=True)
    assert len(ds) == 15 + 2 + 1
    assert np.array_equal(ds.images[15, 0].numpy(), numbered(9, 4, 7)[:4])
    assert np.array_equal(ds.images[16, 0].numpy(), numbered(9, 4, 7)[4:8])
    assert np.array_equal(ds.images[17, 0].numpy(), numbered(4, 4, 9))


def test_colour_tiles_keep_their_channels(tmp_path):
    arr = numbered(6, 9, channels=3)
    Image.fromarray(arr).save(tmp_path / "rgb.png")
    ds = get_dataset(f"folder:{tmp_path}", "all", image_size=3, channels=3, tiles=True)
    assert ds.images.shape == (6, 3, 3, 3)
    assert np.array_equal(ds.images[4].numpy(), arr[3:6, 3:6].transpose(2, 0, 1))  # row 1, column 1
    assert np.array_equal(image_tiles(arr.transpose(2, 0, 1), 3, "x")[4], ds.images[4].numpy())


def test_the_split_is_by_image_every_tenth_image_is_test(tmp_path):
    # 21 images, each of one constant value (its number) and of its own size, so every tile
    # tells which image it came from; sorted names: img00 ... img20, test: img09 and img19
    tiles_of = {}
    for i in range(21):
        height, width = 4 * (1 + i % 3), 4 * (1 + i % 2) + i % 4  # 1-3 rows, 1-2 columns (+ a remainder)
        Image.fromarray(np.full((height, width), i, np.uint8)).save(tmp_path / f"img{i:02d}.png")
        tiles_of[i] = (height // 4) * (width // 4)
    split = {s: get_dataset(f"folder:{tmp_path}", s, image_size=4, channels=1, tiles=True) for s in ("train", "test")}
    every = get_dataset(f"folder:{tmp_path}", "all", image_size=4, channels=1, tiles=True)
    sources = {s: [int(t[0, 0, 0]) for t in ds.images] for s, ds in split.items()}
    assert sorted(set(sources["test"])) == [9, 19]
    assert set(sources["train"]) == set(range(21)) - {9, 19}
    for s, ds in split.items():  # every tile of an image is in its image's split, whole
        assert all((t == t[0, 0, 0]).all() for t in ds.images)
        assert {i: sources[s].count(i) for i in set(sources[s])} == {i: tiles_of[i] for i in set(sources[s])}
    assert len(split["train"]) + len(split["test"]) == len(every) == sum(tiles_of.values())
    assert "tiles" in split["test"].name


def test_under_ten_images_every_split_holds_every_image(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 4), 10 * i, np.uint8)).save(tmp_path / f"{i}.png")
    datasets = [get_dataset(f"folder:{tmp_path}", s, image_size=4, channels=1, tiles=True) for s in ("train", "test")]
    for ds in datasets:
        assert [int(t[0, 0, 0]) for t in ds.images] == [0, 0, 10, 10, 20, 20]


def test_tiles_have_the_label_of_their_image(tmp_path):
    for cls, (count, height) in {"a": (2, 4), "b": (1, 12)}.items():
        (tmp_path / cls).mkdir()
        for i in range(count):
            Image.fromarray(np.full((height, 4), 50 if cls == "a" else 150, np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = get_dataset(f"folder:{tmp_path}", "all", image_size=4, channels=1, tiles=True)
    assert ds.labels.tolist() == [0, 0, 1, 1, 1] and ds.num_classes == 2
    assert [int(t[0, 0, 0]) for t in ds.images] == [50, 50, 150, 150, 150]


def test_two_levels_threshold_at_128(tmp_path):
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(arr).save(tmp_path / "ramp.png")
    tiled = get_dataset(f"folder:{tmp_path}", "all", image_size=8, channels=1, tiles=True, levels=2)
    assert tiled.num_levels == 2 and tiled.images.dtype == torch.uint8
    whole = torch.cat(
        [torch.cat([tiled.images[0, 0], tiled.images[1, 0]], 1), torch.cat([tiled.images[2, 0], tiled.images[3, 0]], 1)]
    )
    assert np.array_equal(whole.numpy(), (arr >= 128).astype(np.uint8))
    resized = get_dataset(f"folder:{tmp_path}", "all", image_size=16, channels=1, levels=2)  # no resize at 16
    assert np.array_equal(resized.images[0, 0].numpy(), (arr >= 128).astype(np.uint8))
    # K levels: each level's own 8-bit value (what pixelar writes and compress reads) maps to it
    for levels in (2, 3, 4, 16, 255, 256):
        assert np.array_equal(quantise(level_values(levels), levels), np.arange(levels)), levels
        q = quantise(np.arange(256, dtype=np.uint8), levels)
        assert q.min() == 0 and q.max() == levels - 1 and (np.diff(q.astype(int)) >= 0).all()


def test_errors_are_one_line_and_name_the_fix(tmp_path, capsys):
    Image.fromarray(np.zeros((20, 6), np.uint8)).save(tmp_path / "narrow.png")
    with pytest.raises(PixelarError, match=r"narrow\.png is 6×20 pixels, smaller than one 8×8 tile") as info:
        get_dataset(f"folder:{tmp_path}", "train", image_size=8, channels=1, tiles=True)
    assert "at most 6" in str(info.value) and info.value.params == ("image_size",)
    for levels in (1, 257, 2.0, True):
        with pytest.raises(PixelarError, match="levels must be an integer from 2 to 256"):
            get_dataset(f"folder:{tmp_path}", "train", image_size=4, channels=1, levels=levels)
    with pytest.raises(PixelarError, match="apply to folder:PATH datasets only"):
        get_dataset("digits", "test", tiles=True, levels=2)
    with pytest.raises(PixelarError, match="levels=2 applies to folder:PATH datasets only"):
        get_dataset("digits", "test", levels=2)
    for bad in ({"levels": 1}, {"levels": 300}, {"levels": "2"}, {"tiles": "yes"}, {"tiles": 1}):
        with pytest.raises(PixelarError, match=f"{next(iter(bad))} must be"):
            TrainConfig(**bad).validate()
    # the command line: the flags spelled as flags, one line, exit status 2, no run left behind
    base = ["train", "--model", "pixelcnn", "--num-layers", "1", "--hidden-channels", "4", "--steps", "1", "--quiet"]
    cases = {
        "lower --image-size to at most 6, or remove the image": [
            "--data",
            f"folder:{tmp_path}",
            "--tiles",
            "--image-size",
            "8",
        ],
        "--levels must be": ["--data", f"folder:{tmp_path}", "--image-size", "4", "--levels", "1"],
        "--tiles and --levels 2 apply to folder:PATH": ["--data", "digits", "--tiles", "--levels", "2"],
    }
    for expected, flags in cases.items():
        assert cli(*base, *flags, "--channels", "1", "--out", tmp_path / "run") == 2, expected
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
        assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_datasets_describe_tiles_and_levels():
    text = DATASETS["folder:PATH"]
    assert "tiles=True" in text and "levels=2" in text and "split by image" in text
    assert {"tiles", "levels"} <= set(DATASET_PARAMS)


def test_cli_trains_on_binary_tiles_and_resume_keeps_the_settings(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(11):  # 10 train images, 1 test image (img09)
        arr = (rng.random((12 + i, 17)) > 0.5).astype(np.uint8) * 255
        Image.fromarray(arr).convert("1").save(images / f"img{i:02d}.png")
    run = tmp_path / "run"
    argv = ["train", "--data", f"folder:{images}", "--tiles", "--image-size", "8", "--levels", "2"]
    argv += ["--channels", "1", "--model", "pixelcnn", "--num-layers", "1", "--hidden-channels", "4"]
    argv += ["--steps", "3", "--batch-size", "4", "--eval-every", "0", "--num-samples", "0", "--out", run, "--quiet"]
    assert cli(*argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"folder:{images}" in out and "(4 images)" in out  # img09: 21×17 -> 2×2 tiles of 8×8
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["tiles"] is True and saved["levels"] == 2 and saved["image_size"] == 8
    model = pixelar.load(run / "model")
    assert model.num_levels == 2 and model.image_shape == (1, 8, 8)
    source = run_data_source(run, model.image_shape)
    assert (source.tiles, source.levels, source.image_size) == (True, 2, 8)
    assert run_data_source(run, model.image_shape, data="digits-binary")[3:] == (False, None)
    # the resume continues with the run's own settings, and refuses flags that would change them
    config = resume_config(run, steps=5)
    assert (config.tiles, config.levels, config.channels) == (True, 2, 1)
    assert cli("train", "--resume", run, "--tiles", "--quiet") == 2
    assert "--tiles cannot change them" in capsys.readouterr().err
    assert cli("train", "--resume", run, "--levels", "2", "--quiet") == 2
    assert "--levels" in capsys.readouterr().err
    assert cli("train", "--resume", run, "--steps", "5", "--quiet") == 0, capsys.readouterr().err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 5 and json.loads((run / "train_config.json").read_text())["tiles"] is True
    assert pixelar.load(run / "model").num_levels == 2
    # eval and complete read the run's own tiles and levels
    assert cli("eval", run, "--split", "test") == 0, capsys.readouterr().err
    assert "4 images" in capsys.readouterr().out
    assert cli("complete", run, "--count", "1", "-n", "1", "-o", tmp_path / "c.png") == 0, capsys.readouterr().err


def test_library_training_on_tiles(tmp_path):
    for i in range(2):
        Image.fromarray(numbered(16, 8, 100 * i)).save(tmp_path / f"{i}.png")
    config = TrainConfig(
        model="pixelcnn", model_args=TINY, data=f"folder:{tmp_path}", image_size=8, channels=1, tiles=True,
        levels=4, batch_size=2, steps=2, eval_every=0, num_samples=0, log_every=1,
    )  # fmt: skip
    assert TrainConfig.from_json(config.to_json()) == config
    result = train(config, tmp_path / "run", progress=False)
    assert result["images"] == 4  # under 10 images: the test split is every image's tiles
    assert pixelar.load(tmp_path / "run" / "model").num_levels == 4


def test_old_run_configs_read_without_the_new_settings():
    text = json.dumps({k: v for k, v in json.loads(TrainConfig().to_json()).items() if k not in ("tiles", "levels")})
    config = TrainConfig.from_json(text)
    assert config.tiles is False and config.levels is None
