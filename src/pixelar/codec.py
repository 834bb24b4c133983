"""Lossless compression with a trained model: its exact conditionals drive a range coder
(``constriction``), so a file costs about the model's NLL in bits.

File layout (all integers little-endian; 61 bytes of framing plus 2 bytes per label)::

    b"PXAR" | version u8 | flags u8 | dtype u8 | C u16 | H u16 | W u16 | K u32 | N u32
    | model fingerprint (16 bytes) | images hash (16 bytes) | labels (N × u16, if flagged)
    | payload length u32 | payload (range-coder words) | CRC-32 u32

flags: bit 0 labels present, bit 1 the fast stepper's arithmetic and schedule produced the
probabilities and the symbol order (else the naive one's, in raster order). The fingerprint is
the SHA-256 of the model's configuration and weights, the images hash the SHA-256 of the
integer images, both truncated to 16 bytes. The CRC covers everything before it. Decoding
refuses a file with a wrong magic, another format version, a bad length or CRC, or another
model's fingerprint, and checks the decoded images against their hash, so it never returns a
wrong image silently.

Determinism: encoder and decoder run the same code path — the shared autoregressive loop
with the same stepper, batch layout, dtype and device — on the same partially known image, so
the float64 probabilities handed to the coder are bit-identical on the same machine set-up
(PyTorch build, device, dtype and thread count). Across set-ups the floating-point results can
differ; the image hash then turns that into a clear error instead of a wrong image.

Images must have the model's exact size (larger images are refused, not tiled).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.sampling import Front

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel

MAGIC = b"PXAR"
VERSION = 2  # 2: symbols in the order of the stepper's schedule (wavefronts for the fast PixelCNN)
CHUNK = 64  # images per batch of the autoregressive loop (part of the batch layout)
HEADER = struct.Struct("<BBBHHHII16s16s")
FLAG_LABELS, FLAG_FAST = 1, 2
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


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
    return hashlib.sha256(x.detach().cpu().to(torch.int64).numpy().tobytes()).hexdigest()


def _probabilities(logp: Tensor) -> np.ndarray:
    """Conditionals [n, K, count] as probability rows [n·count, K], image-major, C-contiguous
    (the coder reads the buffer row by row)."""
    probs = torch.softmax(logp.double(), dim=1).transpose(1, 2).reshape(-1, logp.shape[1])
    return np.ascontiguousarray(probs.cpu().numpy())


def _family():
    import constriction

    return constriction.stream.model.Categorical(perfect=False)


def _method(model: AutoregressiveModel, method: str) -> str:
    if method == "auto":
        return "fast" if model.has_fast_sampler else "naive"
    if method not in ("fast", "naive"):
        raise PixelarError(f"unknown method {method!r}; choose auto, fast or naive")
    return method


def encode(model: AutoregressiveModel, x: Tensor, cond: Tensor | None = None, method: str = "auto") -> bytes:
    """Compress integer images x [N, C, H, W] (labels ``cond`` [N] for a conditional model)."""
    import constriction

    model.check_input(x, cond)
    if cond is not None and int(cond.max()) >= 2**16:
        raise PixelarError("labels must be below 65536 to be stored in a compressed file")
    method = _method(model, method)
    family = _family()
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
    payload = encoder.get_compressed().astype("<u4").tobytes()
    C, H, W = model.image_shape
    flags = (FLAG_LABELS if cond is not None else 0) | (FLAG_FAST if method == "fast" else 0)
    body = MAGIC + HEADER.pack(
        VERSION,
        flags,
        DTYPES.index(model.dtype),
        C,
        H,
        W,
        model.num_levels,
        len(x),
        bytes.fromhex(model_fingerprint(model))[:16],
        bytes.fromhex(images_digest(x))[:16],
    )
    if cond is not None:
        body += np.asarray(cond.cpu(), dtype="<u2").tobytes()
    body += struct.pack("<I", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes) -> tuple[dict, bytes]:
    """Validate a compressed file's framing and CRC; returns (header fields, payload)."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise PixelarError("not a pixelar compressed file (bad magic number)")
    if len(data) >= 5 and data[4] > VERSION:
        raise PixelarError(f"the file was written by a newer pixelar (format {data[4]}); upgrade pixelar")
    offset = 4 + HEADER.size
    if len(data) < offset + 8:
        raise PixelarError("the compressed file is truncated")
    version, flags, dtype, C, H, W, K, N, fingerprint, digest = HEADER.unpack_from(data, 4)
    if version < VERSION:
        raise PixelarError(
            f"the file was written in an older format ({version}) whose symbol order this pixelar does not read; "
            "decompress it with the pixelar that wrote it"
        )
    labels = None
    if flags & FLAG_LABELS:
        labels = (
            np.frombuffer(data, dtype="<u2", count=N, offset=offset).astype(np.int64).tolist()
            if len(data) >= offset + 2 * N
            else []
        )
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
    if dtype >= len(DTYPES):
        raise PixelarError("the compressed file has a corrupt header (unknown dtype)")
    header = {
        "shape": [C, H, W],
        "levels": K,
        "count": N,
        "labels": labels,
        "method": "fast" if flags & FLAG_FAST else "naive",
        "dtype": DTYPES[dtype],
        "model": fingerprint.hex(),
        "images": digest.hex(),
    }
    return header, data[offset + 4 : end]


def decode(model: AutoregressiveModel, data: bytes) -> Tensor:
    """Decompress images [N, C, H, W] (long) written by :func:`encode` with the same model."""
    import constriction

    header, payload = read_header(data)
    if header["model"] != model_fingerprint(model)[:32]:
        raise PixelarError("the file was compressed with a different model (fingerprint mismatch); use that model")
    if tuple(header["shape"]) != model.image_shape or header["levels"] != model.num_levels:
        raise PixelarError(f"the file holds {header['shape']} images with {header['levels']} levels, not the model's")
    if len(payload) % 4:
        raise PixelarError("the compressed payload is corrupt (length not a multiple of 4)")
    family = _family()
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    labels = header["labels"]
    n = header["count"]
    out = []
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        c_chunk = None if labels is None else torch.tensor(labels[start : start + size], device=model.device)

        def choose(logp: Tensor, c: int, front: Front) -> Tensor:
            symbols = decoder.decode(family, _probabilities(logp)).astype(np.int64)
            return torch.from_numpy(symbols).view(logp.shape[0], logp.shape[2])

        work = torch.zeros(size, *model.image_shape, dtype=torch.long, device=model.device)
        out.append(model.autoregress(work, torch.zeros_like(work, dtype=torch.bool), c_chunk, header["method"], choose))
    x = torch.cat(out) if out else torch.zeros(0, *model.image_shape, dtype=torch.long)
    if images_digest(x)[:32] != header["images"]:
        raise PixelarError(
            "decoding did not reproduce the images (their hash differs): the file was encoded on a different "
            "PyTorch build, device, dtype or thread count; decode it on the set-up that encoded it"
        )
    return x


def decode_labels(data: bytes) -> list[int] | None:
    """The class labels stored in a compressed file (None for an unconditional model)."""
    return read_header(data)[0]["labels"]
