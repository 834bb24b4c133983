"""The page coder's kernel (``pages.c``) through ctypes: the template network's integers (from
:func:`pixelar.portable.portable_model`), the adaptive stage's tables, and a :class:`PageKernel`
per page that gives the coding probabilities (16-bit integers) step by step or all at once.

Every table is built from exact or correctly rounded operations (:mod:`decimal`, integer
search), so a file's probabilities are the same on every machine and thread count.
"""

from __future__ import annotations

import ctypes
import decimal
from functools import cache
from typing import Any

import numpy as np

from pixelar.errors import PixelarError
from pixelar.native.build import load

LOGIT_MAX = 3071  # pages.c: the stretch domain, |logit| ≤ 12 nat in 1/256 nat
LIMIT_B = 1023  # pages.c: the largest count
MAX_HIDDEN = 512  # pages.c: the hidden layer's buffer
MAX_TAPS = 127  # pages.c: the cache key's bits
ONE = 65536  # probabilities are integers over 2^16

_I32 = ctypes.POINTER(ctypes.c_int32)
_I64 = ctypes.POINTER(ctypes.c_int64)
_I16 = ctypes.POINTER(ctypes.c_int16)


class Net(ctypes.Structure):
    """``struct net`` of pages.c."""

    _fields_ = [
        ("taps", ctypes.c_int),
        ("hidden", ctypes.c_int),
        ("dy", _I32),
        ("dx", _I32),
        ("w1", _I64),
        ("o1", _I64),
        ("s1", _I32),
        ("white", _I64),
        ("w2", ctypes.POINTER(ctypes.c_double)),
        ("o2", _I64),
        ("s2", _I32),
        ("w3", _I64),
        ("o3", ctypes.c_int64),
        ("s3", ctypes.c_int32),
        ("limit", ctypes.c_int64),
        ("squash", _I32),
        ("stretch", _I16),
        ("reciprocal", _I32),
        ("adapt", ctypes.c_int),
    ]


@cache
def squash_table() -> np.ndarray:
    """S[l + LOGIT_MAX] = round(2^16 / (1 + exp(−l/256))) clamped to [1, 2^16 − 1], for |l| ≤
    LOGIT_MAX (int32), with :mod:`decimal` at 50 digits: the same everywhere."""
    ctx = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)
    one = decimal.Decimal(1)
    values = []
    for logit in range(-LOGIT_MAX, LOGIT_MAX + 1):
        e = ctx.exp(ctx.divide(decimal.Decimal(-logit), decimal.Decimal(256)))
        p = ctx.divide(decimal.Decimal(ONE), ctx.add(one, e)).to_integral_value(decimal.ROUND_HALF_EVEN)
        values.append(min(max(int(p), 1), ONE - 1))
    return np.array(values, dtype=np.int32)


@cache
def stretch_table() -> np.ndarray:
    """T[p] = the smallest logit l with S[l] ≥ p (int16, 2^16 entries): squash's inverse."""
    index = np.searchsorted(squash_table(), np.arange(ONE), side="left")
    return (np.minimum(index, 2 * LOGIT_MAX) - LOGIT_MAX).astype(np.int16)


