"""The one reading of image files: every PNG mode and .npy dtype either round-trips through
compress/decompress to the same file pixels or is refused with one line — never changed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from pixelar.cli import main
from pixelar.imageio import from_8bit, level_values, read_image, read_images, read_mask, read_npy, to_8bit

RNG = np.random.default_rng(0)


def _model(tmp_path_factory, name, shape, levels):
    d = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    pixelar.create_model(
        "pixelcnn", image_shape=shape, num_levels=levels, num_layers=1, hidden_channels=6
    ).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {
        "binary": _model(tmp_path_factory, "binary", (1, 6, 6), 2),
        "four": _model(tmp_path_factory, "four", (1, 6, 6), 4),
        "grey": _model(tmp_path_factory, "grey", (1, 6, 6), 256),
        "rgb": _model(tmp_path_factory, "rgb", (3, 6, 6), 256),
    }


def run(*args) -> int:
    return main([str(a) for a in args])


def round_trip(tmp_path, model_dir, source, *flags) -> np.ndarray:
    """compress then decompress ``source``; the decompressed PNG's pixels (and .npy levels)."""
    assert run("compress", model_dir, source, "-o", tmp_path / "x.pxz", *flags) == 0
    assert run("decompress", model_dir, tmp_path / "x.pxz", "-o", tmp_path / "out", "--npy") == 0
    return np.asarray(Image.open(tmp_path / "out" / "image_0000.png"))


def refused(tmp_path, capsys, model_dir, source, match, *flags) -> None:
    capsys.readouterr()  # drop what earlier commands printed (e.g. compress's progress bar)
    assert run("compress", model_dir, source, "-o", tmp_path / "refused.pxz", *flags) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "refused.pxz").exists()


def save(img: Image.Image, path) -> str:
    img.save(path)
    return str(path)


def test_level_mapping_is_exact_and_inverse():
    for k in (2, 3, 4, 16, 256):
        table = level_values(k)
        assert table[0] == 0 and table[-1] == 255 and len(set(table.tolist())) == k
        assert np.array_equal(from_8bit(table, k, "t"), np.arange(k))
        assert np.array_equal(to_8bit(np.arange(k).reshape(1, 1, k), k)[..., 0], table[None])


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_greyscale_modes_round_trip(tmp_path, models, mode):
    grey = RNG.integers(0, 256, (6, 6), dtype=np.uint8)
    arr = grey if mode == "L" else np.stack([grey, np.full_like(grey, 255)], -1)
    path = save(Image.fromarray(arr, mode), tmp_path / "in.png")
    assert np.array_equal(round_trip(tmp_path, models["grey"], path), grey)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_modes_round_trip(tmp_path, models, mode):
    rgb = RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    arr = rgb if mode == "RGB" else np.concatenate([rgb, np.full((6, 6, 1), 255, np.uint8)], -1)
    path = save(Image.fromarray(arr, mode), tmp_path / "in.png")
    assert np.array_equal(round_trip(tmp_path, models["rgb"], path), rgb)


def test_palette_images_are_their_colours(tmp_path, models, capsys):
    colour = Image.fromarray(RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)).quantize(8)
    assert colour.mode == "P"
    path = save(colour, tmp_path / "p.png")
    assert np.array_equal(round_trip(tmp_path, models["rgb"], path), np.asarray(colour.convert("RGB")))
    refused(tmp_path, capsys, models["grey"], path, "colour pixels")
    # a palette of greys is one channel for a greyscale model (not "always 3 channels")
    grey = Image.fromarray(RNG.integers(0, 256, (6, 6), dtype=np.uint8)).convert("P")
    path = save(grey, tmp_path / "pg.png")
    assert np.array_equal(round_trip(tmp_path, models["grey"], path), np.asarray(grey.convert("L")))


def test_one_bit_images_round_trip(tmp_path, models):
    bits = RNG.random((6, 6)) > 0.5
    path = save(Image.fromarray(bits), tmp_path / "b.png")
    assert Image.open(path).mode == "1"
    assert np.array_equal(round_trip(tmp_path, models["binary"], path), bits.astype(np.uint8) * 255)


