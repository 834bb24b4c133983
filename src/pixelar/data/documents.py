"""Bilevel document images: the eight CCITT fax test pages, and reading and writing black-and-white files.

Arrays here are uint8 [H, W] with 1 = black (ink) and 0 = white (paper), the convention of fax
and JBIG coding. Files are read and written with Pillow: mode "1" files (PBM, PNG, TIFF) store
white as 1 and black as 0, so every read and write inverts.

The CCITT pages are the eight 1728×2376 test documents of ITU-T T.4 (200 dpi fax), shipped
JBIG-coded in Debian's ``jbigkit-testdata``; ``python benchmarks/fetch_data.py --sets ccitt``
decodes them to ``ccitt1.pbm`` … ``ccitt8.pbm`` in the ``ccitt/`` folder of the data directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelar.checkpoint import atomic_write
from pixelar.data.download import cache_dir
from pixelar.errors import PixelarError

CCITT_FOLDER = "ccitt"
CCITT_PAGES = 8
CCITT_FETCH = "python benchmarks/fetch_data.py --sets ccitt"


def ccitt_dir(data_dir: str | Path | None = None) -> Path:
    """The folder that holds ``ccitt1.pbm`` … ``ccitt8.pbm``: ``ccitt/`` in the data directory."""
    return cache_dir(data_dir) / CCITT_FOLDER


def read_bilevel(path: str | Path, exact: bool = False) -> np.ndarray:
    """The black-and-white image at ``path`` (anything Pillow opens: PBM, PNG, TIFF, …) as uint8
    [H, W] with 1 = black, 0 = white.

    A bilevel (mode "1") file is read as it is. Another image (grey, palette, colour) is
    converted to grey and must hold at most 2 grey levels: the darker is black, the lighter
    white (one level alone: white if it is at least 128, else black). More levels are an error,
    as is a file that is no image. With ``exact``, a file that is not mode "1" must hold pure
    black and pure white only (no grey, colour or transparency), so that nothing is lost.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "1":
                return (np.asarray(image) == 0).astype(np.uint8)
            if exact:
                rgba = np.asarray(image.convert("RGBA"))
                pure = (rgba[..., 3] == 255) & ((rgba[..., :3] == 0).all(-1) | (rgba[..., :3] == 255).all(-1))
                if not pure.all():
                    raise PixelarError(
                        f"{path} holds colours other than pure black and white ({int((~pure).sum())} pixels)"
                    )
                return (rgba[..., 0] == 0).astype(np.uint8)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            grey = np.asarray(image.convert("RGBA").convert("L") if has_alpha else image.convert("L"))
    except FileNotFoundError:
        raise PixelarError(f"{path} does not exist; pass the path of an image file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise PixelarError(f"cannot read {path} as an image ({e}); pass a PBM, PNG or TIFF file") from None
    levels = np.unique(grey)
    if len(levels) > 2:
        raise PixelarError(
            f"{path} has {len(levels)} grey levels, not a black-and-white image; threshold it to 2 levels "
            "(e.g. `convert IN -threshold 50% OUT.png`, or Pillow's .convert('1', dither=Image.Dither.NONE))"
        )
    if len(levels) == 2:
        return (grey == levels[0]).astype(np.uint8)
    return (grey < 128).astype(np.uint8)


def write_bilevel(array: np.ndarray, path: str | Path) -> Path:
    """Write ``array`` (uint8 or bool [H, W], 1 = black, 0 = white) as a bilevel (mode "1") image
    file at ``path``, in the format its suffix names (.png, .pbm, .tif, …), atomically;
    :func:`read_bilevel` gives the array back. Returns ``path``."""
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        raise PixelarError(f"a bilevel image is a non-empty 2-D array [H, W], not shape {array.shape}; pass one page")
    values = np.unique(array)
    if not np.isin(values, (0, 1)).all():
        raise PixelarError(
            f"a bilevel image holds only 0 (white) and 1 (black), not {values[~np.isin(values, (0, 1))][:5].tolist()}; "
            "threshold it first (e.g. array = (grey < 128).astype('uint8'))"
        )
    image = Image.fromarray(array == 0)  # a bool array gives mode "1"; white (True) is 1 there
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise PixelarError(f"cannot tell an image format from {path.name}; end the name with .png, .pbm or .tif")
    return atomic_write(path, lambda tmp: image.save(tmp, format=fmt))


def load_ccitt_pages(data_dir: str | Path | None = None) -> list[np.ndarray]:
    """The eight CCITT fax test pages, uint8 [2376, 1728] each with 1 = black (ink), 0 = white,
    read from ``ccitt1.pbm`` … ``ccitt8.pbm`` in the ``ccitt/`` folder of the data directory
    (``data_dir``, else $PIXELAR_DATA_DIR, else the cache; see :func:`ccitt_dir`)."""
    folder = ccitt_dir(data_dir)
    paths = [folder / f"ccitt{page}.pbm" for page in range(1, CCITT_PAGES + 1)]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        which = "none of ccitt1.pbm … ccitt8.pbm" if len(missing) == CCITT_PAGES else ", ".join(missing)
        raise PixelarError(
            f"the CCITT test pages are missing from {folder} ({which}); fetch them with `{CCITT_FETCH}` "
            "(needs apt-get and dpkg-deb, as on Debian or Ubuntu), or pass data_dir",
            param="data_dir",
        )
    return [read_bilevel(path) for path in paths]
