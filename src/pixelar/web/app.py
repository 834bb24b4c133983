"""The web app (an ASGI app, Starlette): one page to watch a model sample, complete drawings,
show where an image costs bits, and compress and restore files.

Endpoints (JSON errors ``{"error": "<one line>"}``: 400 for bad input, 413 for an upload over
the size limit, 429 past the request rate, 500 with no details for a server fault):

* ``GET /`` the page; ``GET /static/{app.js,style.css}`` its script and style.
* ``GET /api/info`` the models served and the limits.
* ``GET /api/sample?model=&n=&temperature=&label=&seed=`` a stream of Server-Sent Events:
  ``frame`` events (the images so far as a PNG data URL, and the fraction drawn) while
  sampling, then one ``done`` event with the finished images (also as level indices), or an
  ``error`` event.
* ``POST /api/complete?model=&keep_rows=&n=&temperature=&label=&seed=&filename=`` with an image
  as the body: completions of its bottom rows.
* ``POST /api/bits?model=&label=&filename=`` with an image (of any size up to the pixel limit):
  the bits each pixel costs under the model, and a heat map of them.
* ``POST /api/compress?model=&label=&filename=`` with an image or ``.npy`` array: the ``.pxz``
  file :func:`pixelar.codec.encode` writes (as ``pixelar compress`` does), as a download.
* ``POST /api/decompress?model=&filename=`` with a ``.pxz`` file: its images.
* ``GET /api/example?model=&index=`` a test image of the run's dataset (bundled datasets only).

Request bodies are read into memory up to the size limit; an upload is decoded only from a
file the app names itself in its own temporary directory (removed when the app stops), which
is the only place the app writes.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.models.base import AutoregressiveModel
from pixelar.web.catalog import Catalog
from pixelar.web.limits import Limits, RateLimiter, UploadTooLargeError
from pixelar.web.uploads import display_name, read_upload
from pixelar.web.watch import Frame, SamplingStoppedError, watch_sample

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError:
    raise PixelarError("the web app needs Starlette and uvicorn: pip install 'pixelar[web]'") from None

log = logging.getLogger("pixelar.web")

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
BUNDLED_DATASETS = ("digits", "digits-binary", "photos32")  # test images the app can show without writing


class RateLimitError(PixelarError):
    """A client past its request rate (HTTP 429)."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