def test_transparency_is_refused_not_dropped(tmp_path, models, capsys):
    rgba = np.concatenate([RNG.integers(0, 256, (6, 6, 3)), np.full((6, 6, 1), 255)], -1).astype(np.uint8)
    rgba[2, 3, 3] = 0  # one transparent pixel
    refused(tmp_path, capsys, models["rgb"], save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"), "transparent")
    la = np.stack([np.full((6, 6), 7, np.uint8), np.full((6, 6), 128, np.uint8)], -1)
    refused(tmp_path, capsys, models["grey"], save(Image.fromarray(la, "LA"), tmp_path / "la.png"), "transparent")
    pal = Image.fromarray(RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)).quantize(4)
    pal.info["transparency"] = 0
    refused(tmp_path, capsys, models["rgb"], save(pal, tmp_path / "pt.png"), "transparent")
    grey = Image.fromarray(np.zeros((6, 6), np.uint8))
    grey.info["transparency"] = 0  # tRNS: grey value 0 is transparent
    refused(tmp_path, capsys, models["grey"], save(grey, tmp_path / "trns.png"), "transparent")


def test_sixteen_bit_images_are_refused_unless_levels(tmp_path, models, capsys):
    wide = Image.fromarray(RNG.integers(0, 65536, (6, 6)).astype(np.uint16))
    path = save(wide, tmp_path / "w.png")
    assert Image.open(path).mode.startswith("I")
    refused(tmp_path, capsys, models["binary"], path, "more than 8-bit")
    small = RNG.integers(0, 4, (6, 6)).astype(np.uint16)  # 16-bit container of level indices
    path = save(Image.fromarray(small), tmp_path / "s.png")
    refused(tmp_path, capsys, models["four"], path, "more than 8-bit")
    round_trip(tmp_path, models["four"], path, "--values", "levels")
    assert np.array_equal(np.load(tmp_path / "out" / "images.npy")[0, 0], small)


def test_values_are_declared_never_guessed(tmp_path, models, capsys):
    dark = RNG.integers(0, 4, (6, 6), dtype=np.uint8)  # a dark 8-bit image, not level indices
    path = save(Image.fromarray(dark), tmp_path / "dark.png")
    refused(tmp_path, capsys, models["four"], path, "none of the model's 4 levels")
    round_trip(tmp_path, models["four"], path, "--values", "levels")
    assert np.array_equal(np.load(tmp_path / "out" / "images.npy")[0, 0], dark)
    four = level_values(4)[dark]  # the same levels as 8-bit intensities 0, 85, 170, 255
    path = save(Image.fromarray(four), tmp_path / "four.png")
    assert np.array_equal(round_trip(tmp_path, models["four"], path), four)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64, np.float32, bool])
def test_npy_dtypes_round_trip(tmp_path, models, dtype):
    levels = 2 if dtype is bool else 256
    x = RNG.integers(0, levels, (2, 1, 6, 6)).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    model = models["binary" if dtype is bool else "grey"]
    round_trip(tmp_path, model, tmp_path / "x.npy")
    assert np.array_equal(np.load(tmp_path / "out" / "images.npy"), x.astype(np.int64))


def test_npy_values_the_model_cannot_hold_are_refused(tmp_path, models, capsys):
    np.save(tmp_path / "f.npy", np.full((1, 1, 6, 6), 0.7))
    refused(tmp_path, capsys, models["binary"], tmp_path / "f.npy", "non-integral")
    np.save(tmp_path / "big.npy", np.full((1, 1, 6, 6), 300, np.uint16))
    refused(tmp_path, capsys, models["grey"], tmp_path / "big.npy", "holds the level 300")
    np.save(tmp_path / "neg.npy", np.full((1, 1, 6, 6), -1))
    refused(tmp_path, capsys, models["grey"], tmp_path / "neg.npy", "holds the level -1")
    np.save(tmp_path / "nan.npy", np.full((1, 1, 6, 6), np.nan))
    refused(tmp_path, capsys, models["grey"], tmp_path / "nan.npy", "non-integral")
    np.save(tmp_path / "c.npy", np.zeros((1, 1, 6, 6), complex))
    refused(tmp_path, capsys, models["grey"], tmp_path / "c.npy", "complex")
    np.save(tmp_path / "shape.npy", np.zeros((1, 3, 6, 6), np.uint8))
    refused(tmp_path, capsys, models["grey"], tmp_path / "shape.npy", "[N, 1, H, W]")
    np.save(tmp_path / "bytes.npy", np.array([0, 255], np.uint8).reshape(1, 1, 1, 2).repeat(6, 2).repeat(3, 3))
    x = read_npy(tmp_path / "bytes.npy", 1, 2, values="8bit")
    assert x.unique().tolist() == [0, 1]
    with pytest.raises(pixelar.PixelarError, match="holds the level 255"):
        read_npy(tmp_path / "bytes.npy", 1, 2)


