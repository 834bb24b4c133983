"""The fast samplers give exactly the naive sampler's images for the same random draws."""

from __future__ import annotations

import pytest
import torch

import pixelar
from helpers import MODELS, tiny
from pixelar import sampling
from pixelar.causality import dependency_matrix, schedule_violations
from pixelar.sampling import NaiveStepper, params_per_pixel, sample, step_index, wavefronts

FAST = [m for m in MODELS if pixelar.create_model(m, image_shape=(1, 4, 4), num_levels=2).has_fast_sampler]


def test_convolutional_models_have_fast_samplers():
    assert "pixelcnn" in FAST


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize(
    "shape,levels,classes",
    [
        ((3, 5, 5), 4, 0),
        ((1, 7, 6), 2, 0),
        ((3, 4, 4), 256, 3),
        ((1, 5, 5), 3, 2),
        ((3, 4, 13), 4, 0),
        ((2, 3, 11), 3, 2),
    ],
)
def test_fast_equals_naive_in_float64(name, shape, levels, classes):
    kw = {"num_classes": classes} if classes else {}
    model = tiny(name, shape, levels, seed=11, **kw)
    cond = torch.arange(6) % classes if classes else None
    naive = model.sample(6, cond=cond, generator=5, method="naive")
    fast = model.sample(6, cond=cond, generator=5, method="fast")
    assert torch.equal(naive, fast)
    # And the draws are not degenerate: different seeds give different images.
    assert not torch.equal(fast, model.sample(6, cond=cond, generator=6, method="fast"))


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("width", [4, 11], ids=["narrow", "wide"])  # wide: PixelCNN's fronts hold several pixels
def test_fast_completion_equals_naive(name, width):
    model = tiny(name, (3, 5, width), 4, seed=12)
    x = torch.randint(0, 4, (4, 3, 5, width))
    known = torch.zeros(3, 5, width, dtype=torch.bool)
    known[:, :2] = True
    known[:, 2, 0] = True
    known[0, 2, 1] = True  # R of the next pixel known, G and B unknown
    a = sample(model, 4, x=x, known=known, generator=1, method="naive")
    b = sample(model, 4, x=x, known=known, generator=1, method="fast")
    assert torch.equal(a, b) and torch.equal(a[:, :, :2], x[:, :, :2]) and torch.equal(a[:, 0, 2, 1], x[:, 0, 2, 1])


@pytest.mark.parametrize("name", FAST)
def test_fast_equals_naive_for_random_masks_per_image(name):
    """Known sub-pixels anywhere, different in each image: every step skipped, partly or wholly
    known, is caught up the same way by the fast samplers."""
    model = tiny(name, (3, 4, 9), 4, seed=15)
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 4, (3, 3, 4, 9), generator=g)
    known = torch.rand(3, 3, 4, 9, generator=g) < 0.6
    known[0] = True
    known[0, :, 3, 8] = False  # image 0 knows all but its last pixel
    a = sample(model, 3, x=x, known=known, generator=2, method="naive")
    b = sample(model, 3, x=x, known=known, generator=2, method="fast")
    assert torch.equal(a, b) and torch.equal(a[known], x[known])


@pytest.mark.parametrize("name", FAST)
def test_fast_sampling_in_float32_matches_the_model(name):
    """Fast float32 samples are mostly identical to naive ones (probabilities differ by rounding)."""
    model = tiny(name, (3, 4, 4), 16, seed=13).float()
    naive = model.sample(32, generator=2, method="naive")
    fast = model.sample(32, generator=2, method="fast")
    assert (naive == fast).float().mean() > 0.9


@pytest.mark.parametrize("name", FAST)
def test_fast_schedule_only_reads_earlier_steps(name):
    """Every sub-pixel a conditional depends on (measured by perturbation) is generated in an
    earlier step of the fast sampler's schedule."""
    model = tiny(name, (3, 4, 11), 4, seed=14)
    dep = dependency_matrix(model, torch.randint(0, 4, (3, 4, 11)))
    steps = step_index(model.image_shape, model.wavefront_shift)
    assert len(schedule_violations(dep, model.generation_order(), steps)) == 0


def test_pixelcnn_wavefront_is_as_wide_as_its_blind_spot_allows():
    """PixelCNN samples ⌈W/4⌉ pixels per step; one column less of lead, or a model without the
    blind spot, would read pixels not generated yet (so the check above has power)."""
    pixelcnn = tiny("pixelcnn", (3, 4, 11), 4, seed=14)
    gated = tiny("gated-pixelcnn", (3, 4, 11), 4, seed=14)
    assert pixelcnn.wavefront_shift == 4 and gated.wavefront_shift == 11
    assert max(f.count for f in wavefronts(32, 32, pixelcnn.wavefront_shift)) == 8
    x = torch.randint(0, 4, (3, 4, 11))
    for model, shift in ((pixelcnn, 3), (gated, 4)):
        dep = dependency_matrix(model, x)
        assert len(schedule_violations(dep, model.generation_order(), step_index(model.image_shape, shift))) > 0


