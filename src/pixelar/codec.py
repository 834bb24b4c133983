"""Lossless compression with a trained model: its exact conditionals drive a range coder
(``constriction``), so a file costs about the model's NLL in bits, plus a few bytes.

File layout (format 4; "varint" is an unsigned LEB128 integer)::

    b"PX" | version u8 | flags u8 | model id (3 bytes)
    | [count varint]            if FLAG_COUNT, else one image
    | [H varint, W varint]      once (SIZE_ONE) or per image (SIZE_EACH); else the model's size
    | [label varint per image]  if FLAG_LABELS
    | payload                   to the end of the file

flags: bit 0 labels, bit 1 the fast stepper produced the probabilities and the symbol order
(else the naive one, in raster order), bit 2 portable (:mod:`pixelar.portable`'s integer
network and its stepper produced them, in its wavefront order), bit 3 count present, bits 4–5 the size mode, bits 6–7 the model's
dtype (an index into :data:`DTYPES`). The model id is the first 3 bytes of
:func:`model_fingerprint` (the SHA-256 of the model's name, configuration and weights).

Images are coded in chunks: runs of at most :data:`CHUNK` consecutive images of one size. The
payload is one range-coder stream: per chunk, the chunk's sub-pixels in the stepper's order,
then the chunk's *check*, one uniform 16-bit symbol: the first 2 bytes of SHA-256(the header
bytes before the payload | the full 32-byte model fingerprint | the chunk's labels as u32 |
the chunk's images as int64). The range coder's 32-bit words are written big-endian and the
stream's tail is trimmed to the shortest byte string (within its last 8 bytes) that still
decodes to the same symbols; the decoder pads it with zero bytes to whole words. The encoder
proves this for every file before writing it: it decodes the symbols after a checkpoint
recorded at least 5 words before the end from the trimmed bytes (the symbols before it read
only earlier words) and keeps the full words if no shorter tail passes (:class:`_Stream`).

Bounds checked before decoding a symbol: each check divides the coder's range by 2^16 and the
range stays in [2^32, 2^64), so m chunks force at least m/2 − 1 renormalisations, each one
word; with the seal (one or two words) and at most 8 bytes trimmed, a payload of b bytes holds
at most ⌊(b + 8)/2⌋ chunks (:func:`max_chunks`). The images' sub-pixels are limited to
``max_subpixels`` (:data:`MAX_SUBPIXELS` by default) per file, and sides to
:data:`pixelar.models.base.MAX_SIDE`.

Decoding refuses a file with a wrong magic, another format version, unknown flags, another
model's id or dtype, sizes or labels that do not fit, or a count its payload cannot hold, all
before decoding any symbol; it then stops at the first chunk whose check differs, so it never
returns a wrong image silently but for a 2⁻¹⁶ chance per chunk (after a 2⁻²⁴ chance that
another model's id matches); errors of the range coder itself become a :class:`PixelarError`.

Determinism: encoder and decoder run the same code path on the same partially known image,
so the probabilities are bit-identical on the same set-up (PyTorch build, device, dtype,
thread count). Across set-ups floating-point results can differ, which the checks turn into
a clear error. In portable mode (``portable=True``) the probabilities come from an integer
network and integer tables, identical on every set-up (see :mod:`pixelar.portable`).

Any image size from 1×1 up to :data:`~pixelar.models.base.MAX_SIDE` per side is coded with the
model's weights unchanged (:meth:`~pixelar.models.base.AutoregressiveModel.at_size`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.incremental import Front
from pixelar.sampling import resolve_method

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel
    from pixelar.portable import PortableNetwork

MAGIC = b"PX"
OLD_MAGIC = b"PXAR"  # formats 1–3
# 4: compact header (varints, 3-byte model id, optional count and sizes), 16-bit chunk
#    checks, a trimmed big-endian payload, any image size, portable mode
VERSION = 4
CHUNK = 64  # images per batch of the autoregressive loop (part of the batch layout)
MODEL_ID = 3  # bytes of the model fingerprint in the header
FLAG_LABELS, FLAG_FAST, FLAG_PORTABLE, FLAG_COUNT = 1, 2, 4, 8
SIZE_SHIFT, SIZE_MODEL, SIZE_ONE, SIZE_EACH = 4, 0, 1, 2
DTYPE_SHIFT = 6
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
CHECK_SIZE = 2**16  # a chunk check: one uniform 16-bit symbol
MAX_SUBPIXELS = 2**26  # default limit on the sub-pixels of one file (decode's max_subpixels)
TRIM_WINDOW = 8  # the tail bytes the trimming may change
TRIM_MARGIN = 5  # words between the verification checkpoint and the end
TRIM_BUFFER = 2**24  # probabilities kept for the verification at most; beyond, no trimming


def model_fingerprint(model: AutoregressiveModel) -> str:
    """SHA-256 of the model's name, configuration and every weight (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"model": model.model_name, "config": model.config.to_dict()}, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def images_digest(x: Tensor) -> str:
    """SHA-256 of integer images (as int64). The file format does not store it."""
    return hashlib.sha256(x.detach().cpu().to(torch.int64).numpy().tobytes()).hexdigest()


