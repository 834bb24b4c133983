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
from typing import Any

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.incremental import Front, IncrementalConv
from pixelar.native.build import load

INTS = ("n", "count", "channels", "colors", "wide", "narrow", "layers", "params", "ld_y", "ld_ctx", "ld_bias")
INT64S = (
    *("ctx_layer", "bias_layer"),
    *("x_image", "x_channel", "x_start", "x_step"),
    *("input_image", "input_start", "input_step"),
    *("blocks_layer", "blocks_image", "blocks_start", "blocks_step"),
)


class ColumnDims(ctypes.Structure):
    """``struct column_dims`` of pixelcnn_column.c."""

    _fields_ = [
        *[(name, ctypes.c_int) for name in INTS],
        *[(name, ctypes.c_int64) for name in INT64S],
        ("scale", ctypes.c_double),
    ]


_FUNCTIONS = {torch.float32: "pixelcnn_column_f32", torch.float64: "pixelcnn_column_f64"}


def _function(dtype: torch.dtype) -> Any:
    if dtype not in _FUNCTIONS:
        raise PixelarError(
            f"method='compiled' runs float32 or float64 models, not {dtype}; use method='fast'", param="method"
        )
    fn = getattr(load("pixelcnn_column"), _FUNCTIONS[dtype])
    fn.argtypes = [ctypes.POINTER(ColumnDims)] + [ctypes.c_void_p] * 8
    fn.restype = ctypes.c_int
    return fn


def _bias(bias: Tensor | None, weight: Tensor) -> Tensor:
    """A layer's bias, zeros where it has none: [out] for a weight [in, out]."""
    return weight.new_zeros(weight.shape[1]) if bias is None else bias


def _pointer(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


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
        if centre.device.type != "cpu":
            raise PixelarError(
                "method='compiled' runs on the CPU; on a GPU use method='fast' (batched steps keep it busy)",
                param="method",
            )
        self.fn = _function(centre.dtype)
        self.channels, self.wide = centre.shape
        self.narrow = blocks[0][2].shape[0] if blocks else 0
        self.layers = len(blocks)
        self.params = head[2].shape[1]
        parts: list[Tensor] = [centre]
        for reduce_w, reduce_b, centre_w, expand_w, expand_b in blocks:
            parts += [reduce_w, _bias(reduce_b, reduce_w), centre_w, expand_w, _bias(expand_b, expand_w)]
        hidden_w, hidden_b, out_w, out_b = head
        parts += [hidden_w, _bias(hidden_b, hidden_w), out_w, _bias(out_b, out_w)]
        self.weights = torch.cat([t.detach().reshape(-1) for t in parts]).contiguous()
        if not bool(torch.isfinite(self.weights).all()):  # the kernel skips zero inputs: exact for finite weights
            raise PixelarError("the model has non-finite weights; sample it with method='fast'", param="method")

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
        batch, colors, height, width = x.shape
        n, where = batch * front.count, front.flat(width)
        dtype = self.weights.dtype
        _check(x.dtype == torch.int64 and x.is_contiguous() and colors > self.channels, "x: contiguous int64 images")
        _check(where.stop <= height * width, "the front lies outside the images")
        _check(y.dim() == 2 and y.shape[0] == n and y.shape[1] >= self.wide and y.stride(1) == 1, "y: [n, >= wide]")
        _check(y.dtype == dtype, "y: the weights' dtype")
        if self.layers:
            _check(contexts is not None, "contexts: one per block")
            assert contexts is not None
            contexts = contexts.contiguous()
            _check(contexts.dim() == 3 and tuple(contexts.shape[:2]) == (self.layers, n), "contexts: [L, n, ...]")
            _check(contexts.shape[2] >= self.narrow and contexts.dtype == dtype, "contexts: [..., >= narrow]")
        if biases is not None:
            biases = biases.contiguous()
            _check(biases.dim() == 3 and tuple(biases.shape[:2]) == (self.layers + 1, batch), "biases: [L + 1, batch]")
            _check(biases.shape[2] >= self.wide and biases.dtype == dtype, "biases: [..., >= wide] of the dtype")
        params = y.new_empty(n, self.params)
        dims = ColumnDims(
            n=n,
            count=front.count,
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
            x_image=x.stride(0),
            x_channel=x.stride(1),
            x_start=where.start,
            x_step=where.step,
            scale=2.0 / (num_levels - 1),
        )
        maps: list[Tensor | None] = [None, None]
        if store is not None:
            for i, (conv, prefix) in enumerate(zip(store, ("input", "blocks"))):
                if conv is None:
                    continue
                buf, at = conv.buf, conv.where(front)  # [L, batch, positions, features]
                layers, features = (1, colors) if i == 0 else (self.layers, self.narrow)
                _check(buf.is_contiguous() and buf.dtype == dtype, "the cached maps: contiguous, of the dtype")
                _check(tuple(buf.shape) == (layers, batch, buf.shape[2], features), "the cached maps' shape")
                _check(at.stop <= buf.shape[2], "the front lies outside the cached maps")
                setattr(dims, f"{prefix}_image", buf.stride(1))
                setattr(dims, f"{prefix}_start", at.start)
                setattr(dims, f"{prefix}_step", at.step)
                maps[i] = buf
            dims.blocks_layer = 0 if maps[1] is None else maps[1].stride(0)
        status = self.fn(
            ctypes.byref(dims),
            self.weights.data_ptr(),
            y.data_ptr(),
            x.data_ptr(),
            _pointer(contexts),
            _pointer(biases),
            params.data_ptr(),
            _pointer(maps[0]),
            _pointer(maps[1]),
        )
        if status:
            raise MemoryError("the native PixelCNN column step could not allocate its work space")
        return params


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"native PixelCNN column step: {what}")
