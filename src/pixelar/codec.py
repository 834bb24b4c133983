"""Lossless compression with a trained model: its exact conditionals drive a range coder
(``constriction``), so a file costs about the model's NLL in bits.

File layout (all integers little-endian; 45 bytes of framing plus 2 bytes per label)::

    b"PXAR" | version u8 | flags u8 | dtype u8 | C u16 | H u16 | W u16 | K u32 | N u32
    | model fingerprint (16 bytes) | labels (N × u16, if flagged)
    | payload length u32 | payload (range-coder words, u32) | CRC-32 u32

flags: bit 0 labels present, bit 1 the fast stepper's arithmetic and schedule produced the
probabilities and the symbol order (else the naive one's, in raster order); the other bits
are zero. dtype indexes :data:`DTYPES` (the model's dtype). The fingerprint is the SHA-256 of
the model's configuration and weights, truncated to 16 bytes. The CRC covers everything
before it.

The payload is one range-coder stream. For each chunk of :data:`CHUNK` images (the last may
be shorter) it holds the chunk's sub-pixels, coded with the model's conditionals in the
stepper's order, then the chunk's *check*: the first 4 bytes of SHA-256(the 37 header bytes
from the magic to the fingerprint | the chunk's labels u16 | the chunk's images int64), coded
as two uniform 16-bit symbols (bytes 0–1, then 2–3, each little-endian u16).

The count is bounded by the payload: the coder's range starts below 2⁶⁴ and never falls below
2³² after a symbol; no symbol widens it, a check's two symbols divide it by at least 2³², and
each renormalisation multiplies it by 2³² and costs exactly one word; sealing the stream adds
one or two words (none if nothing was coded). So m ≥ 1 chunks take at least m + 1 words —
exactly m + 1 when the images cost nothing — and before decoding, a count N is refused unless
N = 0 with an empty payload or ceil(N / CHUNK) ≤ words − 1 (:func:`max_count`). A file cannot
claim more images than its payload can hold, and work and memory are bounded by its size.

Decoding refuses a file with a wrong magic, another format version, a bad length, CRC, flag
or count, another model's fingerprint, dtype, shape or number of levels, or labels that do not
fit the model, all before decoding any symbol. It then stops at the first chunk whose check
differs, and refuses a payload with data left over after the last chunk (as far as the coder
can tell), so it never returns a wrong image silently (but for a 2⁻³² chance per chunk);
errors of the range coder itself become a :class:`PixelarError` too.

Determinism: encoder and decoder run the same code path — the shared autoregressive loop
with the same stepper, batch layout, dtype and device — on the same partially known image, so
the float64 probabilities handed to the coder are bit-identical on the same machine set-up
(PyTorch build, device, dtype and thread count). Across set-ups the floating-point results can
differ; the chunk checks then turn that into a clear error instead of a wrong image.

Images must have the model's exact size (larger images are refused, not tiled).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.incremental import Front
from pixelar.sampling import resolve_method

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel

MAGIC = b"PXAR"
# 2: symbols in the order of the stepper's schedule (wavefronts for the fast PixelCNN)
# 3: a 32-bit check per chunk inside the payload replaces the header's 16-byte images hash
VERSION = 3
CHUNK = 64  # images per batch of the autoregressive loop (part of the batch layout)
HEADER = struct.Struct("<BBBHHHII16s")
PREFIX = len(MAGIC) + HEADER.size  # the header bytes every chunk check covers
FLAG_LABELS, FLAG_FAST = 1, 2
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
CHECK_SYMBOLS, CHECK_SIZE = 2, 2**16  # a chunk check: two uniform 16-bit symbols


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
    """SHA-256 of integer images (as int64). The file format no longer stores it."""
    return hashlib.sha256(x.detach().cpu().to(torch.int64).numpy().tobytes()).hexdigest()


def max_count(payload_words: int) -> int:
    """The most images a payload of this many words can hold (see the module docstring)."""
    return CHUNK * max(0, payload_words - 1)


def _chunk_check(header: bytes, images: Tensor, labels: Tensor | None) -> np.ndarray:
    """The check of a chunk of images (and their labels): two symbols in [0, 2^16)."""
    digest = hashlib.sha256(header)
    if labels is not None:
        digest.update(np.asarray(labels.cpu(), dtype="<u2").tobytes())
    digest.update(images.detach().cpu().to(torch.int64).numpy().tobytes())
    return np.frombuffer(digest.digest()[:4], dtype="<u2").astype(np.int32)


def _probabilities(logp: Tensor) -> np.ndarray:
    """Conditionals [n, K, count] as probability rows [n·count, K], image-major, C-contiguous
    (the coder reads the buffer row by row)."""
    probs = torch.softmax(logp.double(), dim=1).transpose(1, 2).reshape(-1, logp.shape[1])
    return np.ascontiguousarray(probs.cpu().numpy())


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


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def encode(model: AutoregressiveModel, x: Tensor, cond: Tensor | None = None, method: str = "auto") -> bytes:
    """Compress integer images x [N, C, H, W] (labels ``cond`` [N] for a conditional model)."""
    constriction = _constriction()
    model.check_input(x, cond)
    if cond is not None and len(cond) and int(cond.max()) >= 2**16:
        raise PixelarError("labels must be below 65536 to be stored in a compressed file")
    if len(x) >= 2**32:
        raise PixelarError("a compressed file holds fewer than 2^32 images; split the images")
    method = resolve_method(model, method)
    C, H, W = model.image_shape
    flags = (FLAG_LABELS if cond is not None else 0) | (FLAG_FAST if method == "fast" else 0)
    header = MAGIC + HEADER.pack(
        VERSION,
        flags,
        DTYPES.index(model.dtype),
        C,
        H,
        W,
        model.num_levels,
        len(x),
        bytes.fromhex(model_fingerprint(model))[:16],
    )
    family, uniform = _family(), _uniform()
    encoder = constriction.stream.queue.RangeEncoder()
    x = x.to(model.device).long()
    for start in range(0, len(x), CHUNK):
        chunk = x[start : start + CHUNK]
        c_chunk = None if cond is None else cond[start : start + CHUNK].to(model.device).long()

        def choose(logp: Tensor, c: int, front: Front, chunk: Tensor = chunk) -> Tensor:
            values = front.take(chunk, c)
            encoder.encode(values.cpu().numpy().astype(np.int32).ravel(), family, _probabilities(logp))
            return values

        work = torch.zeros_like(chunk)
        model.autoregress(work, torch.zeros_like(chunk, dtype=torch.bool), c_chunk, method, choose)
        encoder.encode(_chunk_check(header, chunk, c_chunk), uniform)
    payload = encoder.get_compressed().astype("<u4").tobytes()
    body = header
    if cond is not None:
        body += np.asarray(cond.cpu(), dtype="<u2").tobytes()
    body += struct.pack("<I", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Validate a compressed file's framing, CRC, flags and count against its payload; returns
    (header fields, payload). The fields: shape [C, H, W], levels, count, labels (list or None),
    method ("fast" or "naive"), dtype (a torch dtype), model (the fingerprint's 32 hex digits).
    """
    if len(data) < 4 or data[:4] != MAGIC:
        raise PixelarError("not a pixelar compressed file (bad magic number)")
    if len(data) >= 5 and data[4] > VERSION:
        raise PixelarError(f"the file was written by a newer pixelar (format {data[4]}); upgrade pixelar")
    if len(data) >= 5 and data[4] < VERSION:
        raise PixelarError(
            f"the file was written in an older format ({data[4]}) that this pixelar does not read; "
            "decompress it with the pixelar that wrote it"
        )
    offset = PREFIX
    if len(data) < offset + 8:
        raise PixelarError("the compressed file is truncated")
    _version, flags, dtype, C, H, W, K, N, fingerprint = HEADER.unpack_from(data, 4)
    labels = None
    if flags & FLAG_LABELS:
        if len(data) < offset + 2 * N + 8:
            raise PixelarError("the compressed file is truncated (or its image count is corrupt)")
        labels = np.frombuffer(data, dtype="<u2", count=N, offset=offset).astype(np.int64).tolist()
        offset += 2 * N
    if len(data) < offset + 8:
        raise PixelarError("the compressed file is truncated")
    (pay_len,) = struct.unpack_from("<I", data, offset)
    end = offset + 4 + pay_len
    if len(data) != end + 4:
        raise PixelarError(
            f"the compressed file is truncated or has trailing bytes ({len(data)} bytes, {end + 4} expected)"
        )
    (crc,) = struct.unpack_from("<I", data, end)
    if zlib.crc32(data[:end]) != crc:
        raise PixelarError("the compressed file is corrupt (checksum mismatch)")
    if flags & ~(FLAG_LABELS | FLAG_FAST):
        raise PixelarError(f"the compressed file has a corrupt header (unknown flags {flags:#04x})")
    if dtype >= len(DTYPES):
        raise PixelarError("the compressed file has a corrupt header (unknown dtype)")
    if pay_len % 4:
        raise PixelarError("the compressed payload is corrupt (length not a multiple of 4)")
    words = pay_len // 4
    if N == 0 and words:
        raise PixelarError(f"the compressed file is corrupt: it counts no image but has a payload of {words} word(s)")
    if N > max_count(words):
        raise PixelarError(
            f"the compressed file is corrupt: it counts {N} image(s), but its payload of {words} word(s) "
            f"can hold at most {max_count(words)}"
        )
    header = {
        "shape": [C, H, W],
        "levels": K,
        "count": N,
        "labels": labels,
        "method": "fast" if flags & FLAG_FAST else "naive",
        "dtype": DTYPES[dtype],
        "model": fingerprint.hex(),
    }
    return header, data[offset + 4 : end]


