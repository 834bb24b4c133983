"""Lossless codec: round trips for every model, size close to -log2 p, every corruption case.

Hostile files (fields changed and the CRC recomputed) are fuzzed in test_codec_fuzz.py; the
tests below pin each of the decoder's checks."""

from __future__ import annotations

import copy
import math
import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import MODELS, tiny
from pixelar import codec
from pixelar.codec import decode, decode_labels, encode, max_count, read_header
from pixelar.errors import PixelarError
from test_codec_fuzz import counting, patched, split, without_fast_sampler


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
    assert len(data) == 45 + payload_bits // 8 + (2 * 20 if classes else 0)
    assert payload_bits <= bits * 1.01 + 64 + 32, (payload_bits, bits)  # + the chunk's 32-bit check


@pytest.mark.parametrize("name", MODELS)
def test_single_image_costs_its_nll(name):
    """One image per file: the coder gets each step's probability rows in the order of its
    symbols, also when a step holds several pixels of the one image (PixelCNN's wavefronts)."""
    model = tiny(name, (3, 4, 9), 4, seed=22, gain=4.0).float()  # confident: wrong rows would cost bits
    x = model.sample(1, generator=3)
    data = encode(model, x)
    assert torch.equal(decode(model, data), x)
    bits = -model.log_prob(x).double().sum().item() / math.log(2)
    assert 8 * len(read_header(data)[1]) <= bits * 1.01 + 64 + 32, (8 * len(read_header(data)[1]), bits)


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
    for version in (1, 2):  # 1 stored symbols in raster order, 2 an images hash in the header
        older = data[:4] + bytes([version]) + data[5:-4]
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


# -- hostile headers: refused before any model step ------------------------------------------


def refused(model, data, match):
    """Decoding ``data`` raises a one-line PixelarError matching ``match`` before any model step."""
    with counting(model) as counts, pytest.raises(PixelarError, match=match) as info:
        decode(model, data)
    assert counts == {"chunks": 0, "steps": 0}, counts
    assert "\n" not in str(info.value)


def test_layout_is_45_bytes_of_framing(setup):
    _model, _x, data = setup
    header, payload = read_header(data)
    assert len(data) == 45 + len(payload)
    assert header == {
        "shape": [1, 5, 5],
        "levels": 2,
        "count": 5,
        "labels": None,
        "method": "fast",
        "dtype": torch.float32,
        "model": header["model"],
    }
    assert data[4] == codec.VERSION == 3


def test_hostile_count_is_refused_before_decoding(setup):
    """The issue's file: the count patched (CRC recomputed) to 20,000, 2^32 − 1, or one past
    what the payload can hold, is refused without a single model step."""
    model, _, data = setup
    words = len(split(data).words)
    for n in (20_000, 2**32 - 1, max_count(words) + 1):
        refused(model, patched(data, N=n), rf"counts {n} image\(s\), but its payload of {words} word")


def test_hostile_count_with_labels_is_refused_before_reading_them():
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=8, num_classes=3, num_layers=1).float()
    data = encode(model, torch.zeros(2, 1, 4, 4, dtype=torch.long), torch.tensor([0, 2]))
    refused(model, patched(data, N=2**32 - 1), "truncated")


def test_count_bound_is_exact(setup):
    """N = CHUNK·(words − 1) passes the header checks (and then fails a chunk check); one more
    is refused; N = 0 needs an empty payload, N ≥ 1 a non-empty one."""
    model, x, data = setup
    words = split(data).words
    read_header(patched(data, N=max_count(len(words))))
    with pytest.raises(PixelarError, match="did not reproduce images 0–63"):
        decode(model, patched(data, N=max_count(len(words))))
    with pytest.raises(PixelarError, match="counts"):
        read_header(patched(data, N=max_count(len(words)) + 1))
    refused(model, patched(data, N=0, words=words[:2]), "counts no image but has a payload of 2 word")
    empty = encode(model, x[:0])
    assert read_header(empty)[1] == b"" and decode(model, empty).shape == (0, 1, 5, 5)
    refused(model, patched(empty, N=1), r"counts 1 image\(s\), but its payload of 0 word\(s\) can hold at most 0")


def test_chunk_checks_cost_at_least_a_word_each():
    """The bound's premise, on the coder itself: m checks (two uniform 16-bit symbols each),
    with any other symbols between them, take at least m + 1 words, and exactly m + 1 alone."""
    import constriction

    rng = np.random.default_rng(0)
    family = constriction.stream.model.Categorical(perfect=False)
    for m in range(1, 40, 3):
        alone, mixed = constriction.stream.queue.RangeEncoder(), constriction.stream.queue.RangeEncoder()
        for _ in range(m):
            check = rng.integers(0, 2**16, 2).astype(np.int32)
            alone.encode(check, codec._uniform())
            k = int(rng.integers(0, 5))
            probs = rng.dirichlet(np.full(3, 0.05), size=k)  # often confident, even ~0 bits
            mixed.encode(probs.argmax(1).astype(np.int32), family, probs)
            mixed.encode(check, codec._uniform())
        assert len(alone.get_compressed()) == m + 1
        assert len(mixed.get_compressed()) >= m + 1


