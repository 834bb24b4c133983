"""The web soak's requests: one HTTP call to the app (urllib, straight to 127.0.0.1), and the
calls a client makes (sample, complete, bits, compress then decompress) on random small images,
each with the check of its answer that says what is wrong with it, if anything.

The endpoints and their formats are those of :mod:`pixelar.web.app`: ``GET /api/sample`` (a
stream of Server-Sent Events ending in ``done``), ``POST /api/complete``, ``/api/bits``,
``/api/compress`` (an image or ``.npy`` array in, a ``.pxz`` file out) and ``/api/decompress``.
"""

from __future__ import annotations

import io
import json
import math
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak_codec import Spec

REQUEST_SECONDS = 60.0  # the longest one request may take (the app waits up to 10 s for a busy model)
REFUSALS = (429, 503)  # the app's documented refusals: past the request rate, busy
# The sizes (H, W) of the images sent to bits and compress: a fixed few, so that caches keyed
# by shape (PyTorch's oneDNN primitives, up to 1024 of them) fill in the warm-up and do not read
# as a leak; random sizes are the codec soak's part (soak_codec.py).
SIZES = [(1, 1), (1, 16), (16, 1), (5, 7), (8, 8), (16, 16)]


@dataclass
class Reply:
    """What came back: the status (0 when no answer came), headers, body, or why none came."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    def message(self) -> str:
        """The app's one-line JSON error, or the start of the body."""
        try:
            return str(json.loads(self.body)["error"])
        except (ValueError, KeyError, TypeError):
            return self.body[:120].decode("utf-8", "replace") or "(empty body)"


@dataclass
class Call:
    """One request and the check of its answer: ``check`` returns what is wrong (None: all
    right) and the call to make next (compress is followed by decompress), if any."""

    kind: str
    method: str
    path: str
    params: dict[str, Any]
    body: bytes | None
    check: Callable[[Reply], tuple[str | None, Call | None]]


def send(opener: urllib.request.OpenerDirector, base: str, call: Call) -> Reply:
    """Make ``call`` against the app at ``base``, reading the whole answer within :data:`REQUEST_SECONDS`."""
    url = f"{base}{call.path}?{urllib.parse.urlencode(call.params)}"
    request = urllib.request.Request(url, data=call.body, method=call.method)
    if call.body is not None:
        request.add_header("Content-Type", "application/octet-stream")
    started = time.monotonic()
    try:
        with opener.open(request, timeout=REQUEST_SECONDS) as response:
            chunks = []
            while chunk := response.read(65536):
                chunks.append(chunk)
                if time.monotonic() - started > REQUEST_SECONDS:
                    return Reply(response.status, dict(response.headers), b"".join(chunks), "too slow")
            return Reply(response.status, dict(response.headers), b"".join(chunks))
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        return Reply(error=f"no answer after {time.monotonic() - started:.1f} s ({type(e).__name__}: {reason})")


# -- images ------------------------------------------------------------------------------------


def random_levels(rng: random.Random, spec: Spec, size: tuple[int, int], count: int = 1) -> np.ndarray:
    """``count`` random integer images [N, C, H, W] (uint8 level indices) for ``spec``'s model."""
    shape = (count, spec.image_shape[0], *size)
    generator = np.random.default_rng(rng.getrandbits(32))
    return generator.integers(0, spec.num_levels, shape, dtype=np.int64).astype(np.uint8)


def png(levels: np.ndarray, num_levels: int) -> bytes:
    """One image [C, H, W] of level indices as an 8-bit PNG (level k is round(k·255/(K−1)))."""
    values = np.rint(levels.astype(np.float64) * 255 / (num_levels - 1)).astype(np.uint8)
    pixels = np.moveaxis(values, 0, -1)
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def npy(levels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, levels)
    return buffer.getvalue()


def is_images(value: Any, count: int, shape: tuple[int, ...], num_levels: int) -> str | None:
    """None when ``value`` (JSON) is ``count`` integer images of ``shape`` with levels in [0, K), else what is wrong."""
    try:
        arr = np.asarray(value)
    except ValueError:
        return "images that are no regular array"
    if arr.shape != (count, *shape):
        return f"images of shape {list(arr.shape)}, not {[count, *shape]}"
    if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() >= num_levels)):
        return f"images whose values are not levels 0…{num_levels - 1}"
    return None


def json_of(reply: Reply) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(reply.body)
    except ValueError:
        return None, f"a body that is no JSON ({reply.body[:60]!r})"
    return (data, None) if isinstance(data, dict) else (None, "JSON that is no object")


# -- the calls ---------------------------------------------------------------------------------