@cache
def reciprocal_table() -> np.ndarray:
    """R[n] = ⌊2^16 / (n + 1.5)⌋ = ⌊2^17 / (2n + 3)⌋ (int32): an adaptive probability's step."""
    n = np.arange(LIMIT_B + 1, dtype=np.int64)
    return (2**17 // (2 * n + 3)).astype(np.int32)


def _ptr(array: np.ndarray, kind: Any) -> Any:
    return array.ctypes.data_as(kind)


class TemplateIntegers:
    """A template network's integers for pages.c: tap offsets, weights, offsets and shifts of its
    three layers (the k×k mask-A layer, the head's hidden 1×1 and its output 1×1)."""

    def __init__(
        self,
        taps: np.ndarray,
        layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
        limit: int,
    ) -> None:
        (w1, o1, s1), (w2, o2, s2), (w3, o3, s3) = layers
        if len(taps) > MAX_TAPS or w1.shape[1] > MAX_HIDDEN:
            raise PixelarError(
                f"the page codec's kernel takes at most {MAX_TAPS} template pixels and {MAX_HIDDEN} features "
                f"(this model: {len(taps)} and {w1.shape[1]}); train a smaller template model",
                param="model",
            )
        self.arrays: dict[str, np.ndarray] = {
            "dy": np.ascontiguousarray(taps[:, 0], dtype=np.int32),
            "dx": np.ascontiguousarray(taps[:, 1], dtype=np.int32),
            **{name: np.ascontiguousarray(a, dtype=np.int64) for name, a in (("w1", w1), ("o1", o1))},
            "white": (np.asarray(o1, dtype=np.int64) + np.asarray(w1, dtype=np.int64).sum(0)),
            "w2": np.ascontiguousarray(w2, dtype=np.float64),
            **{name: np.ascontiguousarray(a, dtype=np.int64) for name, a in (("o2", o2), ("w3", w3[:, 0]))},
            "s1": np.ascontiguousarray(s1, dtype=np.int32),
            "s2": np.ascontiguousarray(s2, dtype=np.int32),
            "squash": squash_table(),
            "stretch": stretch_table(),
            "reciprocal": reciprocal_table(),
        }
        self.scalars = (int(o3[0]), int(s3[0]), limit)
        self.taps, self.hidden = len(taps), w1.shape[1]

    def net(self, adapt: bool) -> Net:
        a = self.arrays
        o3, s3, limit = self.scalars
        i32 = {k: _ptr(a[k], _I32) for k in ("dy", "dx", "s1", "s2", "squash", "reciprocal")}
        i64 = {k: _ptr(a[k], _I64) for k in ("w1", "o1", "white", "o2", "w3")}
        return Net(
            self.taps, self.hidden, **i32, **i64, o3=o3, s3=s3, limit=limit,
            stretch=_ptr(a["stretch"], _I16), w2=_ptr(a["w2"], ctypes.POINTER(ctypes.c_double)), adapt=int(adapt),
        )  # fmt: skip


def _library() -> ctypes.CDLL:
    lib = load("pages")
    if lib.pages_new.restype is not ctypes.c_void_p:
        lib.pages_new.restype = ctypes.c_void_p
        lib.pages_new.argtypes = [ctypes.POINTER(Net), ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.pages_free.argtypes = [ctypes.c_void_p]
        lib.pages_encode.restype = ctypes.c_int64
        lib.pages_encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, _I32, _I32]
        lib.pages_decode_step.restype = ctypes.c_int
        lib.pages_decode_step.argtypes = [ctypes.c_void_p, _I32, ctypes.POINTER(ctypes.c_double)]
        lib.pages_page.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.pages_logits.argtypes = [ctypes.c_void_p, ctypes.c_void_p, _I32]
    return lib


class PageKernel:
    """One page's coder state in pages.c: ``height`` × ``width`` coded in stripes of ``stripe``
    rows; ``adapt`` adds the adaptive stage; ``cache`` keeps the network's logit per template."""

    def __init__(
        self, integers: TemplateIntegers, height: int, width: int, stripe: int, adapt: bool, cache: bool = True
    ) -> None:
        self.lib = _library()
        self.integers = integers  # keeps the arrays alive
        self.net = integers.net(adapt)
        self.shape = (height, width)
        self.stripes = -(-height // stripe)
        if not (1 <= stripe <= height <= 2**16 and 1 <= width <= 2**16):
            raise PixelarError(f"a {height}×{width} page in stripes of {stripe} rows is out of the kernel's range")
        self.handle = self.lib.pages_new(ctypes.byref(self.net), height, width, stripe, int(cache))
        if not self.handle:
            raise PixelarError(f"out of memory for a {height}×{width} page")
        self.p = np.zeros(self.stripes, dtype=np.float64)
        self.bits = np.zeros(self.stripes, dtype=np.int32)
        self._p, self._bits = _ptr(self.p, ctypes.POINTER(ctypes.c_double)), _ptr(self.bits, _I32)  # made once
        self.last = 0  # pixels of the previous step

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            self.lib.pages_free(self.handle)
            self.handle = None

    def _page(self, page: np.ndarray) -> np.ndarray:
        if page.shape != self.shape:
            raise PixelarError(f"the page is {page.shape}, the kernel {self.shape}")
        return np.ascontiguousarray(page, dtype=np.uint8)

    def encode(self, page: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every pixel's probability of black (int32 over 2^16) and the pixels, in coding order."""
        page = self._page(page)
        p = np.empty(page.size, dtype=np.int32)
        bits = np.empty(page.size, dtype=np.int32)
        done = self.lib.pages_encode(self.handle, page.ctypes.data, _ptr(p, _I32), _ptr(bits, _I32))
        assert done == page.size
        return p, bits

    def step(self, bits: np.ndarray) -> np.ndarray:
        """Hand in the previous step's pixels (ignored at the first step); this step's
        probabilities of black as floats, p / 2^16 (a view, valid until the next call; empty
        after the last step)."""
        if self.last:
            if len(bits) != self.last:
                raise PixelarError(f"the page kernel takes the previous step's {self.last} pixels, got {len(bits)}")
            self.bits[: self.last] = bits
        n = self.lib.pages_decode_step(self.handle, self._bits, self._p)
        self.last = n
        return self.p[:n]

    def page(self) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.uint8)
        self.lib.pages_page(self.handle, out.ctypes.data)
        return out

    def logits(self, page: np.ndarray) -> np.ndarray:
        """The network's integer logit at every pixel, teacher-forced ([H, W] int32)."""
        page = self._page(page)
        out = np.empty(self.shape, dtype=np.int32)
        self.lib.pages_logits(self.handle, page.ctypes.data, _ptr(out, _I32))
        return out
