"""The web app (an ASGI app, Starlette): one page to watch a model sample, complete drawings,
show where an image costs bits, score an image for being out of distribution, and compress
and restore files. Here are its routes (reading
requests, writing responses); the work they ask of the models is :mod:`pixelar.web.work`.

Endpoints (JSON errors ``{"error": "<one line>"}``: 400 for bad input, 413 for an upload over
the size limit, 429 past the request rate and 503 for a model busy with another request for
longer than a request waits (``Limits.busy_seconds``, 10 s), both with a ``Retry-After`` in
whole seconds, 500 with no details for a server fault; a sampling stream is refused so before it
starts):

* ``GET /`` the page; ``GET /static/{common.js,canvas.js,app.js,style.css}`` its scripts and style.
* ``GET /api/info`` the models served (each with the orders it generates in) and the limits.
* ``GET /api/sample?model=&n=&temperature=&label=&seed=&order=`` a stream of Server-Sent Events:
  ``frame`` events (the images so far as a PNG data URL, the sub-pixels not drawn yet grey, and
  the fraction drawn) while sampling in ``order`` (a name; raster only for a raster-only
  model), then one ``done`` event with the finished images (also as level indices) and the
  order, or an ``error`` event.
* ``POST /api/complete?model=&keep_rows=&hidden=&order=&n=&temperature=&label=&seed=&filename=``
  with an image as the body: completions of its bottom rows, or of the ``hidden`` pixels (a hole
  anywhere, one bit per pixel in URL-safe base64: :func:`pixelar.web.uploads.hidden_mask`); a
  model that generates in any order takes the known pixels first, in ``order`` moved to the
  front or, without one, in the order :func:`pixelar.completion.completion_order` chooses.
* ``POST /api/bits?model=&label=&filename=`` with an image (of any size up to the pixel limit):
  the bits each pixel costs under the model, and a heat map of them.
* ``POST /api/ood?model=&label=&filename=`` with an image of the model's size: its OOD scores
  beside their histograms over the model's training images (:mod:`pixelar.web.ood`).
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

from pixelar.errors import PixelarError
from pixelar.web.catalog import Catalog, ModelBusyError
from pixelar.web.limits import Limits, RateLimiter, UploadTooLargeError
from pixelar.web.ood import REFERENCE_IMAGES, OODWork
from pixelar.web.uploads import display_name
from pixelar.web.work import Event, Work, check_label, check_order, one_line

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError:
    raise PixelarError("the web app needs Starlette and uvicorn: pip install 'pixelar[web]'") from None

log = logging.getLogger("pixelar.web")

JAVASCRIPT = "text/javascript; charset=utf-8"
STATIC = {
    "common.js": JAVASCRIPT,
    "canvas.js": JAVASCRIPT,
    "app.js": JAVASCRIPT,
    "style.css": "text/css; charset=utf-8",
}


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
    ood_images: int = REFERENCE_IMAGES,
) -> Starlette:
    """The web app serving ``models``: a run directory or saved model, a directory of them, a
    list of such paths, or a dict of display names to paths (see
    :func:`pixelar.web.catalog.find_models`). ``frame_interval``: the seconds between two
    frames of a sampling stream (0: a frame after every step). ``ood_images``: how many of a
    model's training images the OOD scores are compared with (computed once per model).

    The app's temporary directory is ``app.state.workdir``; it is removed when the app shuts down.
    """
    limits = limits or Limits()
    catalog = Catalog(models, device=device, busy_seconds=limits.busy_seconds)
    limiter = RateLimiter(limits.rate, limits.burst)
    tmp = tempfile.TemporaryDirectory(prefix="pixelar-web-")
    workdir = Path(tmp.name)
    work = Work(catalog, limits, workdir, frame_interval)
    ood = OODWork(work, ood_images)

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
            except ModelBusyError as e:
                return _error(str(e), 503, {"Retry-After": str(e.retry_after)})
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
                described.append({"name": name, "error": one_line(str(e))})
        return JSONResponse({"models": described, "limits": {**vars(limits)}})

    async def sample_stream(request: Request) -> Response:
        q = _Query(request)
        name = q.text("model")
        n = q.integer("n", 4, 1, limits.max_samples)
        temperature = q.number("temperature", 1.0, 0.05, 10.0)
        seed = q.integer("seed", None, 0, 2**63 - 1)
        label = q.integer("label", None, 0, 2**31 - 1)
        order = q.text("order")
        entry = catalog.entry(name)
        described = catalog.describe(entry.name)
        check_label(described["num_classes"], label)  # before the stream starts
        check_order(described, order)
        claim = await run_in_threadpool(catalog.claim, entry.name)  # a busy model too: 503, no stream
        frames: asyncio.Queue[Event | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def put(item: Event | None) -> None:
            try:
                loop.call_soon_threadsafe(frames.put_nowait, item)
            except RuntimeError:  # the event loop is gone (the app stopped): nobody listens
                stop.set()

        def work_on() -> None:
            work.sample(claim, n, temperature, seed, label, put, frames.qsize, stop.is_set, order)

        # started now, not with the stream, so the model held is given back even if it never starts
        try:
            threading.Thread(target=work_on, name="pixelar-sample", daemon=True).start()
        except BaseException:  # no thread (e.g. none left to start): the model is given back here
            claim.__exit__(None, None, None)
            raise

        async def events() -> AsyncIterator[str]:
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
        order = q.text("order")
        hidden = q.text("hidden", limits.max_image_pixels // 6 + 8)
        data = await body(request)

        return JSONResponse(
            await run_in_threadpool(
                work.complete, name, data, filename, n, temperature, seed, label, keep_rows, order, hidden
            )
        )

    async def image_upload(request: Request, handler: Callable[..., Any]) -> Response:
        """``handler(model, data, filename, label)`` on one uploaded image, in a worker thread."""
        q = _Query(request)
        name, filename = q.text("model"), q.text("filename")
        label = q.integer("label", None, 0, 2**31 - 1)
        data = await body(request)
        return JSONResponse(await run_in_threadpool(handler, name, data, filename, label))

    async def bits_upload(request: Request) -> Response:
        return await image_upload(request, work.bits)

    async def ood_upload(request: Request) -> Response:
        return await image_upload(request, ood.score)

    async def compress_upload(request: Request) -> Response:
        q = _Query(request)
        name, filename = q.text("model"), q.text("filename")
        label = q.integer("label", None, 0, 2**31 - 1)
        data = await body(request)

        packed, summary = await run_in_threadpool(work.compress, name, data, filename, label)
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

        return JSONResponse(await run_in_threadpool(work.decompress, name, data))

    async def example(request: Request) -> Response:
        q = _Query(request)
        name = q.text("model")
        index = q.integer("index", 0, 0, 2**31 - 1)

        return JSONResponse(await run_in_threadpool(work.example, name, index))

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
        Route("/api/ood", guarded(ood_upload), methods=["POST"]),
        Route("/api/compress", guarded(compress_upload), methods=["POST"]),
        Route("/api/decompress", guarded(decompress_upload), methods=["POST"]),
        Route("/api/example", guarded(example)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.workdir = workdir
    app.state.catalog = catalog
    app.state.limits = limits
    app.state.ood = ood
    app.state.tmp = tmp  # keeps the directory until the app is gone
    return app


# -- helpers ---------------------------------------------------------------------------------


class _Query:
    """A request's query parameters, each checked with a one-line message naming it."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def text(self, name: str, max_length: int = 500) -> str | None:
        value = self.params.get(name)
        return None if value is None or value == "" else value[:max_length]

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


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def _static_text(name: str) -> str:
    return resources.files("pixelar.web").joinpath("static").joinpath(name).read_text(encoding="utf-8")
