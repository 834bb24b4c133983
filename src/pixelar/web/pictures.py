"""The pictures the web app sends: a model's images as PNG data URLs, 1:1 pixels (the page
scales them), and the images of a sampling frame so far."""

from __future__ import annotations

import base64
import io

from PIL import Image
from torch import Tensor

from pixelar.web.watch import Frame


def png_url(img: Image.Image) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def picture(image: Tensor, num_levels: int) -> Image.Image:
    """One integer image [C, H, W] as a picture (1:1 pixels; the page scales it)."""
    from pixelar.plotting import tile, to_uint8

    return tile(to_uint8(image[None], num_levels), nrow=1, scale=1, pad=0)


def frame_picture(frame: Frame, num_levels: int) -> Image.Image:
    """The images so far in a grid, sub-pixels not drawn yet in mid grey."""
    from pixelar.plotting import tile, to_uint8

    arr = to_uint8(frame.images, num_levels)
    arr[~frame.drawn.permute(0, 2, 3, 1).numpy()] = 128
    return tile(arr, scale=1)
