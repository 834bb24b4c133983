"""PixelCNN's column step in C (``pixelcnn_column.c``): the residual blocks and the output head
at a front's pixels for one colour channel, in one call instead of ~50 PyTorch operations.

The weights of channel c are packed into one contiguous vector, in this order (row-major
matrices acting on features in rows, as :class:`~pixelar.incremental.Pointwise` holds them):
the input layer's centre tap [c, wide] (for c > 0); per block the 1×1 reduce [wide, narrow]
and its bias [narrow], the 3×3 convolution's centre tap [narrow, narrow], the 1×1 expand
[narrow, wide] and its bias [wide]; the head's hidden 1×1 [wide, wide] and bias [wide], its
output 1×1 [wide, P] and bias [P].
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

from torch import Tensor

from pixelar.incremental import Front, IncrementalConv
from pixelar.native import kernels
from pixelar.native.kernels import bias, check

KERNEL = "PixelCNN column"
INTS = ("channels", "colors", "wide", "narrow", "layers", "params", "ld_y", "ld_ctx", "ld_bias")
INT64S = (
    *("ctx_layer", "bias_layer"),
    *("input_image", "input_start", "input_step"),
    *("blocks_layer", "blocks_image", "blocks_start", "blocks_step"),
)


class ColumnDims(ctypes.Structure):
    """``struct column_dims`` of pixelcnn_column.c."""

    _fields_ = [
        ("front", kernels.Front),
        *[(name, ctypes.c_int) for name in INTS],
        *[(name, ctypes.c_int64) for name in INT64S],
    ]


class ColumnKernel:
    """One colour channel's column step, natively. ``blocks``: per block (reduce W, reduce b,
    centre W, expand W, expand b); ``head``: (hidden W, hidden b, out W, out b); ``centre``:
    the input layer's centre tap [c, wide] (empty for c = 0). Tensors on the CPU."""

    def __init__(
        self,
        centre: Tensor,
        blocks: Sequence[tuple[Tensor, Tensor | None, Tensor, Tensor, Tensor | None]],
        head: tuple[Tensor, Tensor | None, Tensor, Tensor | None],
    ) -> None:
        kernels.require_cpu(centre)
        self.fn = kernels.function("pixelcnn_column", centre.dtype, ColumnDims, 8)
        self.channels, self.wide = centre.shape
        self.narrow = blocks[0][2].shape[0] if blocks else 0
        self.layers = len(blocks)
        self.params = head[2].shape[1]
        parts: list[Tensor] = [centre]
        for reduce_w, reduce_b, centre_w, expand_w, expand_b in blocks:
            parts += [reduce_w, bias(reduce_b, reduce_w), centre_w, expand_w, bias(expand_b, expand_w)]
        hidden_w, hidden_b, out_w, out_b = head
        parts += [hidden_w, bias(hidden_b, hidden_w), out_w, bias(out_b, out_w)]
        self.weights = kernels.pack(parts)

    def __call__(
        self,
        y: Tensor,
        x: Tensor,
        front: Front,
        num_levels: int,
        contexts: Tensor | None,
        biases: Tensor | None,
        store: tuple[IncrementalConv, IncrementalConv | None] | None,
    ) -> Tensor:
        """The channel's parameters [n, P] at the front's n = batch·count pixels. ``y``: the input
        layer's output there without its centre tap, [n, ≥ wide] (rows may be strided); ``x`` the
        images [batch, C, H, W] (int64 levels of ``num_levels``); ``contexts`` [L, n, ≥ narrow] the
        blocks' 3×3 outputs without their centre taps; ``biases`` [L + 1, batch, ≥ wide] the class
        biases, or None. ``store`` (at the pixels' last channel): the input layer's and the
        blocks' cached maps, where the pixels and every block's 3×3 input are written. Every
        shape the kernel relies on is checked first (a ValueError), so it never reads or writes
        outside the tensors."""
        pixels = kernels.Front.of(x, front, num_levels, KERNEL)
        batch, colors = x.shape[:2]
        n, dtype = pixels.n, self.weights.dtype
        check(colors > self.channels, "x: the images' channels", KERNEL)
        check(
            y.dim() == 2 and y.shape[0] == n and y.shape[1] >= self.wide and y.stride(1) == 1, "y: [n, >= wide]", KERNEL
        )
        check(y.dtype == dtype, "y: the weights' dtype", KERNEL)
        if self.layers:
            check(contexts is not None, "contexts: one per block", KERNEL)
            assert contexts is not None
            contexts = contexts.contiguous()
            check(
                contexts.dim() == 3 and tuple(contexts.shape[:2]) == (self.layers, n), "contexts: [L, n, ...]", KERNEL
            )
            check(contexts.shape[2] >= self.narrow and contexts.dtype == dtype, "contexts: [..., >= narrow]", KERNEL)
        if biases is not None:
            biases = biases.contiguous()
            check(
                biases.dim() == 3 and tuple(biases.shape[:2]) == (self.layers + 1, batch),
                "biases: [L + 1, batch]",
                KERNEL,
            )
            check(biases.shape[2] >= self.wide and biases.dtype == dtype, "biases: [..., >= wide] of the dtype", KERNEL)
        params = y.new_empty(n, self.params)
        dims = ColumnDims(
            front=pixels,
            channels=self.channels,
            colors=colors,
            wide=self.wide,
            narrow=self.narrow,
            layers=self.layers,
            params=self.params,
            ld_y=y.stride(0),
            ld_ctx=0 if contexts is None else contexts.stride(1),
            ctx_layer=0 if contexts is None else contexts.stride(0),
            ld_bias=0 if biases is None else biases.stride(1),
            bias_layer=0 if biases is None else biases.stride(0),
        )
        maps: list[Tensor | None] = [None, None]
        if store is not None:
            input_conv, blocks_conv = store
            maps[0], dims.input_image, dims.input_start, dims.input_step = kernels.cached_map(
                input_conv, front, (1, batch, colors), dtype, KERNEL
            )
            if blocks_conv is not None:
                blocks_map, dims.blocks_image, dims.blocks_start, dims.blocks_step = kernels.cached_map(
                    blocks_conv, front, (self.layers, batch, self.narrow), dtype, KERNEL
                )
                maps[1], dims.blocks_layer = blocks_map, blocks_map.stride(0)
        kernels.call(self.fn, dims, self.weights, y, x, contexts, biases, params, maps[0], maps[1])
        return params
