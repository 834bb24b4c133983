"""Lossless codec: round trips for every model and any image size, size close to -log2 p plus
a few bytes of framing, the trimmed tail, and each of the decoder's checks.

Hostile files are fuzzed in test_codec_fuzz.py; the tests below pin each check."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import MODELS, tiny
from pixelar import codec
from pixelar.codec import Header, coding, decode, decode_images, decode_labels, encode, image_nll_bits, read_header
from pixelar.codec import format as codec_format
from pixelar.errors import PixelarError


def nll_bits(model, x, cond=None) -> float:
    return -model.log_prob(x, cond).double().sum().item() / math.log(2)


@contextmanager
def counting(monkeypatch):
    """Count the chunks the codec starts to code (model work) inside the block."""
    counts = {"chunks": 0}
    original = codec._code

    def count(*args, **kwargs):
        counts["chunks"] += 1
        return original(*args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(coding, "_code", count)
        yield counts


def refused(monkeypatch, model, data, match, **kw):
    """Decoding ``data`` raises a one-line PixelarError matching ``match`` before any model work."""
    with counting(monkeypatch) as counts, pytest.raises(PixelarError, match=match) as info:
        decode_images(model, data, **kw)
    assert counts == {"chunks": 0}, counts
    assert "\n" not in str(info.value)


def repacked(data: bytes, model_size=None, **changes) -> bytes:
    """``data`` with header fields changed (the payload kept)."""
    header, payload = read_header(data, model_size)
    return dataclasses.replace(header, **changes).pack() + payload


# -- round trips and sizes --------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape,levels,classes", [((1, 6, 6), 2, 0), ((3, 4, 4), 256, 0), ((3, 3, 4), 5, 3)])
def test_round_trip_and_size(name, shape, levels, classes):
    kw = {"num_classes": classes} if classes else {}
    model = tiny(name, shape, levels, seed=21, **kw).float()
    cond = torch.arange(20) % classes if classes else None
    x = model.sample(20, cond=cond, generator=0)
    data = encode(model, x, cond)
    assert torch.equal(decode(model, data), x)
    if classes:
        assert decode_labels(data) == cond.tolist()
    bits = nll_bits(model, x, cond)
    payload = read_header(data)[1]
    # magic, version, flags, model id, count (1 byte), a label byte per image
    assert len(data) == 2 + 1 + 1 + 3 + 1 + (20 if classes else 0) + len(payload)
    assert 8 * len(payload) <= bits * 1.01 + 16 + 48, (8 * len(payload), bits)  # + one 16-bit check


@pytest.mark.parametrize("name", MODELS)
def test_single_image_file_costs_its_nll_and_seven_bytes(name):
    """One image per file: the coder gets each step's probability rows in the order of its
    symbols (also for wavefronts of several pixels); the header is 7 bytes. (A payload may end in
    zero bytes that pay for its decoding, the family's step work: a PixelCNN++'s here.)"""
    model = tiny(name, (3, 4, 9), 4, seed=22, gain=4.0).float()  # confident: wrong rows would cost bits
    x = model.sample(1, generator=3)
    data = encode(model, x)
    assert torch.equal(decode(model, data), x)
    header, payload = read_header(data)
    assert len(data) - len(payload) == 7 and header.count == 1 and header.own_size
    coded = payload.rstrip(b"\0")  # without the zero bytes that pay for its work (codec.schedule.padding)
    assert 8 * len(coded) <= nll_bits(model, x) * 1.01 + 16 + 24, (8 * len(coded), nll_bits(model, x))


@pytest.mark.parametrize("name", MODELS)
def test_any_size_and_mixed_sizes(name):
    """Every model codes images of any size with its weights unchanged (a list of mixed sizes,
    1×1 included); the model keeps its own size and fingerprint after coding."""
    model = tiny(name, (1, 4, 4), 2, seed=23).float()
    before = codec.model_fingerprint(model)
    gen = torch.Generator().manual_seed(4)
    sizes = [(4, 4), (5, 7), (5, 7), (1, 1), (9, 3), (2, 6)]
    images = [torch.randint(0, 2, (1, h, w), generator=gen) for h, w in sizes]
    data = encode(model, images)
    out = decode_images(model, data)
    assert [tuple(o.shape[1:]) for o in out] == sizes
    assert all(torch.equal(a, b) for a, b in zip(images, out))
    assert read_header(data)[0].sizes == sizes
    assert model.image_shape == (1, 4, 4) and codec.model_fingerprint(model) == before
    bits = image_nll_bits(model, images)
    assert 8 * len(read_header(data)[1]) <= bits * 1.01 + 16 * 4 + 48  # 4 chunks: sizes change 4 times
    with pytest.raises(PixelarError, match="different sizes; decode them with decode_images"):
        decode(model, data)


def test_one_other_size_is_stored_once():
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=24).float()
    x = torch.randint(0, 2, (3, 1, 6, 9), generator=torch.Generator().manual_seed(5))
    data = encode(model, x)
    assert torch.equal(decode(model, data), x)
    header, payload = read_header(data)
    assert header.sizes == [(6, 9)] * 3 and not header.own_size
    assert len(data) - len(payload) == 7 + 1 + 2  # + count + H, W


@pytest.mark.parametrize("name", MODELS)
def test_other_sizes_are_exact_distributions(name):
    """At a size the model was not built for, the probabilities of all binary images of that
    size still sum to 1, and fast sampling equals naive sampling."""
    model = tiny(name, (1, 4, 4), 2, seed=25)
    with model.at_size(2, 3):
        grid = torch.tensor(list(np.ndindex(*(2,) * 6))).reshape(-1, 1, 2, 3)
        total = model.log_prob(grid).exp().sum().item()
        assert abs(total - 1) < 1e-9, total
        if model.has_fast_sampler:
            assert torch.equal(
                model.sample(3, generator=1, method="fast"), model.sample(3, generator=1, method="naive")
            )
    assert model.image_shape == (1, 4, 4)


@pytest.mark.parametrize("method", ["naive", "fast"])
def test_naive_and_fast_files_both_decode(method):
    model = tiny("pixelcnn", (1, 5, 5), 4, seed=2).float()
    x = torch.randint(0, 4, (3, 1, 5, 5))
    assert torch.equal(decode(model, encode(model, x, method=method)), x)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=16, max_size=16), st.integers(1, 3))
def test_random_images_round_trip(values, n):
    model = tiny("pixelcnn", (1, 4, 4), 4, seed=5).float()
    x = torch.tensor(values).reshape(1, 1, 4, 4).repeat(n, 1, 1, 1)
    x[0] = (x[0] + 1) % 4
    assert torch.equal(decode(model, encode(model, x)), x)


def test_labels_are_varints():
    model = tiny("pixelcnn", (1, 3, 3), 2, seed=6, num_classes=300, num_layers=1).float()
    x = torch.randint(0, 2, (3, 1, 3, 3), generator=torch.Generator().manual_seed(6))
    cond = torch.tensor([0, 127, 299])
    data = encode(model, x, cond)
    assert torch.equal(decode(model, data), x) and decode_labels(data) == [0, 127, 299]
    assert len(data) - len(read_header(data)[1]) == 7 + 1 + (1 + 1 + 2)


def test_empty_file():
    model = tiny("pixelcnn", (1, 5, 5), 2, seed=3).float()
    empty = encode(model, torch.zeros(0, 1, 5, 5, dtype=torch.long))
    assert read_header(empty)[1] == b"" and decode(model, empty).shape == (0, 1, 5, 5)


# -- the trimmed tail ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.data())
def test_trimmed_tail_decodes_exactly(data):
    """The proof the encoder runs is sound: whatever symbols (confident or not, checks or not,
    short or long streams), the whole trimmed payload decodes from its start to the same
    symbols, and it is never longer than the coder's whole words."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    stream, calls = codec._Stream(), []
    for _ in range(data.draw(st.integers(1, 12))):
        n, k = int(rng.integers(1, 40)), int(rng.integers(2, 6))
        probs = rng.dirichlet(np.full(k, data.draw(st.sampled_from([0.02, 0.3, 3.0]))), size=n)
        symbols = np.array([rng.choice(k, p=p) for p in probs], dtype=np.int32)
        stream.encode(symbols, probs)
        calls.append((symbols, probs))
        if data.draw(st.booleans()):
            check = rng.integers(0, 2**16, 1).astype(np.int32)
            stream.encode(check, None)
            calls.append((check, None))
    payload = stream.payload()
    words = stream.encoder.get_compressed()
    assert len(payload) <= 4 * len(words)
    decoder = codec._constriction().stream.queue.RangeDecoder(codec._words(payload))
    for symbols, probs in calls:
        out = (
            decoder.decode(codec._uniform(), len(symbols)) if probs is None else decoder.decode(codec._family(), probs)
        )
        assert np.array_equal(out, symbols)


