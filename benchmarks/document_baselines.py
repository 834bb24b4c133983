"""Classical lossless codecs on bilevel document pages: the bytes of each page under JBIG, CCITT
Group 4, PNG, WebP and JPEG XL, each round trip verified.

    python benchmarks/document_baselines.py [--data-dir DIR]

:data:`BASELINES` maps a codec's name to a function of a page (uint8 [H, W], 1 = black ink,
0 = white paper) that returns the bytes of its file:

- JBIG: jbigkit's reference encoder, ``pbmtojbg -q page.pbm page.jbg`` (T.82 with its defaults:
  one layer, sequential, typical prediction off, adaptive template), run from the jbigkit kept
  in ``ccitt/jbigkit`` of the data directory by ``python benchmarks/fetch_data.py --sets ccitt``;
  decoded back with its ``jbgtopbm``;
- CCITT G4: Pillow's TIFF with ``compression="group4"`` (libtiff), the whole TIFF file;
- PNG: Pillow, mode "1" (1 bit per pixel), ``optimize=True``;
- WebP: Pillow, lossless, method 6, on the 8-bit grey (0/255) page;
- JPEG XL: imagecodecs, lossless, effort 9, on the page's own uint8 0/1 array (0 = white): on
  every CCITT page smaller than on the 0/255 grey page, 267,810 against 271,925 bytes in all.

PNG, WebP and JPEG XL are the helpers of ``bench_codec_real.py`` (on 0/255 grey images there).
Run as a script, it prints the bytes of the eight CCITT pages (``load_ccitt_pages``) per codec.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench_codec_real import jxl, png, webp
from fetch_data import CCITT_AGAIN, jbigkit, jbigkit_dir
from pixelar.data import cache_dir, load_ccitt_pages, read_bilevel, write_bilevel
from pixelar.errors import PixelarError


def grey(page: np.ndarray) -> np.ndarray:
    """The page as an 8-bit grey image: black 0, white 255."""
    return ((1 - page) * 255).astype(np.uint8)


def jbig(page: np.ndarray, data_dir: str | Path | None = None) -> int:
    """Bytes of ``page`` under jbigkit's ``pbmtojbg -q``, decoded back by its ``jbgtopbm`` and compared."""
    folder = jbigkit_dir(cache_dir(data_dir))
    encode, env = jbigkit("pbmtojbg", folder)
    decode, _ = jbigkit("jbgtopbm", folder)
    if not Path(encode[0]).is_file() or not Path(decode[0]).is_file():
        raise PixelarError(f"jbigkit's pbmtojbg and jbgtopbm are not in {folder / 'bin'}; run `{CCITT_AGAIN}`")
    with tempfile.TemporaryDirectory(prefix="pixelar-jbig-") as work:
        pbm, jbg, back = Path(work) / "page.pbm", Path(work) / "page.jbg", Path(work) / "back.pbm"
        write_bilevel(page, pbm)
        for command in ([*encode, "-q", str(pbm), str(jbg)], [*decode, str(jbg), str(back)]):
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no message"]
                raise PixelarError(f"`{' '.join(command)}` failed ({why[0]}); run `{CCITT_AGAIN}` again")
        assert np.array_equal(read_bilevel(back), page), "JBIG round trip failed"
        return jbg.stat().st_size


def group4(page: np.ndarray) -> int:
    """Bytes of the TIFF file that holds ``page`` in CCITT Group 4 (Pillow, libtiff)."""
    buf = io.BytesIO()
    Image.fromarray(page == 0).save(buf, format="TIFF", compression="group4")
    with Image.open(io.BytesIO(buf.getvalue())) as image:
        assert image.info.get("compression") == "group4", "Pillow wrote no Group 4 TIFF"
        assert np.array_equal(np.asarray(image) == 0, page.astype(bool)), "CCITT G4 round trip failed"
    return len(buf.getvalue())


BASELINES: dict[str, Callable[[np.ndarray], int]] = {
    "JBIG": jbig,
    "CCITT G4": group4,
    "PNG": lambda page: png(grey(page)),
    "WebP": lambda page: webp(grey(page)),
    "JPEG XL": lambda page: jxl(np.ascontiguousarray(page, dtype=np.uint8), effort=9),
}


def table(sizes: dict[str, list[int]]) -> str:
    """Markdown: one row per codec, its bytes per page and in all."""
    pages = len(next(iter(sizes.values())))
    head = ["codec", *(f"page {i}" for i in range(1, pages + 1)), "total"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, row in sizes.items():
        lines.append("| " + " | ".join([name, *(f"{n:,}" for n in row), f"{sum(row):,}"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="the data directory (default $PIXELAR_DATA_DIR, else the cache)")
    a = p.parse_args(argv)
    try:
        pages = load_ccitt_pages(a.data_dir)
        sizes = {
            name: [jbig(page, a.data_dir) if name == "JBIG" else codec(page) for page in pages]
            for name, codec in BASELINES.items()
        }
    except PixelarError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    height, width = pages[0].shape
    print(
        f"Bytes of the {len(pages)} CCITT pages ({width}×{height}, 1 bit per pixel: {height * width // 8:,} bytes raw):\n"
    )
    print(table(sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
