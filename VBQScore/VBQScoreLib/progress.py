"""Progress reporting shared by the CLI (tqdm bar) and Slicer (progress dialog).

Core functions take an optional ``progress`` callable ``progress(done: int, total: int, message: str)``.
They call it as work advances; it never affects results. ``None`` means silent.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int, str], None] | None


def report(progress: ProgressCallback, done: int, total: int, message: str = "") -> None:
    if progress is not None:
        progress(done, total, message)


class TqdmProgress:
    """Adapter: a ``progress`` callable that drives a tqdm bar on stderr (CLI only)."""

    def __init__(self, desc: str = "", unit: str = "it", disable: bool | None = None):
        from tqdm import tqdm

        self._bar = tqdm(total=0, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True)

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if message:
            self._bar.set_postfix_str(message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
