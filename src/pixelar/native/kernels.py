"""What every native sampling kernel's ctypes glue shares: ``struct front`` (front.h), the
kernel function of a library for a dtype, the weights packed into one vector, and the checks
that keep a kernel inside the tensors it is given."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.incremental import Front as FrontPixels
from pixelar.incremental import IncrementalConv
from pixelar.native.build import load

SUFFIXES = {torch.float32: "f32", torch.float64: "f64"}


class Front(ctypes.Structure):
    """``struct front`` of front.h: the step's pixels, where they lie in the images, their scale."""

    _fields_ = [
        ("n", ctypes.c_int),
        ("count", ctypes.c_int),
        *[(name, ctypes.c_int64) for name in ("x_image", "x_channel", "x_start", "x_step")],
        ("scale", ctypes.c_double),
    ]

    @classmethod
    def of(cls, x: Tensor, front: FrontPixels, num_levels: int, kernel: str) -> Front:
        """The front's pixels in the images x [batch, C, H, W] (contiguous int64 levels)."""
        batch, _, height, width = x.shape
        where = front.flat(width)
        check(x.dtype == torch.int64 and x.is_contiguous(), "x: contiguous int64 images", kernel)
        check(where.stop <= height * width, "the front lies outside the images", kernel)
        return cls(
            batch * front.count, front.count, x.stride(0), x.stride(1), where.start, where.step, 2.0 / (num_levels - 1)
        )


def function(library: str, dtype: torch.dtype, dims: type[ctypes.Structure], pointers: int) -> Any:
    """``<library>_<f32|f64>`` of the library built from ``<library>.c``, taking a pointer to
    ``dims`` and ``pointers`` more pointers, returning an int (0: done)."""
    if dtype not in SUFFIXES:
        raise PixelarError(
            f"method='compiled' runs float32 or float64 models, not {dtype}; use method='fast'", param="method"
        )
    fn = getattr(load(library), f"{library}_{SUFFIXES[dtype]}")
    fn.argtypes = [ctypes.POINTER(dims)] + [ctypes.c_void_p] * pointers
    fn.restype = ctypes.c_int
    return fn


def require_cpu(tensor: Tensor) -> None:
    if tensor.device.type != "cpu":
        raise PixelarError(
            "method='compiled' runs on the CPU; on a GPU use method='fast' (batched steps keep it busy)",
            param="method",
        )


def pack(parts: Sequence[Tensor]) -> Tensor:
    """The weights as one contiguous vector, in order. The kernels skip zero inputs, which is
    exact only for finite weights: others are refused."""
    weights = torch.cat([t.detach().reshape(-1) for t in parts]).contiguous()
    if not bool(torch.isfinite(weights).all()):
        raise PixelarError("the model has non-finite weights; sample it with method='fast'", param="method")
    return weights


def bias(bias: Tensor | None, weight: Tensor) -> Tensor:
    """A layer's bias, zeros where it has none: [out] for a weight [in, out]."""
    return weight.new_zeros(weight.shape[1]) if bias is None else bias


def pointer(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def check(condition: bool, what: str, kernel: str) -> None:
    """A ValueError unless ``condition``: what a kernel relies on, checked before it runs."""
    if not condition:
        raise ValueError(f"native {kernel} step: {what}")


def cached_map(
    conv: IncrementalConv, front: FrontPixels, shape: tuple[int, int, int], dtype: torch.dtype, kernel: str
) -> tuple[Tensor, int, int, int]:
    """A sampler's cached input map [L, batch, positions, features] where a kernel stores the
    front's values: (the buffer, its image stride, the front's first position and step), its
    (L, batch, features) checked against ``shape``."""
    buf, at = conv.buf, conv.where(front)
    layers, batch, features = shape
    check(buf.is_contiguous() and buf.dtype == dtype, "the cached maps: contiguous, of the dtype", kernel)
    check(tuple(buf.shape) == (layers, batch, buf.shape[2], features), "the cached maps' shape", kernel)
    check(at.stop <= buf.shape[2], "the front lies outside the cached maps", kernel)
    return buf, buf.stride(1), at.start, at.step


def call(fn: Any, dims: ctypes.Structure, *tensors: Tensor | None) -> None:
    """Run a kernel; its only failure is running out of memory."""
    if fn(ctypes.byref(dims), *(pointer(t) for t in tensors)):
        raise MemoryError("a native sampling kernel could not allocate its work space")
