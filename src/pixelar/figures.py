"""Figures drawn with matplotlib off-screen and returned as PIL images (the ``plots`` extra).

No pyplot: each figure is its own object with its own canvas, so figures can be drawn from
several threads (a web server) without touching matplotlib's global state.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from pixelar.errors import PixelarError


def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """An empty matplotlib ``Figure`` of ``width`` × ``height`` inches, with constrained layout."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PixelarError("this figure needs matplotlib: pip install 'pixelar[plots]'") from None
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def figure_image(figure: Any) -> Image.Image:
    """A matplotlib figure rendered to an RGB PIL image, cropped to what it draws (titles included)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.08, facecolor="white")
    buffer.seek(0)
    with Image.open(buffer) as picture:
        return picture.convert("RGB")
