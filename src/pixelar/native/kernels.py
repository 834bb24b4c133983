"""What every native sampling kernel's ctypes glue shares: ``struct front`` (front.h), a
library's functions for a dtype, the weights packed into one vector, the sampler's cached maps
the kernels write, ``store_pixels`` (linear.h), and the checks that keep a kernel inside the
tensors it is given. What is fixed for a sampler (its images' shape, its maps, its class
biases) is checked once, when the kernels are made; what changes per step, at each call."""

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


class Images:
    """The images a sampler fills, [batch, C, H, W] contiguous int64 levels of ``num_levels``:
    the fixed part of every step's :class:`Front`, and the per-step check of ``x`` and the front."""

    def __init__(self, shape: tuple[int, int, int, int], num_levels: int, kernel: str) -> None:
        self.shape, self.kernel = shape, kernel
        _, colors, height, width = shape
        self.size = height * width
        self.front = Front(0, 0, colors * height * width, height * width, 0, 1, 2.0 / (num_levels - 1))

    def at(self, x: Tensor, front: FrontPixels) -> Front:
        """The step's :class:`Front` (the same object, updated) for images x at ``front``."""
        check(
            x.shape == self.shape and x.dtype == torch.int64 and x.is_contiguous() and x.device.type == "cpu",
            f"x: contiguous int64 images {list(self.shape)} on the CPU",
            self.kernel,
        )
        where = front.flat(self.shape[3])
        check_span(where, front.count, self.size, "the front lies outside the images", self.kernel)
        f = self.front
        f.n, f.count, f.x_start, f.x_step = self.shape[0] * front.count, front.count, where.start, where.step
        return f


class CachedMap:
    """A sampler's cached input map [L, batch, positions, features] (an IncrementalConv's
    buffer) that a kernel writes at a front's positions, its shape checked once."""

    def __init__(self, conv: IncrementalConv, shape: tuple[int, int, int], dtype: torch.dtype, kernel: str) -> None:
        self.conv, self.buf, self.kernel = conv, conv.buf, kernel
        layers, batch, features = shape
        check(self.buf.is_contiguous() and self.buf.dtype == dtype, "the cached maps: contiguous, of the dtype", kernel)
        check(tuple(self.buf.shape) == (layers, batch, self.buf.shape[2], features), "the cached maps' shape", kernel)
        self.layer, self.image = self.buf.stride(0), self.buf.stride(1)

    def at(self, front: FrontPixels) -> tuple[int, int]:
        """(first position, step) of the front's pixels in the map."""
        check(self.conv.buf is self.buf, "the cached map was replaced after the kernels were made", self.kernel)
        where = self.conv.where(front)
        check_span(where, front.count, self.buf.shape[2], "the front lies outside the cached maps", self.kernel)
        return where.start, where.step


def library_function(library: str, name: str, dtype: torch.dtype, argtypes: list[Any]) -> Any:
    """``<name>_<f32|f64>`` of the library built from ``<library>.c``, returning an int."""
    if dtype not in SUFFIXES:
        raise PixelarError(
            f"method='compiled' runs float32 or float64 models, not {dtype}; use method='fast'", param="method"
        )
    fn = getattr(load(library), f"{name}_{SUFFIXES[dtype]}")
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return fn


def function(library: str, dtype: torch.dtype, dims: type[ctypes.Structure], pointers: int) -> Any:
    """The kernel ``<library>_<f32|f64>``: a pointer to ``dims``, then ``pointers`` pointers."""
    return library_function(library, library, dtype, [ctypes.POINTER(dims)] + [ctypes.c_void_p] * pointers)


