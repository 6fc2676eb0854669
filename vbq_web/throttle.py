"""A throttle for the live VBQ table: measure as soon as the segmentation changes, at most every so often.

A paint stroke changes the segmentation when the mouse button is released; other tools (threshold, undo, Quick
ROI, Create level segments) may change it several times in a row. :class:`Throttle` runs its function at once
for a change that comes after a quiet ``min_interval`` (leading edge: the table is measured before the views
are re-rendered, so it reaches the page first), and merges the changes that follow within ``min_interval`` into
one more run at the end of that interval (trailing edge), on the server's asyncio loop (the thread that owns the
VTK objects). Without a running loop (scripts, tests) every request runs at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Throttle:
    def __init__(self, fn: Callable[[float], None], min_interval: float = 0.2,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        """``fn(requested_at)`` gets the clock time of the first request it serves."""
        self._fn = fn
        self.min_interval = float(min_interval)
        self._clock = clock
        self._handle: asyncio.TimerHandle | None = None
        self._requested_at: float | None = None
        self._last_end = float("-inf")

    @property
    def pending(self) -> bool:
        return self._requested_at is not None

    def request(self) -> None:
        now = self._clock()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._requested_at is not None:
            if loop is None:  # called from outside the loop (a script) while a run waits in it: serve it now
                self.run_now()
            return  # merged into the run already scheduled
        self._requested_at = now
        wait = self._last_end + self.min_interval - now
        if loop is None or wait <= 0:
            self.run_now()
            return
        self._handle = loop.call_later(wait, self.run_now)

    def run_now(self) -> None:
        """Run what is pending now (a request made while it runs is served by a later run)."""
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
