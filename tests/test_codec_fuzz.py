"""Structure-aware fuzzing of the codec's decoder: mutate a real file's header fields, labels,
payload words and lengths, recompute the CRC so the mutant passes framing, and decode.

The decoder must return the original images or raise a one-line PixelarError — never another
exception, never a wrong image — and its work must stay bounded: a header that does not fit the
payload or the model is refused before any model step, and no mutant costs more chunks than the
original file (decoding stops at the first chunk whose check fails).
"""

from __future__ import annotations

import math
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import tiny
from pixelar import codec
from pixelar.codec import HEADER, PREFIX, decode, encode
from pixelar.errors import PixelarError
from pixelar.models.base import AutoregressiveModel

FUZZ_CHUNK = 2  # small chunks, so a few images make a multi-chunk file


@dataclass
class Parts:
    """A compressed file, field by field (see the layout in pixelar.codec)."""

    version: int
    flags: int
    dtype: int
    C: int
    H: int
    W: int
    K: int
    N: int
    fingerprint: bytes
    labels: list[int] | None
    words: list[int] = field(default_factory=list)
    pay_len: int | None = None  # None: 4 × len(words)


def split(data: bytes) -> Parts:
    version, flags, dtype, C, H, W, K, N, fingerprint = HEADER.unpack_from(data, 4)
    offset, labels = PREFIX, None
    if flags & codec.FLAG_LABELS:
        labels = np.frombuffer(data, dtype="<u2", count=N, offset=offset).tolist()
        offset += 2 * N
    (pay_len,) = struct.unpack_from("<I", data, offset)
    words = np.frombuffer(data, dtype="<u4", count=pay_len // 4, offset=offset + 4).tolist()
    return Parts(version, flags, dtype, C, H, W, K, N, fingerprint, labels, words)


def join(p: Parts) -> bytes:
    """Serialise, with the labels and words as given (whatever N says) and a valid CRC."""
    body = codec.MAGIC + HEADER.pack(p.version, p.flags, p.dtype, p.C, p.H, p.W, p.K, p.N, p.fingerprint)
    if p.labels is not None:
        body += np.asarray(p.labels, dtype="<u2").tobytes()
    payload = np.asarray(p.words, dtype="<u4").tobytes()
    body += struct.pack("<I", 4 * len(p.words) if p.pay_len is None else p.pay_len) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def patched(data: bytes, **changes) -> bytes:
    """The file with some fields changed and its CRC recomputed."""
    return join(replace(split(data), **changes))


@contextmanager
def counting(model):
    """Count the chunks the decoder starts (autoregressive loops) and the model steps it codes."""
    counts = {"chunks": 0, "steps": 0}
    probabilities, autoregress = codec._probabilities, model.autoregress

    def count_probabilities(logp):
        counts["steps"] += 1
        return probabilities(logp)

    def count_autoregress(*args, **kwargs):
        counts["chunks"] += 1
        return autoregress(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec, "_probabilities", count_probabilities)
        mp.setattr(model, "autoregress", count_autoregress)
        yield counts


def without_fast_sampler(model):
    """The same model (same fingerprint) as one whose class has no fast sampler."""
    cls = type(model)
    model.__class__ = type(
        f"{cls.__name__}WithoutFastSampler", (cls,), {"fast_stepper": AutoregressiveModel.fast_stepper}
    )
    assert not model.has_fast_sampler
    return model


@dataclass
class Case:
    model: torch.nn.Module
    x: torch.Tensor
    cond: torch.Tensor | None
    data: bytes
    chunks: int  # chunks of the original file
    steps_per_chunk: int
    empty: bytes  # the valid file of no image (the one other file simple mutations can reach)


def make_case(model, n, cond, method) -> Case:
    x = torch.randint(0, model.num_levels, (n, *model.image_shape), generator=torch.Generator().manual_seed(n))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec, "CHUNK", FUZZ_CHUNK)
        data = encode(model, x, cond, method=method)
        empty = encode(model, x[:0], None if cond is None else cond[:0], method=method)
        with counting(model) as counts:
            assert torch.equal(decode(model, data), x)
    chunks = math.ceil(n / FUZZ_CHUNK)
    assert counts["chunks"] == chunks
    return Case(model, x, cond, data, chunks, counts["steps"] // chunks, empty)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is fastest, and immune to a busy machine. Files are
    encoded and decoded under the same setting (the thread count is part of the set-up)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def binary_case(one_thread) -> Case:
    """Binary 4×4 images from an unconditional PixelCNN, fast schedule (wavefronts), 3 chunks."""
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=11, num_layers=1, hidden_channels=4).float()
    return make_case(model, 5, None, "fast")


