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

from pixelar.incremental import Front
from pixelar.native import kernels
from pixelar.native.kernels import CachedMap, Images, bias, check, pointer

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
    """One colour channel's column step, natively, for one sampler. ``blocks``: per block
    (reduce W, reduce b, centre W, expand W, expand b); ``head``: (hidden W, hidden b, out W,
    out b); ``centre``: the input layer's centre tap [c, wide] (empty for c = 0). The sampler's
    ``images``, cached maps (the input layer's [1, batch, positions, C] and the blocks' [L,
    batch, positions, h], where the kernel stores a front's final values) and class ``biases``
    [L + 1, batch, ≥ wide] (or None) are checked here once. Tensors on the CPU."""

    def __init__(
        self,
        centre: Tensor,
        blocks: Sequence[tuple[Tensor, Tensor | None, Tensor, Tensor, Tensor | None]],
        head: tuple[Tensor, Tensor | None, Tensor, Tensor | None],
        images: Images,
        maps: tuple[CachedMap, CachedMap | None],
        biases: Tensor | None,
    ) -> None:
        kernels.require_cpu(centre)
        self.fn = kernels.function("pixelcnn_column", centre.dtype, ColumnDims, 8)
        channels, wide = centre.shape
        narrow = blocks[0][2].shape[0] if blocks else 0
        self.layers, batch, colors = len(blocks), images.shape[0], images.shape[1]
        parts: list[Tensor] = [centre]
        for reduce_w, reduce_b, centre_w, expand_w, expand_b in blocks:
            parts += [reduce_w, bias(reduce_b, reduce_w), centre_w, expand_w, bias(expand_b, expand_w)]
        hidden_w, hidden_b, out_w, out_b = head
        parts += [hidden_w, bias(hidden_b, hidden_w), out_w, bias(out_b, out_w)]
        self.weights = kernels.pack(parts)
        per_block = wide * narrow + narrow + narrow * narrow + narrow * wide + wide
        size = channels * wide + len(blocks) * per_block + wide * wide + wide + wide * out_w.shape[1] + out_w.shape[1]
        check(self.weights.numel() == size, "the packed weights: the layout pixelcnn_column_body.h reads", KERNEL)
        dtype = self.weights.dtype
        check(colors > channels, "x: the images' channels", KERNEL)
        if biases is not None:
            check(biases.is_contiguous() and biases.dtype == dtype, "biases: contiguous, of the dtype", KERNEL)
            check(
                biases.dim() == 3 and tuple(biases.shape[:2]) == (self.layers + 1, batch),
                "biases: [L + 1, batch]",
                KERNEL,
            )
            check(biases.shape[2] >= wide, "biases: [..., >= wide]", KERNEL)
        self.images, self.maps, self.biases = images, maps, biases
        self.wide, self.narrow, self.params = wide, narrow, out_w.shape[1]
        self.dims = ColumnDims(
            front=images.front,
            channels=channels,
            colors=colors,
            wide=wide,
            narrow=narrow,
            layers=self.layers,
            params=self.params,
            ld_bias=0 if biases is None else biases.stride(1),
            bias_layer=0 if biases is None else biases.stride(0),
            input_image=maps[0].image,
        )
        # the tensors fixed for the sampler's life: their addresses, once
        self.pointers = {
            "weights": self.weights.data_ptr(),
            "biases": pointer(biases),
            "input": maps[0].buf.data_ptr(),
            "blocks": None if maps[1] is None else maps[1].buf.data_ptr(),
        }
        # only the last channel's kernel stores (it computes every feature)
        self.stores = maps[1] is None or maps[1].buf.shape[3] == narrow
        if maps[1] is not None:
            check(maps[1].buf.shape[0] == self.layers, "the blocks' cached maps: one per block", KERNEL)
            self.dims.blocks_layer, self.dims.blocks_image = maps[1].layer, maps[1].image

    def __call__(self, y: Tensor, contexts: Tensor | None, x: Tensor, front: Front, final: bool) -> Tensor:
        """The channel's parameters [n, P] at the front's n = batch·count pixels. ``y``: the input
        layer's output there without its centre tap, [n, ≥ wide] (rows may be strided);
        ``contexts`` [L, n, ≥ narrow] the blocks' 3×3 outputs without their centre taps; ``x``
        the images. At the pixels' last channel (``final``) the kernel stores the pixels and
        every block's 3×3 input in the cached maps. What the kernel relies on is checked first
        (a ValueError), so it never reads or writes outside the tensors."""
        dims = self.dims
        dims.front = self.images.at(x, front)
        n = dims.front.n
        check(
            y.dim() == 2 and y.shape[0] == n and y.shape[1] >= self.wide and y.stride(1) == 1, "y: [n, >= wide]", KERNEL
        )
        check(y.dtype == self.weights.dtype, "y: the weights' dtype", KERNEL)
        if self.layers:
            check(contexts is not None, "contexts: one per block", KERNEL)
            assert contexts is not None
            contexts = contexts.contiguous()
            check(
                contexts.dim() == 3 and tuple(contexts.shape[:2]) == (self.layers, n), "contexts: [L, n, ...]", KERNEL
            )
            check(contexts.shape[2] >= self.narrow and contexts.dtype == y.dtype, "contexts: [..., >= narrow]", KERNEL)
            dims.ld_ctx, dims.ctx_layer = contexts.stride(1), contexts.stride(0)
        dims.ld_y = y.stride(0)
        input_map, blocks_map = self.maps
        if final:
            check(self.stores, "only the last channel's step computes every feature", KERNEL)
            dims.input_start, dims.input_step = input_map.at(front)
            if blocks_map is not None:
                dims.blocks_start, dims.blocks_step = blocks_map.at(front)
        params = y.new_empty(n, self.params)
        ptr = self.pointers
        store = (ptr["input"], ptr["blocks"]) if final else (None, None)
        kernels.call(
            self.fn,
            dims,
            ptr["weights"],
            y.data_ptr(),
            x.data_ptr(),
            pointer(contexts),
            ptr["biases"],
            params.data_ptr(),
            *store,
        )
        return params
