"""The base class every pixelar model derives from: one API for likelihood, sampling, saving.

The model knows nothing of how it is sampled or saved: :meth:`AutoregressiveModel.sample` and
:meth:`~AutoregressiveModel.save_pretrained` call :mod:`pixelar.sampling` and
:mod:`pixelar.checkpoint`, which read the model through small protocols
(:class:`~pixelar.incremental.SampledModel`, :class:`~pixelar.checkpoint.SavedModel`) and
import nothing from here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Literal, ParamSpec, TypeVar, cast

import torch
import torch.utils.checkpoint
from torch import Tensor, nn

from pixelar import checkpoint, sampling
from pixelar.distributions import OutputDistribution, scale_levels
from pixelar.errors import PixelarError
from pixelar.incremental.protocols import Chooser, Observer, Stepper
from pixelar.layers.common import ClassBias
from pixelar.models.config import ModelConfig
from pixelar.orders import OrderSpec, PixelOrder, make_order
from pixelar.sampling import Method

MAX_SIDE = 65535  # the largest image height or width a model is evaluated at (AutoregressiveModel.resize)

BlockArgs = ParamSpec("BlockArgs")
BlockOut = TypeVar("BlockOut")


class AutoregressiveModel(nn.Module):
    """p(x) = Π_i p(x_i | x_<i) over sub-pixels in raster order, channels R → G → B (or, for a
    model that generates in any order, ``any_order``, in the order :meth:`pixel_order` gives).

    The generation index of sub-pixel (c, h, w) of a C×H×W image is (h·W + w)·C + c.
    Subclasses set :attr:`distribution` and implement :meth:`network`, which maps the scaled
    image [B, C, H, W] to distribution parameters [B, P, H, W] such that the parameters at
    (h, w) used for channel c depend only on sub-pixels before (c, h, w), calling each of its
    layers through :meth:`checkpointed` (activation checkpointing when training asks for it).
    """

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    model_name: ClassVar[str] = ""
    distribution: OutputDistribution
    # whether the model generates its pixels in any order (pixelar.orders), or in raster order only
    any_order: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self._activation_checkpointing = False
        self._order: OrderSpec | None = None  # the order in_order() set; None: the default order

    # -- activation checkpointing -------------------------------------------------------
    @property
    def activation_checkpointing(self) -> bool:
        """Whether training recomputes each layer's activations in the backward pass instead
        of keeping them (:meth:`checkpointed`); off by default. A training-time setting, not
        part of the model: neither its config nor its state dict holds it, so a saved model
        loads with it off. Setting it sets it on every model inside this one too (the two
        scales of a multi-scale model)."""
        return self._activation_checkpointing

    @activation_checkpointing.setter
    def activation_checkpointing(self, on: bool) -> None:
        for module in self.modules():
            if isinstance(module, AutoregressiveModel):
                module._activation_checkpointing = bool(on)

    def checkpointed(
        self, block: Callable[BlockArgs, BlockOut], *args: BlockArgs.args, **kwargs: BlockArgs.kwargs
    ) -> BlockOut:
        """``block(*args, **kwargs)``, one layer (or block of layers) of :meth:`network`.

        With :attr:`activation_checkpointing` on, in train mode and with grad enabled, it runs
        under :func:`torch.utils.checkpoint.checkpoint` (non-reentrant): the forward keeps only
        the block's inputs, and the backward runs the block's forward once more to get the
        activations its gradients need. Memory for compute: the activations inside the blocks
        are not held from the forward to the backward, at the cost of one more forward of
        every block. The RNG state is saved before the block and restored for the second
        forward, so dropout draws the same mask twice and the loss and gradients are those
        without checkpointing. Otherwise (the default, eval mode, no_grad or inference mode)
        it calls ``block`` directly."""
        if self._activation_checkpointing and self.training and torch.is_grad_enabled():
            # keywords bound here cannot collide with checkpoint's own
            function = functools.partial(block, **kwargs) if kwargs else block
            output = torch.utils.checkpoint.checkpoint(function, *args, use_reentrant=False, preserve_rng_state=True)
            return cast(BlockOut, output)
        return block(*args, **kwargs)

    # -- class conditioning ---------------------------------------------------------------
    def add_class_biases(self, num_layers: int, features: int) -> None:
        """For a class-conditional model, a learned [features] bias per class for each of
        ``num_layers`` layers (``self.class_bias``); nothing for an unconditional one."""
        self.num_bias_layers = num_layers
        if self.num_classes:
            self.class_bias = ClassBias(self.num_classes, num_layers, features)

    def class_biases(self, cond: Tensor | None) -> list[Tensor | None]:
        """One [B, features] bias per layer for labels ``cond`` (None per layer when unconditional)."""
        if cond is None or not self.num_classes:
            return [None] * self.num_bias_layers
        return self.class_bias(cond)

    @contextmanager
    def in_mode(self, training: bool) -> Iterator[None]:
        """Run a block in train (dropout on) or eval mode, restoring the model's mode after."""
        was_training = self.training
        self.train(training)
        try:
            yield
        finally:
            self.train(was_training)

    # -- shape and input handling -------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.config.image_shape

    def resize(self, height: int, width: int) -> None:
        """Describe height×width images from now on, with the same weights.

        Every model here is convolutional or recurrent along rows and columns, so its weights
        do not depend on the image size (a multi-scale model resizes both of its scales).
        Sides lie in [1, :data:`MAX_SIDE`].
        """
        for side, name in ((height, "height"), (width, "width")):
            if not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
                raise PixelarError(f"the image {name} must be an integer in [1, {MAX_SIDE}], got {side}")
        channels = self.image_shape[0]
        self.config = dataclasses.replace(self.config, image_shape=(channels, height, width))

    @contextmanager
    def at_size(self, height: int, width: int) -> Iterator[None]:
        """Run a block with the model describing height×width images (:meth:`resize`), then
        restore its own size. The configuration (and so :func:`pixelar.codec.model_fingerprint`)
        reads the temporary size inside the block."""
        _, own_height, own_width = self.image_shape
        self.resize(height, width)
        try:
            yield
        finally:
            self.resize(own_height, own_width)

    @property
    def num_levels(self) -> int:
        return self.config.num_levels

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def check_input(self, x: Tensor, cond: Tensor | None = None) -> None:
        """Raise a clear :class:`PixelarError` unless x is a batch of this model's images."""
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise PixelarError(
                f"images must be integer tensors (uint8 or long) with values in [0, {self.num_levels}), "
                f"got dtype {x.dtype}; quantise them first"
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            C, H, W = self.image_shape
            raise PixelarError(
                f"images have shape {tuple(x.shape)} but the model expects [batch, {C}, {H}, {W}]; "
                "resize them or use a model made for this size"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.num_levels):
            raise PixelarError(
                f"image values span [{int(x.min())}, {int(x.max())}] but the model has "
                f"{self.num_levels} levels [0, {self.num_levels}); quantise the images to match"
            )
        self.check_cond(cond, x.shape[0])

    def check_cond(self, cond: Tensor | None, batch: int) -> None:
        if self.num_classes == 0:
            if cond is not None:
                raise PixelarError(
                    "this model is unconditional but labels were given; "
                    "drop them, or train a class-conditional model (conditional=True) to use labels",
                    param="conditional",
                )
            return
        if cond is None:
            raise PixelarError(f"this model is class-conditional ({self.num_classes} classes): pass labels (cond=...)")
        if cond.shape != (batch,) or cond.dtype.is_floating_point:
            raise PixelarError(f"labels must be an integer tensor of shape [{batch}], got {tuple(cond.shape)}")
        if batch and (int(cond.min()) < 0 or int(cond.max()) >= self.num_classes):
            raise PixelarError(f"labels must lie in [0, {self.num_classes}), got {cond.tolist()[:8]}")

    def scale(self, x: Tensor) -> Tensor:
        """Integer sub-pixels [0, K) -> floats in [-1, 1] of the model's dtype."""
        return scale_levels(x, self.num_levels, self.dtype)

    # -- the order of the pixels ---------------------------------------------------------
    @property
    def default_order(self) -> str:
        """The name of the order the model generates in unless told otherwise: raster."""
        return "raster"

    def pixel_order(self, order: OrderSpec | None = None) -> PixelOrder:
        """The order ``order`` names (:func:`pixelar.orders.make_order`) at the model's image
        size; None: the one it generates in now (:meth:`in_order`'s, else :attr:`default_order`).
        A raster-only model (``any_order`` False) refuses any other order in one line."""
        _, height, width = self.image_shape
        spec = order if order is not None else self._order if self._order is not None else self.default_order
        resolved = make_order(spec, height, width)
        if not self.any_order and not resolved.is_raster:
            raise PixelarError(
                f"model {self.model_name!r} generates in raster order only, not {resolved.name!r}; "
                "a locally masked model (lmconv) generates in any order"
            )
        return resolved

    @contextmanager
    def in_order(self, order: OrderSpec | None) -> Iterator[None]:
        """Run a block with the model generating in ``order`` (checked first; None: no change):
        its forward pass and :meth:`generation_order` follow it, and so sampling, completion,
        the dependency measurements and the codec (the order enters the model's fingerprint, so
        a file coded in it decodes in it only)
        Restores the model's order after."""
        if order is None:
            yield
            return
        self.pixel_order(order)
        saved, self._order = self._order, order
        try:
            yield
        finally:
            self._order = saved

    # -- the network --------------------------------------------------------------------
    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """Scaled images [B, C, H, W] (and labels [B]) -> parameters [B, P, H, W]."""
        raise NotImplementedError

    def forward(self, x: Tensor, cond: Tensor | None = None, order: OrderSpec | None = None) -> Tensor:
        """Distribution parameters [B, P, H, W] of every conditional, teacher-forced on x, in
        ``order`` (None: the model's; a raster-only model refuses any but raster)."""
        self.check_input(x, cond)
        if order is not None:
            self.pixel_order(order)
        return self.network(self.scale(x), cond)

    # -- likelihood ---------------------------------------------------------------------
    def log_prob(
        self,
        x: Tensor,
        cond: Tensor | None = None,
        reduction: Literal["sum", "none"] = "sum",
        order: OrderSpec | None = None,
    ) -> Tensor:
        """Exact log-likelihood in nats: [B] (reduction="sum") or [B, C, H, W] ("none"), with the
        sub-pixels in ``order`` (None: the model's own; see :meth:`pixel_order`)."""
        if reduction not in ("sum", "none"):
            raise PixelarError(f"reduction must be 'sum' or 'none', got {reduction!r}")
        logp = self.distribution.log_prob(self(x, cond, order=order), x)
        return logp.flatten(1).sum(1) if reduction == "sum" else logp

    def conditionals(self, x: Tensor, cond: Tensor | None = None, order: OrderSpec | None = None) -> Tensor:
        """The full conditional table log p(x_i = k | x_<i): [B, C, K, H, W], in ``order``."""
        params = self(x, cond, order=order)
        return torch.stack([self.distribution.conditional(params, x, c) for c in range(self.image_shape[0])], dim=1)

    # -- sampling -----------------------------------------------------------------------
    def fast_stepper(self, batch: int, cond: Tensor | None) -> Stepper | None:
        """An incremental sampler for ``batch`` images (labels ``cond``), or None when the model
        has none (naive is used)."""
        return None

    @property
    def has_fast_sampler(self) -> bool:
        return type(self).fast_stepper is not AutoregressiveModel.fast_stepper

    # whether the fast stepper can run each step natively (``method="compiled"``, its
    # ``compile()``: see :mod:`pixelar.native`)
    has_compiled_sampler: ClassVar[bool] = False

    # what a step of the fast stepper costs the codec's decoder, in its units of work (about a
    # microsecond of one CPU thread for the family's small models; pixelar.codec.schedule):
    # (units per row, that is per sub-pixel coded, besides its probabilities; units per step)
    step_work: ClassVar[tuple[int, int]] = (0, 256)

    @property
    def wavefront_shift(self) -> int:
        """s such that pixel (h, w) may be sampled in the same step as (h − 1, w + s): the
        fast sampler's schedule (:func:`pixelar.sampling.wavefronts`). The image width — raster
        order, one pixel per step — unless the model's receptive field allows less."""
        return self.image_shape[2]

    def generation_order(self) -> Tensor:
        """Generation index of every sub-pixel [C, H, W] in the order the model generates in now
        (:meth:`pixel_order`; raster unless it generates in any order), channels R → G → B."""
        return self.pixel_order().generation_index(self.image_shape[0])

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
        """Fill the unknown sub-pixels of x in generation order (see :func:`pixelar.sampling.autoregress`):
        the stepper ``method`` selects, driven by :func:`pixelar.sampling.fill` in eval mode."""
        with self.in_mode(training=False), torch.inference_mode():
            stepper = sampling.make_stepper(self, x.shape[0], cond, method)
            return sampling.fill(stepper, x, known, choose, progress, observe=observe)

    def sample(
        self,
        n: int,
        cond: Tensor | None = None,
        generator: torch.Generator | int | None = None,
        temperature: float = 1.0,
        method: Method = "auto",
        progress: bool = False,
        batch_size: int | None = None,
        order: OrderSpec | None = None,
    ) -> Tensor:
        """Draw n images [n, C, H, W] (long) sub-pixel by sub-pixel, in ``order`` (None: the
        model's own); see :func:`pixelar.sampling.sample`."""
        return sampling.sample(
            self,
            n,
            cond=cond,
            generator=generator,
            temperature=temperature,
            method=method,
            progress=progress,
            batch_size=batch_size,
            order=order,
        )

    # -- persistence --------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors to ``directory`` (atomically); returns it."""
        return checkpoint.save_pretrained(self, directory)