def _check_against_model(header: dict[str, Any], model: AutoregressiveModel) -> None:
    """Refuse a header that does not fit the model (before any symbol is decoded)."""
    if header["dtype"] != model.dtype:
        file_dtype, model_dtype = _dtype_name(header["dtype"]), _dtype_name(model.dtype)
        raise PixelarError(
            f"the file was compressed with the model in {file_dtype}, but this model is {model_dtype}; "
            f"convert it with model.to(torch.{file_dtype}) before decoding (the probabilities depend on the dtype)"
        )
    if header["model"] != model_fingerprint(model)[:32]:
        raise PixelarError("the file was compressed with a different model (fingerprint mismatch); use that model")
    if tuple(header["shape"]) != model.image_shape or header["levels"] != model.num_levels:
        raise PixelarError(f"the file holds {header['shape']} images with {header['levels']} levels, not the model's")
    if header["method"] == "fast" and not model.has_fast_sampler:
        raise PixelarError(
            f"the compressed file is corrupt: it says it was compressed with the fast sampler, which model "
            f"{model.model_name!r} does not have"
        )
    labels = header["labels"]
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


def _coder(call: Callable[..., Any], *args: Any) -> Any:
    """Run a call into the range decoder; whatever it raises becomes a one-line PixelarError."""
    try:
        return call(*args)
    except Exception as e:  # constriction raises AssertionError, ValueError, ... on bad data
        detail = " ".join(str(e).split()) or e.__class__.__name__
        raise PixelarError(
            f"the compressed file is corrupt or was encoded on a different set-up (the range decoder failed: {detail})"
        ) from None