def test_unreadable_and_odd_files(tmp_path, models, capsys):
    (tmp_path / "empty.png").write_bytes(b"")
    refused(tmp_path, capsys, models["grey"], tmp_path / "empty.png", "not a readable image")
    good = save(Image.fromarray(np.zeros((6, 6), np.uint8)), tmp_path / "g.png")
    (tmp_path / "cut.png").write_bytes(open(good, "rb").read()[:40])
    refused(tmp_path, capsys, models["grey"], tmp_path / "cut.png", "not a readable image")
    (tmp_path / "cut.npy").write_bytes(b"\x93NUMPY")
    refused(tmp_path, capsys, models["grey"], tmp_path / "cut.npy", "not a readable .npy")
    cmyk = save(Image.new("CMYK", (6, 6)), tmp_path / "c.jpg")
    refused(tmp_path, capsys, models["rgb"], cmyk, "CMYK")
    floats = save(Image.fromarray(np.zeros((6, 6), np.float32)), tmp_path / "f.tiff")
    refused(tmp_path, capsys, models["grey"], floats, "floating-point")
    with pytest.raises(pixelar.PixelarError, match="different sizes"):
        read_images([good, save(Image.fromarray(np.zeros((7, 6), np.uint8)), tmp_path / "h.png")], 1, 256)
    with pytest.raises(pixelar.PixelarError, match="'8bit' or 'levels'"):
        read_image(good, 1, 256, values="auto")  # type: ignore[arg-type]


def test_complete_reads_inputs_the_same_way(tmp_path, models, capsys):
    wide = save(Image.fromarray(np.zeros((6, 6), np.uint16)), tmp_path / "w.png")
    assert run("complete", models["grey"], "--input", wide, "-o", tmp_path / "c.png", "--quiet") == 2
    assert "more than 8-bit" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", RNG.integers(0, 256, (2, 1, 6, 6)))
    assert (
        run("complete", models["grey"], "--input", tmp_path / "x.npy", "-n", "1", "-o", tmp_path / "c.png", "--quiet")
        == 0
    )


def test_masks_are_black_and_white_images(tmp_path):
    bits = RNG.random((6, 6)) > 0.5
    for mode_arr in (bits, bits.astype(np.uint8) * 255):  # 1-bit and 8-bit greyscale
        known = read_mask(save(Image.fromarray(mode_arr), tmp_path / "m.png"), (3, 6, 6))
        assert known.shape == (3, 6, 6) and torch.equal(known[2], torch.from_numpy(bits))
    grey = bits.astype(np.uint8) * 200  # 200 is not white: refused, not thresholded
    with pytest.raises(pixelar.PixelarError, match="black \\(0\\) and white \\(255\\)"):
        read_mask(save(Image.fromarray(grey), tmp_path / "g.png"), (1, 6, 6))
    with pytest.raises(pixelar.PixelarError, match="transparent"):
        read_mask(save(Image.fromarray(np.zeros((6, 6, 2), np.uint8), "LA"), tmp_path / "t.png"), (1, 6, 6))
    with pytest.raises(pixelar.PixelarError, match="expects 6×6"):
        read_mask(save(Image.fromarray(np.zeros((5, 6), np.uint8)), tmp_path / "s.png"), (1, 6, 6))
