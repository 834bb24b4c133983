"""Input perturbation for the background model of the likelihood-ratio OOD score (Ren et al.,
NeurIPS 2019, Section 3.1): each pixel, with probability μ, replaced by uniform random values."""

from __future__ import annotations

import torch
from torch import Tensor


def perturbed(x: Tensor, rate: float, num_levels: int, generator: torch.Generator | None = None) -> Tensor:
    """``x`` [B, C, H, W] (integer levels in [0, num_levels)) with each pixel, independently with
    probability ``rate``, replaced by values drawn uniformly from the levels (each channel its own
    value). Draws from ``generator`` (default: the global generator of ``x``'s device)."""
    if rate <= 0:
        return x
    batch, _, height, width = x.shape
    hit = torch.rand((batch, 1, height, width), generator=generator, device=x.device) < rate
    noise = torch.randint(0, num_levels, x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return torch.where(hit, noise, x)
