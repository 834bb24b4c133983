"""Lossless codec: round trips for every model, size close to -log2 p, every corruption case."""

from __future__ import annotations

import math
import struct
import zlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MODELS, tiny
from pixelar.codec import decode, decode_labels, encode, read_header
from pixelar.errors import PixelarError


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape,levels,classes", [((1, 6, 6), 2, 0), ((3, 4, 4), 256, 0), ((3, 3, 4), 5, 3)])
def test_round_trip_and_size(name, shape, levels, classes):
    kw = {"num_classes": classes} if classes else {}
    model = tiny(name, shape, levels, seed=21, **kw).float()
    x = model.sample(20, cond=torch.arange(20) % classes if classes else None, generator=0)
    cond = torch.arange(20) % classes if classes else None
    data = encode(model, x, cond)
    assert torch.equal(decode(model, data), x)
    if classes:
        assert decode_labels(data) == cond.tolist()
    bits = -model.log_prob(x, cond).double().sum().item() / math.log(2)
    payload_bits = 8 * len(read_header(data)[1])
    assert len(data) == 61 + 8 * len(read_header(data)[1]) // 8 + (2 * 20 if classes else 0)
    assert payload_bits <= bits * 1.01 + 64, (payload_bits, bits)


@pytest.mark.parametrize("name", MODELS)
def test_single_image_costs_its_nll(name):
    """One image per file: the coder gets each step's probability rows in the order of its
    symbols, also when a step holds several pixels of the one image (PixelCNN's wavefronts)."""
    model = tiny(name, (3, 4, 9), 4, seed=22, gain=4.0).float()  # confident: wrong rows would cost bits
    x = model.sample(1, generator=3)
    data = encode(model, x)
    assert torch.equal(decode(model, data), x)
    bits = -model.log_prob(x).double().sum().item() / math.log(2)
    assert 8 * len(read_header(data)[1]) <= bits * 1.01 + 64, (8 * len(read_header(data)[1]), bits)


@pytest.mark.parametrize("method", ["naive", "fast"])
def test_naive_and_fast_files_both_decode(method):
    model = tiny("pixelcnn", (1, 5, 5), 4, seed=2).float()
    x = torch.randint(0, 4, (3, 1, 5, 5))
    assert torch.equal(decode(model, encode(model, x, method=method)), x)


@pytest.fixture(scope="module")
def setup():
    model = tiny("pixelcnn", (1, 5, 5), 2, seed=3).float()
    x = torch.randint(0, 2, (5, 1, 5, 5), generator=torch.Generator().manual_seed(0))
    return model, x, encode(model, x)


def test_other_model_is_refused(setup):
    _model, _x, data = setup
    other = tiny("pixelcnn", (1, 5, 5), 2, seed=4).float()
    with pytest.raises(PixelarError, match="different model"):
        decode(other, data)


def test_truncated_file(setup):
    model, _, data = setup
    for cut in (3, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(PixelarError):
            decode(model, data[:cut])


def test_bad_magic_and_other_versions(setup):
    model, _, data = setup
    with pytest.raises(PixelarError, match="magic"):
        decode(model, b"PNG!" + data[4:])
    newer = data[:4] + bytes([9]) + data[5:-4]
    newer += struct.pack("<I", zlib.crc32(newer))
    with pytest.raises(PixelarError, match="newer"):
        decode(model, newer)
    older = data[:4] + bytes([1]) + data[5:-4]  # format 1 stored symbols in raster order
    older += struct.pack("<I", zlib.crc32(older))
    with pytest.raises(PixelarError, match="older format"):
        decode(model, older)


def test_flipped_payload_bit_is_caught(setup):
    model, _, data = setup
    bad = bytearray(data)
    bad[-6] ^= 0x10
    with pytest.raises(PixelarError, match="corrupt"):
        decode(model, bytes(bad))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_corruptions_never_decode_silently_wrong(setup, data):
    model, _x, blob = setup
    mutation = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    pos = data.draw(st.integers(0, len(blob) - 1))
    if mutation == "flip":
        bad = bytearray(blob)
        bad[pos] ^= 1 << data.draw(st.integers(0, 7))
        bad = bytes(bad)
    elif mutation == "cut":
        bad = blob[:pos] + blob[pos + 1 :]
    else:
        bad = blob[:pos] + b"\x00" + blob[pos:]
    with pytest.raises(PixelarError):
        decode(model, bad)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=16, max_size=16), st.integers(1, 3))
def test_random_images_round_trip(values, n):
    model = tiny("pixelcnn", (1, 4, 4), 4, seed=5).float()
    x = torch.tensor(values).reshape(1, 1, 4, 4).repeat(n, 1, 1, 1)
    x[0] = (x[0] + 1) % 4
    assert torch.equal(decode(model, encode(model, x)), x)
