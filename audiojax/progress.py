"""Progress: a tqdm bar on a terminal; elsewhere (a log file, CI, a cluster job) a plain line
every ``AUDIOJAX_PROGRESS_SECONDS`` (default 30) instead of thousands of carriage returns.

    with progress(total=600, desc="train run", unit="step") as bar:
        bar.update(1); bar.set_postfix(loss="0.31"); bar.write("step 100: validation ...")
"""

from __future__ import annotations

import os
import sys
import time


class _Lines:
    """tqdm's interface (the part audiojax uses), printing ``desc: n/total unit (p%), r
    unit/s, postfix`` lines at most every ``every`` seconds, and at the end."""

    def __init__(self, iterable=None, total=None, desc="", unit="it", initial=0, file=None,
                 every: float = 30.0):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.file, self.every = initial, file or sys.stderr, every
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            self.total = len(iterable)
        self._start = self._last = time.monotonic()
        self._first, self._postfix, self._closed = initial, "", False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._line()

    def set_postfix(self, refresh: bool = True, **values) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, message: str) -> None:
        print(message, file=self.file, flush=True)

    def _line(self) -> None:
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self._first) / max(time.monotonic() - self._start, 1e-9)
        tail = f", {self._postfix}" if self._postfix else ""
        print(f"{self.desc}: {done} {self.unit}{share}, {rate:.2f} {self.unit}/s{tail}",
              file=self.file, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._line()


class _Silent(_Lines):
    def _line(self) -> None:
        pass


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it", initial: int = 0,
             disable: bool = False, file=None):
    """A progress bar (see the module docstring); ``disable``: nothing but ``write``."""
    file = file or sys.stderr
    if disable:
        return _Silent(iterable, total, desc, unit, initial, file)
    if file.isatty():
        from tqdm.auto import tqdm  # noqa: PLC0415

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file,
                    dynamic_ncols=True)
    return _Lines(iterable, total, desc, unit, initial, file,
                  every=float(os.environ.get("AUDIOJAX_PROGRESS_SECONDS", "30")))