def test_wavefronts_cover_every_pixel_once_in_raster_order_within_a_front():
    for H, W, s in ((1, 1, 1), (4, 11, 4), (5, 3, 3), (3, 7, 1), (6, 6, 2)):
        fronts = wavefronts(H, W, s)
        pixels = [(f.h0 + i, f.w0 - i * s) for f in fronts for i in range(f.count)]
        assert sorted(pixels) == [(h, w) for h in range(H) for w in range(W)]
        assert all(f.w0 + s * f.h0 == f.t for f in fronts)
        flat = torch.arange(H * W).reshape(1, 1, H, W)
        assert [v for f in fronts for v in f.take(flat, 0)[0].tolist()] == [h * W + w for h, w in pixels]


@pytest.mark.parametrize("name", ["pixelcnn", "multiscale-pixelrnn"])
def test_batch_size_does_not_change_the_images(name):
    """Sampling in batches (bounded memory) gives the same images as all at once, conditional
    completion included."""
    model = tiny(name, (2, 4, 6), 3, seed=16, num_classes=2)
    cond = torch.tensor([0, 1, 1, 0, 1])
    x = torch.randint(0, 3, (5, 2, 4, 6))
    known = torch.rand(5, 2, 4, 6, generator=torch.Generator().manual_seed(0)) < 0.3
    for kw in ({}, {"x": x, "known": known}):
        whole = sample(model, 5, cond=cond, generator=7, **kw)
        assert torch.equal(sample(model, 5, cond=cond, generator=7, batch_size=2, **kw), whole)
    with pytest.raises(pixelar.PixelarError, match="batch size"):
        sample(model, 5, cond=cond, batch_size=0)


class _PassPerSubPixel(NaiveStepper):
    """The naive stepper as it was: one whole forward pass for every sub-pixel."""

    def __init__(self, model, cond):
        super().__init__(model, cond)
        self.per_pixel = False


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "name,per_pixel", [("pixelcnn++", True), ("pixelcnn", False), ("gated-pixelcnn", False), ("row-lstm", False)]
)
def test_naive_runs_the_network_once_per_pixel_where_the_distribution_carries_the_channels(
    name, per_pixel, dtype, monkeypatch
):
    """PixelCNN++'s parameters at a pixel depend on none of its channels (the mixture carries
    them), so the naive baseline runs the network once per pixel, not per sub-pixel — and
    gives exactly the conditionals, hence the images, of a pass per sub-pixel (completion
    included, where a pixel's first unknown channel is not its first)."""
    C, H, W = 3, 3, 4
    model = tiny(name, (C, H, W), 4, seed=17).to(dtype)
    assert params_per_pixel(model) == per_pixel
    passes = []
    hook = model.register_forward_hook(lambda *_: passes.append(1))
    x = torch.randint(0, 4, (3, C, H, W), generator=torch.Generator().manual_seed(3))
    known = torch.zeros(3, C, H, W, dtype=torch.bool)
    known[:, 0, 1, 2] = True  # R of one pixel known: its pass happens at G
    known[1, :2, 2, 0] = True
    runs = {}
    for stepper in (NaiveStepper, _PassPerSubPixel):
        monkeypatch.setattr(sampling, "NaiveStepper", stepper)
        passes.clear()
        free = sample(model, 3, generator=4, method="naive")
        runs[stepper] = (free, len(passes), sample(model, 3, x=x, known=known, generator=5, method="naive"))
    hook.remove()
    (free, n, completed), (ref_free, ref_n, ref_completed) = runs[NaiveStepper], runs[_PassPerSubPixel]
    assert ref_n == C * H * W
    assert n == (H * W if per_pixel else C * H * W)
    assert torch.equal(free, ref_free) and torch.equal(completed, ref_completed)
    if dtype == torch.float64:
        assert torch.equal(free, model.sample(3, generator=4, method="fast"))


def test_one_channel_models_need_one_pass_per_pixel_anyway():
    assert params_per_pixel(tiny("pixelcnn", (1, 3, 3), 2))


@pytest.mark.parametrize("kernel", [3, 9])
@pytest.mark.parametrize("num_layers", [0, 2])
def test_pixelcnn_input_kernel_any_odd_size_samples_exactly(kernel, num_layers):
    """input_kernel changes the template and the wavefront's reach; the fast sampler follows."""
    model = tiny("pixelcnn", (1, 7, 12), 2, seed=4, num_layers=num_layers, input_kernel=kernel)
    assert model.wavefront_shift == min(kernel // 2 + 1, 12)
    naive = model.sample(4, generator=3, method="naive")
    assert torch.equal(naive, model.sample(4, generator=3, method="fast"))