def max_chunks(payload_bytes: int) -> int:
    """The most chunks a payload of this many bytes can hold (see the module docstring)."""
    return (payload_bytes + TRIM_WINDOW) // 2


# -- varints ------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """(value, offset after it); at most 5 bytes (values below 2^35)."""
    value = 0
    for i in range(5):
        if offset + i >= len(data):
            raise PixelarError("the compressed file is truncated (its header ends early)")
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, offset + i + 1
    raise PixelarError("the compressed file has a corrupt header (an integer field is too long)")


# -- the header ---------------------------------------------------------------------------
@dataclass
class Header:
    """What a file's header says: sizes [(H, W)] per image, labels (or None), the stepper
    whose probabilities and order coded it ("fast", "naive" or "portable": the integer network
    of :mod:`pixelar.portable`), the model's dtype and the model id (hex)."""

    sizes: list[tuple[int, int]]
    labels: list[int] | None
    method: str
    dtype: torch.dtype
    model: str
    own_size: bool = True  # the sizes are the model's (none stored)

    @property
    def count(self) -> int:
        return len(self.sizes)

    @property
    def portable(self) -> bool:
        return self.method == "portable"

    def pack(self) -> bytes:
        """The header bytes."""
        N = self.count
        distinct = set(self.sizes)
        size_mode = SIZE_MODEL if self.own_size else SIZE_ONE if len(distinct) == 1 else SIZE_EACH
        flags = (
            (FLAG_LABELS if self.labels is not None else 0)
            | (FLAG_FAST if self.method == "fast" else 0)
            | (FLAG_PORTABLE if self.method == "portable" else 0)
            | (FLAG_COUNT if N != 1 else 0)
            | size_mode << SIZE_SHIFT
            | DTYPES.index(self.dtype) << DTYPE_SHIFT
        )
        out = MAGIC + bytes([VERSION, flags]) + bytes.fromhex(self.model)
        if N != 1:
            out += _varint(N)
        stored = {SIZE_MODEL: [], SIZE_ONE: self.sizes[:1], SIZE_EACH: self.sizes}[size_mode]
        out += b"".join(_varint(h) + _varint(w) for h, w in stored)
        if self.labels is not None:
            out += b"".join(_varint(label) for label in self.labels)
        return out


