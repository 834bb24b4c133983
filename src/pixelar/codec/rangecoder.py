"""The range coder (``constriction``, an optional dependency): its models for the
sub-pixels and the chunk checks, the payload as big-endian words, the encoder that trims the
stream's tail, and its errors as :class:`PixelarError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pixelar.codec.format import CHECK_SIZE, TRIM_WINDOW
from pixelar.errors import PixelarError

TRIM_MARGIN = 5  # words between the verification checkpoint and the end
TRIM_BUFFER = 2**24  # probabilities kept for the verification at most; beyond, no trimming


def _constriction() -> Any:
    """The entropy coder's package, imported on first use (an optional dependency)."""
    try:
        import constriction
    except ImportError:
        raise PixelarError("compression needs the constriction package: pip install 'pixelar[codec]'") from None
    return constriction


def _family() -> Any:
    return _constriction().stream.model.Categorical(perfect=False)


def _uniform() -> Any:
    return _constriction().stream.model.Uniform(CHECK_SIZE)


def _words(payload: bytes) -> np.ndarray:
    """A payload as the coder's 32-bit words: big-endian, padded with zero bytes."""
    padded = payload + b"\0" * (-len(payload) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


class _Stream:
    """A range encoder that writes its words big-endian and trims the stream's tail.

    It keeps the symbols (and their probabilities) coded since a checkpoint at least
    :data:`TRIM_MARGIN` words before the end, so that :meth:`payload` can prove a shorter
    tail decodes to the same symbols (see :mod:`pixelar.codec.format`).
    """

    def __init__(self) -> None:
        self.encoder = _constriction().stream.queue.RangeEncoder()
        # (checkpoint before the call, symbols, probabilities or None for a check)
        self.calls: list[tuple[tuple[int, Any], np.ndarray, np.ndarray | None]] = []
        self.kept = 0  # probabilities held in self.calls
        self.trim = True
        self.complete = True  # self.calls starts with the stream's first symbol

    def encode(self, symbols: np.ndarray, probs: np.ndarray | None) -> None:
        if self.trim:
            self.calls.append((self.encoder.pos(), symbols, probs))
            self.kept += 0 if probs is None else probs.size
        if probs is None:
            self.encoder.encode(symbols, _uniform())
        else:
            self.encoder.encode(symbols, _family(), probs)
        if self.trim:
            self._forget()

    def _forget(self) -> None:
        """Drop the calls before the latest checkpoint that is far enough from the end."""
        limit = self.encoder.num_words() - TRIM_MARGIN
        first = 0
        while first + 1 < len(self.calls) and self.calls[first + 1][0][0] <= limit:
            first += 1
        for _, _, probs in self.calls[:first]:
            self.kept -= 0 if probs is None else probs.size
        del self.calls[:first]
        self.complete = self.complete and not first
        if self.kept > TRIM_BUFFER:  # a long run of nearly free symbols: keep whole words
            self.trim, self.calls, self.kept = False, [], 0

    def _decodes(self, candidate: bytes) -> bool:
        """Whether the calls kept decode from ``candidate`` after their checkpoint."""
        (position, state), _, _ = self.calls[0]
        try:
            decoder = _constriction().stream.queue.RangeDecoder(_words(candidate))
            if not self.complete:
                decoder.seek(position, state)
            for _, symbols, probs in self.calls:
                if probs is None:
                    out = decoder.decode(_uniform(), len(symbols))
                else:
                    out = decoder.decode(_family(), probs)
                if not np.array_equal(out, symbols):
                    return False
        except Exception:  # a candidate the coder cannot read is simply not shorter
            return False
        return True

    def payload(self) -> bytes:
        full = self.encoder.get_compressed().astype(">u4").tobytes()
        far = self.complete or self.calls[0][0][0] <= len(full) // 4 - TRIM_MARGIN
        if not self.trim or not self.calls or not far:
            return full
        start = max(0, len(full) - TRIM_WINDOW)
        for length in range(start, len(full)):
            window = int.from_bytes(full[start:length], "big")
            for value in (window, window + 1):  # the prefix, or the prefix rounded up
                if value >= 256 ** (length - start) and length > start:
                    continue
                candidate = full[:start] + value.to_bytes(length - start, "big")
                if self._decodes(candidate):
                    return candidate
                if length == start:
                    break
        return full


def _coder(call: Callable[..., Any], *args: Any) -> Any:
    """Run a call into the range decoder; whatever it raises becomes a one-line PixelarError."""
    try:
        return call(*args)
    except Exception as e:  # constriction raises AssertionError, ValueError, ... on bad data
        detail = " ".join(str(e).split()) or e.__class__.__name__
        raise PixelarError(
            f"the compressed file is corrupt or was encoded on a different set-up (the range decoder failed: {detail})"
        ) from None
