"""compress and decompress for bilevel pages (:mod:`pixelar.codec.pages`): with no model given,
the shipped page model (:data:`~pixelar.codec.pages.DEFAULT_PAGE_MODEL`) codes a black-and-white
image; a template model given as RUN_OR_DIR codes it the same way."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pixelar.checkpoint import atomic_write
from pixelar.cli.flags import resolve_device
from pixelar.codec.pages import DEFAULT_PAGE_MODEL, compress_page, decompress_page, is_template_model
from pixelar.data.documents import read_bilevel, write_bilevel
from pixelar.errors import PixelarError
from pixelar.loading import load
from pixelar.models.base import AutoregressiveModel
from pixelar.pretrained import pretrained_dir

GENERAL = (
    "the page model codes black-and-white images only: for grey or colour images pass a model trained on them, "
    "`pixelar compress RUN_OR_DIR {path}` (pixelar list pretrained)"
)


def page_model(run: str | None, device: str) -> AutoregressiveModel:
    """The model named by RUN_OR_DIR, or the shipped page model, on --device."""
    if run is None and pretrained_dir(DEFAULT_PAGE_MODEL) is None:
        raise PixelarError(
            f"the page model {DEFAULT_PAGE_MODEL!r} is not installed; reinstall pixelar, or pass a model"
        )
    return load(run or DEFAULT_PAGE_MODEL, device=resolve_device(device))


def compress_pages(args: argparse.Namespace, model: AutoregressiveModel) -> int:
    """``pixelar compress [RUN] page.png -o page.pxz`` with a template model."""
    if len(args.images) != 1:
        raise PixelarError(
            f"the page codec compresses one page per file, got {len(args.images)} images; run it per page"
        )
    path = args.images[0]
    try:
        page = read_bilevel(path, exact=True)
    except PixelarError as e:
        if "other than pure black and white" in str(e):
            raise PixelarError(f"{e}; {GENERAL.format(path=path)}") from None
        raise
    start = time.perf_counter()
    data = compress_page(model, page, stripe=args.stripe)
    seconds = time.perf_counter() - start
    atomic_write(args.output, lambda tmp: Path(tmp).write_bytes(data))
    print(
        f"compressed a {page.shape[0]}×{page.shape[1]} page into {len(data)} bytes "
        f"({8 * len(data) / page.size:.4f} bits/pixel) in {seconds:.1f} s -> {args.output}"
    )
    return 0


def decompress_pages(args: argparse.Namespace, data: bytes) -> int:
    """``pixelar decompress [RUN] page.pxz``: the page as a PNG in the -o directory."""
    model = page_model(args.run, args.device)
    if not is_template_model(model):
        raise PixelarError(f"{args.file} is a page file and {args.run} no page model; drop it or pass the page model")
    start = time.perf_counter()
    page = decompress_page(model, data, progress=True)
    seconds = time.perf_counter() - start
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PixelarError(f"cannot create the directory {out} ({e.strerror}); pass another one with -o") from None
    target = out / f"{Path(args.file).stem}.png"
    write_bilevel(page, target)
    print(f"decompressed a {page.shape[0]}×{page.shape[1]} page in {seconds:.1f} s into {target}")
    return 0
