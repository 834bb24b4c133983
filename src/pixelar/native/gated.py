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

from pixelar.incremental import Front, Pointwise
from pixelar.native import kernels
from pixelar.native.kernels import CachedMap, Images, bias, check, pointer

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
    """One colour channel's horizontal-stack step, natively, for one sampler: ``centre`` the
    first layer's centre tap [C, 2p]; ``rest`` per later layer (centre tap [p, 2p], its 1×1
    output); ``skips`` every layer's skip 1×1 (empty: the head reads the last horizontal
    stack); ``head`` (hidden 1×1, output 1×1 cut to channel c's parameters). The sampler's
    ``images`` and cached horizontal input maps (the first layer's [1, batch, positions, C],
    the later layers' [L − 1, batch, positions, p]) are checked here once. Tensors on the CPU."""

    def __init__(
        self,
        centre: Tensor,
        rest: Sequence[tuple[Tensor, Pointwise]],
        skips: Sequence[Pointwise],
        head: tuple[Pointwise, Pointwise],
        images: Images,
        maps: tuple[CachedMap, CachedMap | None],
    ) -> None:
        kernels.require_cpu(centre)
        self.fn = kernels.function("gated_column", centre.dtype, GatedDims, 6)
        colors, p = centre.shape[0], centre.shape[1] // 2
        self.layers, self.features, self.batch = 1 + len(rest), p, images.shape[0]
        hidden, out = head
        self.params = out.weight.shape[1]
        parts: list[Tensor] = [centre]
        for centre_w, h_out in rest:
            parts += [centre_w, h_out.weight, bias(h_out.bias, h_out.weight)]
        for skip in skips:
            parts += [skip.weight, bias(skip.bias, skip.weight)]
        parts += [hidden.weight, bias(hidden.bias, hidden.weight), out.weight, bias(out.bias, out.weight)]
        self.weights = kernels.pack(parts)
        size = colors * 2 * p + len(rest) * (2 * p * p + p * p + p) + len(skips) * (p * p + p)
        size += p * p + p + p * self.params + self.params
        check(self.weights.numel() == size, "the packed weights: the layout gated_column_body.h reads", KERNEL)
        check(images.shape[1] == colors, "x: the model's channels", KERNEL)
        check(not skips or len(skips) == self.layers, "skips: one per layer", KERNEL)
        if maps[1] is not None:
            check(tuple(maps[1].buf.shape[::3]) == (self.layers - 1, p), "the later layers' cached maps", KERNEL)
        self.images, self.maps = images, maps
        self.dims = GatedDims(
            front=images.front,
            colors=colors,
            features=p,
            layers=self.layers,
            skips=int(bool(skips)),
            params=self.params,
            first_image=maps[0].image,
        )
        if maps[1] is not None:
            self.dims.rest_layer, self.dims.rest_image = maps[1].layer, maps[1].image
        # the tensors fixed for the sampler's life: their addresses, once
        self.pointers = (
            self.weights.data_ptr(),
            maps[0].buf.data_ptr(),
            pointer(None if maps[1] is None else maps[1].buf),
        )

    def __call__(self, contexts: Tensor, x: Tensor, front: Front, final: bool) -> Tensor:
        """The channel's parameters [batch, P] at the front's pixel. ``contexts`` [L, batch, ≥ 2p]:
        every layer's horizontal pre-activations there without the centre taps; ``x`` the images.
        At the pixel's last channel (``final``) the kernel stores the pixel and every later
        layer's input in the cached maps. What the kernel relies on is checked first (a
        ValueError)."""
        dims = self.dims
        dims.front = self.images.at(x, front)
        check(front.count == 1, "one pixel a step", KERNEL)
        contexts = contexts.contiguous()
        check(
            contexts.dim() == 3 and tuple(contexts.shape[:2]) == (self.layers, self.batch),
            "contexts: [L, batch, ...]",
            KERNEL,
        )
        check(
            contexts.shape[2] >= 2 * self.features and contexts.dtype == self.weights.dtype,
            "contexts: [..., >= 2p] of the dtype",
            KERNEL,
        )
        dims.ld_ctx, dims.ctx_layer = contexts.stride(1), contexts.stride(0)
        first, rest = self.maps
        if final:
            dims.first_start = first.at(front)[0]
            if rest is not None:
                dims.rest_start = rest.at(front)[0]
        params = contexts.new_empty(self.batch, self.params)
        weights, first_map, rest_map = self.pointers
        store = (first_map, rest_map) if final else (None, None)
        kernels.call(self.fn, dims, weights, contexts.data_ptr(), x.data_ptr(), params.data_ptr(), *store)
        return params
