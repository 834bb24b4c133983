"""What the web app accepts: request rates (a token bucket per client) and upload sizes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pixelar.errors import PixelarError


class UploadTooLargeError(PixelarError):
    """An upload over :attr:`Limits.max_upload_bytes`."""


@dataclass(frozen=True)
class Limits:
    """The web app's limits on its input.

    Attributes:
        max_upload_bytes: the largest request body (an uploaded image or .pxz file).
        max_image_pixels: the most pixels (H·W) of an uploaded image, and of all the images of
            a compressed file together (checked before an image is decoded).
        max_images: the most images one upload (a .npy array or a .pxz file) may hold.
        max_samples: the most images one request may generate or complete.
        rate: requests per second each client may make on average (0: no limit) ...
        burst: ... and at most this many at once.
        busy_seconds: how long a request waits for a model another request is using (then
            it is refused, HTTP 503).
    """

    max_upload_bytes: int = 2 * 2**20
    max_image_pixels: int = 256 * 256
    max_images: int = 16
    max_samples: int = 16
    rate: float = 2.0
    burst: int = 20
    busy_seconds: float = 10.0

    def check_upload(self, size: int) -> None:
        """Refuse an upload of ``size`` bytes that is empty or over the limit (:class:`UploadTooLargeError`)."""
        if size > self.max_upload_bytes:
            raise UploadTooLargeError(
                f"the upload is larger than the limit of {_size(self.max_upload_bytes)}; choose a smaller file"
            )
        if size == 0:
            raise PixelarError("the upload is empty; choose a file")


def _size(count: int) -> str:
    if count >= 2**20:
        return f"{count / 2**20:g} MiB"
    return f"{count / 2**10:g} KiB" if count >= 2**10 else f"{count} bytes"


class RateLimiter:
    """A token bucket per client: ``burst`` tokens, refilled at ``rate`` per second; each
    request takes one, and a client with none left is refused until one has grown back."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        self.rate, self.burst, self.clock, self.max_clients = rate, max(1, burst), clock, max_clients
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, time of the last update)
        self.lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when granted, else the seconds until one is there."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self.lock:
            tokens, then = self.buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if len(self.buckets) >= self.max_clients and client not in self.buckets:
                self._forget_full(now)
            if tokens >= 1.0:
                self.buckets[client] = (tokens - 1.0, now)
                return 0.0
            self.buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop the clients whose buckets have refilled (they are as if new), bounding memory."""
        full = [c for c, (tokens, then) in self.buckets.items() if tokens + (now - then) * self.rate >= self.burst]
        for client in full or list(self.buckets)[: len(self.buckets) // 2]:
            del self.buckets[client]
