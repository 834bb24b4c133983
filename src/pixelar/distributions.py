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

from pixelar.errors import PixelarError


def scale_levels(x: Tensor, num_levels: int, dtype: torch.dtype) -> Tensor:
    """Integer sub-pixels in [0, K) → floats in [−1, 1] of ``dtype``: level k at 2k/(K−1) − 1,
    the networks' input scale and the logistic mixture's value grid."""
    return x.to(dtype) * (2.0 / (num_levels - 1)) - 1.0


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

    def channel_params(self, c: int) -> slice:
        """The parameter channels that channel c's conditional reads."""
        raise NotImplementedError

    def conditional(self, params: Tensor, x: Tensor, c: int) -> Tensor:
        """Normalised log-probabilities of all K values of channel c: [B, K, *S].

        ``x`` supplies the channels < c of the same pixel (later channels are ignored).
        """
        return self.conditional_from(params[:, self.channel_params(c)], x, c)

    def conditional_from(self, part: Tensor, x: Tensor, c: int) -> Tensor:
        """:meth:`conditional` from ``part`` = params[:, channel_params(c)] alone (what a fast
        sampler computes)."""
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
        B, _, *S = params.shape
        return params.reshape(B, self.num_colors, self.num_levels, *S)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        logp = F.log_softmax(self._logits(params), dim=2)
        return logp.gather(2, x.long().unsqueeze(2)).squeeze(2)

    def channel_params(self, c: int) -> slice:
        return slice(c * self.num_levels, (c + 1) * self.num_levels)

    def conditional_from(self, part: Tensor, x: Tensor, c: int) -> Tensor:
        return part.log_softmax(1)  # F.log_softmax's argument handling costs more than the op here


class Bernoulli(OutputDistribution):
    """One logit per binary sub-pixel: p(x=1) = sigmoid(logit) (the paper's MNIST output)."""

    name = "bernoulli"

    def __init__(self, num_colors: int, num_levels: int) -> None:
        if num_levels != 2:
            raise PixelarError(f"distribution 'bernoulli' needs num_levels=2, got {num_levels}; use 'categorical'")
        super().__init__(num_colors, num_levels)

    @property
    def num_params(self) -> int:
        return self.num_colors

    def param_groups(self) -> Tensor:
        return torch.arange(self.num_colors)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        sign = x.to(params.dtype) * 2 - 1
        return F.logsigmoid(sign * params)

    def channel_params(self, c: int) -> slice:
        return slice(c, c + 1)

    def conditional_from(self, part: Tensor, x: Tensor, c: int) -> Tensor:
        return torch.cat([F.logsigmoid(-part), F.logsigmoid(part)], dim=1)


def _log_expm1(d: Tensor) -> Tensor:
    """log(exp(d) - 1) for d > 0, without overflow (and with finite gradients) for large d."""
    return torch.where(d > 30, d, torch.log(torch.expm1(d.clamp(max=30))))


