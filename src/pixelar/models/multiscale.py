"""Multi-scale PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016, Section 3.4).

An unconditional PixelRNN generates the subsampled image s = x[:, :, ::f, ::f] (the top-left
pixel of every f×f block); a conditional PixelRNN then generates every other pixel of the
full image given s. How s enters the conditional model is *unsure* in the paper; here it is
upsampled (nearest neighbour) and a 1×1 convolution of it is added as a bias map to the input
of every layer and of the output head.

The joint model is exact: with S the positions of s,

    log p(x) = log p_small(s) + Σ_{i ∉ S} log p_large(x_i | x_<i, s),

where x_<i is raster order over the full image. Both factors are normalised, so p sums to one
over all images. The generation order is S first (raster order within s), then the remaining
sub-pixels in raster order; :meth:`generation_order` gives it, and the causality tests use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.incremental import Front, Stepper
from pixelar.models.base import AutoregressiveModel
from pixelar.models.config import ModelConfig
from pixelar.models.pixelrnn import (
    ContextDiagonalBiLSTM,
    ContextRowLSTM,
    DiagonalBiLSTM,
    PixelRNNConfig,
    RowLSTM,
)
from pixelar.sampling import Chooser, NaiveStepper, Observer, autoregress, fill, resolve_method

FAMILIES = {"diagonal-bilstm": (DiagonalBiLSTM, ContextDiagonalBiLSTM), "row-lstm": (RowLSTM, ContextRowLSTM)}


@dataclass
class MultiScaleConfig(ModelConfig):
    """Hyperparameters of :class:`MultiScalePixelRNN`.

    Attributes:
        num_layers, hidden_channels, distribution: as for the PixelRNN models, for both scales.
        factor: f, the subsampling factor; the small image is ⌈H/f⌉ × ⌈W/f⌉.
        layer: the recurrent layer of both models, "diagonal-bilstm" or "row-lstm".
    """

    num_layers: int = 2
    hidden_channels: int = 8
    distribution: str = "auto"
    factor: int = 2
    layer: str = "diagonal-bilstm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.factor < 2:
            raise PixelarError(f"factor must be at least 2, got {self.factor}", param="factor")
        if self.layer not in FAMILIES:
            raise PixelarError(f"layer must be one of {', '.join(FAMILIES)}, got {self.layer!r}", param="layer")


class MultiScalePixelRNN(AutoregressiveModel):
    """p(x) = p_small(s) · p_large(x without s | s); see the module docstring.

    Shapes: images [B, C, H, W]; the small model sees [B, C, ⌈H/f⌉, ⌈W/f⌉].
    """

    model_name = "multiscale-pixelrnn"

    Config = MultiScaleConfig
    config: MultiScaleConfig
    step_work = (12, 512)  # the codec's units a fast step costs (AutoregressiveModel.step_work)

    def __init__(self, config: MultiScaleConfig) -> None:
        super().__init__(config)
        C, H, W = config.image_shape
        f = config.factor
        small_cls, large_cls = FAMILIES[config.layer]

        def scale_config(image_shape: tuple[int, int, int]) -> PixelRNNConfig:
            return PixelRNNConfig(
                image_shape=image_shape,
                num_levels=config.num_levels,
                num_classes=config.num_classes,
                num_layers=config.num_layers,
                hidden_channels=config.hidden_channels,
                distribution=config.distribution,
            )

        self.small = small_cls(scale_config((C, -(-H // f), -(-W // f))))
        self.large = large_cls(scale_config((C, H, W)))
        self.distribution = self.large.distribution

    def resize(self, height: int, width: int) -> None:
        """Both scales follow: the small model describes the ⌈H/f⌉×⌈W/f⌉ subsampled image."""
        super().resize(height, width)
        f = self.config.factor
        self.small.resize(-(-height // f), -(-width // f))
        self.large.resize(height, width)

    # -- the two scales -------------------------------------------------------------------
    def subsampled(self, x: Tensor) -> Tensor:
        f = self.config.factor
        return x[:, :, ::f, ::f]

    def small_positions(self) -> Tensor:
        """Bool mask [C, H, W] of the sub-pixels the small model generates."""
        mask = torch.zeros(self.image_shape, dtype=torch.bool)
        mask[:, :: self.config.factor, :: self.config.factor] = True
        return mask

    def context(self, small: Tensor) -> Tensor:
        """The scaled small image [B, C, ⌈H/f⌉, ⌈W/f⌉] upsampled (nearest) to the full size: [B, C, H, W]."""
        f = self.config.factor
        _, H, W = self.image_shape
        return small.repeat_interleave(f, 2).repeat_interleave(f, 3)[:, :, :H, :W]

    def generation_order(self) -> Tensor:
        mask = self.small_positions()
        raster = super().generation_order()
        # Small positions first (raster order within them), then the rest in raster order.
        key = raster + (~mask).long() * raster.numel()
        order = torch.empty(raster.numel(), dtype=torch.long)
        order[key.flatten().argsort()] = torch.arange(raster.numel())
        return order.reshape(self.image_shape)

    # -- likelihood -----------------------------------------------------------------------
    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """Scaled images [B, C, H, W] → parameters [B, P, H, W]: the small model's at the
        subsampled positions (given the small image before them), the large model's elsewhere
        (given the small image and the full image before them). Every conditional reads only
        its own position's parameters, so this one map gives the exact log p(x)."""
        small = self.subsampled(x)
        params = self.large.network(x, cond, self.context(small)).clone()
        params[:, :, :: self.config.factor, :: self.config.factor] = self.small.network(small, cond)
        return params

    # -- generation -----------------------------------------------------------------------
    @property
    def has_fast_sampler(self) -> bool:
        return self.small.has_fast_sampler and self.large.has_fast_sampler

    def autoregress(
        self,
        x: Tensor,
        known: Tensor,
        cond: Tensor | None,
        method: str,
        choose: Chooser,
        progress: bool = False,
        observe: Observer | None = None,
    ) -> Tensor:
        """Small image first (its own loop), then the rest of the full image given it."""
        f = self.config.factor
        n, C, H, W = x.shape

        def choose_small(logp: Tensor, c: int, front: Front) -> Tensor:
            return choose(logp, c, front.scaled(f))

        observe_small: Observer | None = None
        if observe is not None:
            observe_whole = observe

            def show_small(small: Tensor, c: int, front: Front) -> None:  # the small image's step, in x
                where = front.flat(small.shape[3])
                x.view(n, C, H * W)[:, c, front.scaled(f).flat(W)] = small.reshape(n, C, -1)[:, c, where]
                observe_whole(x, c, front.scaled(f))

            observe_small = show_small

        small = autoregress(
            self.small,
            self.subsampled(x).clone(),
            self.subsampled(known),
            cond,
            method,
            choose_small,
            progress,
            observe_small,
        )
        x[:, :, ::f, ::f] = small
        known = known | self.small_positions().to(known.device)
        large = self.large
        with self.in_mode(training=False), torch.inference_mode():
            context = self.context(large.scale(small))
            stepper: Stepper
            if resolve_method(self, method) == "fast":
                stepper = large.fast_stepper(x.shape[0], cond, context)
            else:
                stepper = NaiveStepper(large, cond, lambda images: large.network(large.scale(images), cond, context))
            return fill(stepper, x, known, choose, progress, observe=observe)
