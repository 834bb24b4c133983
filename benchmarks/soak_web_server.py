"""The web soak's server: small random-weight models saved in a directory, ``pixelar serve`` on
them as a child process on 127.0.0.1 (a free port), its memory (resident set size, from
``/proc``), the tracebacks in its log, and stopping it (terminate, then kill)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak_codec import Spec, build

HOST = "127.0.0.1"
START_SECONDS = 90.0  # how long the server may take to answer its first request
STOP_SECONDS = 15.0  # how long it may take to stop after SIGTERM before it is killed

# The models served, by name: a binary grey PixelCNN and an 8-bit colour Gated PixelCNN.
SERVED = {
    "binary": Spec("pixelcnn", (1, 8, 8), 2),
    "colour": Spec("gated-pixelcnn", (3, 8, 8), 256),
}

# Starts the server with Limits(rate=0): the same serve() as `pixelar serve`, without the rate
# limit, so the clients' requests all reach the models (argv: models directory, port).
UNLIMITED = (
    "import sys; from pixelar.web import serve; from pixelar.web.limits import Limits; "
    "serve(sys.argv[1], port=int(sys.argv[2]), limits=Limits(rate=0))"
)


def save_models(root: Path, seed: int) -> dict[str, Spec]:
    """Save :data:`SERVED` under ``root`` (one directory each, served by its name)."""
    for index, (name, spec) in enumerate(SERVED.items()):
        build(spec, seed + index).save_pretrained(root / name)
    return SERVED


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def no_proxy_opener() -> urllib.request.OpenerDirector:
    """An opener that ignores any proxy settings: requests go straight to 127.0.0.1."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    """A running ``pixelar serve`` child process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float | None:
        """The server's resident memory in MB (None once it has exited)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def stop(self) -> str:
        """Stop the server: SIGTERM, then SIGKILL after :data:`STOP_SECONDS`; how it went."""
        if self.process.poll() is not None:
            return f"had exited with status {self.process.returncode}"
        self.process.terminate()
        try:
            code = self.process.wait(STOP_SECONDS)
            return f"terminated (status {code})"
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)
            return f"killed: it did not stop within {STOP_SECONDS:g} s of SIGTERM"

    def tracebacks(self) -> list[str]:
        """The last line (the exception) of each traceback in the server's log."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        found = []
        for index, line in enumerate(lines):
            if line.startswith("Traceback"):
                rest = lines[index + 1 :]
                end = next((i for i, ln in enumerate(rest) if ln and not ln.startswith((" ", "Traceback"))), None)
                found.append(rest[end] if end is not None else "a traceback with no exception line")
        return found


def start(models: Path, workdir: Path, rate_limited: bool = True) -> Server:
    """``pixelar serve models`` on a free port of 127.0.0.1 (``rate_limited=False``: the same
    server without the rate limit), once it answers ``GET /api/info``; its output goes to a
    log in ``workdir``. Tries three ports before it gives up (another program may take one)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    last = ""
    for attempt in range(3):
        port = free_port()
        log = workdir / f"server-{attempt}.log"
        if rate_limited:
            argv = [sys.executable, "-m", "pixelar", "serve", str(models), "--host", HOST, "--port", str(port)]
        else:
            argv = [sys.executable, "-c", UNLIMITED, str(models), str(port)]
        with open(log, "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        server = Server(process, f"http://{HOST}:{port}", log)
        if answers(server):
            return server
        last = server.stop() + ": " + " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise RuntimeError(f"the server did not start ({last})")


def answers(server: Server) -> bool:
    """Wait (up to :data:`START_SECONDS`) until the server answers ``GET /api/info`` with its two models."""
    opener = no_proxy_opener()
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            with opener.open(f"{server.url}/api/info", timeout=5) as response:
                info: dict[str, Any] = json.loads(response.read())
            return sorted(m["name"] for m in info["models"]) == sorted(SERVED)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError):
            time.sleep(0.2)
    return False
