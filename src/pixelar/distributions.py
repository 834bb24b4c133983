"""Output distributions: how a network's per-pixel parameters define p(x_i | x_<i).

Every distribution maps parameters ``params`` [B, P, *S] (P = :attr:`num_params` per pixel,
*S spatial dims) and integer sub-pixels ``x`` [B, C, *S] to exact discrete log-probabilities.
``conditional`` gives the whole normalised table of channel c, which the sampler, the codec
and the causality tests share.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class OutputDistribution:
    """Base class. ``num_colors`` = C channels per pixel, ``num_levels`` = K values each."""

    name: str = ""

    def __init__(self, num_colors: int, num_levels: int) -> None:
        self.num_colors = num_colors
        self.num_levels = num_levels

    @property
    def num_params(self) -> int:
        raise NotImplementedError

    def param_groups(self) -> Tensor:
        """Colour group of each parameter channel (for channel masks): [num_params]."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x_i | x_<i) for every sub-pixel: [B, C, *S] in nats."""
        raise NotImplementedError

    def conditional(self, params: Tensor, x: Tensor, c: int) -> Tensor:
        """Normalised log-probabilities of all K values of channel c: [B, K, *S].

        ``x`` supplies the channels < c of the same pixel (later channels are ignored).
        """
        raise NotImplementedError


class Categorical(OutputDistribution):
    """A K-way softmax per sub-pixel (PixelRNN paper, Section 5.3 "Discrete softmax").

    Parameters are laid out channel-major: P = C·K, channel c owns params [c·K, (c+1)·K).
    """

    name = "categorical"

    @property
    def num_params(self) -> int:
        return self.num_colors * self.num_levels

    def param_groups(self) -> Tensor:
        return torch.arange(self.num_params) // self.num_levels

    def _logits(self, params: Tensor) -> Tensor:
        b, _, *s = params.shape
        return params.reshape(b, self.num_colors, self.num_levels, *s)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        logp = F.log_softmax(self._logits(params), dim=2)
        return logp.gather(2, x.long().unsqueeze(2)).squeeze(2)

    def conditional(self, params: Tensor, x: Tensor, c: int) -> Tensor:
        return F.log_softmax(self._logits(params)[:, c], dim=1)


class Bernoulli(OutputDistribution):
    """One logit per binary sub-pixel: p(x=1) = sigmoid(logit) (the paper's MNIST output)."""

    name = "bernoulli"

    def __init__(self, num_colors: int, num_levels: int) -> None:
        if num_levels != 2:
            raise ValueError(f"a Bernoulli output needs num_levels=2, got {num_levels}")
        super().__init__(num_colors, num_levels)

    @property
    def num_params(self) -> int:
        return self.num_colors

    def param_groups(self) -> Tensor:
        return torch.arange(self.num_colors)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        sign = x.to(params.dtype) * 2 - 1
        return F.logsigmoid(sign * params)

    def conditional(self, params: Tensor, x: Tensor, c: int) -> Tensor:
        logit = params[:, c]
        return torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], dim=1)


DISTRIBUTIONS: dict[str, type[OutputDistribution]] = {
    "categorical": Categorical,
    "bernoulli": Bernoulli,
}


def make_distribution(name: str, num_colors: int, num_levels: int) -> OutputDistribution:
    """Distribution by name; "auto" is Bernoulli for binary data and Categorical otherwise."""
    from pixelar.errors import PixelarError

    if name == "auto":
        name = "bernoulli" if num_levels == 2 else "categorical"
    if name not in DISTRIBUTIONS:
        raise PixelarError(f"unknown output distribution {name!r}; choose one of: auto, {', '.join(DISTRIBUTIONS)}")
    if name == "bernoulli" and num_levels != 2:
        raise PixelarError(f"distribution 'bernoulli' needs num_levels=2, got {num_levels}; use 'categorical'")
    return DISTRIBUTIONS[name](num_colors, num_levels)