def create_app(
    models: str | Path | list[str | Path] | dict[str, str | Path],
    *,
    device: str = "cpu",
    limits: Limits | None = None,
    frame_interval: float = 0.1,
) -> Starlette:
    """The web app serving ``models``: a run directory or saved model, a directory of them, a
    list of such paths, or a dict of display names to paths (see
    :func:`pixelar.web.catalog.find_models`). ``frame_interval``: the seconds between two
    frames of a sampling stream (0: a frame after every step).

    The app's temporary directory is ``app.state.workdir``; it is removed when the app shuts down.
    """
    catalog = Catalog(models, device=device)
    limits = limits or Limits()
    limiter = RateLimiter(limits.rate, limits.burst)
    tmp = tempfile.TemporaryDirectory(prefix="pixelar-web-")
    workdir = Path(tmp.name)

    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The handler behind the rate limit, with every error as a one-line JSON message."""

        async def endpoint(request: Request) -> Response:
            # a page of another site may send requests here (forms, images, fetch without CORS);
            # browsers say so in Sec-Fetch-Site, and those requests are refused
            if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return _error("requests from other sites are refused; use the page this server serves", 403)
            try:
                client = request.client.host if request.client else "unknown"
                wait = limiter.take(client)
                if wait > 0:
                    raise RateLimitError(
                        f"too many requests: at most {limits.rate:g} a second on average (bursts of {limits.burst}) "
                        f"from one address; wait {math.ceil(wait)} s and try again",
                        wait,
                    )
                return await handler(request)
            except RateLimitError as e:
                return _error(str(e), 429, {"Retry-After": str(math.ceil(e.wait))})
            except UploadTooLargeError as e:
                return _error(str(e), 413)
            except PixelarError as e:
                return _error(str(e), 400)
            except MemoryError:
                return _error("out of memory; ask for fewer or smaller images", 400)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return _error("the server failed on this request (its log says why); nothing was changed", 500)

        return endpoint

    async def body(request: Request) -> bytes:
        """The request's body, refused as soon as it is over the size limit (said or read)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit():
            limits.check_upload(max(int(declared), 1))
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            limits.check_upload(max(total, 1))
            chunks.append(chunk)
        data = b"".join(chunks)
        limits.check_upload(len(data))
        return data

    def read_for(
        model: AutoregressiveModel,
        data: bytes,
        filename: str | None,
        max_images: int,
        size: tuple[int, int] | None = None,
    ) -> list[Tensor]:
        """The images of an upload, checked against ``model``'s channels and levels (and ``size``)."""
        return read_upload(
            data,
            workdir,
            model.image_shape[0],
            model.num_levels,
            filename=filename,
            size=size,
            max_pixels=limits.max_image_pixels,
            max_images=max_images,
        )

    async def page(request: Request) -> Response:
        return HTMLResponse(_static_text("page.html"))

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return _error(f"no static file {display_name(name)!r}", 404)
        return Response(_static_text(name), media_type=STATIC[name])

    async def info(request: Request) -> Response:
        described = []
        for name in catalog.names:
            try:
                described.append(catalog.describe(name))
            except PixelarError as e:
                described.append({"name": name, "error": _line(str(e))})
        return JSONResponse({"models": described, "limits": {**vars(limits)}})

    async def sample_stream(request: Request) -> Response:
        q = _Query(request)
        name = q.text("model")
        n = q.integer("n", 4, 1, limits.max_samples)
        temperature = q.number("temperature", 1.0, 0.05, 10.0)
        seed = q.integer("seed", None, 0, 2**63 - 1)
        label = q.integer("label", None, 0, 2**31 - 1)
        entry = catalog.entry(name)
        _check_label(catalog.describe(entry.name)["num_classes"], label)  # before the stream starts
        frames: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def put(item: tuple[str, str] | None) -> None:
            try:
                loop.call_soon_threadsafe(frames.put_nowait, item)
            except RuntimeError:  # the event loop is gone (the app stopped): nobody listens
                stop.set()

        def work() -> None:
            try:
                with catalog.use(entry.name) as model:
                    cond = _labels(model, label, n)
                    levels = model.num_levels

                    def on_frame(frame: Frame) -> None:
                        picture = _png_url(_frame_picture(frame, levels))
                        if frame.done:
                            put(
                                ("done", json.dumps({"image": picture, "filled": 1.0, "images": frame.images.tolist()}))
                            )
                        elif frames.qsize() < 4:  # a client that stops reading does not pile frames up
                            put(("frame", json.dumps({"image": picture, "filled": round(frame.filled, 4)})))

                    watch_sample(
                        model,
                        n,
                        on_frame,
                        cond=cond,
                        generator=seed,
                        temperature=temperature,
                        every=frame_interval,
                        should_stop=stop.is_set,
                    )
            except SamplingStoppedError:
                pass
            except PixelarError as e:
                put(("error", json.dumps({"error": _line(str(e))})))
            except Exception:
                log.exception("sampling failed")
                put(("error", json.dumps({"error": "sampling failed on the server (its log says why)"})))
            finally:
                put(None)

        async def events() -> AsyncIterator[str]:
            threading.Thread(target=work, name="pixelar-sample", daemon=True).start()
            try:
                while (item := await frames.get()) is not None:
                    kind, data = item
                    yield f"event: {kind}\ndata: {data}\n\n"
            finally:
                stop.set()  # the client left, or the stream ended: the sampler stops at its next step

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def complete_upload(request: Request) -> Response:
        q = _Query(request)
        name, filename = q.text("model"), q.text("filename")
        n = q.integer("n", 4, 1, limits.max_samples)
        temperature = q.number("temperature", 1.0, 0.05, 10.0)
        seed = q.integer("seed", None, 0, 2**63 - 1)
        label = q.integer("label", None, 0, 2**31 - 1)
        keep_rows = q.integer("keep_rows", None, 0, 65535)
        data = await body(request)

        def run() -> dict[str, Any]:
            from pixelar.completion import complete, rows_mask
            from pixelar.plotting import completion_grid

            with catalog.use(name) as model:
                _, H, W = model.image_shape
                images = read_for(model, data, filename, 1, size=(H, W))
                x = torch.stack(images).to(model.device)
                rows = H // 2 if keep_rows is None else keep_rows
                if rows > H:
                    raise PixelarError(f"keep_rows must be at most the image height {H}, got {rows}")
                known = rows_mask(model.image_shape, rows)
                out = complete(
                    model, x, known, n=n, cond=_labels(model, label, 1), generator=seed, temperature=temperature
                )
                grid = completion_grid(x.cpu(), known, out.cpu(), model.num_levels)
                return {
                    "image": _png_url(grid),
                    "keep_rows": rows,
                    "completions": out[0].tolist(),
                }

        return JSONResponse(await run_in_threadpool(run))

    async def bits_upload(request: Request) -> Response:
        q = _Query(request)
        name, filename = q.text("model"), q.text("filename")
        label = q.integer("label", None, 0, 2**31 - 1)
        data = await body(request)

        def run() -> dict[str, Any]:
            from pixelar.bits_map import bits_figure, bits_per_subpixel

            with catalog.use(name) as model:
                images = read_for(model, data, filename, 1)
                x = images[0][None]
                H, W = int(x.shape[2]), int(x.shape[3])
                with model.at_size(H, W):
                    bits = bits_per_subpixel(model, x, _labels(model, label, 1))
                figure = bits_figure(x, bits, model.num_levels, names=[display_name(filename, "the image")])
                if not torch.isfinite(bits).all():
                    raise PixelarError("the model gives some pixel of this image probability 0 (infinite bits)")
                per_pixel = bits[0].sum(0)
                total = float(bits.sum())
                return {
                    "image": _png_url(figure),
                    "bits": [[round(float(v), 4) for v in row] for row in per_pixel],
                    "total_bits": total,
                    "bits_per_dim": total / bits.numel(),
                    "max_bits": float(per_pixel.max()),
                    "width": W,
                    "height": H,
                }

        return JSONResponse(await run_in_threadpool(run))

    async def compress_upload(request: Request) -> Response:
        q = _Query(request)
        name, filename = q.text("model"), q.text("filename")
        label = q.integer("label", None, 0, 2**31 - 1)
        data = await body(request)

        def run() -> tuple[bytes, dict[str, Any]]:
            from pixelar.codec import encode, image_nll_bits

            with catalog.use(name) as model:
                images = read_for(model, data, filename, limits.max_images)
                cond = _labels(model, label, len(images))
                packed = encode(model, images, cond)
                dims = sum(image.numel() for image in images)
                return packed, {
                    "images": len(images),
                    "bytes": len(packed),
                    "upload_bytes": len(data),
                    "bits_per_dim": 8 * len(packed) / dims,
                    "nll_bits_per_dim": _finite(image_nll_bits(model, images, cond) / dims),
                }

        packed, summary = await run_in_threadpool(run)
        stem = display_name(filename, "images").rsplit(".", 1)[0] or "images"
        return Response(
            packed,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{stem}.pxz"',
                "X-Pixelar-Summary": json.dumps(summary),
                "Access-Control-Expose-Headers": "X-Pixelar-Summary, Content-Disposition",
            },
        )

    async def decompress_upload(request: Request) -> Response:
        q = _Query(request)
        name = q.text("model")
        data = await body(request)

        def run() -> dict[str, Any]:
            from pixelar.codec import decode_images, decode_labels, read_header

            with catalog.use(name) as model:
                C, H, W = model.image_shape
                count = read_header(data, (H, W))[0].count  # refused before any decoding work
                if count > limits.max_images:
                    raise PixelarError(f"the file holds {count} images, more than the limit of {limits.max_images}")
                images = decode_images(model, data, max_subpixels=C * limits.max_image_pixels)
                return {
                    "images": [_png_url(_picture(image.cpu(), model.num_levels)) for image in images],
                    "levels": [image.tolist() for image in images],
                    "sizes": [[int(image.shape[2]), int(image.shape[1])] for image in images],
                    "labels": decode_labels(data),
                }

        return JSONResponse(await run_in_threadpool(run))

    async def example(request: Request) -> Response:
        q = _Query(request)
        name = q.text("model")
        index = q.integer("index", 0, 0, 2**31 - 1)

        def run() -> dict[str, Any]:
            from pixelar.training_config import is_run_dir, run_data_source

            entry = catalog.entry(name)
            with catalog.use(entry.name) as model:
                if not is_run_dir(entry.path):
                    raise PixelarError(
                        "this model is not a training run, so it has no dataset: draw or upload an image"
                    )
                source = run_data_source(entry.path, model.image_shape)
                if source.data not in BUNDLED_DATASETS:
                    raise PixelarError(
                        f"test images are shown for the bundled datasets only, not {source.data}; draw or upload an image"
                    )
                dataset = entry.examples or source.load("test", model.image_shape[0])
                entry.examples = dataset
                i = index % len(dataset)
                image = dataset.images[i].long()
                label = None if dataset.labels is None else int(dataset.labels[i])
                return {"image": _png_url(_picture(image, model.num_levels)), "label": label, "index": i}

        return JSONResponse(await run_in_threadpool(run))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            tmp.cleanup()

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/info", guarded(info)),
        Route("/api/sample", guarded(sample_stream)),
        Route("/api/complete", guarded(complete_upload), methods=["POST"]),
        Route("/api/bits", guarded(bits_upload), methods=["POST"]),
        Route("/api/compress", guarded(compress_upload), methods=["POST"]),
        Route("/api/decompress", guarded(decompress_upload), methods=["POST"]),
        Route("/api/example", guarded(example)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.workdir = workdir
    app.state.catalog = catalog
    app.state.limits = limits
    app.state.tmp = tmp  # keeps the directory until the app is gone
    return app


# -- helpers ---------------------------------------------------------------------------------


class _Query:
    """A request's query parameters, each checked with a one-line message naming it."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None or value == "" else value[:500]

    def integer(self, name: str, default: int | None, low: int, high: int) -> Any:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise PixelarError(f"{name} must be a whole number, got {raw[:40]!r}") from None
        if not low <= value <= high:
            raise PixelarError(f"{name} must lie between {low} and {high}, got {value}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise PixelarError(f"{name} must be a number, got {raw[:40]!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise PixelarError(f"{name} must lie between {low:g} and {high:g}, got {raw[:40]}")
        return value


def _check_label(num_classes: int, label: int | None) -> None:
    """Refuse a class label that a model of ``num_classes`` classes (0: unconditional) cannot take."""
    if not num_classes:
        if label is not None:
            raise PixelarError("this model is unconditional: leave the class empty")
        return
    if label is None:
        raise PixelarError(f"this model is class-conditional: choose a class from 0 to {num_classes - 1}")
    if label >= num_classes:
        raise PixelarError(f"the class must lie between 0 and {num_classes - 1}, got {label}")


def _labels(model: AutoregressiveModel, label: int | None, count: int) -> Tensor | None:
    """The class labels of ``count`` images for the model (None for an unconditional one)."""
    _check_label(model.num_classes, label)
    if label is None:
        return None
    return torch.full((count,), label, dtype=torch.long, device=model.device)


def _line(text: str) -> str:
    return " ".join(text.split())


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": _line(message)}, status_code=status, headers=headers)


def _static_text(name: str) -> str:
    return resources.files("pixelar.web").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _png_url(img: Image.Image) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _picture(image: Tensor, num_levels: int) -> Image.Image:
    """One integer image [C, H, W] as a picture (1:1 pixels; the page scales it)."""
    from pixelar.plotting import tile, to_uint8

    return tile(to_uint8(image[None], num_levels), nrow=1, scale=1, pad=0)


def _frame_picture(frame: Frame, num_levels: int) -> Image.Image:
    """The images so far in a grid, sub-pixels not drawn yet in mid grey."""
    from pixelar.plotting import tile, to_uint8

    arr = to_uint8(frame.images, num_levels)
    arr[~frame.drawn.permute(0, 2, 3, 1).numpy()] = 128
    return tile(arr, scale=1)


def _finite(value: float) -> float | None:
    """``value``, or None (JSON null) where it is infinite or not a number (JSON has neither)."""
    return value if math.isfinite(value) else None