def test_count_bound_holds_for_a_model_that_costs_nothing(monkeypatch):
    """With probability ~1 for every sub-pixel, images cost ~0 bits; the checks alone fill the
    payload and the file still decodes, at (or next to) the bound."""
    monkeypatch.setattr(codec, "CHUNK", 1)
    monkeypatch.setattr(
        codec, "_probabilities", lambda logp: np.tile(np.eye(logp.shape[1])[0], (logp.shape[0] * logp.shape[2], 1))
    )
    model = tiny("pixelcnn", (1, 3, 3), 2, seed=9, num_layers=1).float()
    x = torch.zeros(30, 1, 3, 3, dtype=torch.long)
    data = encode(model, x)
    words = len(split(data).words)
    assert 31 <= words <= 32 and max_count(words) >= 30
    assert torch.equal(decode(model, data), x)


def test_dtype_mismatch_names_the_fix(setup):
    model, _, data = setup  # compressed with the model in float32
    refused(
        copy.deepcopy(model).double(),
        data,
        r"model in float32, but this model is float64; convert it with model.to\(torch.float32\)",
    )


def test_fast_flag_for_a_model_without_fast_sampler_is_refused(setup):
    model, _, data = setup  # compressed with the fast stepper
    assert read_header(data)[0]["method"] == "fast"
    refused(
        without_fast_sampler(copy.deepcopy(model)),
        data,
        "compressed with the fast sampler, which model 'pixelcnn' does not have",
    )


def test_unknown_flags_are_refused(setup):
    model, _, data = setup
    refused(model, patched(data, flags=split(data).flags | 4), "unknown flags 0x06")


@pytest.fixture(scope="module")
def conditional():
    model = tiny("pixelcnn", (1, 4, 4), 3, seed=10, num_classes=3, num_layers=1).float()
    x = torch.randint(0, 3, (4, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    cond = torch.tensor([0, 2, 1, 2])
    return model, x, cond, encode(model, x, cond)


def test_labels_must_fit_the_model(setup, conditional):
    model, _, _, data = conditional
    parts = split(data)
    refused(
        model,
        patched(data, flags=parts.flags & ~codec.FLAG_LABELS, labels=None),
        "holds no labels, but the model is class-conditional",
    )
    refused(model, patched(data, labels=[0, 3, 1, 2]), "label 3 is not below the model's 3 classes")
    refused(model, patched(data, labels=[0, 65535, 1, 2]), "label 65535 is not below")
    unconditional, _, plain = setup
    refused(
        unconditional,
        patched(plain, flags=split(plain).flags | codec.FLAG_LABELS, labels=[0] * 5),
        "holds labels, but the model is unconditional",
    )


# -- hostile payloads: stopped at the first failing chunk, never a wrong image ---------------


def test_range_decoder_errors_become_pixelar_errors(setup, monkeypatch):
    model, _, data = setup
    words = split(data).words
    with pytest.raises(
        PixelarError, match="range decoder failed: Tried to decode from compressed data that is invalid"
    ):
        decode(model, patched(data, words=[2**32 - 1] * len(words)))  # constriction: AssertionError
    nan = lambda logp: np.full((logp.shape[0] * logp.shape[2], logp.shape[1]), np.nan)  # noqa: E731
    monkeypatch.setattr(codec, "_probabilities", nan)
    with pytest.raises(PixelarError, match="range decoder failed: Probability distribution not normalizable") as info:
        decode(model, data)  # constriction: ValueError (with a line break, joined into one line)
    assert "\n" not in str(info.value)


def test_decoding_stops_at_the_first_failing_chunk(monkeypatch):
    monkeypatch.setattr(codec, "CHUNK", 1)
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=13, num_layers=1).float()
    x = torch.randint(0, 2, (6, 1, 4, 4), generator=torch.Generator().manual_seed(2))
    data = encode(model, x)
    words = split(data).words
    words[0] ^= 1 << 30
    with counting(model) as counts, pytest.raises(PixelarError, match="corrupt or was encoded on a different"):
        decode(model, patched(data, words=words))
    assert counts["chunks"] == 1


def test_changed_count_fails_the_first_chunk_check(monkeypatch):
    """The checks cover the header: a count that drops whole chunks fails at chunk 0."""
    monkeypatch.setattr(codec, "CHUNK", 2)
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=14, num_layers=1).float()
    x = torch.randint(0, 2, (4, 1, 4, 4), generator=torch.Generator().manual_seed(3))
    data = encode(model, x)
    with pytest.raises(
        PixelarError, match=r"did not reproduce images 0–1 \(their check differs\): the file is corrupt"
    ):
        decode(model, patched(data, N=2))


def test_changed_label_is_caught_even_if_the_model_ignores_labels(conditional):
    """The checks cover the labels: with the class biases zeroed, another label decodes to the
    same images, and only the check tells that the labels are wrong."""
    model, x, cond, _ = conditional
    model = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.class_bias.parameters():
            p.zero_()
    data = encode(model, x, cond)
    with pytest.raises(PixelarError, match="did not reproduce images 0–3"):
        decode(model, patched(data, labels=[1, 2, 1, 2]))


def test_data_after_the_last_image_is_refused(setup):
    model, _x, data = setup
    words = split(data).words
    with pytest.raises(PixelarError, match="data after the last image"):
        decode(model, patched(data, words=[*words, 12345, 678, 9]))


def test_flipped_payload_bit_with_recomputed_crc_is_caught(setup):
    model, _, data = setup
    n = len(split(data).words)
    for i in sorted({0, n // 2, n - 1}):
        words = split(data).words
        words[i] ^= 1 << 17
        try:
            out = decode(model, patched(data, words=words))
        except PixelarError as e:
            assert "corrupt" in str(e)
        else:
            assert torch.equal(out, setup[1])  # only a bit the decoder never reads can go unnoticed
