"""The file format (format 5; format 4 is still read): the header, its fields and their
parsing, the chunks and their checks, and the bounds a file is held to before any symbol is
decoded.

File layout (formats 4 and 5; "varint" is an unsigned LEB128 integer)::

    b"PX" | version u8 | flags u8 | model id (3 bytes)
    | [count varint]            if FLAG_COUNT, else one image
    | [H varint, W varint]      once (SIZE_ONE) or per image (SIZE_EACH); else the model's size
    | [label varint per image]  if FLAG_LABELS
    | payload                   to the end of the file

flags: bit 0 labels, bit 1 the fast stepper produced the probabilities and the symbol order
(else the naive one, in raster order), bit 2 portable (:mod:`pixelar.portable`'s integer
network and its stepper produced them, in its wavefront order), bit 3 count present, bits 4–5 the size mode, bits 6–7 the model's
dtype (an index into :data:`DTYPES`). The model id is the first 3 bytes of
:func:`~pixelar.codec.fingerprint.model_fingerprint` (the SHA-256 of the model's name, configuration and weights).
The naive stepper is named only for a model without a fast one: the encoder codes with the fast
stepper wherever the model has it, and the decoder refuses a file that says otherwise (format 4
too, whose encoder wrote the naive stepper when asked: such a file is decoded by that pixelar).

Images are coded in chunks: runs of at most :data:`CHUNK` consecutive images of one size. The
payload is one range-coder stream: per chunk, the chunk's sub-pixels in the stepper's order,
then the chunk's *check*, one uniform 16-bit symbol: the first 2 bytes of SHA-256(the header
bytes before the payload | the full 32-byte model fingerprint | the chunk's labels as u32 |
the chunk's images as int64). Format 5 adds *intermediate checks* inside a chunk of at least
:data:`~pixelar.codec.schedule.LARGE` sub-pixels: after the step whose work first reaches
E, 2E, 4E, … units (E: one row's work, :class:`~pixelar.codec.schedule.ChunkWork`), one
uniform 16-bit symbol, the first 2 bytes (little-endian) of SHA-256(the header bytes | the
model fingerprint | the chunk's labels as u32 | the chunk's symbols coded so far as int64, in
the coder's order | the check's index in the chunk as u32). The range coder's 32-bit words are
written big-endian and the stream's tail is trimmed to the shortest byte string (within its
last 8 bytes) that still decodes to the same symbols; the decoder pads it with zero bytes to
whole words. The encoder proves this for every file before writing it: it decodes the symbols
after a checkpoint recorded at least 5 words before the end from the trimmed bytes (the
symbols before it read only earlier words) and keeps the full words if no shorter tail passes
(:class:`pixelar.codec.rangecoder._Stream`). It then appends zero bytes to a payload too short
for the work of decoding it (:func:`~pixelar.codec.schedule.padding`).

Bounds checked before decoding a symbol: each check divides the coder's range by 2^16 and the
range stays in [2^32, 2^64), so m chunks force at least m/2 − 1 renormalisations, each one
word; with the seal (one or two words) and at most 8 bytes trimmed, a payload of b bytes holds
at most ⌊(b + 8)/2⌋ chunks (:func:`max_chunks`). The images' sub-pixels are limited to
``max_subpixels`` (:data:`MAX_SUBPIXELS` by default) per file, and sides to
:data:`pixelar.models.base.MAX_SIDE`; their decoding work to what the payload buys
(:func:`~pixelar.codec.schedule.budget`: refused before any model work when the sub-pixels alone
exceed it, and decoding stops once its work does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pixelar.errors import PixelarError

MAGIC = b"PX"
OLD_MAGIC = b"PXAR"  # formats 1–3
# 4: compact header (varints, 3-byte model id, optional count and sizes), 16-bit chunk
#    checks, a trimmed big-endian payload, any image size, portable mode
# 5: intermediate checks in large chunks, a payload that carries its decoding work, the naive
#    stepper only for a model without a fast one
VERSION = 5
OLDEST = 4  # the oldest format this pixelar reads
CHUNK = 64  # images per batch of the autoregressive loop (part of the batch layout)
MODEL_ID = 3  # bytes of the model fingerprint in the header
FLAG_LABELS, FLAG_FAST, FLAG_PORTABLE, FLAG_COUNT = 1, 2, 4, 8
SIZE_SHIFT, SIZE_MODEL, SIZE_ONE, SIZE_EACH = 4, 0, 1, 2
DTYPE_SHIFT = 6
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
CHECK_SIZE = 2**16  # a chunk check: one uniform 16-bit symbol
MAX_SUBPIXELS = 2**26  # default limit on the sub-pixels of one file (decode's max_subpixels)
TRIM_WINDOW = 8  # the tail bytes the trimming may change


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
    version: int = VERSION  # the file's format

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
        out = MAGIC + bytes([self.version, flags]) + bytes.fromhex(self.model)
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
    if version < OLDEST:
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
    header = Header(sizes, labels, method, dtype, model, size_mode == SIZE_MODEL, version)
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


# -- the chunk check -----------------------------------------------------------------------
def _chunk_check(prefix: bytes, images: Tensor, labels: Tensor | None) -> np.ndarray:
    """The check of a chunk of images (and their labels): one symbol in [0, 2^16).
    ``prefix`` is the header bytes followed by the model's full fingerprint."""
    digest = hashlib.sha256(prefix)
    if labels is not None:
        digest.update(np.asarray(labels.cpu(), dtype="<u4").tobytes())
    digest.update(images.detach().cpu().to(torch.int64).numpy().tobytes())
    return np.frombuffer(digest.digest()[:2], dtype="<u2").astype(np.int32)
