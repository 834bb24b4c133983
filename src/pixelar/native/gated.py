"""Gated PixelCNN's horizontal-stack step in C (``gated_column.c``): every gated layer, the skips
and the output head at a pixel for one colour channel, in one call instead of ~60 PyTorch
operations. The vertical stack (once per row) stays in PyTorch.

The weights of channel c are packed into one contiguous vector, in this order (row-major
matrices acting on features in rows, as :class:`~pixelar.incremental.Pointwise` holds them):
the first layer's horizontal centre tap [C, 2p]; per later layer its centre tap [p, 2p], its
1×1 output [p, p] and bias [p]; with skips, per layer the skip 1×1 [p, p] and bias [p]; the
head's hidden 1×1 [p, p] and bias [p], its output 1×1 cut to channel c's parameters [p, P] and
bias [P].
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

from torch import Tensor

from pixelar.incremental import Front, IncrementalConv, Pointwise
from pixelar.native import kernels
from pixelar.native.kernels import bias, check

KERNEL = "Gated PixelCNN column"


class GatedDims(ctypes.Structure):
    """``struct gated_dims`` of gated_column.c."""

    _fields_ = [
        ("front", kernels.Front),
        *[(name, ctypes.c_int) for name in ("colors", "features", "layers", "skips", "params", "ld_ctx")],
        *[(name, ctypes.c_int64) for name in ("ctx_layer", "first_image", "first_start")],
        *[(name, ctypes.c_int64) for name in ("rest_layer", "rest_image", "rest_start")],
    ]


class GatedColumnKernel:
    """One colour channel's horizontal-stack step, natively: ``centre`` the first layer's centre
    tap [C, 2p]; ``rest`` per later layer (centre tap [p, 2p], its 1×1 output); ``skips`` every
    layer's skip 1×1 (empty: the head reads the last horizontal stack); ``head`` (hidden 1×1,
    output 1×1 cut to channel c's parameters). Tensors on the CPU."""

    def __init__(
        self,
        centre: Tensor,
        rest: Sequence[tuple[Tensor, Pointwise]],
        skips: Sequence[Pointwise],
        head: tuple[Pointwise, Pointwise],
    ) -> None:
        kernels.require_cpu(centre)
        self.fn = kernels.function("gated_column", centre.dtype, GatedDims, 6)
        self.colors, self.features = centre.shape[0], centre.shape[1] // 2
        self.layers, self.skips = 1 + len(rest), bool(skips)
        hidden, out = head
        self.params = out.weight.shape[1]
        parts: list[Tensor] = [centre]
        for centre_w, h_out in rest:
            parts += [centre_w, h_out.weight, bias(h_out.bias, h_out.weight)]
        for skip in skips:
            parts += [skip.weight, bias(skip.bias, skip.weight)]
        parts += [hidden.weight, bias(hidden.bias, hidden.weight), out.weight, bias(out.bias, out.weight)]
        self.weights = kernels.pack(parts)

    def __call__(
        self,
        contexts: Tensor,
        x: Tensor,
        front: Front,
        num_levels: int,
        store: tuple[IncrementalConv, IncrementalConv | None] | None,
    ) -> Tensor:
        """The channel's parameters [batch, P] at the front's pixel. ``contexts`` [L, batch, ≥ 2p]:
        every layer's horizontal pre-activations there without the centre taps; ``x`` the images
        [batch, C, H, W] (int64 levels of ``num_levels``). ``store`` (at the pixel's last channel):
        the first layer's and the later layers' cached horizontal input maps, where the pixel and
        every later layer's input are written. Every shape the kernel relies on is checked first
        (a ValueError)."""
        pixels = kernels.Front.of(x, front, num_levels, KERNEL)
        batch, colors = x.shape[:2]
        dtype, p = self.weights.dtype, self.features
        check(front.count == 1 and colors == self.colors, "one pixel of images of the model's channels", KERNEL)
        contexts = contexts.contiguous()
        check(
            contexts.dim() == 3 and tuple(contexts.shape[:2]) == (self.layers, batch),
            "contexts: [L, batch, ...]",
            KERNEL,
        )
        check(contexts.shape[2] >= 2 * p and contexts.dtype == dtype, "contexts: [..., >= 2p] of the dtype", KERNEL)
        params = contexts.new_empty(batch, self.params)
        dims = GatedDims(
            front=pixels,
            colors=colors,
            features=p,
            layers=self.layers,
            skips=int(self.skips),
            params=self.params,
            ld_ctx=contexts.stride(1),
            ctx_layer=contexts.stride(0),
        )
        maps: list[Tensor | None] = [None, None]
        if store is not None:
            first, rest = store
            maps[0], dims.first_image, dims.first_start, _ = kernels.cached_map(
                first, front, (1, batch, colors), dtype, KERNEL
            )
            if rest is not None:
                rest_map, dims.rest_image, dims.rest_start, _ = kernels.cached_map(
                    rest, front, (self.layers - 1, batch, p), dtype, KERNEL
                )
                maps[1], dims.rest_layer = rest_map, rest_map.stride(0)
        kernels.call(self.fn, dims, self.weights, contexts, x, params, maps[0], maps[1])
        return params