@pytest.fixture(scope="module")
def colour_case(one_thread) -> Case:
    """4-level colour images from a class-conditional PixelCNN without a fast sampler, 2 chunks."""
    model = tiny("pixelcnn", (3, 2, 3), 4, seed=12, num_layers=1, hidden_channels=4, num_classes=3).float()
    return make_case(without_fast_sampler(model), 3, torch.tensor([2, 0, 1]), "naive")


U8, U16, U32 = 2**8 - 1, 2**16 - 1, 2**32 - 1


def near(value: int, top: int) -> st.SearchStrategy[int]:
    """A field value: often one the decoder has to think about, sometimes any."""
    edges = sorted({v for v in (0, 1, value - 1, value + 1, top) if 0 <= v <= top} - {value})
    return st.one_of(st.sampled_from(edges), st.integers(0, top))


def mutate(draw: st.DrawFn, p: Parts, op: str, num_classes: int) -> Parts:
    """Apply one structure-aware mutation ``op`` (one of :data:`OPS`) to the file's fields."""
    words = list(p.words)
    if op == "version":
        return replace(p, version=draw(near(p.version, U8)))
    if op == "flags":  # the fast flag, the labels flag (without labels), an unknown bit, or any value
        flips = [p.flags ^ codec.FLAG_FAST, p.flags ^ codec.FLAG_LABELS, p.flags | 4, p.flags | 128]
        return replace(p, flags=draw(st.one_of(st.sampled_from(flips), st.integers(0, U8))))
    if op == "labels_flag":  # toggle the labels flag, with labels that keep the framing valid
        if p.labels is not None:
            return replace(p, flags=p.flags & ~codec.FLAG_LABELS, labels=None)
        labels = draw(st.lists(st.integers(0, 3), min_size=p.N, max_size=p.N)) if p.N <= 64 else [0] * p.N
        return replace(p, flags=p.flags | codec.FLAG_LABELS, labels=labels)
    if op == "dtype":
        return replace(p, dtype=draw(near(p.dtype, U8)))
    if op == "shape":
        dim = draw(st.sampled_from(["C", "H", "W"]))
        return replace(p, **{dim: draw(near(getattr(p, dim), U16))})
    if op == "levels":
        return replace(p, K=draw(near(p.K, U32)))
    if op == "count":
        most = codec.CHUNK * max(0, len(words) - 1)  # the bound, and one past it
        n = draw(st.one_of(st.sampled_from([0, 1, p.N - 1, p.N + 1, most, most + 1, 20_000, U32]), st.integers(0, U32)))
        labels = p.labels
        if labels is not None and n <= 64 and draw(st.booleans()):  # keep the framing valid
            labels = (labels + [0] * n)[:n]
        return replace(p, N=max(0, n), labels=labels)
    if op == "fingerprint":
        i = draw(st.integers(0, 8 * len(p.fingerprint) - 1))
        fp = bytearray(p.fingerprint)
        fp[i // 8] ^= 1 << (i % 8)
        return replace(p, fingerprint=bytes(fp))
    if op == "label":
        if not p.labels:
            return replace(p, labels=[draw(st.integers(0, U16))])  # labels the flags do not announce
        labels = list(p.labels)
        i = draw(st.integers(0, len(labels) - 1))
        labels[i] = draw(st.one_of(st.sampled_from([max(0, num_classes - 1), num_classes, U16]), st.integers(0, U16)))
        return replace(p, labels=labels)
    if op == "pay_len":
        return replace(p, pay_len=draw(near(4 * len(words), U32)))
    if op == "extend":
        return replace(p, words=words + draw(st.lists(st.integers(0, U32), min_size=1, max_size=4)))
    if op == "insert":
        i = draw(st.integers(0, len(words)))
        return replace(p, words=[*words[:i], draw(st.integers(0, U32)), *words[i:]])
    if not words:
        return p
    i = draw(st.integers(0, len(words) - 1))
    if op == "flip":
        words[i] ^= 1 << draw(st.integers(0, 31))
    elif op == "word":
        words[i] = draw(st.integers(0, U32))
    elif op == "ones":  # all bits set from word i on: the range decoder's "invalid data"
        words[i:] = [U32] * (len(words) - i)
    elif op == "truncate":
        words = words[:i]
    elif op == "delete":
        del words[i]
    else:
        raise ValueError(op)
    return replace(p, words=words)


HEADER_OPS = ["version", "flags", "labels_flag", "dtype", "shape", "levels", "count", "fingerprint", "label"]
PAYLOAD_OPS = ["flip", "word", "ones", "truncate", "extend", "insert", "delete", "pay_len"]
OPS = HEADER_OPS + PAYLOAD_OPS


def fits(p: Parts, model) -> bool:
    """Whether the mutant's header fits its payload and the model (else nothing may be decoded)."""
    framing = p.pay_len is None and (p.labels is None) == (not p.flags & codec.FLAG_LABELS)
    framing = framing and (p.labels is None or len(p.labels) == p.N)
    words = len(p.words)
    count_ok = (p.N == 0) == (words == 0) and p.N <= codec.CHUNK * max(0, words - 1)
    return (
        framing
        and count_ok
        and p.version == codec.VERSION
        and p.flags & ~3 == 0
        and (model.has_fast_sampler or not p.flags & codec.FLAG_FAST)
        and p.dtype < len(codec.DTYPES)
        and codec.DTYPES[p.dtype] == model.dtype
        and p.fingerprint == bytes.fromhex(codec.model_fingerprint(model))[:16]
        and (p.C, p.H, p.W) == model.image_shape
        and p.K == model.num_levels
        and (p.labels is None) == (model.num_classes == 0)
        and all(label < model.num_classes for label in p.labels or [])
    )


def check_mutant(case: Case, mutant: bytes, parts: Parts) -> None:
    model = case.model
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec, "CHUNK", FUZZ_CHUNK)
        with counting(model) as counts:
            try:
                out = decode(model, mutant)
            except PixelarError as e:
                out, message = None, str(e)
            # any other exception fails the test
            fit = fits(parts, model)
    event(f"chunks decoded: {counts['chunks']}")
    event("decoded" if out is not None else "refused: " + message.split("(")[0].split(":")[0][:40])
    if out is not None:  # the original images (or the one valid empty file), never others
        assert torch.equal(out, case.x) or (mutant == case.empty and len(out) == 0)
    else:
        assert "\n" not in message and message
    if not fit:  # refused before a single model step: a hostile count costs nothing
        assert out is None and counts["chunks"] == 0 and counts["steps"] == 0, (parts, message)
    # never more chunks than the original file: decoding stops at the first failing check
    assert counts["chunks"] <= case.chunks
    assert counts["steps"] <= counts["chunks"] * case.steps_per_chunk


FUZZ = settings(
    max_examples=12,  # per case and first mutation: 2 × 17 × 12 files
    deadline=5000,  # milliseconds; one example takes well under 100 ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fuzz(case: Case, first: str, draw: st.DrawFn) -> None:
    """Mutate the case's file: ``first``, then up to two more mutations of any kind; decode."""
    parts = split(case.data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec, "CHUNK", FUZZ_CHUNK)
        for op in [first, *draw(st.lists(st.sampled_from(OPS), max_size=2))]:
            parts = mutate(draw, parts, op, case.model.num_classes)
    check_mutant(case, join(parts), parts)


@pytest.mark.parametrize("first", OPS)
@FUZZ
@given(data=st.data())
def test_fuzz_binary_unconditional(binary_case, first, data):
    fuzz(binary_case, first, data.draw)


@pytest.mark.parametrize("first", OPS)
@FUZZ
@given(data=st.data())
def test_fuzz_colour_conditional_without_fast_sampler(colour_case, first, data):
    fuzz(colour_case, first, data.draw)


def test_fuzz_helpers_round_trip(binary_case, colour_case):
    for case in (binary_case, colour_case):
        assert join(split(case.data)) == case.data
