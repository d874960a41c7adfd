"""Files that must never be half-written or written by two at once: atomic replacement, and
exclusive locks that name their holder and vanish with it.

    with FileLock(workdir / ".lock", what=f"training {workdir}"):   # a second holder is refused
        atomic_write_text(workdir / "eval_test.json", text)          # readers see old or new
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename:
    a reader (or a crash) sees the old file or the new one, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` (UTF-8)."""
    atomic_write_bytes(path, text.encode())


class LockedError(RuntimeError):
    """A lock that another process holds; the message names it (PID, host, since when)."""


class FileLock:
    """An exclusive ``flock`` on ``path``, taken without waiting. The holder's PID, host and
    start time are written into the file, so a refused process can say who holds it; the
    operating system releases the lock when the holder exits, however it exits (no stale
    locks after a kill). ``what`` names the holder's work in the refusal."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.path, self.what = Path(path), what
        self._file = None

    def acquire(self) -> "FileLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            try:
                info = json.loads(holder)
                who = (f"PID {info['pid']} on {info['host']}, since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['since']))}")
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise LockedError(f"{self.path.parent}: {self.what} is already running ({who}); "
                              f"wait for it to end, or use another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.time()}))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
