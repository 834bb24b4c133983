"""Structure-aware fuzzing of the codec's decoder (format 5, and format 4, which it still reads):
parse a real file into its fields, mutate them (or its header bits, or its payload bytes) and
decode the mutant.

The decoder must return the original images or raise a one-line PixelarError — never another
exception, never other images — and its work must stay bounded:

- a mutant whose header does not fit its payload, the model or ``max_subpixels`` (:func:`refusal`,
  this file's own reading of the format) is refused before any model work;
- one that fits is decoded until the first check that differs (or until its work passes what its
  payload buys, pixelar.codec.schedule): never more chunks than the original file, never more
  sub-pixels than ``max_subpixels``;
- the one mutation that changes nothing the decoder reads is appending zero bytes (the decoder
  pads the payload with zeros to whole words, and beyond the end): such a mutant must decode to
  the originals. Every other change of the header is hashed into every chunk check, so it decodes
  only by a 2⁻¹⁶ collision, to the originals or — which the test would report — to other images;
  a changed payload may still decode to the originals (a range coder's final interval holds many
  points). No example of this fixed, derandomized set hits a collision (asserted per example).
- a file of no image has no chunk check at all: it may decode (to no image) only if nothing
  was coded in it, its payload being empty or zero bytes.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import tiny
from pixelar import codec
from pixelar import portable as integer
from pixelar.codec import coding, decode_images, encode, schedule
from pixelar.codec import format as codec_format
from pixelar.errors import PixelarError
from pixelar.models.base import MAX_SIDE, AutoregressiveModel

FUZZ_CHUNK = 2  # small chunks, so a few images make a multi-chunk file
LIMIT = 640  # max_subpixels of every decode: corrupt sizes and counts cannot make decoding slow
VARINT_MAX = 2**35 - 1  # the largest value of a 5-byte varint, the longest the format reads
SIZE_MODE = 3 << codec.SIZE_SHIFT
DTYPE = 3 << codec.DTYPE_SHIFT


class MalformedError(ValueError):
    """Bytes that cannot be parsed as a header (whatever its fields say)."""


@dataclass
class Parts:
    """A compressed file, field by field (see the layout in pixelar.codec). ``join`` writes the
    fields as given, whatever the flags say."""

    version: int
    flags: int
    model_id: bytes
    count: int | None  # None: not stored (one image)
    sizes: list[tuple[int, int]]  # as stored: none, one, or one per image
    labels: list[int] | None
    payload: bytes
    magic: bytes = codec.MAGIC

    @property
    def n(self) -> int:
        """The number of images the header says."""
        return 1 if self.count is None else self.count

    @property
    def mode(self) -> int:
        return (self.flags & SIZE_MODE) >> codec.SIZE_SHIFT

    @property
    def dtype(self) -> torch.dtype:
        return codec.DTYPES[(self.flags & DTYPE) >> codec.DTYPE_SHIFT]


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(5):
        if offset + i >= len(data):
            raise MalformedError("the header ends in a varint")
        value |= (data[offset + i] & 0x7F) << (7 * i)
        if data[offset + i] < 0x80:
            return value, offset + i + 1
    raise MalformedError("a varint longer than 5 bytes")


def split(data: bytes) -> Parts:
    """The fields of a file, read as the format says (the flags say what is stored)."""
    if len(data) < 4 + codec.MODEL_ID:
        raise MalformedError("shorter than the fixed header")
    flags = data[3]
    offset, count = 4 + codec.MODEL_ID, None
    if flags & codec.FLAG_COUNT:
        count, offset = read_varint(data, offset)
    n = 1 if count is None else count
    mode = (flags & SIZE_MODE) >> codec.SIZE_SHIFT
    if mode == 3:
        raise MalformedError("size mode 3")
    stored = {codec.SIZE_MODEL: 0, codec.SIZE_ONE: 1, codec.SIZE_EACH: n}[mode]
    if 2 * stored + (n if flags & codec.FLAG_LABELS else 0) > len(data) - offset:
        raise MalformedError("more sizes or labels than bytes")  # each varint takes a byte at least
    sizes = []
    for _ in range(stored):
        height, offset = read_varint(data, offset)
        width, offset = read_varint(data, offset)
        sizes.append((height, width))
    labels = None
    if flags & codec.FLAG_LABELS:
        labels = []
        for _ in range(n):
            label, offset = read_varint(data, offset)
            labels.append(label)
    return Parts(data[2], flags, data[4 : 4 + codec.MODEL_ID], count, sizes, labels, data[offset:], data[:2])


def join(p: Parts) -> bytes:
    out = p.magic + bytes([p.version, p.flags]) + p.model_id
    out += b"" if p.count is None else varint(p.count)
    out += b"".join(varint(h) + varint(w) for h, w in p.sizes)
    out += b"" if p.labels is None else b"".join(varint(label) for label in p.labels)
    return out + p.payload


def head_length(data: bytes) -> int:
    return len(data) - len(split(data).payload)


def image_sizes(p: Parts, model) -> tuple[list[tuple[int, int]], int]:
    """(distinct runs of sizes as [(size, images)], chunks) of a parsed header of few images."""
    if p.mode == codec.SIZE_EACH:
        runs: list[list] = []
        for size in p.sizes:
            if runs and runs[-1][0] == size:
                runs[-1][1] += 1
            else:
                runs.append([size, 1])
        return [(size, k) for size, k in runs], sum(math.ceil(k / codec_format.CHUNK) for _, k in runs)
    size = p.sizes[0] if p.mode == codec.SIZE_ONE else model.image_shape[1:]
    return ([(size, p.n)] if p.n else []), math.ceil(p.n / codec_format.CHUNK)


WORK_BOUND = "more work than the payload buys"


def refusal(data: bytes, model, limit: int) -> str | None:
    """Why the decoder must refuse the file before any model work (None: it may decode it)."""
    try:
        p = split(data)
    except MalformedError as e:
        return str(e)
    if p.magic != codec.MAGIC:
        return "magic"
    if not codec.OLDEST <= p.version <= codec.VERSION:
        return "version"
    fast = bool(p.flags & codec.FLAG_FAST)
    if fast and p.flags & codec.FLAG_PORTABLE:
        return "fast and portable"
    if p.count == 1:
        return "a stored count of 1"
    if not all(1 <= side <= MAX_SIDE for size in p.sizes for side in size):
        return "a side out of [1, MAX_SIDE]"
    runs, chunks = image_sizes(p, model)
    if chunks > codec.max_chunks(len(p.payload)):
        return "more chunks than the payload can hold"
    if p.n == 0 and p.payload.strip(b"\0"):  # the encoder codes nothing for no image
        return "no image, but a payload that codes something"
    if p.dtype != model.dtype:
        return "dtype"
    if p.model_id != bytes.fromhex(codec.model_fingerprint(model))[: codec.MODEL_ID]:
        return "model id"
    if fast and not model.has_fast_sampler:
        return "fast sampler"
    naive, portable = not fast and not p.flags & codec.FLAG_PORTABLE, bool(p.flags & codec.FLAG_PORTABLE)
    if naive and model.has_fast_sampler:  # the encoder codes with the fast stepper where there is one
        return "naive sampler"
    if model.image_shape[0] * sum(h * w * k for (h, w), k in runs) > limit:
        return "max_subpixels"
    if (p.labels is None) != (model.num_classes == 0):
        return "labels (not) stored"
    if any(label >= model.num_classes for label in p.labels or []):
        return "label out of range"
    # each sub-pixel costs its stepper's units (the naive one's 2·H·W, the integer network's 8, the
    # fast one's its family's plus one per 64 levels): more units than the payload buys
    fast = model.step_work[0] + math.ceil(model.num_levels / 64)
    weight = {size: 2 * size[0] * size[1] if naive else 8 if portable else fast for size, _ in runs}
    work = sum(model.image_shape[0] * h * w * k * weight[h, w] for (h, w), k in runs)
    if work > schedule.FREE + schedule.RATE * len(p.payload):
        return WORK_BOUND
    return None


@contextmanager
def counting():
    """Count the chunks the decoder starts and the probability rows (sub-pixels) it codes, on the
    float path (codec._probabilities) and the portable one (pixelar.portable.probabilities)."""
    counts = {"chunks": 0, "rows": 0}
    code, floats, integers = codec._code, codec._probabilities, integer.probabilities

    def count_code(*args, **kwargs):
        counts["chunks"] += 1
        return code(*args, **kwargs)

    def count_rows(probabilities):
        def wrapped(logits):
            rows = probabilities(logits)
            counts["rows"] += len(rows)
            return rows

        return wrapped

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(coding, "_code", count_code)
        mp.setattr(coding, "_probabilities", count_rows(floats))
        mp.setattr(integer, "probabilities", count_rows(integers))
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
    images: list[torch.Tensor]
    cond: torch.Tensor | None
    data: bytes
    chunks: int  # chunks of the original file
    head: int  # bytes before the payload

    @property
    def subpixels(self) -> int:
        return sum(image.numel() for image in self.images)


def decodes_to(out: list[torch.Tensor], images: list[torch.Tensor]) -> bool:
    return len(out) == len(images) and all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(out, images))


def make_case(model, sizes, cond, method) -> Case:
    generator = torch.Generator().manual_seed(len(sizes))
    C, K = model.image_shape[0], model.num_levels
    images = [torch.randint(0, K, (C, h, w), generator=generator) for h, w in sizes]
    data = encode(model, images, cond, method=method)
    with counting() as counts:
        assert decodes_to(decode_images(model, data, max_subpixels=LIMIT), images)
    case = Case(model, images, cond, data, counts["chunks"], head_length(data))
    assert counts["rows"] == case.subpixels and refusal(data, model, LIMIT) is None
    # the fuzz reaches the count bound: its sub-pixels stay within the limit (else it would
    # be refused for them, never reaching a chunk check)
    most = codec_format.CHUNK * codec.max_chunks(len(data) - case.head)
    assert C * most * max(h * w for h, w in sizes) <= LIMIT, most
    return case


@pytest.fixture(scope="module", autouse=True)
def set_up():
    """Small chunks, so a few images make a multi-chunk file; one intra-op thread (fastest for
    tiny models, immune to a busy machine; files are encoded and decoded under the same set-up)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec_format, "CHUNK", FUZZ_CHUNK)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def binary_case() -> Case:
    """5 binary images of the model's size (sizes not stored, a count) from an unconditional
    float32 PixelCNN, fast schedule (wavefronts): 3 chunks."""
    model = tiny("pixelcnn", (1, 4, 4), 2, seed=11, num_layers=1, hidden_channels=4).float()
    return make_case(model, [(4, 4)] * 5, None, "fast")


