"""Figures drawn with matplotlib off-screen and returned as PIL images (the ``plots`` extra).

No pyplot: each figure is its own object with its own canvas, so figures can be drawn from
several threads (a web server) without touching matplotlib's global state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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
    """A matplotlib figure rendered to an RGB PIL image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