def read_header(data: bytes, model_size: tuple[int, int] | None = None) -> tuple[Header, bytes]:
    """Parse a compressed file's header; returns (header, payload). ``model_size`` (H, W) fills
    in the sizes of a file that stores none (else they are reported as (0, 0))."""
    from pixelar.models.base import MAX_SIDE

    if data[:4] == OLD_MAGIC:
        version = data[4] if len(data) > 4 else "?"
        raise PixelarError(
            f"the file was written in an older format ({version}) that this pixelar does not read; "
            "decompress it with the pixelar that wrote it"
        )
    if len(data) < 2 or data[:2] != MAGIC:
        raise PixelarError("not a pixelar compressed file (bad magic number)")
    if len(data) < 4 + MODEL_ID:
        raise PixelarError("the compressed file is truncated (its header ends early)")
    version, flags = data[2], data[3]
    if version > VERSION:
        raise PixelarError(f"the file was written by a newer pixelar (format {version}); upgrade pixelar")
    if version < VERSION:
        raise PixelarError(
            f"the file was written in an older format ({version}) that this pixelar does not read; "
            "decompress it with the pixelar that wrote it"
        )
    size_mode = flags >> SIZE_SHIFT & 3
    if size_mode > SIZE_EACH or (flags & FLAG_FAST and flags & FLAG_PORTABLE):
        raise PixelarError(f"the compressed file has a corrupt header (impossible flags {flags:#04x})")
    dtype = DTYPES[flags >> DTYPE_SHIFT]
    model = data[4 : 4 + MODEL_ID].hex()
    offset = 4 + MODEL_ID
    count = 1
    if flags & FLAG_COUNT:
        count, offset = _read_varint(data, offset)
        if count == 1:
            raise PixelarError("the compressed file has a corrupt header (a count of 1 is never stored)")
    # Every stored size or label takes at least a byte, every CHUNK images at least a chunk:
    # a count beyond what the bytes left can hold is corrupt (and no list of it is made).
    per_image = (2 if size_mode == SIZE_EACH else 0) + (1 if flags & FLAG_LABELS else 0)
    if count * per_image > len(data) - offset or -(-count // CHUNK) > max_chunks(len(data) - offset):
        raise PixelarError(f"the compressed file is truncated (or its image count {count} is corrupt)")
    sizes: list[tuple[int, int]] = []
    for _ in range(count if size_mode == SIZE_EACH else 1 if size_mode == SIZE_ONE else 0):
        height, offset = _read_varint(data, offset)
        width, offset = _read_varint(data, offset)
        if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
            raise PixelarError(f"the compressed file is corrupt: it holds a {height}×{width} image")
        sizes.append((height, width))
    if size_mode != SIZE_EACH:
        sizes = [sizes[0] if sizes else (model_size or (0, 0))] * count
    labels = None
    if flags & FLAG_LABELS:
        labels = []
        for _ in range(count):
            label, offset = _read_varint(data, offset)
            labels.append(label)
    payload = data[offset:]
    if not count and payload:
        raise PixelarError(
            f"the compressed file is corrupt: it counts no image but has a payload of {len(payload)} byte(s)"
        )
    chunks = len(_chunks(sizes))
    if chunks > max_chunks(len(payload)):
        raise PixelarError(
            f"the compressed file is corrupt: it counts {count} image(s) in {chunks} chunk(s), but its payload of "
            f"{len(payload)} byte(s) can hold at most {max_chunks(len(payload))}"
        )
    method = "fast" if flags & FLAG_FAST else "portable" if flags & FLAG_PORTABLE else "naive"
    header = Header(sizes, labels, method, dtype, model, size_mode == SIZE_MODEL)
    return header, payload


def _chunks(sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, stop) of every chunk: runs of at most :data:`CHUNK` images of one size."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(sizes) + 1):
        if i == len(sizes) or sizes[i] != sizes[start] or i - start == CHUNK:
            spans.append((start, i))
            start = i
    return spans


# -- the range coder ----------------------------------------------------------------------
def _constriction() -> Any:
    """The entropy coder's package, imported on first use (an optional dependency)."""
    try:
        import constriction
    except ImportError:
        raise PixelarError("compression needs the constriction package: pip install 'pixelar[codec]'") from None
    return constriction


def _family() -> Any:
    return _constriction().stream.model.Categorical(perfect=False)


def _uniform() -> Any:
    return _constriction().stream.model.Uniform(CHECK_SIZE)


def _probabilities(logp: Tensor) -> np.ndarray:
    """Conditionals [n, K, count] as probability rows [n·count, K], image-major, C-contiguous
    (the coder reads the buffer row by row)."""
    probs = torch.softmax(logp.double(), dim=1).transpose(1, 2).reshape(-1, logp.shape[1])
    return np.ascontiguousarray(probs.cpu().numpy())


def _words(payload: bytes) -> np.ndarray:
    """A payload as the coder's 32-bit words: big-endian, padded with zero bytes."""
    padded = payload + b"\0" * (-len(payload) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


class _Stream:
    """A range encoder that writes its words big-endian and trims the stream's tail.

    It keeps the symbols (and their probabilities) coded since a checkpoint at least
    :data:`TRIM_MARGIN` words before the end, so that :meth:`payload` can prove a shorter
    tail decodes to the same symbols (see the module docstring).
    """

    def __init__(self) -> None:
        self.encoder = _constriction().stream.queue.RangeEncoder()
        # (checkpoint before the call, symbols, probabilities or None for a check)
        self.calls: list[tuple[tuple[int, Any], np.ndarray, np.ndarray | None]] = []
        self.kept = 0  # probabilities held in self.calls
        self.trim = True
        self.complete = True  # self.calls starts with the stream's first symbol

    def encode(self, symbols: np.ndarray, probs: np.ndarray | None) -> None:
        if self.trim:
            self.calls.append((self.encoder.pos(), symbols, probs))
            self.kept += 0 if probs is None else probs.size
        if probs is None:
            self.encoder.encode(symbols, _uniform())
        else:
            self.encoder.encode(symbols, _family(), probs)
        if self.trim:
            self._forget()

    def _forget(self) -> None:
        """Drop the calls before the latest checkpoint that is far enough from the end."""
        limit = self.encoder.num_words() - TRIM_MARGIN
        first = 0
        while first + 1 < len(self.calls) and self.calls[first + 1][0][0] <= limit:
            first += 1
        for _, _, probs in self.calls[:first]:
            self.kept -= 0 if probs is None else probs.size
        del self.calls[:first]
        self.complete = self.complete and not first
        if self.kept > TRIM_BUFFER:  # a long run of nearly free symbols: keep whole words
            self.trim, self.calls, self.kept = False, [], 0

    def _decodes(self, candidate: bytes) -> bool:
        """Whether the calls kept decode from ``candidate`` after their checkpoint."""
        (position, state), _, _ = self.calls[0]
        try:
            decoder = _constriction().stream.queue.RangeDecoder(_words(candidate))
            if not self.complete:
                decoder.seek(position, state)
            for _, symbols, probs in self.calls:
                if probs is None:
                    out = decoder.decode(_uniform(), len(symbols))
                else:
                    out = decoder.decode(_family(), probs)
                if not np.array_equal(out, symbols):
                    return False
        except Exception:  # a candidate the coder cannot read is simply not shorter
            return False
        return True

    def payload(self) -> bytes:
        full = self.encoder.get_compressed().astype(">u4").tobytes()
        far = self.complete or self.calls[0][0][0] <= len(full) // 4 - TRIM_MARGIN
        if not self.trim or not self.calls or not far:
            return full
        start = max(0, len(full) - TRIM_WINDOW)
        for length in range(start, len(full)):
            window = int.from_bytes(full[start:length], "big")
            for value in (window, window + 1):  # the prefix, or the prefix rounded up
                if value >= 256 ** (length - start) and length > start:
                    continue
                candidate = full[:start] + value.to_bytes(length - start, "big")
                if self._decodes(candidate):
                    return candidate
                if length == start:
                    break
        return full


def _coder(call: Callable[..., Any], *args: Any) -> Any:
    """Run a call into the range decoder; whatever it raises becomes a one-line PixelarError."""
    try:
        return call(*args)
    except Exception as e:  # constriction raises AssertionError, ValueError, ... on bad data
        detail = " ".join(str(e).split()) or e.__class__.__name__
        raise PixelarError(
            f"the compressed file is corrupt or was encoded on a different set-up (the range decoder failed: {detail})"
        ) from None


# -- encoding and decoding ----------------------------------------------------------------
def _chunk_check(prefix: bytes, images: Tensor, labels: Tensor | None) -> np.ndarray:
    """The check of a chunk of images (and their labels): one symbol in [0, 2^16).
    ``prefix`` is the header bytes followed by the model's full fingerprint."""
    digest = hashlib.sha256(prefix)
    if labels is not None:
        digest.update(np.asarray(labels.cpu(), dtype="<u4").tobytes())
    digest.update(images.detach().cpu().to(torch.int64).numpy().tobytes())
    return np.frombuffer(digest.digest()[:2], dtype="<u2").astype(np.int32)


def _as_list(images: Tensor | Sequence[Tensor]) -> list[Tensor]:
    if isinstance(images, Tensor):
        if images.dim() != 4:
            raise PixelarError(
                f"images must be a batch [N, C, H, W] or a list of [C, H, W] images, got shape {tuple(images.shape)}"
            )
        return list(images)
    out = list(images)
    for image in out:
        if not isinstance(image, Tensor) or image.dim() != 3:
            raise PixelarError("each image of a list must be a tensor [C, H, W]")
    return out


def _integer_network(model: AutoregressiveModel, method: str) -> PortableNetwork | None:
    """The model's integer network (:mod:`pixelar.portable`) for method "portable", else None."""
    if method != "portable":
        return None
    from pixelar.portable import portable_model

    return portable_model(model)


def _code(
    model: AutoregressiveModel,
    size: tuple[int, int],
    work: Tensor,
    cond: Tensor | None,
    method: str,
    network: PortableNetwork | None,
    choose: Callable[[np.ndarray, int, Front, int], Tensor],
    progress: bool,
) -> Tensor:
    """Fill ``work`` (images [n, C, H, W] of one size) in the stepper's order, handing
    ``choose(probability rows, channel, front, count)`` each step's probabilities: the
    model's (``method`` "fast" or "naive"), or the integer ``network``'s."""
    known = torch.zeros_like(work, dtype=torch.bool)
    with model.at_size(*size):
        if network is not None:
            from pixelar.portable import probabilities
            from pixelar.sampling import fill

            def choose_portable(logits: Tensor, c: int, front: Front) -> Tensor:
                return choose(probabilities(logits), c, front, logits.shape[2])

            with torch.inference_mode():
                return fill(network.stepper(len(work), cond), work, known, choose_portable, progress, desc="coding")

        def choose_float(logp: Tensor, c: int, front: Front) -> Tensor:
            return choose(_probabilities(logp), c, front, logp.shape[2])

        return model.autoregress(work, known, cond, method, choose_float, progress)


def encode(
    model: AutoregressiveModel,
    images: Tensor | Sequence[Tensor],
    cond: Tensor | None = None,
    method: str = "auto",
    portable: bool = False,
    progress: bool = False,
) -> bytes:
    """Compress integer images: a batch [N, C, H, W], or a list of [C, H, W] images of any
    sizes (labels ``cond`` [N] for a conditional model). ``portable``: code with the integer
    network of :mod:`pixelar.portable`, so the file decodes on any set-up."""
    _constriction()
    batch = _as_list(images)
    channels, own_height, own_width = model.image_shape
    sizes = [(int(image.shape[1]), int(image.shape[2])) for image in batch]
    for image in batch:
        if image.shape[0] != channels:
            raise PixelarError(
                f"an image has {image.shape[0]} channel(s) but the model describes {channels}; convert the images"
            )
    if cond is not None:
        cond = torch.as_tensor(cond).long().reshape(-1)
    model.check_cond(cond, len(batch))
    method = "portable" if portable else resolve_method(model, method)
    if method == "compiled":
        raise PixelarError(
            "the codec needs the same probabilities bit for bit when it decodes, and the compiled sampler's kernel "
            "rounds differently from the fast one: use method='fast' (or --portable to decode on any machine)",
            param="method",
        )
    network = _integer_network(model, method)
    fingerprint = bytes.fromhex(model_fingerprint(model))
    header = Header(
        sizes,
        None if cond is None else cond.tolist(),
        method,
        model.dtype,
        fingerprint[:MODEL_ID].hex(),
        own_size=all(size == (own_height, own_width) for size in sizes),
    )
    head = header.pack()
    prefix = head + fingerprint
    stream = _Stream()
    for start, stop in _chunks(sizes):
        chunk = torch.stack(batch[start:stop]).to(model.device).long()
        c_chunk = None if cond is None else cond[start:stop].to(model.device)
        with model.at_size(*sizes[start]):
            model.check_input(chunk, c_chunk)

        def choose(probs: np.ndarray, c: int, front: Front, count: int, chunk: Tensor = chunk) -> Tensor:
            values = front.take(chunk, c)
            stream.encode(values.cpu().numpy().astype(np.int32).ravel(), probs)
            return values

        work = torch.zeros_like(chunk)
        _code(model, sizes[start], work, c_chunk, method, network, choose, progress)
        stream.encode(_chunk_check(prefix, chunk, c_chunk), None)
    return head + stream.payload()


def _check_against_model(header: Header, model: AutoregressiveModel, fingerprint: str, max_subpixels: int) -> None:
    """Refuse a header that does not fit the model (before any symbol is decoded)."""
    if header.dtype != model.dtype:
        file_dtype, model_dtype = (str(d).removeprefix("torch.") for d in (header.dtype, model.dtype))
        raise PixelarError(
            f"the file was compressed with the model in {file_dtype}, but this model is {model_dtype}; "
            f"convert it with model.to(torch.{file_dtype}) before decoding (the probabilities depend on the dtype)"
        )
    if header.model != fingerprint[: 2 * MODEL_ID]:
        raise PixelarError(
            f"the file was compressed with a different model (model id {header.model}, this model's is "
            f"{fingerprint[: 2 * MODEL_ID]}); use that model"
        )
    if header.method == "fast" and not model.has_fast_sampler:
        raise PixelarError(
            f"the compressed file is corrupt: it says it was compressed with the fast sampler, which model "
            f"{model.model_name!r} does not have"
        )
    subpixels = model.image_shape[0] * sum(h * w for h, w in header.sizes)
    if subpixels > max_subpixels:
        raise PixelarError(
            f"the compressed file holds {subpixels} sub-pixels, more than the limit of {max_subpixels}; "
            "if you trust the file, pass a larger max_subpixels (--max-subpixels)"
        )
    labels = header.labels
    if model.num_classes and labels is None:
        raise PixelarError(
            f"the compressed file is corrupt: it holds no labels, but the model is class-conditional "
            f"({model.num_classes} classes)"
        )
    if not model.num_classes and labels is not None:
        raise PixelarError("the compressed file is corrupt: it holds labels, but the model is unconditional")
    if labels and max(labels) >= model.num_classes:
        raise PixelarError(
            f"the compressed file is corrupt: label {max(labels)} is not below the model's {model.num_classes} classes"
        )


def decode_images(model: AutoregressiveModel, data: bytes, max_subpixels: int = MAX_SUBPIXELS) -> list[Tensor]:
    """Decompress the images [C, H, W] (long) written by :func:`encode` with the same model,
    each at its own size. Files of more than ``max_subpixels`` sub-pixels are refused."""
    constriction = _constriction()
    fingerprint = model_fingerprint(model)
    header, payload = read_header(data, model.image_shape[1:])
    _check_against_model(header, model, fingerprint, max_subpixels)
    prefix = data[: len(data) - len(payload)] + bytes.fromhex(fingerprint)
    network = _integer_network(model, header.method)
    decoder = _coder(constriction.stream.queue.RangeDecoder, _words(payload))
    family, uniform = _family(), _uniform()
    labels = header.labels
    out: list[Tensor] = []
    for start, stop in _chunks(header.sizes):
        height, width = header.sizes[start]
        c_chunk = None if labels is None else torch.tensor(labels[start:stop], device=model.device)

        def choose(probs: np.ndarray, c: int, front: Front, count: int) -> Tensor:
            symbols = _coder(decoder.decode, family, probs).astype(np.int64)
            return torch.from_numpy(symbols).view(-1, count)

        work = torch.zeros(stop - start, model.image_shape[0], height, width, dtype=torch.long, device=model.device)
        chunk = _code(model, (height, width), work, c_chunk, header.method, network, choose, False)
        stored = _coder(decoder.decode, uniform, 1)
        if not np.array_equal(stored, _chunk_check(prefix, chunk, c_chunk)):
            raise PixelarError(
                f"decoding did not reproduce images {start}–{stop - 1} (their check differs): the file is corrupt or "
                "truncated, or was encoded on a different PyTorch build, device, dtype or thread count; decode it on the set-up "
                "that encoded it (or encode with portable=True / --portable)"
            )
        out.extend(chunk)
    return out


def decode(model: AutoregressiveModel, data: bytes, max_subpixels: int = MAX_SUBPIXELS) -> Tensor:
    """Decompress images [N, C, H, W] (long) of one size written by :func:`encode` with the
    same model (:func:`decode_images` returns images of mixed sizes)."""
    images = decode_images(model, data, max_subpixels)
    if not images:
        return torch.zeros(0, *model.image_shape, dtype=torch.long, device=model.device)
    if len({tuple(image.shape) for image in images}) > 1:
        raise PixelarError("the file holds images of different sizes; decode them with decode_images")
    return torch.stack(images)


def image_nll_bits(model: AutoregressiveModel, images: Tensor | Sequence[Tensor], cond: Tensor | None = None) -> float:
    """The model's NLL in bits of images of any sizes (a batch or a list, as :func:`encode`
    takes them): the ideal size of their payload."""
    batch = _as_list(images)
    sizes = [(int(image.shape[1]), int(image.shape[2])) for image in batch]
    total = 0.0
    with model.in_mode(training=False), torch.inference_mode():
        for start, stop in _chunks(sizes):
            chunk = torch.stack(batch[start:stop]).to(model.device).long()
            c_chunk = None if cond is None else cond[start:stop].to(model.device)
            with model.at_size(*sizes[start]):
                total -= float(model.log_prob(chunk, c_chunk).double().sum())
    return total / math.log(2)


def decode_labels(data: bytes) -> list[int] | None:
    """The class labels stored in a compressed file (None for an unconditional model)."""
    return read_header(data)[0].labels
