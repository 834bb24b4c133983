"""The coding loop: the model's conditionals (or the integer network's), step by step in the
stepper's order, handed to the range coder as probability rows; the same loop encodes and
decodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from pixelar.incremental import Front

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel
    from pixelar.portable import PortableNetwork


def _probabilities(logp: Tensor) -> np.ndarray:
    """Conditionals [n, K, count] as probability rows [n·count, K], image-major, C-contiguous
    (the coder reads the buffer row by row)."""
    probs = torch.softmax(logp.double(), dim=1).transpose(1, 2).reshape(-1, logp.shape[1])
    return np.ascontiguousarray(probs.cpu().numpy())


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
