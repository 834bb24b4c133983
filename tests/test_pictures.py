"""Pictures of the models at work: receptive-field maps against the known geometry, the bits
heat map against the model's NLL, generation animations in the real generation order, and the
picture verbs of the CLI end to end (with their one-line errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import tiny, tiny_train_config
from pixelar.animation import generation_frames, record_generation, save_animation
from pixelar.bits_map import bits_figure, bits_per_subpixel, save_bits_map
from pixelar.cli import main
from pixelar.codec import image_nll_bits
from pixelar.completion import complete, rows_mask
from pixelar.errors import PixelarError
from pixelar.incremental import step_index
from pixelar.plotting import make_grid
from pixelar.receptive_field import receptive_field, receptive_field_figure
from pixelar.training import train

# -- receptive fields --------------------------------------------------------------------------

SHAPE = (1, 8, 8)
TARGET = (4, 2)  # row, column: the blind spot lies at (3, 6), (3, 7) and (2, 7)


def _cone(shape, pixel):
    """The plain PixelCNN's field (deep enough): row h − j up to column w + j + 2 — the 7×7
    mask-A input layer reaches 3 columns right in the rows above it, each 3×3 mask-B layer one
    column right per row up — and the current row to the left."""
    _, H, W = shape
    row, col = pixel
    cone = torch.zeros(H, W, dtype=torch.bool)
    for r in range(row):
        cone[r, : min(W, col + (row - r) + 2 + 1)] = True
    cone[row, :col] = True
    return cone


def test_plain_pixelcnn_field_is_the_cone_with_its_blind_spot():
    field = receptive_field(tiny("pixelcnn", SHAPE, 4, num_layers=8), TARGET)
    assert field.pixel == TARGET and field.effect.shape == SHAPE and field.effect.dtype == torch.float64
    dep = field.dependencies[0]
    assert not dep[3, 6:].any() and not dep[2, 7]  # the blind spot: above-right, beyond the cone
    assert torch.equal(dep, _cone(SHAPE, TARGET))  # exactly the cone, pixel for pixel
    assert field.outside_past == 0 and not (field.dependencies & ~field.past).any()
    assert torch.equal(field.past[0], torch.arange(64).reshape(8, 8) < 4 * 8 + 2)
    assert 0 < field.coverage < 1
    assert field.coverage == pytest.approx(int(dep.sum()) / 34)


@pytest.mark.parametrize("name,layers", [("gated-pixelcnn", 5), ("diagonal-bilstm", 2)])
def test_gated_pixelcnn_and_diagonal_bilstm_have_no_blind_spot(name, layers):
    field = receptive_field(tiny(name, SHAPE, 4, num_layers=layers), TARGET)
    dep = field.dependencies[0]
    assert dep[3, 6:].all()  # where the plain PixelCNN is blind
    assert torch.equal(field.dependencies, field.past)  # the whole past, nothing else
    assert field.coverage == 1.0 and field.outside_past == 0


def test_pixelcnn_covers_less_than_gated_pixelcnn_at_the_same_depth():
    shape = (1, 10, 10)
    plain = receptive_field(tiny("pixelcnn", shape, 4, num_layers=4), (6, 5))
    gated = receptive_field(tiny("gated-pixelcnn", shape, 4, num_layers=4), (6, 5))
    assert 0 < plain.coverage < gated.coverage <= 1
    assert plain.outside_past == gated.outside_past == 0


def test_rgb_channel_and_multiscale_order():
    rgb = receptive_field(tiny("pixelcnn", (3, 6, 6), 4, num_layers=3), (2, 2), channel=1)
    assert rgb.dependencies[0, 2, 2] and not rgb.dependencies[1:, 2, 2].any()  # G reads R of its pixel only
    assert rgb.past[0, 2, 2] and not rgb.past[1, 2, 2] and rgb.outside_past == 0
    multi = tiny("multiscale-pixelrnn", (1, 6, 6), 4)
    field = receptive_field(multi, (1, 1))  # generated after the whole small image
    assert field.past[0, ::2, ::2].all() and not field.past[0, 1, 2] and field.outside_past == 0
    assert field.dependencies[0, 0].all() and field.dependencies[0, 1, 0]  # the raster past
    assert 0 < field.coverage < 1


def test_receptive_field_at_another_size_and_the_figure():
    model = tiny("pixelcnn", SHAPE, 4, num_layers=2)
    field = receptive_field(model, image_shape=(12, 10))
    assert field.pixel == (6, 5) and field.effect.shape == (1, 12, 10)
    assert model.image_shape == SHAPE  # measured on a copy
    picture = receptive_field_figure([("a", field), ("b", receptive_field(model))])
    assert picture.mode == "RGB" and picture.width > picture.height > 100


def test_receptive_field_errors():
    model = tiny("pixelcnn", SHAPE, 4)
    with pytest.raises(PixelarError, match=r"pixel must lie inside the 8×8 image") as e:
        receptive_field(model, (8, 0))
    assert e.value.params == ("pixel",)
    with pytest.raises(PixelarError, match="channel must be in 0…0"):
        receptive_field(model, channel=1)
    with pytest.raises(PixelarError, match="no receptive fields"):
        receptive_field_figure([])


# -- the bits heat map ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pixelcnn", "pixelcnn++", "multiscale-pixelrnn"])
def test_bits_are_the_conditionals_and_sum_to_the_nll(name):
    model = tiny(name, (3, 4, 4), 8)
    x = torch.randint(0, 8, (3, 3, 4, 4), generator=torch.Generator().manual_seed(1))
    bits = bits_per_subpixel(model, x.to(torch.uint8))
    assert bits.shape == x.shape and bits.dtype == torch.float64 and (bits >= 0).all()
    table = model.conditionals(x)  # [B, C, K, H, W], log p(x_i = k | x_<i)
    expected = -table.gather(2, x[:, :, None]).squeeze(2).double() / math.log(2)
    assert torch.allclose(bits, expected, rtol=1e-6, atol=1e-9)
    nll = -model.log_prob(x).double() / math.log(2)
    assert torch.allclose(bits.sum((1, 2, 3)), nll, rtol=1e-9)
    assert float(bits.sum()) == pytest.approx(image_nll_bits(model, x), rel=1e-9)
    assert torch.equal(bits_per_subpixel(model, x[0]), bits[0])  # one image [C, H, W]


def test_bits_of_a_conditional_model_depend_on_the_label():
    model = tiny("gated-pixelcnn", (1, 5, 5), 2, num_classes=3)
    x = torch.randint(0, 2, (2, 1, 5, 5))
    a, b = bits_per_subpixel(model, x, 0), bits_per_subpixel(model, x, torch.tensor([1, 2]))
    assert not torch.allclose(a, b)
    assert torch.allclose(a.sum((1, 2, 3)), -model.log_prob(x, torch.tensor([0, 0])).double() / math.log(2))
    with pytest.raises(PixelarError, match="class-conditional"):
        bits_per_subpixel(model, x)


def test_bits_figure_and_errors(tmp_path):
    model = tiny("pixelcnn", (1, 6, 6), 2)
    x = torch.randint(0, 2, (2, 1, 6, 6))
    bits = bits_per_subpixel(model, x)
    one, two = bits_figure(x[0], bits[0], 2), bits_figure(x, bits, 2, names=["a", "b"])
    assert one.mode == "RGB" and two.height > 1.5 * one.height
    path = save_bits_map(x, bits, 2, tmp_path / "bits.png")
    assert Image.open(path).size == two.size
    with pytest.raises(PixelarError, match="shape"):
        bits_figure(x, bits[:1], 2)
    with pytest.raises(PixelarError, match="expects"):
        bits_per_subpixel(model, torch.zeros(1, 1, 5, 6, dtype=torch.long))


# -- generation animations -------------------------------------------------------------------------


def _generated_counts(generation):
    return [int(done.sum()) for done in generation.generated]


def test_last_frame_is_the_samples_and_frames_follow_the_rows():
    model = tiny("gated-pixelcnn", (1, 6, 6), 4)
    frames, samples = generation_frames(model, 3, generator=5, method="naive", scale=5)
    assert torch.equal(samples, model.sample(3, generator=5, method="naive"))  # the observer changes nothing
    assert np.array_equal(np.asarray(frames[-1]), np.asarray(make_grid(samples, 4, scale=5)))
    assert len(frames) == 6 + 1  # the start, then a row at a time
    generation = record_generation(model, 3, generator=5, method="naive")
    counts = _generated_counts(generation)
    assert counts == [3 * 6 * k for k in range(7)]
    for canvas, done in zip(generation.canvases, generation.generated):
        assert canvas.dtype == torch.uint8 and torch.equal(canvas[done].long(), samples[done])  # as set: the sample
        assert (canvas[~done] == 0).all()
    assert not np.array_equal(np.asarray(frames[0]), np.asarray(frames[1]))


def test_fast_pixelcnn_frames_show_its_wavefronts():
    model = tiny("pixelcnn", (3, 6, 9), 4, num_layers=2)
    shift = model.wavefront_shift
    assert shift < 9
    generation = record_generation(model, 2, every=1, generator=0)
    steps = step_index(model.image_shape, shift)
    counts = _generated_counts(generation)
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] == 2 * 3 * 6 * 9
    raster = torch.arange(6 * 9).reshape(6, 9)
    not_raster = 0
    for done in generation.generated[1:-1]:
        done = done[0]
        assert steps[done].max() < steps[~done].min()  # a prefix of the wavefront schedule
        pixels = done.all(0)
        not_raster += int(raster[pixels].max() >= raster[~pixels].min())
    assert not_raster > 0  # some frame holds a pixel of a later row before the row above is done
    assert torch.equal(generation.samples, model.sample(2, generator=0))


def test_multiscale_frames_show_the_small_image_first():
    model = tiny("multiscale-pixelrnn", (1, 6, 6), 4)
    generation = record_generation(model, 2, every=1, generator=3)
    small = model.small_positions()
    counts = _generated_counts(generation)
    assert counts == sorted(counts)
    partly_small = 0
    for done in generation.generated:
        if (done & ~small).any():
            assert done[:, small].all()  # every small-image pixel comes before the rest
        partly_small += int(done[:, small].any() and not done[:, small].all())
    assert partly_small > 0
    assert torch.equal(generation.samples, model.sample(2, generator=3))
    assert torch.equal(generation.canvases[-1].long(), generation.samples)


def test_completion_frames_and_gif(tmp_path):
    model = tiny("pixelcnn", (1, 8, 8), 2, num_layers=2)
    images = torch.randint(0, 2, (2, 1, 8, 8))
    known = rows_mask(model.image_shape, 3)
    frames, out = generation_frames(model, 3, every=4, known=known, images=images, generator=1, method="naive")
    assert torch.equal(out, complete(model, images, known, 3, generator=1))  # fast and naive: the same
    generation = record_generation(model, 3, every=4, known=known, images=images, generator=1, method="naive")
    first = generation.generated[0]
    assert first.shape == (6, 1, 8, 8) and torch.equal(first, known.expand(6, 1, 8, 8))
    assert torch.equal(generation.canvases[0][:, :, :3].long(), images.repeat_interleave(3, 0)[:, :, :3].long())
    assert len(frames) == 1 + 9 + 1  # the start, after each 4 of the 40 pixels to sample, the end
    assert frames[0].size == frames[-1].size == make_grid(out.reshape(6, 1, 8, 8), 2, nrow=3, scale=192 // 8).size
    path = save_animation(frames, tmp_path / "anim" / "c.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(frames)
        gif.seek(gif.n_frames - 1)
        assert np.array_equal(np.asarray(gif.convert("L")), np.asarray(frames[-1]))  # greyscale frames are exact
    assert not list((tmp_path / "anim").glob(".*"))  # no temporary file left behind


def test_animation_errors():
    model = tiny("pixelcnn", (1, 4, 4), 2)
    with pytest.raises(PixelarError, match="every"):
        generation_frames(model, 1, every=0)
    with pytest.raises(PixelarError, match="known"):
        generation_frames(model, 1, images=torch.zeros(1, 1, 4, 4, dtype=torch.long))
    with pytest.raises(PixelarError, match="no frames"):
        save_animation([], "x.gif")


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("pictures") / "run"
    train(tiny_train_config(), run, progress=False)
    return run


def cli(*argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def _digit(path, seed=0, size=28):
    Image.fromarray((np.random.default_rng(seed).random((size, size)) > 0.7).astype(np.uint8) * 255).save(path)
    return path


def test_cli_bits(run_dir, tmp_path, capsys):
    import pixelar
    from pixelar.imageio import read_images

    a, b = _digit(tmp_path / "a.png", 0), _digit(tmp_path / "b.png", 1)
    assert cli("bits", run_dir, a, b, "-o", tmp_path / "heat.png") == 0
    lines = capsys.readouterr().out.splitlines()
    model = pixelar.load(run_dir)
    images = read_images([a, b], 1, 2)
    for line, image in zip(lines, images):
        total, per_dim = (float(part.split(" bits")[0]) for part in line.split(": ")[1].split(", "))
        assert total == pytest.approx(image_nll_bits(model, image[None]), abs=0.06)
        assert per_dim == pytest.approx(total / 784, abs=1e-4)
    assert lines[-1].startswith("wrote") and Image.open(tmp_path / "heat.png").height > 400
    _digit(tmp_path / "small.png", 0, size=20)
    line = one_error_line(
        cli("bits", run_dir, tmp_path / "small.png", "-o", tmp_path / "x.png"), capsys.readouterr().err
    )
    assert "20×20" in line and "28×28" in line
    line = one_error_line(cli("bits", run_dir, a, "--label", "1"), capsys.readouterr().err)
    assert "--label" in line
    assert not (tmp_path / "x.png").exists()


def test_cli_sample_and_complete_animate(run_dir, tmp_path, capsys):
    assert cli("sample", run_dir, "-n", "2", "-o", tmp_path / "plain.png", "--seed", "4", "--quiet") == 0
    args = ("-n", "2", "-o", tmp_path / "s.png", "--seed", "4", "--quiet", "--animate", tmp_path / "s.gif")
    assert cli("sample", run_dir, *args) == 0
    assert "29 frames" in capsys.readouterr().out
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), np.asarray(Image.open(tmp_path / "plain.png")))
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 29  # the start and 28 rows
    digit = _digit(tmp_path / "d.png")
    args = ("--input", digit, "--keep-rows", "14", "-n", "2", "-o", tmp_path / "c.png", "--quiet")
    assert cli("complete", run_dir, *args, "--animate", tmp_path / "c.gif", "--frame-every", "56") == 0
    with Image.open(tmp_path / "c.gif") as gif:
        assert gif.n_frames == 1 + 7  # the start, every two rows of the 14 to sample
    line = one_error_line(
        cli("sample", run_dir, "--frame-every", "3", "-o", tmp_path / "x.png"), capsys.readouterr().err
    )
    assert "--frame-every" in line and "--animate" in line
    line = one_error_line(
        cli("sample", run_dir, "--animate", tmp_path, "-o", tmp_path / "x.png"), capsys.readouterr().err
    )
    assert "--animate" in line


def test_cli_receptive_field(run_dir, tmp_path, capsys):
    out = tmp_path / "rf.png"
    args = ("--model", f"pixelcnn,gated-pixelcnn,{run_dir}", "--image-size", "10", "--layers", "4", "--quiet")
    assert cli("receptive-field", *args, "-o", out) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[-1] == f"wrote {out}"
    coverage = [float(line.split("coverage ")[1].split("%")[0]) for line in lines[:3]]
    assert coverage[0] < coverage[1] == 100.0 and "pixel (5, 5)" in lines[0]
    assert Image.open(out).width > Image.open(out).height
    line = one_error_line(cli("receptive-field", *args, "--pixel", "20", "3", "-o", out), capsys.readouterr().err)
    assert "--pixel must lie inside the 10×10 image" in line and "(20, 3)" in line
    line = one_error_line(cli("receptive-field", "--model", "pixelgan", "-o", out), capsys.readouterr().err)
    assert "pixelgan" in line
    line = one_error_line(
        cli("receptive-field", "--model", "pixelcnn", "--channel", "2", "-o", out), capsys.readouterr().err
    )
    assert "--channel" in line


def test_random_weights_show_what_a_zero_initialised_layer_hides():
    import pixelar
    from pixelar.receptive_field import randomize_weights

    torch.manual_seed(0)
    fresh = pixelar.create_model("pixelcnn++", image_shape=(1, 8, 8), num_levels=4, num_layers=1)
    hidden = receptive_field(fresh, (5, 4))  # its residual outputs start at zero
    shown = receptive_field(randomize_weights(fresh, seed=1), (5, 4))
    assert hidden.coverage < shown.coverage == 1.0
    assert hidden.outside_past == shown.outside_past == 0