@pytest.fixture(scope="module")
def colour_case() -> Case:
    """3 colour images of 2 sizes (each size stored) with labels, from a class-conditional float32
    PixelCNN without a fast sampler (naive order): 2 chunks."""
    model = tiny("pixelcnn", (3, 2, 3), 4, seed=12, num_layers=1, hidden_channels=4, num_classes=3).float()
    return make_case(without_fast_sampler(model), [(2, 3), (2, 3), (3, 2)], torch.tensor([2, 0, 1]), "naive")


@pytest.fixture(scope="module")
def single_case() -> Case:
    """One 3×5 image (no count, its size stored once) from a float64 PixelCNN, fast schedule."""
    model = tiny("pixelcnn", (1, 4, 4), 4, seed=13, num_layers=1, hidden_channels=4)
    return make_case(model, [(3, 5)], None, "fast")


def near(value: int, top: int) -> st.SearchStrategy[int]:
    """A field value: often one the decoder has to think about, sometimes any."""
    edges = sorted({v for v in (0, 1, value - 1, value + 1, top) if 0 <= v <= top} - {value})
    return st.one_of(st.sampled_from(edges), st.integers(0, top))


def per_image_sizes(p: Parts, model) -> list[tuple[int, int]]:
    return p.sizes if p.mode == codec.SIZE_EACH else [(p.sizes or [model.image_shape[1:]])[0]] * p.n


