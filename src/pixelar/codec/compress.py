"""Compression: :func:`encode` writes images (of any sizes, with their labels) as a file, and
:func:`image_nll_bits` is the ideal size of its payload."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from pixelar.codec import coding
from pixelar.codec.coding import _integer_network
from pixelar.codec.fingerprint import model_fingerprint
from pixelar.codec.format import MODEL_ID, Header, _chunk_check, _chunks
from pixelar.codec.rangecoder import _constriction, _Stream
from pixelar.codec.schedule import ChunkWork, fast_work, padding
from pixelar.errors import PixelarError
from pixelar.incremental import Front
from pixelar.sampling import resolve_method

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


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
    if method == "naive" and model.has_fast_sampler:
        method = "fast"
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
    work = 0
    for start, stop in _chunks(sizes):
        chunk = torch.stack(batch[start:stop]).to(model.device).long()
        c_chunk = None if cond is None else cond[start:stop].to(model.device)
        with model.at_size(*sizes[start]):
            model.check_input(chunk, c_chunk)

        tally = ChunkWork(
            header.version,
            stop - start,
            (channels, *sizes[start]),
            method,
            fast_work(model),
            prefix,
            None if header.labels is None else header.labels[start:stop],
        )

        def choose(
            probs: np.ndarray, c: int, front: Front, count: int, chunk: Tensor = chunk, tally: ChunkWork = tally
        ) -> Tensor:
            values = front.take(chunk, c)
            symbols = values.cpu().numpy().astype(np.int32).ravel()
            stream.encode(symbols, probs)
            due = tally.step(symbols)
            if due:  # the chunk's intermediate checks (format 5)
                stream.encode(np.array(due, dtype=np.int32), None)
            return values

        coding._code(model, sizes[start], torch.zeros_like(chunk), c_chunk, method, network, choose, progress)
        stream.encode(_chunk_check(prefix, chunk, c_chunk), None)
        work += tally.work
    payload = stream.payload()
    return head + payload + bytes(padding(work, len(payload)))


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
