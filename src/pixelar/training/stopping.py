"""Stopping a run on request: SIGTERM (how torchrun and schedulers end a job) is noted, not
acted on mid-step; the loop reads the note between steps, every rank agreeing on the step."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """Whether a stop was asked for (:attr:`signal`: the signal's number, or None)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum

    @contextmanager
    def listening(self) -> Iterator[StopRequest]:
        """Note SIGTERM instead of dying of it while the block runs (in the main thread only:
        Python handles signals there), then restore the handler there was before."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGTERM, self._note)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)

    @property
    def name(self) -> str:
        """The signal's name, or what stopped this rank when another rank's signal did."""
        return signal.Signals(self.signal).name if self.signal is not None else "a signal to another process"