def test_trimming_saves_bytes_on_average():
    rng = np.random.default_rng(7)
    saved = []
    for _ in range(200):
        stream = codec._Stream()
        probs = rng.dirichlet(np.ones(4), size=int(rng.integers(5, 60)))
        stream.encode(np.array([rng.choice(4, p=p) for p in probs], dtype=np.int32), probs)
        saved.append(4 * len(stream.encoder.get_compressed()) - len(stream.payload()))
    assert min(saved) >= 0 and np.mean(saved) > 1.0, np.mean(saved)


def test_chunk_bound_premise_on_the_coder():
    """m 16-bit checks, with any other symbols between them, take at least m/2 words: the
    premise of :func:`codec.max_chunks`."""
    rng = np.random.default_rng(0)
    for m in range(1, 60, 3):
        stream = codec._Stream()
        for _ in range(m):
            k = int(rng.integers(0, 5))
            probs = rng.dirichlet(np.full(3, 0.05), size=k)  # often confident, even ~0 bits
            if k:
                stream.encode(probs.argmax(1).astype(np.int32), probs)
            stream.encode(rng.integers(0, 2**16, 1).astype(np.int32), None)
        assert m <= codec.max_chunks(len(stream.payload()))


def test_a_model_that_costs_nothing_still_fits_the_bound(monkeypatch):
    """With probability ~1 for every sub-pixel, the checks alone fill the payload and the
    file still decodes within the bound."""
    monkeypatch.setattr(codec_format, "CHUNK", 1)
    monkeypatch.setattr(
        coding, "_probabilities", lambda logp: np.tile(np.eye(logp.shape[1])[0], (logp.shape[0] * logp.shape[2], 1))
    )
    model = tiny("pixelcnn", (1, 3, 3), 2, seed=9, num_layers=1).float()
    x = torch.zeros(30, 1, 3, 3, dtype=torch.long)
    data = encode(model, x)
    payload = read_header(data)[1]
    assert 30 <= codec.max_chunks(len(payload)) and len(payload) <= 2 * 30 + 8
    assert torch.equal(decode(model, data), x)


