"""A local web app to see the models work: watch samples being drawn, complete drawings, see
where an image costs bits, score it for being out of distribution, compress and restore files
(``pixelar serve``).

Needs the ``web`` extra (``pip install 'pixelar[web]'``: Starlette and uvicorn), imported only
when the app is made or served::

    from pixelar.web import create_app, serve
    app = create_app("runs/demo")          # an ASGI app (Starlette)
    serve("runs", port=8000)               # every run under runs/, at http://127.0.0.1:8000/

Pieces: :mod:`~pixelar.web.app` (the endpoints), :mod:`~pixelar.web.work` (the work they
ask of the models), :mod:`~pixelar.web.ood` (OOD scores beside a model's training images),
:mod:`~pixelar.web.pictures` (images as PNG data URLs), :mod:`~pixelar.web.catalog` (the
models served), :mod:`~pixelar.web.watch` (sampling that reports its frames),
:mod:`~pixelar.web.uploads` (uploaded files as images), :mod:`~pixelar.web.limits` (upload
sizes, request rates), :mod:`~pixelar.web.server` (running it); the page is in ``static/``.
"""

from __future__ import annotations

from typing import Any

from pixelar.web.limits import Limits
from pixelar.web.server import BackgroundServer, serve

__all__ = ["BackgroundServer", "Limits", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    """The app, which needs Starlette, imported on first use."""
    if name == "create_app":
        from pixelar.web.app import create_app

        return create_app
    raise AttributeError(f"module 'pixelar.web' has no attribute {name!r}")