def sample_call(rng: random.Random, name: str, spec: Spec) -> Call:
    """``GET /api/sample``: a stream whose last event is ``done`` with the n images."""
    n = rng.randint(1, 4)
    params = {"model": name, "n": n, "seed": rng.randrange(2**31), "temperature": rng.choice([0.5, 1.0, 1.5])}

    def check(reply: Reply) -> tuple[str | None, Call | None]:
        events = []
        for block in reply.body.decode("utf-8", "replace").split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                events.append((lines["event"], lines.get("data", "")))
        if not events:
            return "a stream with no events", None
        kind, data = events[-1]
        if kind == "error":
            return f"an error event: {data[:160]}", None
        if kind != "done" or any(k != "frame" for k, _ in events[:-1]):
            return f"events {[k for k, _ in events][-4:]} (want frames, then done)", None
        try:
            done = json.loads(data)
        except ValueError:
            return "a done event whose data is no JSON", None
        if not str(done.get("image", "")).startswith("data:image/png;base64,"):
            return "a done event with no PNG", None
        return is_images(done.get("images"), n, spec.image_shape, spec.num_levels), None

    return Call("sample", "GET", "/api/sample", params, None, check)


def complete_call(rng: random.Random, name: str, spec: Spec) -> Call:
    """``POST /api/complete`` of a random image of the model's size: n completions that keep its top rows."""
    _, height, width = spec.image_shape
    image = random_levels(rng, spec, (height, width))[0]
    n, keep = rng.randint(1, 4), rng.randint(0, height)
    params = {"model": name, "n": n, "keep_rows": keep, "seed": rng.randrange(2**31), "filename": "drawing.png"}

    def check(reply: Reply) -> tuple[str | None, Call | None]:
        data, problem = json_of(reply)
        if data is None:
            return problem, None
        if data.get("keep_rows") != keep:
            return f"keep_rows {data.get('keep_rows')}, not {keep}", None
        problem = is_images(data.get("completions"), n, spec.image_shape, spec.num_levels)
        if problem:
            return problem, None
        kept = np.asarray(data["completions"])[:, :, :keep, :]
        if not (kept == image[None, :, :keep, :]).all():
            return f"completions that changed the {keep} known top row(s)", None
        return None, None

    return Call("complete", "POST", "/api/complete", params, png(image, spec.num_levels), check)


def bits_call(rng: random.Random, name: str, spec: Spec) -> Call:
    """``POST /api/bits`` of a random image of one of :data:`SIZES`: finite bits per pixel, H rows of W."""
    height, width = rng.choice(SIZES)
    image = random_levels(rng, spec, (height, width))[0]

    def check(reply: Reply) -> tuple[str | None, Call | None]:
        data, problem = json_of(reply)
        if data is None:
            return problem, None
        bits = np.asarray(data.get("bits"), dtype=object)
        if (data.get("width"), data.get("height")) != (width, height) or bits.shape != (height, width):
            return f"bits of shape {list(bits.shape)} for a {width}×{height} image", None
        values = bits.astype(float)
        if not np.isfinite(values).all() or values.min() < 0 or not math.isfinite(data.get("total_bits", math.nan)):
            return "bits that are not finite and non-negative", None
        return None, None

    return Call(
        "bits", "POST", "/api/bits", {"model": name, "filename": "image.png"}, png(image, spec.num_levels), check
    )


def compress_call(rng: random.Random, name: str, spec: Spec) -> Call:
    """``POST /api/compress`` of a PNG or ``.npy`` of 1–4 random images of one of :data:`SIZES`;
    then ``POST /api/decompress`` of the file it gave, which must give the images back exactly."""
    size = rng.choice(SIZES)
    as_npy = rng.random() < 0.5
    images = random_levels(rng, spec, size, rng.randint(1, 4) if as_npy else 1)
    body = npy(images) if as_npy else png(images[0], spec.num_levels)
    filename = "images.npy" if as_npy else "image.png"

    def check_back(reply: Reply) -> tuple[str | None, Call | None]:
        data, problem = json_of(reply)
        if data is None:
            return problem, None
        problem = is_images(data.get("levels"), len(images), images.shape[1:], spec.num_levels)
        if problem:
            return problem, None
        if not (np.asarray(data["levels"]) == images).all():
            return "decompressed images that differ from those compressed", None
        if data.get("sizes") != [[size[1], size[0]]] * len(images):
            return f"sizes {data.get('sizes')}, not {[[size[1], size[0]]] * len(images)}", None
        return None, None

    def check(reply: Reply) -> tuple[str | None, Call | None]:
        try:
            summary = json.loads(reply.headers.get("X-Pixelar-Summary", reply.headers.get("x-pixelar-summary", "")))
        except ValueError:
            return "no X-Pixelar-Summary header", None
        if summary.get("images") != len(images) or summary.get("bytes") != len(reply.body) or not reply.body:
            return f"a summary {summary} that does not fit {len(images)} image(s), {len(reply.body)} bytes", None
        return None, Call("decompress", "POST", "/api/decompress", {"model": name}, reply.body, check_back)

    return Call("compress", "POST", "/api/compress", {"model": name, "filename": filename}, body, check)


CALLS: dict[str, Callable[[random.Random, str, Spec], Call]] = {
    "sample": sample_call,
    "complete": complete_call,
    "bits": bits_call,
    "compress": compress_call,
}
