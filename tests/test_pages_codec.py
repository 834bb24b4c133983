"""The page codec (pixelar.codec.pages): its C kernel against the portable reference, round
trips, exactness across processes and thread counts, the adaptive stage, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import tiny
from pixelar.codec.pages import (
    _kernel,
    _levels,
    compress_page,
    decompress_page,
    is_template_model,
    page_bits,
    read_page_header,
)
from pixelar.errors import PixelarError
from pixelar.portable import portable_model

pytest.importorskip("constriction")


def template(k: int = 5, hidden: int = 6, seed: int = 3, gain: float = 1.5):
    return tiny("pixelcnn", (1, 8, 8), 2, seed=seed, gain=gain, num_layers=0, input_kernel=k, hidden_channels=hidden)


def random_page(height: int, width: int, density: float = 0.3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width)) < density).astype(np.uint8)


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("stripe", [1, 4, 10, 23])
def test_kernel_logits_equal_the_portable_network_per_stripe(k, stripe):
    model = template(k)
    page = random_page(23, 17, seed=k)
    levels = _levels(page)
    got = _kernel(model, page.shape, stripe, adapt=False).logits(levels)
    net = portable_model(model)
    expected = []
    for top in range(0, page.shape[0], stripe):
        part = torch.from_numpy(levels[top : top + stripe]).long()[None, None]
        with model.at_size(*part.shape[2:]):
            expected.append(net.logits(part, None)[0, 0, 1].numpy())  # Bernoulli: [0, l]
    assert np.array_equal(got, np.concatenate(expected).astype(np.int32))
    assert len(np.unique(got)) >= 3  # the logits depend on the template (padding, white, black at least)


def test_cache_does_not_change_the_logits():
    model = template(7)
    page = np.zeros((40, 50), dtype=np.uint8)
    page[10:30:3, 5:45] = 1  # repeated contexts, which the cache serves
    integers = _kernel(model, page.shape, 40, False).integers
    from pixelar.native.pages import PageKernel

    with_cache = PageKernel(integers, 40, 50, 40, False, cache=True).logits(page)
    without = PageKernel(integers, 40, 50, 40, False, cache=False).logits(page)
    assert np.array_equal(with_cache, without)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (31, 20), (64, 33)])
@pytest.mark.parametrize("stripe", [1, 7, 128])
@pytest.mark.parametrize("adapt", [False, True])
def test_round_trip(shape, stripe, adapt):
    model = template()
    page = random_page(*shape, seed=shape[0] * 100 + stripe)
    data = compress_page(model, page, stripe, adapt)
    assert np.array_equal(decompress_page(model, data), page)
    header = read_page_header(data)
    assert (header.height, header.width, header.stripe, header.adapt) == (*shape, min(stripe, shape[0]), adapt)


def test_file_size_is_the_ideal_size_plus_a_header():
    model = template()
    page = random_page(60, 70, density=0.1)
    for adapt in (False, True):
        data = compress_page(model, page, 16, adapt)
        ideal = page_bits(model, page, 16, adapt) / 8
        header = read_page_header(data).start
        assert ideal <= len(data) - header + 1 and len(data) - header <= ideal + 8


def test_adaptive_stage_learns_a_page_the_network_does_not_know():
    model = template(seed=7)  # random weights: the network knows nothing of this page
    page = np.zeros((96, 96), dtype=np.uint8)
    page[:, ::4] = 1  # vertical lines: trivial for counts over the neighbourhood
    fixed, adaptive = page_bits(model, page, 96, False), page_bits(model, page, 96, True)
    assert adaptive < 0.5 * fixed


def test_a_file_decodes_in_another_process_with_other_thread_counts(tmp_path: Path):
    model = template(k=7, hidden=8)
    model.save_pretrained(tmp_path / "model")
    page = random_page(50, 41, density=0.2)
    np.save(tmp_path / "page.npy", page)
    code = (
        "import sys, numpy as np, torch, pixelar; torch.set_num_threads(int(sys.argv[2]));"
        "from pixelar.codec.pages import compress_page, decompress_page;"
        "m = pixelar.load(sys.argv[1] + '/model'); d = sys.argv[1];"
        "open(d + '/page.pxz', 'wb').write(compress_page(m, np.load(d + '/page.npy'), 8))"
        " if sys.argv[3] == 'encode' else np.save(d + '/out.npy', decompress_page(m, open(d + '/page.pxz', 'rb').read()))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), "1", "encode"], check=True)
    subprocess.run([sys.executable, "-c", code, str(tmp_path), "2", "decode"], check=True)
    assert np.array_equal(np.load(tmp_path / "out.npy"), page)
    torch.set_num_threads(1)
    try:  # and here, in this process, with one thread
        assert np.array_equal(decompress_page(model, (tmp_path / "page.pxz").read_bytes()), page)
    finally:
        torch.set_num_threads(2)


def test_only_template_models_are_taken():
    assert is_template_model(template())
    for model in (
        tiny("pixelcnn", (1, 8, 8), 2, num_layers=1),
        tiny("pixelcnn", (1, 8, 8), 4, num_layers=0),
        tiny("gated-pixelcnn", (1, 8, 8), 2),
    ):
        assert not is_template_model(model)
        with pytest.raises(PixelarError, match="template model"):
            compress_page(model, random_page(4, 4))


def test_errors_are_one_line():
    model, other = template(), template(seed=9)
    data = compress_page(model, random_page(20, 20))
    cases = [
        (lambda: decompress_page(other, data), "compressed with model"),
        (lambda: decompress_page(model, data[:10]), "truncated"),
        (lambda: decompress_page(model, b"XX" + data[2:]), "no PXPG magic"),
        (lambda: decompress_page(model, data[:-4] + bytes(4)), "corrupt"),
        (lambda: compress_page(model, np.full((3, 3), 2)), "0 \\(white\\) and 1 \\(black\\)"),
        (lambda: compress_page(model, random_page(3, 3), stripe=0), "stripe"),
    ]
    for call, message in cases:
        with pytest.raises(PixelarError, match=message) as info:
            call()
        assert "\n" not in str(info.value)


def test_new_weights_give_new_integers():
    model, page = template(), random_page(30, 30)
    data = compress_page(model, page)
    with torch.no_grad():
        model.input_conv.weight.mul_(2)  # e.g. trained further
    assert compress_page(model, page) != data
    assert np.array_equal(decompress_page(model, compress_page(model, page)), page)


def test_stripes_beyond_the_page_are_clamped_and_refused_in_files():
    from pixelar.codec.format import _varint

    model, page = template(), random_page(5, 7)
    data = compress_page(model, page, stripe=10**9)  # codes as one stripe of 5 rows, at once
    assert read_page_header(data).stripe == 5
    header = read_page_header(data)
    for stripe in (6, 2**32, 2**32 + 1):  # a crafted header: refused before any work
        forged = data[:14] + _varint(5) + _varint(7) + _varint(stripe) + data[header.start - 4 :]
        with pytest.raises(PixelarError, match="corrupt, refused"):
            decompress_page(model, forged)
    for bad in (0, -1, 2.5):
        with pytest.raises(PixelarError, match="stripe must be"):
            page_bits(model, page, stripe=bad)


@pytest.mark.parametrize("gain", [1.5, 300.0])
def test_kernel_equals_portable_with_a_wide_template_and_large_weights(gain):
    """k = 15: 112 template pixels (the cache key's second word); a large gain: negative shifts
    and the activation clamps."""
    model = template(k=15, hidden=8, seed=5, gain=gain)
    page = random_page(40, 37, seed=2)
    levels = _levels(page)
    got = _kernel(model, page.shape, 40, adapt=False).logits(levels)
    with model.at_size(40, 37):
        expected = portable_model(model).logits(torch.from_numpy(levels).long()[None, None], None)[0, 0, 1]
    assert np.array_equal(got, expected.numpy().astype(np.int32))


@pytest.mark.parametrize("k", [3, 9])
def test_template_models_are_causal_and_normalised(k):
    """A template model (num_layers = 0, any input_kernel) is a PixelCNN like the others: no
    conditional reads its own or a later pixel (eval and train mode), and all 2^16 binary 4×4
    images sum to one."""
    from pixelar.causality import dependency_matrix, violations

    model = template(k=k)
    for shape in ((1, 6, 7), (1, 4, 4)):
        with model.at_size(*shape[1:]):
            x = torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(k))
            for train_mode in (False, True):
                dep = dependency_matrix(model, x, train_mode=train_mode)
                assert len(violations(dep)) == 0 and dep.sum() > dep.shape[0]
    bits = (torch.arange(2**16)[:, None] >> torch.arange(16)) & 1
    with torch.no_grad(), model.at_size(4, 4):
        total = torch.logsumexp(model.log_prob(bits.reshape(-1, 1, 4, 4)), 0).exp().item()
    assert abs(total - 1.0) < 1e-9