def restored(p: Parts, mode: int, model) -> Parts:
    """The same images with their sizes stored the way size ``mode`` says (per image: few images)."""
    first = (p.sizes or [tuple(model.image_shape[1:])])[0]
    stored = [] if mode == codec.SIZE_MODEL else [first] if mode == codec.SIZE_ONE else per_image_sizes(p, model)
    return replace(p, flags=p.flags & ~SIZE_MODE | mode << codec.SIZE_SHIFT, sizes=stored)


def mutate_header(draw: st.DrawFn, p: Parts, op: str, case: Case) -> Parts:
    """One structure-aware mutation of the header fields. A flag is either toggled alone (the
    bytes after it are then read differently) or with the fields it announces (``consistent``)."""
    model = case.model
    consistent = draw(st.booleans())
    if op == "version":
        return replace(p, version=draw(near(p.version, 255)))
    if op in ("fast", "portable"):
        return replace(p, flags=p.flags ^ {"fast": codec.FLAG_FAST, "portable": codec.FLAG_PORTABLE}[op])
    if op == "dtype":
        index = draw(st.sampled_from([i for i in range(4) if codec.DTYPES[i] != p.dtype]))
        return replace(p, flags=p.flags & ~DTYPE | index << codec.DTYPE_SHIFT)
    if op == "model_id":
        i = draw(st.integers(0, 8 * codec.MODEL_ID - 1))
        model_id = bytearray(p.model_id)
        model_id[i // 8] ^= 1 << (i % 8)
        return replace(p, model_id=bytes(model_id))
    if op == "labels_flag":
        p = replace(p, flags=p.flags ^ codec.FLAG_LABELS)
        if not consistent or p.n > 64:
            return p
        if p.labels is not None:
            return replace(p, labels=None)
        return replace(p, labels=draw(st.lists(st.integers(0, 3), min_size=p.n, max_size=p.n)))
    if op == "count_flag":
        p = replace(p, flags=p.flags ^ codec.FLAG_COUNT)
        if not consistent:
            return p
        if p.count is None:  # now stored: a count of 1 is never stored
            return replace(p, count=1)
        each = p.mode == codec.SIZE_EACH
        return replace(p, count=None, sizes=p.sizes[:1] if each else p.sizes, labels=p.labels and p.labels[:1])
    if op == "size_mode":
        mode = draw(st.sampled_from([m for m in range(4) if m != p.mode]))
        if consistent and mode < 3 and p.n <= 64:
            return restored(p, mode, model)
        return replace(p, flags=p.flags & ~SIZE_MODE | mode << codec.SIZE_SHIFT)
    if op == "count":  # around 0, 1, the original and the most images the payload can hold
        most = codec_format.CHUNK * codec.max_chunks(len(p.payload))
        edges = [0, 1, 2, p.n - 1, p.n + 1, most - 1, most, most + 1, 2**28, VARINT_MAX]
        n = draw(st.one_of(st.sampled_from(edges), st.integers(0, VARINT_MAX)))
        sizes = per_image_sizes(p, model) if p.n <= 64 else []
        p = replace(p, flags=p.flags | codec.FLAG_COUNT, count=max(0, n))
        if consistent and p.n <= 64:  # as many sizes and labels as images
            if p.mode == codec.SIZE_EACH:
                p = replace(p, sizes=(sizes + sizes[-1:] * p.n)[: p.n])
            if p.labels is not None:
                p = replace(p, labels=(p.labels + [0] * p.n)[: p.n])
        return p
    if op == "size":  # a side: 0, 1, MAX_SIDE ± 1, past the varint, at and past max_subpixels
        if not p.sizes:
            p = restored(p, codec.SIZE_ONE, model)
        i = draw(st.integers(0, len(p.sizes) - 1))
        side = draw(st.integers(0, 1))
        other = p.sizes[i][1 - side]
        each = p.mode == codec.SIZE_EACH
        times = 1 if each else p.n  # the images of this size
        rest = sum(h * w for j, (h, w) in enumerate(p.sizes) if j != i) if each else 0
        at_limit = max(1, (LIMIT // model.image_shape[0] - rest) // max(1, times * other))
        value = p.sizes[i][side]
        edges = [0, 1, value + 1, at_limit, at_limit + 1, MAX_SIDE, MAX_SIDE + 1, VARINT_MAX]
        new = draw(st.one_of(st.sampled_from(edges), st.integers(0, 2**16)))
        sizes = list(p.sizes)
        sizes[i] = (new, other) if side == 0 else (other, new)
        return replace(p, sizes=sizes)
    if op == "label":
        if not p.labels:  # labels the flags do not announce (then read as the payload's start)
            return replace(p, labels=[draw(st.integers(0, 2**16))])
        labels = list(p.labels)
        i = draw(st.integers(0, len(labels) - 1))
        classes = model.num_classes
        if consistent:
            values = [max(0, classes - 1), classes, 2**14, VARINT_MAX]
            labels[i] = draw(st.one_of(st.sampled_from(values), st.integers(0, 2**16)))
        elif draw(st.booleans()):
            del labels[i]
        else:
            labels.insert(i, draw(st.integers(0, 3)))
        return replace(p, labels=labels)
    raise ValueError(op)


def mutate(draw: st.DrawFn, data: bytes, op: str, case: Case) -> bytes:
    """Apply one mutation ``op`` (one of :data:`OPS`) to a file."""
    if op in FIELD_OPS:
        try:
            parts = split(data)
        except MalformedError:  # an earlier mutation left no fields to mutate
            return data
        return join(mutate_header(draw, parts, op, case))
    try:
        head = head_length(data)
    except MalformedError:
        head = min(case.head, len(data))
    if op == "header_bit":  # any bit of the header, mostly after the magic number
        after_magic = 8 * len(codec.MAGIC) if head > len(codec.MAGIC) else 0
        i = draw(st.one_of(st.integers(after_magic, 8 * head - 1), st.integers(0, 8 * head - 1)))
        return data[: i // 8] + bytes([data[i // 8] ^ 1 << (i % 8)]) + data[i // 8 + 1 :]
    payload = bytearray(data[head:])
    if op == "append":
        payload += bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=8)))
    elif op == "zeros":  # what the decoder reads after the end anyway
        payload += bytes(draw(st.integers(1, 12)))
    elif op == "insert":
        payload.insert(draw(st.integers(0, len(payload))), draw(st.integers(0, 255)))
    elif payload:
        i = draw(st.integers(0, len(payload) - 1))
        if op == "flip":
            payload[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            payload[i] = draw(st.integers(0, 255))
        elif op == "ones":  # all bits set from byte i on
            payload[i:] = b"\xff" * (len(payload) - i)
        elif op == "truncate":
            del payload[i:]
        elif op == "delete":
            del payload[i]
        else:
            raise ValueError(op)
    return data[:head] + bytes(payload)


FIELD_OPS = ["version", "fast", "portable", "dtype", "model_id", "labels_flag", "count_flag", "size_mode"]
FIELD_OPS += ["count", "size", "label"]
HEADER_OPS = ["header_bit", *FIELD_OPS]
PAYLOAD_OPS = ["flip", "byte", "ones", "truncate", "append", "zeros", "insert", "delete"]
OPS = HEADER_OPS + PAYLOAD_OPS
# refusals after model work: a check differs, the coder fails, the work passes what the payload buys
CHECKED = ("did not reproduce images", "the range decoder failed", "took more work than its payload")


def check_mutant(case: Case, mutant: bytes) -> None:
    model = case.model
    reason = refusal(mutant, model, LIMIT)
    with counting() as counts:
        try:
            out, message = decode_images(model, mutant, max_subpixels=LIMIT), None
        except PixelarError as e:  # any other exception fails the test
            out, message = None, str(e)
    event(f"chunks decoded: {counts['chunks']}")
    event("decoded" if message is None else f"refused ({reason or 'after model work'})")
    # the originals, or no image from a file that codes none, never other images
    if out is not None:
        silent = f"{mutant.hex()} decoded to {len(out)} image(s), not the originals of {case.data.hex()}"
        assert decodes_to(out, case.images) or (reason is None and out == [] and split(mutant).n == 0), silent
    else:
        assert message and "\n" not in message, message
    # the one change the decoder cannot see: zero bytes appended to the payload (or removed)
    head, payload = case.data[: case.head], case.data[case.head :]
    if reason is None and mutant[: case.head] == head and mutant[case.head :].rstrip(b"\0") == payload.rstrip(b"\0"):
        assert out is not None, (message, mutant.hex())
    # the work stays bounded: a file that does not fit is refused before any model work, one that
    # fits no later than its first failing chunk check (the original file's chunks at most)
    if reason is not None:
        assert message is not None and counts == {"chunks": 0, "rows": 0}, (reason, message, counts)
    elif message is not None and split(mutant).n:  # a header that fits fails in the coder or a check
        assert any(m in message for m in CHECKED), (message, mutant.hex())
        assert counts["chunks"] or CHECKED[1] in message, (message, mutant.hex())
    assert counts["chunks"] <= case.chunks and counts["rows"] <= LIMIT, counts


FUZZ = settings(
    max_examples=10,  # per case and first mutation: 3 × 20 × 10 files
    deadline=5000,  # milliseconds; one example takes well under 100 ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fuzz(case: Case, first: str, draw: st.DrawFn) -> None:
    """Mutate the case's file: ``first``, then up to two more mutations of any kind; decode."""
    mutant = case.data
    for op in [first, *draw(st.lists(st.sampled_from(OPS), max_size=2))]:
        mutant = mutate(draw, mutant, op, case)
    check_mutant(case, mutant)


@pytest.mark.parametrize("first", OPS)
@FUZZ
@given(data=st.data())
def test_fuzz_binary_unconditional(binary_case, first, data):
    fuzz(binary_case, first, data.draw)


@pytest.mark.parametrize("first", OPS)
@FUZZ
@given(data=st.data())
def test_fuzz_colour_conditional_mixed_sizes_without_fast_sampler(colour_case, first, data):
    fuzz(colour_case, first, data.draw)


@pytest.mark.parametrize("first", OPS)
@FUZZ
@given(data=st.data())
def test_fuzz_single_image_float64(single_case, first, data):
    fuzz(single_case, first, data.draw)


def test_fuzz_helpers_round_trip(binary_case, colour_case, single_case):
    """split/join round-trip every case's file (and its file of no image), and read its fields."""
    for case in (binary_case, colour_case, single_case):
        empty = encode(case.model, [], None if case.cond is None else case.cond[:0])
        for data in (case.data, empty):
            assert join(split(data)) == data
        header, payload = codec.read_header(case.data, case.model.image_shape[1:])
        parts = split(case.data)
        assert parts.payload == payload and parts.labels == header.labels and parts.n == len(case.images)
        assert per_image_sizes(parts, case.model) == [tuple(image.shape[1:]) for image in case.images]
        assert parts.dtype == case.model.dtype and split(empty).n == 0 and split(empty).payload == b""
    assert split(binary_case.data).mode == codec.SIZE_MODEL and split(binary_case.data).count == 5
    assert split(colour_case.data).mode == codec.SIZE_EACH and split(colour_case.data).labels == [2, 0, 1]
    assert split(single_case.data).mode == codec.SIZE_ONE and split(single_case.data).count is None


@pytest.mark.parametrize("name", ["binary_case", "colour_case", "single_case"])
def test_count_bound(request, name):
    """As many images (of the first image's size) as the payload can hold chunks pass the header
    checks and fail the first chunk's check; one more is refused before any model work."""
    case = request.getfixturevalue(name)
    parts = split(case.data)
    most = codec_format.CHUNK * codec.max_chunks(len(parts.payload))
    for n, reason in ((most, None), (most + 1, "more chunks than the payload can hold")):
        mutant = replace(parts, flags=parts.flags | codec.FLAG_COUNT, count=n)
        if parts.mode == codec.SIZE_EACH:
            mutant = replace(mutant, sizes=parts.sizes[:1] * n)
        if parts.labels is not None:
            mutant = replace(mutant, labels=[0] * n)
        assert refusal(join(mutant), case.model, LIMIT) == reason
        with counting() as counts, pytest.raises(PixelarError) as refused:
            decode_images(case.model, join(mutant), max_subpixels=LIMIT)
        if reason is None:
            assert counts["chunks"] == 1 and CHECKED[0] in str(refused.value), (counts, refused.value)
        else:
            assert counts == {"chunks": 0, "rows": 0}, refused.value


@pytest.mark.parametrize("name", ["binary_case", "colour_case", "single_case"])
def test_size_bound(request, name):
    """A first size that brings the file to max_subpixels (or, where the work the payload buys is
    the tighter bound, as the naive stepper's 2·H·W units a row make it, to that), or a 1×1 one,
    passes the header checks and fails the first chunk's check, or stops once its steps' work
    passes the budget; one more row, a side of 0 or past MAX_SIDE is refused before any model
    work."""
    case = request.getfixturevalue(name)
    parts = split(case.data)
    parts = parts if parts.sizes else restored(parts, codec.SIZE_ONE, case.model)
    C, each, width = case.model.image_shape[0], parts.mode == codec.SIZE_EACH, parts.sizes[0][1]
    times, rest = (1, sum(h * w for h, w in parts.sizes[1:])) if each else (parts.n, 0)
    height = (LIMIT // C - rest) // (times * width)
    assert C * (rest + times * height * width) <= LIMIT < C * (rest + times * (height + 1) * width)

    def first(size: tuple[int, int]) -> bytes:
        return join(replace(parts, sizes=[size, *parts.sizes[1:]]))

    bound = "max_subpixels"
    while refusal(first((height, width)), case.model, LIMIT) == WORK_BOUND:
        height, bound = height - 1, WORK_BOUND
    side = "a side out of [1, MAX_SIDE]"
    for size, reason in [
        ((height, width), None),
        ((1, 1), None),
        ((height + 1, width), bound),
        ((0, width), side),
        ((1, MAX_SIDE + 1), side),
    ]:
        mutant = first(size)
        assert refusal(mutant, case.model, LIMIT) == reason
        with counting() as counts, pytest.raises(PixelarError) as refused:
            decode_images(case.model, mutant, max_subpixels=LIMIT)
        if reason is None:  # the first chunk: the first image alone (sizes stored each), or CHUNK
            rows = C * (1 if each else min(parts.n, codec_format.CHUNK)) * size[0] * size[1]
            checked = counts == {"chunks": 1, "rows": rows} and CHECKED[0] in str(refused.value)
            stopped = counts["chunks"] == 1 and CHECKED[2] in str(refused.value)  # the steps' work passed it
            assert checked or stopped, (counts, refused)
        else:
            assert counts == {"chunks": 0, "rows": 0}, refused.value


def test_appended_zero_bytes_decode(binary_case, colour_case, single_case):
    """The decoder pads the payload with zero bytes: appending them changes nothing."""
    for case in (binary_case, colour_case, single_case):
        for k in range(13):
            assert decodes_to(decode_images(case.model, case.data + bytes(k), max_subpixels=LIMIT), case.images)


def test_zero_count_with_a_payload_is_refused(binary_case):
    """A count corrupted to 0 leaves a payload that codes images: that file is not the (empty)
    file of no image, and must not decode silently to no image."""
    parts = split(binary_case.data)
    mutant = join(replace(parts, count=0))
    assert len(mutant) == len(binary_case.data)  # one byte changed: 0x05 → 0x00
    with pytest.raises(PixelarError):
        decode_images(binary_case.model, mutant, max_subpixels=LIMIT)