class DiscretizedLogisticMixture(OutputDistribution):
    """The discretized logistic mixture of PixelCNN++ (Salimans et al. 2017, Section 2.1–2.2).

    Per pixel: M mixture logits shared by the C channels, and per channel and component a mean
    and a log-scale; channel c's mean moves linearly with the (scaled) values of channels < c
    of the same pixel through tanh-squashed coefficients (Section 2.2). Values k ∈ [0, K) sit
    at v_k = 2k/(K−1) − 1, each owning a bin of width 2/(K−1); the edge bins extend to ±∞.

    Bin probabilities are exact: log(σ(a) − σ(b)) = b + log(expm1(a − b)) − softplus(a) −
    softplus(b) for the middle bins and log-sigmoids at the edges, so every conditional sums to
    one without the pdf approximation of the reference code. The per-channel conditionals are
    the mixture's exact marginals: log p(x_c | x_<c) = LSE_m(log π_m + Σ_{c'≤c} log p_c'm) −
    LSE_m(log π_m + Σ_{c'<c} log p_c'm).

    Parameter layout (P = M·(1 + 2C + C(C−1)/2)): M logits; per channel M means and M
    log-scales; M coefficients per pair (c, c') with c' < c in the order (1,0), (2,0), (2,1), ...
    """

    name = "logistic-mixture"

    def __init__(self, num_colors: int, num_levels: int, num_components: int = 5) -> None:
        super().__init__(num_colors, num_levels)
        self.num_components = num_components
        self.pairs = [(c, d) for c in range(num_colors) for d in range(c)]

    @property
    def num_params(self) -> int:
        C, M = self.num_colors, self.num_components
        return M * (1 + 2 * C + len(self.pairs))

    def param_groups(self) -> Tensor:
        # No parameter may see the current pixel: the channel dependence is in the distribution.
        return torch.zeros(self.num_params, dtype=torch.long)

    def _unpack(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        B, _, *S = params.shape
        C, M = self.num_colors, self.num_components
        logits = params[:, :M]
        rest = params[:, M : M * (1 + 2 * C)].reshape(B, C, 2, M, *S)
        means, log_scales = rest[:, :, 0], rest[:, :, 1].clamp(min=-7.0)
        coeffs = torch.tanh(params[:, M * (1 + 2 * C) :].reshape(B, len(self.pairs), M, *S))
        return logits, means, log_scales, coeffs

    def _channel_mean(self, means: Tensor, coeffs: Tensor, v: Tensor, c: int) -> Tensor:
        """Mean of channel c [B, M, *S] given the scaled values v [B, C, *S] of channels < c."""
        mean = means[:, c]
        for i, (cc, d) in enumerate(self.pairs):
            if cc == c:
                mean = mean + coeffs[:, i] * v[:, d].unsqueeze(1)
        return mean

    def _log_bin(self, v: Tensor, k: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
        """log P(value k | component) for scaled values v (broadcast with mean / log_scale)."""
        half = 1.0 / (self.num_levels - 1)
        inv_s = torch.exp(-log_scale)
        plus = inv_s * (v - mean + half)
        minus = inv_s * (v - mean - half)
        log_mid = minus + _log_expm1(plus - minus) - F.softplus(plus) - F.softplus(minus)
        log_low = -F.softplus(-plus)  # value 0: P(X <= v + half)
        log_high = -F.softplus(minus)  # value K-1: P(X > v - half)
        return torch.where(k == 0, log_low, torch.where(k == self.num_levels - 1, log_high, log_mid))

    def _observed(self, params: Tensor, x: Tensor, channels: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
        """At the observed x: log π [B, M, *S]; log p_d(x_d | m, x_<d) [B, channels, M, *S] for
        the first ``channels`` channels; the mean of channel ``channels`` given them [B, M, *S]
        (None when there is no such channel); and every channel's log-scales [B, C, M, *S]."""
        logits, means, log_scales, coeffs = self._unpack(params)
        v = scale_levels(x, self.num_levels, params.dtype)
        lp = [torch.zeros_like(logits).unsqueeze(1)[:, :0]]
        for c in range(channels):
            mean = self._channel_mean(means, coeffs, v, c)
            lp.append(self._log_bin(v[:, c].unsqueeze(1), x[:, c].unsqueeze(1), mean, log_scales[:, c]).unsqueeze(1))
        next_mean = self._channel_mean(means, coeffs, v, channels) if channels < self.num_colors else None
        return F.log_softmax(logits, dim=1), torch.cat(lp, dim=1), next_mean, log_scales

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        log_pi, lp, _, _ = self._observed(params, x, self.num_colors)
        cum = log_pi.unsqueeze(1) + lp.cumsum(1)  # [B, C, M, *S]
        joint = torch.logsumexp(cum, dim=2)  # log p(x_≤c)
        return torch.cat([joint[:, :1], joint[:, 1:] - joint[:, :-1]], dim=1)

    def channel_params(self, c: int) -> slice:
        return slice(0, self.num_params)

    def conditional_from(self, params: Tensor, x: Tensor, c: int) -> Tensor:
        log_pi, lp, mean, log_scales = self._observed(params, x, c)
        if mean is None:
            raise ValueError(f"channel {c} is out of range for {self.num_colors} channels")
        log_weights = log_pi + lp.sum(1)
        log_weights = log_weights - torch.logsumexp(log_weights, dim=1, keepdim=True)  # posterior given x_<c
        table = self._log_table(mean, log_scales[:, c])  # [B, K, M, *S]
        return torch.logsumexp(log_weights.unsqueeze(1) + table, dim=2)

    def _log_table(self, mean: Tensor, log_scale: Tensor) -> Tensor:
        """log P(value k | component) for every k: [B, K, M, *S] from mean, log_scale [B, M, *S].

        The same bins as :meth:`_log_bin`, from the K − 1 edges between them: each edge's
        log-sigmoids serve both bins it bounds.
        """
        K = self.num_levels
        shape = (1, K - 1, 1) + (1,) * (mean.dim() - 2)
        edges = torch.linspace(-1 + 1 / (K - 1), 1 - 1 / (K - 1), K - 1, dtype=mean.dtype, device=mean.device)
        z = (edges.reshape(shape) - mean.unsqueeze(1)) * torch.exp(-log_scale).unsqueeze(1)  # [B, K−1, M, *S]
        log_below = -F.softplus(-z)  # log σ(z): P(X ≤ edge)
        log_above = -F.softplus(z)  # log (1 − σ(z))
        a, b = z[:, 1:], z[:, :-1]  # the middle bins: σ(a) − σ(b)
        middle = b + _log_expm1(a - b) + log_above[:, 1:] + log_above[:, :-1]
        return torch.cat([log_below[:, :1], middle, log_above[:, -1:]], dim=1)


DISTRIBUTIONS: dict[str, type[OutputDistribution]] = {
    "categorical": Categorical,
    "bernoulli": Bernoulli,
    "logistic-mixture": DiscretizedLogisticMixture,
}


def make_distribution(name: str, num_colors: int, num_levels: int) -> OutputDistribution:
    """Distribution by name; "auto" is Bernoulli for binary data and Categorical otherwise."""
    if name == "auto":
        name = "bernoulli" if num_levels == 2 else "categorical"
    if name not in DISTRIBUTIONS:
        raise PixelarError(f"unknown output distribution {name!r}; choose one of: auto, {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[name](num_colors, num_levels)
