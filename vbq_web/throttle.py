"""A throttle for the live VBQ table: measure soon after the segmentation changes, at most every so often.

A paint stroke changes the segmentation once, when the mouse button is released; other tools (threshold, undo,
Quick ROI) may change it several times in a row. :class:`Throttle` runs its function ``delay`` seconds after the
first request (requests in between are merged into that run) and never sooner than ``min_interval`` after the
previous run ended, on the server's asyncio loop (the thread that owns the VTK objects). Without a running loop
(scripts, tests) it runs at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional


class Throttle:
    def __init__(self, fn: Callable[[float], None], delay: float = 0.02, min_interval: float = 0.2,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        """``fn(requested_at)`` gets the clock time of the first request it serves."""
        self._fn = fn
        self.delay = float(delay)
        self.min_interval = float(min_interval)
        self._clock = clock
        self._handle: Optional[asyncio.TimerHandle] = None
        self._requested_at: Optional[float] = None
        self._last_end = float("-inf")

    @property
    def pending(self) -> bool:
        return self._requested_at is not None

    def request(self) -> None:
        now = self._clock()
        if self._requested_at is not None:
            return  # merged into the run already scheduled
        self._requested_at = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self.run_now()
            return
        wait = max(self.delay, self._last_end + self.min_interval - now)
        self._handle = loop.call_later(wait, self.run_now)

    def run_now(self) -> None:
        """Run what is pending now (a request made while it runs schedules another run)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        requested_at = self._requested_at if self._requested_at is not None else self._clock()
        self._requested_at = None
        try:
            self._fn(requested_at)
        finally:
            self._last_end = self._clock()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._requested_at = None
