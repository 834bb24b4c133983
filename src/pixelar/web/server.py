"""Running the web app with uvicorn: in the foreground (``pixelar serve``), or in a background
thread (notebooks, tests)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from pixelar.errors import PixelarError
from pixelar.web.limits import Limits

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise PixelarError("the web app needs Starlette and uvicorn: pip install 'pixelar[web]'") from None
    return uvicorn


def local_only(app: Any, host: str) -> Any:
    """``app`` answering only requests addressed to this machine's loopback names (and ``host``):
    a web page elsewhere cannot reach the server through a DNS name rebound to 127.0.0.1.
    Listening on another address (other machines reach the page) accepts any Host."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    hosts = ["*"] if host not in LOCAL_HOSTS else [*LOCAL_HOSTS, "[::1]"]
    return TrustedHostMiddleware(app, allowed_hosts=hosts)


def _settings(host: str, port: int) -> dict[str, Any]:
    """uvicorn's settings: quiet, and the client's own address for the rate limit (no proxy
    headers: any local program could name itself another address with X-Forwarded-For)."""
    return {"host": host, "port": port, "log_level": "warning", "access_log": False, "proxy_headers": False}


def check_port(host: str, port: int) -> None:
    """Refuse a port out of range, or one that cannot be bound on ``host`` (in use, or not ours)."""
    if not 1 <= port <= 65535:
        raise PixelarError(f"the port must be between 1 and 65535, got {port}", param="port")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise PixelarError(f"the host {host!r} is no address of this machine; use 127.0.0.1", param="host") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise PixelarError(
                f"cannot listen on {host}:{port} ({e.strerror or e}); pass another port=N", param="port"
            ) from None


def serve(
    models: str | Path | list[str | Path] | dict[str, str | Path],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    device: str = "cpu",
    limits: Limits | None = None,
    quiet: bool = False,
) -> None:
    """Serve the web app for ``models`` (see :func:`pixelar.web.app.create_app`) at
    http://host:port until interrupted (Ctrl-C)."""
    uvicorn = _uvicorn()
    from pixelar.web.app import create_app

    check_port(host, port)
    app = create_app(models, device=device, limits=limits)
    if not quiet:
        names = app.state.catalog.names
        shown = f"{len(names)} models" if len(names) > 1 else names[0]
        url_host = f"[{host}]" if ":" in host else host
        print(f"serving {shown} at http://{url_host}:{port}/ (Ctrl-C stops)", flush=True)
        if host not in LOCAL_HOSTS:
            print(f"note: listening on {host}, so other machines can reach the page", flush=True)
    uvicorn.run(local_only(app, host), **_settings(host, port))


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread on a free local port, for the length of
    a ``with`` block: ``with BackgroundServer(app) as url: ...``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        uvicorn = _uvicorn()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            self.port = int(probe.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(local_only(app, host), **_settings(host, self.port)))
        self.url = f"http://{host}:{self.port}"
        self.timeout = timeout
        self.thread = threading.Thread(target=self.server.run, name="pixelar-web", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise PixelarError(f"the web server did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)
