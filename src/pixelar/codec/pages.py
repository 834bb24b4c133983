"""The page codec: bilevel pages (fax, scanned documents) coded with a *template model* — a
2-level, 1-channel PixelCNN with ``num_layers=0``, whose conditionals read only its k×k mask-A
template (k//2 rows above, k//2 pixels to the left) — plus an exact adaptive stage that learns
the page while it is coded, as JBIG (ITU T.82) does.

* Encoding is one teacher-forced pass: every probability of the page at once, in C
  (``pixelar/native/pages.c``), then one call to the entropy coder (``constriction``'s ANS
  coder, which the encoder, knowing every probability, fills in reverse; it costs a few bytes a
  page over the ideal size, where a range coder costs about 0.7% on these pages).
* Decoding is sequential, in horizontal stripes of ``stripe`` rows decoded together, one batch
  per step: ``stripe × W`` steps, each one kernel call and one decoder call. Each stripe's
  template context starts fresh at its top row (the rows above are the convolution's padding);
  the adaptive stage is shared by all stripes, updated in a fixed order (stripe by stripe, step
  by step), so the stripes are independent for the network but decoded together.
* The network runs in the integers of :mod:`pixelar.portable`, the adaptive stage in integers
  too, so a file decodes bit for bit on every machine, process and thread count.

File layout ("varint" an unsigned LEB128 integer)::

    b"PXPG" | version u8 | flags u8 (bit 0: adaptive) | model id (8 bytes)
    | H varint | W varint | stripe varint | check (4 bytes) | payload

The model id is the first 8 bytes of :func:`~pixelar.codec.fingerprint.model_fingerprint`;
the check the first 4 bytes of SHA-256 of the page's bits (``np.packbits``, row-major); the
payload the ANS coder's 32-bit words, big-endian.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from pixelar.codec.fingerprint import model_fingerprint
from pixelar.codec.format import _read_varint, _varint
from pixelar.codec.rangecoder import _coder, _constriction, _words
from pixelar.errors import PixelarError
from pixelar.native.pages import ONE, PageKernel, TemplateIntegers

if TYPE_CHECKING:
    from pixelar.models.base import AutoregressiveModel

PAGE_MAGIC = b"PXPG"
PAGE_VERSION = 1
FLAG_ADAPT = 1
ID_SIZE = 8
CHECK_BYTES = 4
DEFAULT_STRIPE = 1024  # rows per stripe: the largest that decodes a fax page well inside 20 s (bench_documents.py)
MAX_PIXELS = 2**27  # a file claiming more is refused before any work
MAX_SIDE = 2**16
DEFAULT_PAGE_MODEL = "ccitt-pages"  # the shipped page model (pixelar.pretrained)


def is_template_model(model: AutoregressiveModel) -> bool:
    """Whether the page codec takes ``model``: an unconditional 1-channel 2-level (Bernoulli)
    PixelCNN with ``num_layers=0``."""
    from pixelar.distributions import Bernoulli
    from pixelar.models.pixelcnn import PixelCNN

    return (
        isinstance(model, PixelCNN)
        and model.config.num_layers == 0
        and isinstance(model.distribution, Bernoulli)
        and model.image_shape[0] == 1
        and model.num_levels == 2
        and not model.num_classes
    )


def template_integers(model: AutoregressiveModel) -> TemplateIntegers:
    """The integers pages.c runs for a template model; a one-line error for any other model."""
    from pixelar.portable import LIMIT_BITS, portable_model

    if not is_template_model(model):
        raise PixelarError(
            f"the page codec needs a template model (an unconditional 1-channel 2-level PixelCNN with num_layers=0), "
            f"not this {model.model_name} with {model.image_shape[0]} channel(s) and {model.num_levels} levels; "
            "pass one (pretrained 'ccitt-pages') or code the image with the general codec (pixelar.codec.encode)",
            param="model",
        )
    net = portable_model(model)
    first, (hidden, out) = net.first, net.head

    def arrays(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        shifts = -np.log2(layer.scale.numpy())
        return layer.weight.numpy(), layer.offset.numpy(), np.round(shifts).astype(np.int64)

    w1, o1, s1 = arrays(first)
    rows = np.flatnonzero(np.abs(w1).sum(1))
    taps = np.stack([rows // first.kw - (first.kh - 1), rows % first.kw - first.kw // 2], 1)
    return TemplateIntegers(taps, [(w1[rows], o1, s1), arrays(hidden), arrays(out)], 2**LIMIT_BITS)


def _kernel(model: AutoregressiveModel, shape: tuple[int, int], stripe: int, adapt: bool) -> PageKernel:
    """The page kernel for ``model`` on a page of ``shape`` in stripes of ``stripe`` rows (at
    most the page's height: see :func:`stripe_rows`)."""
    key = model_fingerprint(model)  # the same weights: the same integers
    cached = getattr(model, "_page_integers", None)
    if cached is None or cached[0] != key:
        cached = (key, template_integers(model))
        model._page_integers = cached  # type: ignore[assignment]
    return PageKernel(cached[1], shape[0], shape[1], stripe, adapt)


def stripe_rows(stripe: int, height: int) -> int:
    """The stripe height a page of ``height`` rows is coded with: ``stripe``, at most ``height``."""
    if isinstance(stripe, bool) or not isinstance(stripe, int) or stripe < 1:
        raise PixelarError(f"stripe must be a whole number of rows, at least 1, got {stripe!r}", param="stripe")
    return min(stripe, height)


def as_page(page: np.ndarray) -> np.ndarray:
    """A bilevel page as uint8 [H, W] of 0 (white) and 1 (black); a one-line error otherwise."""
    page = np.asarray(page)
    if page.ndim == 3 and page.shape[0] == 1:
        page = page[0]
    if page.ndim != 2 or page.size == 0:
        raise PixelarError(f"a page is a 2-D array [H, W] of 0 and 1, got shape {page.shape}")
    if page.shape[0] > MAX_SIDE or page.shape[1] > MAX_SIDE or page.size > MAX_PIXELS:
        raise PixelarError(
            f"a page has at most {MAX_SIDE} pixels a side and {MAX_PIXELS:,} in all, got {page.shape}; cut it up"
        )
    if page.dtype == bool or (np.issubdtype(page.dtype, np.integer) and page.min() >= 0 and page.max() <= 1):
        return np.ascontiguousarray(page, dtype=np.uint8)
    raise PixelarError("a page holds 0 (white) and 1 (black) only; threshold it first")


def _levels(page: np.ndarray) -> np.ndarray:
    """A page (1 = black) as the model's levels (0 = black, 1 = white: the intensities that
    images, and so the training tiles, use)."""
    return np.ascontiguousarray(1 - page, dtype=np.uint8)


def _check(page: np.ndarray) -> bytes:
    return hashlib.sha256(np.packbits(page).tobytes()).digest()[:CHECK_BYTES]


def page_bits(model: AutoregressiveModel, page: np.ndarray, stripe: int = DEFAULT_STRIPE, adapt: bool = True) -> float:
    """The ideal size in bits of ``page`` coded as :func:`compress_page` codes it."""
    levels = _levels(as_page(page))
    p, bits = _kernel(model, levels.shape, stripe_rows(stripe, levels.shape[0]), adapt).encode(levels)
    chosen = np.where(bits == 1, p, ONE - p).astype(np.float64) / ONE
    return float(-np.log2(chosen).sum())


def compress_page(
    model: AutoregressiveModel, page: np.ndarray, stripe: int = DEFAULT_STRIPE, adapt: bool = True
) -> bytes:
    """Compress a bilevel page (uint8 [H, W], 1 = black) with a template model, in stripes of
    ``stripe`` rows (at most H); ``adapt`` adds the adaptive stage."""
    page = as_page(page)
    stripe = stripe_rows(stripe, page.shape[0])
    p, bits = _kernel(model, page.shape, stripe, adapt).encode(_levels(page))
    encoder = _constriction().stream.stack.AnsCoder()
    encoder.encode_reverse(bits, _family(), p.astype(np.float64) / ONE)
    head = PAGE_MAGIC + bytes([PAGE_VERSION, FLAG_ADAPT if adapt else 0])
    head += bytes.fromhex(model_fingerprint(model))[:ID_SIZE]
    head += _varint(page.shape[0]) + _varint(page.shape[1]) + _varint(stripe) + _check(page)
    return head + encoder.get_compressed().astype(">u4").tobytes()


def _family() -> Any:
    return _constriction().stream.model.Bernoulli(perfect=False)


@dataclass(frozen=True)
class PageHeader:
    """What a page file says before its payload."""

    adapt: bool
    model_id: str  # hex
    height: int
    width: int
    stripe: int
    check: bytes
    start: int  # where the payload begins


def is_page_file(data: bytes) -> bool:
    return data[: len(PAGE_MAGIC)] == PAGE_MAGIC


def read_page_header(data: bytes) -> PageHeader:
    """The header of a page file; a one-line error for anything else or a damaged header."""
    if not is_page_file(data):
        raise PixelarError("not a pixelar page file (no PXPG magic); is it a .pxz of images? decode it with a model")
    fixed = len(PAGE_MAGIC) + 2 + ID_SIZE
    if len(data) < fixed + 3 + CHECK_BYTES:
        raise PixelarError("the page file is truncated (its header is incomplete)")
    version, flags = data[4], data[5]
    if version != PAGE_VERSION or flags & ~FLAG_ADAPT:
        raise PixelarError(
            f"page file version {version} (flags {flags}) is not one this pixelar reads; upgrade pixelar"
        )
    model_id = data[6:fixed].hex()
    pos = fixed
    try:
        height, pos = _read_varint(data, pos)
        width, pos = _read_varint(data, pos)
        stripe, pos = _read_varint(data, pos)
    except (IndexError, PixelarError):
        raise PixelarError("the page file is truncated or corrupt (its header cannot be read)") from None
    if (
        not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and 1 <= stripe <= height)
        or height * width > MAX_PIXELS
    ):
        raise PixelarError(f"the page file claims a {height}×{width} page in stripes of {stripe}: corrupt, refused")
    check = data[pos : pos + CHECK_BYTES]
    if len(check) < CHECK_BYTES:
        raise PixelarError("the page file is truncated (its header is incomplete)")
    return PageHeader(bool(flags & FLAG_ADAPT), model_id, height, width, stripe, check, pos + CHECK_BYTES)


def decompress_page(model: AutoregressiveModel, data: bytes, progress: bool = False) -> np.ndarray:
    """The page (uint8 [H, W], 1 = black) of a file :func:`compress_page` wrote with ``model``."""
    header = read_page_header(data)
    own = model_fingerprint(model)[: 2 * ID_SIZE]
    if header.model_id != own:
        raise PixelarError(
            f"the page file was compressed with model {header.model_id}, not this one ({own}); pass that model"
        )
    kernel = _kernel(model, (header.height, header.width), header.stripe, header.adapt)
    decoder = _coder(_constriction().stream.stack.AnsCoder, _words(data[header.start :]))
    family = _family()
    bits = np.zeros(kernel.stripes, dtype=np.int32)
    width = header.width
    with tqdm(total=header.height * width, unit="px", unit_scale=True, disable=not progress, desc="decoding") as bar:
        done, step = 0, 0
        while len(p := kernel.step(bits)):
            bits = _coder(decoder.decode, family, p)
            done, step = done + len(p), step + 1
            if step % width == 0:
                bar.update(done - bar.n)
        bar.update(done - bar.n)
    page = _levels(kernel.page())
    if _check(page) != header.check:
        raise PixelarError("the page file is corrupt: the decoded page fails its check")
    return page