def decode(model: AutoregressiveModel, data: bytes) -> Tensor:
    """Decompress images [N, C, H, W] (long) written by :func:`encode` with the same model."""
    constriction = _constriction()
    header, payload = read_header(data)
    _check_against_model(header, model)
    family, uniform = _family(), _uniform()
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = _coder(constriction.stream.queue.RangeDecoder, words)
    labels = header["labels"]
    count = header["count"]
    prefix = data[:PREFIX]
    out = []
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        c_chunk = None if labels is None else torch.tensor(labels[start : start + size], device=model.device)

        def choose(logp: Tensor, c: int, front: Front) -> Tensor:
            symbols = _coder(decoder.decode, family, _probabilities(logp)).astype(np.int64)
            return torch.from_numpy(symbols).view(logp.shape[0], logp.shape[2])

        work = torch.zeros(size, *model.image_shape, dtype=torch.long, device=model.device)
        chunk = model.autoregress(work, torch.zeros_like(work, dtype=torch.bool), c_chunk, header["method"], choose)
        stored = _coder(decoder.decode, uniform, CHECK_SYMBOLS)
        if not np.array_equal(stored, _chunk_check(prefix, chunk, c_chunk)):
            raise PixelarError(
                f"decoding did not reproduce images {start}–{start + size - 1} (their check differs): the file is "
                "corrupt or was encoded on a different PyTorch build, device, dtype or thread count; decode it on "
                "the set-up that encoded it"
            )
        out.append(chunk)
    if not _coder(decoder.maybe_exhausted):
        raise PixelarError("the compressed payload is corrupt (it holds data after the last image)")
    return torch.cat(out) if out else torch.zeros(0, *model.image_shape, dtype=torch.long)


def decode_labels(data: bytes) -> list[int] | None:
    """The class labels stored in a compressed file (None for an unconditional model)."""
    return read_header(data)[0]["labels"]