# -- refused before any model work --------------------------------------------------------------


@pytest.fixture(scope="module")
def setup():
    model = tiny("pixelcnn", (1, 5, 5), 2, seed=3).float()
    x = torch.randint(0, 2, (5, 1, 5, 5), generator=torch.Generator().manual_seed(0))
    return model, x, encode(model, x)


def test_layout(setup):
    model, _x, data = setup
    header, payload = read_header(data, (5, 5))
    assert data[:4] == b"PX" + bytes([codec.VERSION, codec.FLAG_FAST | codec.FLAG_COUNT])
    assert data[4:7].hex() == codec.model_fingerprint(model)[:6] == header.model
    assert data[7] == 5 and data[8:] == payload
    assert header == Header([(5, 5)] * 5, None, "fast", torch.float32, header.model, True)


def test_other_model_is_refused(setup, monkeypatch):
    _model, _x, data = setup
    other = tiny("pixelcnn", (1, 5, 5), 2, seed=4).float()
    refused(monkeypatch, other, data, "compressed with a different model")


def test_truncated_file(setup):
    model, _, data = setup
    for cut in (1, 3, 6, 8, len(data) // 2, len(data) - 1):
        with pytest.raises(PixelarError):
            decode(model, data[:cut])


def test_bad_magic_and_other_versions(setup, monkeypatch):
    model, _, data = setup
    refused(monkeypatch, model, b"PN" + data[2:], "magic")
    refused(monkeypatch, model, data[:2] + bytes([9]) + data[3:], "newer pixelar")
    refused(monkeypatch, model, data[:2] + bytes([3]) + data[3:], r"older format \(3\)")
    refused(monkeypatch, model, b"PXAR" + bytes([3]) + data[4:], r"older format \(3\)")


def test_hostile_count_is_refused_before_decoding(setup, monkeypatch):
    """A count the payload cannot hold (each chunk's check needs 16 bits) is refused without
    a model step, and without making a list of that length."""
    model, _, data = setup
    payload = read_header(data)[1]
    most = codec_format.CHUNK * codec.max_chunks(len(payload))
    for n in (most + 1, 2**32 - 1, 2**34):
        hostile = data[:7] + codec._varint(n) + payload
        refused(monkeypatch, model, hostile, "truncated \\(or its image count")
    with pytest.raises(PixelarError, match="did not reproduce images 0–63"):
        decode(model, data[:7] + codec._varint(most) + payload)


def test_sizes_beyond_the_limits_are_refused(setup, monkeypatch):
    model, _x, data = setup
    refused(monkeypatch, model, repacked(data, (5, 5), sizes=[(5, 70000)] * 5, own_size=False), "5×70000")
    big = repacked(data, (5, 5), sizes=[(400, 500)] * 5, own_size=False)
    refused(monkeypatch, model, big, "more than the limit of 100000", max_subpixels=100_000)


def test_dtype_mismatch_names_the_fix(setup, monkeypatch):
    model, _, data = setup  # compressed with the model in float32
    refused(
        monkeypatch,
        copy.deepcopy(model).double(),
        data,
        r"model in float32, but this model is float64; convert it with model.to\(torch.float32\)",
    )


def test_impossible_flags_are_refused(setup, monkeypatch):
    model, _, data = setup
    size_three = data[:3] + bytes([data[3] | 3 << codec.SIZE_SHIFT]) + data[4:]
    refused(monkeypatch, model, size_three, "impossible flags")
    fast_and_portable = data[:3] + bytes([data[3] | codec.FLAG_PORTABLE]) + data[4:]
    refused(monkeypatch, model, fast_and_portable, "impossible flags")


@pytest.fixture(scope="module")
def conditional():
    model = tiny("pixelcnn", (1, 4, 4), 3, seed=10, num_classes=3, num_layers=1).float()
    x = torch.randint(0, 3, (4, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    cond = torch.tensor([0, 2, 1, 2])
    return model, x, cond, encode(model, x, cond)


def test_labels_must_fit_the_model(setup, conditional, monkeypatch):
    model, _, _, data = conditional
    refused(monkeypatch, model, repacked(data, labels=None), "holds no labels, but the model is class-conditional")
    refused(monkeypatch, model, repacked(data, labels=[0, 3, 1, 2]), "label 3 is not below the model's 3 classes")
    unconditional, _, plain = setup
    refused(monkeypatch, unconditional, repacked(plain, labels=[0] * 5), "holds labels, but the model is unconditional")


# -- hostile payloads: stopped at the first failing chunk, never a wrong image --------------------


def test_flipped_payload_bit_is_caught(setup):
    model, x, data = setup
    for position in (8, (8 + len(data)) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[position] ^= 0x10
        try:
            out = decode(model, bytes(bad))
        except PixelarError as e:
            assert "corrupt" in str(e)
        else:
            assert torch.equal(out, x)  # only a bit the decoder never reads can go unnoticed


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_corruptions_never_decode_silently_wrong(setup, data):
    model, x, blob = setup
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
    try:
        out = decode(model, bad)
    except PixelarError:
        return
    assert torch.equal(out, x), mutation  # e.g. a zero byte inserted where the tail is padded


def test_range_decoder_errors_become_pixelar_errors(setup, monkeypatch):
    model, _, data = setup
    nan = lambda logp: np.full((logp.shape[0] * logp.shape[2], logp.shape[1]), np.nan)  # noqa: E731
    monkeypatch.setattr(coding, "_probabilities", nan)
    with pytest.raises(PixelarError, match="range decoder failed: Probability distribution not normalizable") as info:
        decode(model, data)  # constriction: ValueError (with a line break, joined into one line)
    assert "\n" not in str(info.value)


def test_decoding_stops_at_the_first_failing_chunk(monkeypatch):
    monkeypatch.setattr(codec_format, "CHUNK", 1)
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=13, num_layers=1).float()
    x = torch.randint(0, 2, (6, 1, 4, 4), generator=torch.Generator().manual_seed(2))
    data = bytearray(encode(model, x))
    data[8] ^= 0x40  # the payload's first byte
    with (
        counting(monkeypatch) as counts,
        pytest.raises(PixelarError, match=r"corrupt or (truncated, or )?was encoded on a different"),
    ):
        decode(model, bytes(data))
    assert counts["chunks"] == 1


def test_changed_count_fails_the_first_chunk_check(monkeypatch):
    """The checks cover the header: a count that drops whole chunks fails at chunk 0."""
    monkeypatch.setattr(codec_format, "CHUNK", 2)
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=14, num_layers=1).float()
    x = torch.randint(0, 2, (4, 1, 4, 4), generator=torch.Generator().manual_seed(3))
    data = encode(model, x)
    header, payload = read_header(data, (4, 4))
    with pytest.raises(PixelarError, match=r"did not reproduce images 0–1 \(their check differs\)"):
        decode(model, dataclasses.replace(header, sizes=header.sizes[:2]).pack() + payload)


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
        decode(model, repacked(data, labels=[1, 2, 1, 2]))


# -- portable mode ----------------------------------------------------------------------------


def _portable_files():
    model = tiny("pixelcnn", (3, 4, 4), 4, seed=30, num_layers=2, hidden_channels=8).float()
    gen = torch.Generator().manual_seed(8)
    images = [torch.randint(0, 4, (3, h, w), generator=gen) for h, w in [(4, 4), (4, 4), (3, 6)]]
    return model, images


def test_portable_file_encoded_with_one_thread_decodes_with_two():
    model, images = _portable_files()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        data = encode(model, images, portable=True)
        torch.set_num_threads(2)
        out = decode_images(model, data)
    finally:
        torch.set_num_threads(threads)
    assert read_header(data)[0].portable and read_header(data)[0].method == "portable"
    assert all(torch.equal(a, b) for a, b in zip(images, out))


def test_portable_file_decodes_in_another_process(tmp_path):
    """Encoded here, decoded by a fresh process with another thread count: the same images."""
    model, images = _portable_files()
    torch.save({"state": model.state_dict(), "images": images}, tmp_path / "case.pt")
    (tmp_path / "file.pxz").write_bytes(encode(model, images, portable=True))
    script = f"""
import sys, torch
sys.path.insert(0, {str(Path(__file__).parent)!r})
from helpers import tiny
from pixelar.codec import decode_images
torch.set_num_threads(2)
case = torch.load({str(tmp_path / "case.pt")!r}, weights_only=True)
model = tiny("pixelcnn", (3, 4, 4), 4, seed=30, num_layers=2, hidden_channels=8).float()
model.load_state_dict(case["state"])
out = decode_images(model, open({str(tmp_path / "file.pxz")!r}, "rb").read())
assert all(torch.equal(a, b) for a, b in zip(case["images"], out))
print("ok")
"""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_portable_costs_about_the_float_models_nll():
    """The integer network's probabilities are close to the float model's: the portable file is
    within 3% (+ the check and tail) of the float model's NLL."""
    model, images = _portable_files()
    data = encode(model, images, portable=True)
    bits = image_nll_bits(model, images)
    assert 8 * len(read_header(data)[1]) <= bits * 1.03 + 16 * 2 + 48, (8 * len(read_header(data)[1]), bits)


def test_portable_needs_a_pixelcnn():
    model = tiny("gated-pixelcnn", (1, 4, 4), 2, seed=31).float()
    with pytest.raises(PixelarError, match="pixelcnn"):
        encode(model, torch.zeros(1, 1, 4, 4, dtype=torch.long), portable=True)
