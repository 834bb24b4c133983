"""Portable (integer) coding probabilities, pixelar.portable: exact, order- and
thread-independent arithmetic, a causal and normalised model, fidelity to the float model."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from helpers import tiny
from pixelar import portable
from pixelar.errors import PixelarError
from pixelar.incremental import Front
from pixelar.portable import exp_table, portable_model, probabilities
from pixelar.sampling import fill

SMALL = {"num_layers": 2, "hidden_channels": 8}


def all_probabilities(logits: Tensor) -> np.ndarray:
    """Integer logits [B, C, K, H, W] → probability rows [B, C·H·W, K] (sub-pixels in (c, h, w) order)."""
    B, C, K, H, W = logits.shape
    return probabilities(logits.permute(0, 2, 1, 3, 4).reshape(B, K, -1)).reshape(B, C * H * W, K)


def log_likelihood(logits: Tensor, x: Tensor) -> np.ndarray:
    """Portable log-likelihood in nats of images x [B, C, H, W]: [B]."""
    p = all_probabilities(logits)
    picked = np.take_along_axis(p, x.reshape(x.shape[0], -1, 1).numpy(), axis=2)
    return np.log(picked).sum((1, 2))


def rgb_model() -> tuple[torch.nn.Module, Tensor, Tensor]:
    """A class-conditional 3-channel, 4-level tiny PixelCNN, 4 images and their labels."""
    model = tiny("pixelcnn", image_shape=(3, 6, 5), num_levels=4, num_classes=3, **SMALL)
    x = torch.randint(0, 4, (4, 3, 6, 5), generator=torch.Generator().manual_seed(1))
    return model, x, torch.tensor([0, 2, 1, 2])


def permuted(cols: Tensor, weight: Tensor) -> Tensor:
    perm = torch.randperm(weight.shape[0], generator=torch.Generator().manual_seed(weight.shape[0]))
    return torch.matmul(cols[..., perm], weight[perm])


def chunked_reversed(cols: Tensor, weight: Tensor) -> Tensor:
    parts = [torch.matmul(cols[..., i : i + 3], weight[i : i + 3]) for i in range(0, weight.shape[0], 3)]
    total = parts[-1]
    for part in reversed(parts[:-1]):
        total = total + part
    return total


def sequential_backwards(cols: Tensor, weight: Tensor) -> Tensor:
    products = cols[..., :, None] * weight  # [..., n, out]
    return products.flip(-2).cumsum(-2)[..., -1, :]


def test_logits_do_not_depend_on_summation_order_or_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x, cond = rgb_model()
    net = portable_model(model)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        reference = net.logits(x, cond)
        torch.set_num_threads(1)
        assert torch.equal(net.logits(x, cond), reference)
    finally:
        torch.set_num_threads(threads)
    for dot in (permuted, chunked_reversed, sequential_backwards):
        monkeypatch.setattr(portable, "_dot", dot)
        assert torch.equal(net.logits(x, cond), reference), dot.__name__
    assert reference.dtype == torch.float64 and torch.equal(reference, reference.round())


@pytest.mark.parametrize("completion", [False, True], ids=["all-unknown", "some-known"])
@pytest.mark.parametrize(
    ("shape", "levels", "classes"), [((1, 9, 7), 2, 0), ((3, 5, 9), 4, 3)], ids=["binary", "rgb-conditional"]
)
def test_stepper_equals_full_logits(shape: tuple[int, int, int], levels: int, classes: int, completion: bool) -> None:
    model = tiny("pixelcnn", image_shape=shape, num_levels=levels, num_classes=classes, **SMALL)
    net = portable_model(model)
    generator = torch.Generator().manual_seed(2)
    x = torch.randint(0, levels, (3, *shape), generator=generator)
    cond = torch.tensor([0, 2, 1]) if classes else None
    full = net.logits(x, cond)
    # some-known: the first two rows and 40% of the other sub-pixels (the same in every image)
    # are known, so the loop skips whole fronts and single channels (the stepper's catch-up path)
    known = torch.zeros(shape, dtype=torch.bool)
    if completion:
        known = torch.rand(shape, generator=generator) < 0.4
        known[:, :2] = True
    seen: dict[tuple[int, int, int], Tensor] = {}

    def choose(logits: Tensor, c: int, front: Front) -> Tensor:
        assert logits.shape == (3, levels, front.count)
        for i in range(front.count):
            seen[c, front.h0 + i * front.dh, front.w0 - i * front.dw] = logits[:, :, i]
        return front.take(x, c)

    stepper = net.stepper(3, cond)
    assert max(front.count for front in stepper.fronts) > 1  # wavefronts: several pixels per step
    y = fill(stepper, torch.where(known, x, 0), known.expand_as(x), choose)
    assert torch.equal(y, x)
    assert set(seen) >= {tuple(p) for p in (~known).nonzero().tolist()}  # every unknown sub-pixel asked
    for (c, h, w), logits in seen.items():
        assert torch.equal(logits, full[:, c, :, h, w]), (c, h, w)


@pytest.mark.parametrize(("shape", "levels"), [((1, 2, 2), 2), ((3, 1, 2), 3)], ids=["binary-2x2", "rgb-1x2"])
def test_portable_model_is_normalised_and_causal(shape: tuple[int, int, int], levels: int) -> None:
    model = tiny("pixelcnn", image_shape=shape, num_levels=levels, gain=3.0, **SMALL)
    net = portable_model(model)
    C, H, W = shape
    images = torch.tensor(list(itertools.product(range(levels), repeat=C * H * W))).view(-1, C, H, W)
    logits = net.logits(images, None)
    p = all_probabilities(logits)
    picked = np.take_along_axis(p, images.reshape(len(images), -1, 1).numpy(), axis=2)
    assert abs(picked.prod((1, 2)).sum() - 1.0) < 1e-9
    assert p.min() < 0.3  # not trivially uniform

    order = model.generation_order().flatten()  # [C·H·W] step of each sub-pixel, (c, h, w) order
    flat_logits = logits.permute(0, 1, 3, 4, 2).reshape(len(images), C * H * W, levels)
    for j in range(C * H * W):
        changed = images.clone().view(len(images), -1)
        changed[:, j] = (changed[:, j] + 1) % levels
        after = net.logits(changed.view_as(images), None).permute(0, 1, 3, 4, 2).reshape_as(flat_logits)
        earlier = order <= order[j]  # the conditionals up to sub-pixel j's own
        assert torch.equal(after[:, earlier], flat_logits[:, earlier]), j
        if not earlier.all():
            assert not torch.equal(after, flat_logits)  # later conditionals do read it


@pytest.mark.parametrize(("shape", "levels"), [((1, 8, 8), 2), ((3, 5, 5), 4)], ids=["binary", "rgb-4-levels"])
def test_portable_likelihood_is_close_to_the_float_model(shape: tuple[int, int, int], levels: int) -> None:
    model = tiny("pixelcnn", image_shape=shape, num_levels=levels, **SMALL)
    x = torch.randint(0, levels, (6, *shape), generator=torch.Generator().manual_seed(3))
    reference = model.log_prob(x).detach().numpy()
    ours = log_likelihood(portable_model(model).logits(x, None), x)
    # logits are kept to 1/256 nat: far below 0.1% of an image's likelihood
    np.testing.assert_allclose(ours, reference, rtol=1e-3)
    assert not np.array_equal(ours, reference)


SCRIPT = """
import hashlib, sys, torch
sys.path.insert(0, {tests!r})
from helpers import tiny
from test_portable import fixed_probabilities
print(torch.get_num_threads(), hashlib.sha256(fixed_probabilities().tobytes()).hexdigest())
"""


def fixed_probabilities() -> np.ndarray:
    """Probabilities of fixed images under a fixed tiny model (also computed in a subprocess)."""
    model, x, cond = rgb_model()
    logits = portable_model(model).logits(x, cond)
    return all_probabilities(logits).reshape(-1, logits.shape[2])


def test_probabilities_are_identical_across_processes_and_thread_counts() -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        ours = hashlib.sha256(fixed_probabilities().tobytes()).hexdigest()
    finally:
        torch.set_num_threads(threads)
    tests = str(Path(__file__).parent)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    child_threads, child = result.stdout.split()
    assert child_threads == "1"
    assert child == ours


def test_probabilities_rows_and_table() -> None:
    table = exp_table()
    assert table[0] == 2**30 and table[-1] == 1 and np.all(np.diff(table) <= 0)
    logits = torch.tensor([[[0.0, 256.0], [0.0, 0.0], [-(10.0**6), 0.0]]])  # [1, K=3, count=2]
    p = probabilities(logits)
    assert p.shape == (2, 3) and p.dtype == np.float64 and p.flags.c_contiguous
    # position 0: logits (0, 0, -10^6): past the table's end the floor 1, never 0
    assert p[0].tolist() == [2**30 / (2**31 + 1), 2**30 / (2**31 + 1), 1 / (2**31 + 1)]
    e = np.exp(-1.0)  # position 1: logits (1, 0, 0) nats in units of 1/256
    np.testing.assert_allclose(p[1], [1 / (1 + 2 * e), e / (1 + 2 * e), e / (1 + 2 * e)], rtol=1e-8)
    two = probabilities(torch.cat([logits, logits.flip(2)]))  # image-major rows
    assert np.array_equal(two[:2], p) and np.array_equal(two[2:], p[::-1])


def test_image_shape_is_read_from_the_model() -> None:
    model = tiny("pixelcnn", image_shape=(1, 4, 4), num_levels=2, **SMALL)
    net = portable_model(model)
    model.config.image_shape = (1, 6, 3)
    assert net.image_shape == (1, 6, 3)
    assert net.logits(torch.zeros(2, 1, 6, 3, dtype=torch.long), None).shape == (2, 1, 2, 6, 3)
    assert len(net.stepper(2, None).fronts) == 18


def test_other_models_are_refused() -> None:
    with pytest.raises(PixelarError, match=r"supports the pixelcnn model family only.*drop portable=True") as info:
        portable_model(tiny("gated-pixelcnn"))
    assert "\n" not in str(info.value) and "gated-pixelcnn" in str(info.value)
    mixture = tiny("pixelcnn", num_levels=8, distribution="logistic-mixture", **SMALL)
    with pytest.raises(PixelarError, match=r"logistic-mixture.*drop portable=True"):
        portable_model(mixture)


def test_too_wide_a_layer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portable, "LIMIT_BITS", 50)  # activations up to 2^50: no room for the weights
    with pytest.raises(PixelarError, match=r"too wide.*53-bit.*drop portable=True"):
        portable_model(tiny("pixelcnn", **SMALL))
