"""Decompression: :func:`decode_images`, :func:`decode` and :func:`decode_labels` read a file
written by :func:`~pixelar.codec.compress.encode` with the same model.

Decoding refuses a file with a wrong magic, a format it does not read (it reads 4 and 5),
unknown flags, a stepper the encoder would not have used, another model's id or dtype, sizes or
labels that do not fit, a count its payload cannot hold, or sub-pixels more than its payload
can pay the decoding of (:mod:`pixelar.codec.schedule`), all before decoding any symbol; it then
stops at the first check that differs (a chunk's, or in format 5 an intermediate one, after
about a row's work in a large chunk), or once its work passes what the payload buys, so it
never returns a wrong image silently but for a 2⁻¹⁶ chance per check (after a 2⁻²⁴ chance that
another model's id matches); errors of the range coder itself become a :class:`PixelarError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from pixelar.codec import coding
from pixelar.codec.coding import _integer_network
from pixelar.codec.fingerprint import model_fingerprint
from pixelar.codec.format import MAX_SUBPIXELS, MODEL_ID, Header, _chunk_check, _chunks, read_header
from pixelar.codec.rangecoder import _coder, _constriction, _family, _uniform, _words
from pixelar.codec.schedule import FIRST_CHECKED, ChunkWork, budget, fast_work, least_work
from pixelar.errors import PixelarError
from pixelar.incremental import Front

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel


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
    if header.method == "naive" and model.has_fast_sampler:
        raise PixelarError(
            f"the compressed file is corrupt: it says it was compressed with the naive sampler, which the encoder "
            f"never uses for model {model.model_name!r} (it has a fast one); {_older(header)}"
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


def _check_work(header: Header, model: AutoregressiveModel, payload_bytes: int) -> None:
    """Refuse a file whose sub-pixels alone take more decoding work than its payload buys."""
    least = least_work(header.sizes, model.image_shape[0], header.method, fast_work(model))
    most = budget(payload_bytes)
    if least > most:
        raise PixelarError(
            f"the compressed file is corrupt or truncated: decoding its {header.count} image(s) takes at least {least} "
            f"units of work, more than its payload of {payload_bytes} byte(s) carries ({most}); {_older(header)}"
        )


def _older(header: Header) -> str:
    """The end of the error for a file that this pixelar's encoder would not write."""
    if header.version >= FIRST_CHECKED:
        return "pixelar writes no such file"
    return f"if it is a genuine format-{header.version} file, decompress it with the pixelar that wrote it"


def decode_images(model: AutoregressiveModel, data: bytes, max_subpixels: int = MAX_SUBPIXELS) -> list[Tensor]:
    """Decompress the images [C, H, W] (long) written by :func:`~pixelar.codec.compress.encode`
    with the same model, each at its own size. Files of more than ``max_subpixels`` sub-pixels
    are refused."""
    constriction = _constriction()
    fingerprint = model_fingerprint(model)
    header, payload = read_header(data, model.image_shape[1:])
    _check_against_model(header, model, fingerprint, max_subpixels)
    _check_work(header, model, len(payload))
    prefix = data[: len(data) - len(payload)] + bytes.fromhex(fingerprint)
    network = _integer_network(model, header.method)
    decoder = _coder(constriction.stream.queue.RangeDecoder, _words(payload))
    family, uniform = _family(), _uniform()
    labels = header.labels
    most, work = budget(len(payload)), 0
    out: list[Tensor] = []
    for start, stop in _chunks(header.sizes):
        height, width = header.sizes[start]
        c_chunk = None if labels is None else torch.tensor(labels[start:stop], device=model.device)
        shape = (model.image_shape[0], height, width)
        span = None if labels is None else labels[start:stop]
        tally = ChunkWork(header.version, stop - start, shape, header.method, fast_work(model), prefix, span)

        def choose(
            probs: np.ndarray,
            c: int,
            front: Front,
            count: int,
            tally: ChunkWork = tally,
            done: int = work,
            start: int = start,
            stop: int = stop,
        ) -> Tensor:
            symbols = _coder(decoder.decode, family, probs).astype(np.int64)
            due = tally.step(symbols)  # the intermediate checks now due (format 5, large chunks)
            if due and not np.array_equal(_coder(decoder.decode, uniform, len(due)), due):
                raise _not_reproduced(start, stop)
            if done + tally.work > most:
                raise PixelarError(
                    f"the compressed file is corrupt or truncated: decoding images {start}–{stop - 1} took more work "
                    f"than its payload of {len(payload)} byte(s) carries ({most} units); {_older(header)}"
                )
            return torch.from_numpy(symbols).view(-1, count)

        work_images = torch.zeros(stop - start, *shape, dtype=torch.long, device=model.device)
        chunk = coding._code(model, (height, width), work_images, c_chunk, header.method, network, choose, False)
        work += tally.work
        stored = _coder(decoder.decode, uniform, 1)
        if not np.array_equal(stored, _chunk_check(prefix, chunk, c_chunk)):
            raise _not_reproduced(start, stop)
        out.extend(chunk)
    return out


def _not_reproduced(start: int, stop: int) -> PixelarError:
    """The error of a check that differs, in the chunk of images start…stop − 1."""
    return PixelarError(
        f"decoding did not reproduce images {start}–{stop - 1} (their check differs): the file is corrupt or "
        "truncated, or was encoded on a different PyTorch build, device, dtype or thread count; decode it on the set-up "
        "that encoded it (or encode with portable=True / --portable)"
    )


def decode(model: AutoregressiveModel, data: bytes, max_subpixels: int = MAX_SUBPIXELS) -> Tensor:
    """Decompress images [N, C, H, W] (long) of one size written by
    :func:`~pixelar.codec.compress.encode` with the same model (:func:`decode_images` returns
    images of mixed sizes)."""
    images = decode_images(model, data, max_subpixels)
    if not images:
        return torch.zeros(0, *model.image_shape, dtype=torch.long, device=model.device)
    if len({tuple(image.shape) for image in images}) > 1:
        raise PixelarError("the file holds images of different sizes; decode them with decode_images")
    return torch.stack(images)


def decode_labels(data: bytes) -> list[int] | None:
    """The class labels stored in a compressed file (None for an unconditional model)."""
    return read_header(data)[0].labels