class PixelStore:
    """``store_pixels`` of a kernel library: a front's pixels (every channel, scaled) written to
    the first layer's cached map in one call — a sampler's ``write_input``."""

    def __init__(self, library: str, images: Images, first: CachedMap, dtype: torch.dtype) -> None:
        args = [ctypes.POINTER(Front), ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self.fn = library_function(library, "store_pixels", dtype, [*args, *[ctypes.c_int64] * 3, ctypes.c_void_p])
        self.images, self.first = images, first
        batch, colors, height, width = images.shape
        self.colors = colors
        self.work = torch.empty(batch * colors * height * width, dtype=dtype)  # every pixel at most

    def __call__(self, x: Tensor, front: FrontPixels) -> None:
        f = self.images.at(x, front)  # distinct positions within an image: n ≤ batch·H·W
        start, step = self.first.at(front)
        self.fn(
            ctypes.byref(f),
            x.data_ptr(),
            self.colors,
            self.first.buf.data_ptr(),
            self.first.image,
            start,
            step,
            self.work.data_ptr(),
        )


class ConvWindow(ctypes.Structure):
    """``struct conv_window`` of front.h."""

    _fields_ = [
        *[(name, ctypes.c_int) for name in ("layers", "in_", "out", "rows", "cols")],
        *[(name, ctypes.c_int64) for name in ("layer", "image", "start", "step", "width")],
    ]


class ContextKernel:
    """``conv_context`` of a kernel library: :meth:`IncrementalConv.context
    <pixelar.incremental.IncrementalConv.context>` in one call — every layer of the stack at a
    front's pixels from every tap but the centre, read from its cached input map."""

    def __init__(self, library: str, conv: IncrementalConv, images: Images, kernel: str) -> None:
        layers, _, positions, cin = conv.buf.shape
        self.map = CachedMap(conv, (layers, images.shape[0], cin), conv.buf.dtype, kernel)  # checked, kept
        args = [ctypes.POINTER(Front), ctypes.POINTER(ConvWindow), *[ctypes.c_void_p] * 4]
        self.fn = library_function(library, "conv_context", conv.buf.dtype, args)
        self.conv, self.images, self.kernel = conv, images, kernel
        self.weight = conv.context_weight.contiguous()  # [L, taps·in, out]
        self.bias = None if conv.bias is None else conv.bias.reshape(layers, -1).contiguous()  # [L, out]
        rows, cols = conv.pad_top + 1, conv.kw
        check(tuple(self.weight.shape[:2]) == (layers, rows * cols * cin), "the context weights", kernel)
        self.positions, self.out = positions, self.weight.shape[2]
        self.window = ConvWindow(layers, cin, self.out, rows, cols, self.map.layer, self.map.image, 0, 0, conv.width)
        self.front = Front(0, 0, 0, 0, 0, 0, 0.0)
        self.pointers = (self.map.buf.data_ptr(), self.weight.data_ptr(), pointer(self.bias))

    def __call__(self, front: FrontPixels) -> Tensor:
        """Every layer's output at the front's pixels without the centre tap: [L, batch·count, out]."""
        window, width = self.window, self.conv.width
        check(self.conv.buf is self.map.buf, "the cached map was replaced after the kernels were made", self.kernel)
        # the windows' top-left positions, and the last window's end
        where = slice(front.h0 * width + front.w0, None, front.flat(width).step)
        extent = self.positions - (window.rows - 1) * width - window.cols + 1
        check_span(where, front.count, extent, "the front's windows lie outside the map", self.kernel)
        window.start, window.step = where.start, where.step
        n = self.images.shape[0] * front.count
        self.front.n, self.front.count = n, front.count
        result = self.weight.new_empty(window.layers, n, self.out)
        if self.fn(ctypes.byref(self.front), ctypes.byref(window), *self.pointers, result.data_ptr()):
            raise MemoryError("a native sampling kernel could not allocate its work space")
        return result


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


def check_span(where: slice, count: int, size: int, what: str, kernel: str) -> None:
    """A ValueError unless the ``count`` positions where.start + k·where.step lie in [0, size)."""
    step = where.step if count > 1 else 1
    check(count >= 1 and where.start >= 0 and step >= 1 and where.start + (count - 1) * step < size, what, kernel)


def check(condition: bool, what: str, kernel: str) -> None:
    """A ValueError unless ``condition``: what a kernel relies on, checked before it runs."""
    if not condition:
        raise ValueError(f"native {kernel} step: {what}")


def call(fn: Any, dims: ctypes.Structure, *pointers: int | None) -> None:
    """Run a kernel on data pointers (:func:`pointer`); its only failure is running out of memory."""
    if fn(ctypes.byref(dims), *pointers):
        raise MemoryError("a native sampling kernel could not allocate its work space")
