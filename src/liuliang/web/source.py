"""The dashboard's one read-only connection to the workspace: serialised, re-opened when the file changes, and let
go when idle so an ingest can run.

Why each part:

- **Read-only.** The DuckDB file is opened with ``read_only=True``; the dashboard cannot write even by mistake.
- **One lock.** A DuckDB connection must not run two statements at once, and FastAPI answers synchronous endpoints
  from a thread pool, so every warehouse read happens under :attr:`WorkspaceSource.lock`.
- **A cheap stamp.** Whether the workspace may have changed is read from the file system (size, mtime and inode of
  the file and its write-ahead log), which costs microseconds, so a cached answer is served without touching the
  warehouse. When the stamp moves, the connection is re-opened and the version (the last committed ingest id) is
  read again; the stamp alone never decides a version.
- **Idle release.** DuckDB lets one writer *or* any number of readers hold a file. A dashboard that kept its
  connection forever would make every ``liuliang ingest`` fail, so the connection is closed after
  ``release_after`` idle seconds. While an ingest holds the file, requests answer from the cache of the last version
  seen (the ingest has not committed yet, so those answers are still the data's) or fail with
  :class:`WorkspaceLockedError`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from liuliang.errors import WorkspaceError
from liuliang.warehouse import Workspace

DEFAULT_RELEASE_AFTER = 10.0


class WorkspaceLockedError(WorkspaceError):
    """Another process (an ingest) holds the workspace file for writing; retry when it finishes."""


@dataclass(frozen=True)
class FileStamp:
    """What the file system says about the workspace file and its write-ahead log."""

    file: tuple[int, int, int] | None
    wal: tuple[int, int, int] | None

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        return cls(_stat(path), _stat(path.with_name(path.name + ".wal")))


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class WorkspaceSource:
    """Hands out the read-only :class:`~liuliang.warehouse.Workspace` under a lock, with its version.

    Parameters
    ----------
    path:
        The workspace's DuckDB file (it must exist).
    release_after:
        Seconds without a read after which the connection is closed (``None``: keep it open).
    memory_limit:
        DuckDB ``memory_limit`` for the reading connection.
    """

    def __init__(
        self, path: str | Path, *, release_after: float | None = DEFAULT_RELEASE_AFTER, memory_limit: str | None = None
    ) -> None:
        self.path = Path(path)
        self.release_after = release_after
        self.memory_limit = memory_limit
        self.lock = threading.RLock()
        self._ws: Workspace | None = None
        self._stamp: FileStamp | None = None
        self._version: int | None = None
        self._last_used = 0.0
        self._timer: threading.Timer | None = None
        self.opens = 0  # how many times a connection was opened (tests and benchmarks read it)

    def known_version(self) -> int | None:
        """The version last read, if the file has not changed since (no lock, no query: a stat)."""
        version, stamp = self._version, self._stamp
        if stamp is not None and FileStamp.of(self.path) == stamp:
            return version
        return None

    @property
    def last_version(self) -> int | None:
        """The version last read, changed file or not (answers from it are valid until an ingest commits)."""
        return self._version

    @contextmanager
    def reading(self) -> Iterator[tuple[Workspace, int]]:
        """``(workspace, version)`` for the duration of the block, with the warehouse lock held."""
        with self.lock:
            try:
                yield self._fresh()
            finally:
                self._last_used = time.monotonic()
                self._schedule_release()

    def _fresh(self) -> tuple[Workspace, int]:
        stamp = FileStamp.of(self.path)
        if self._ws is not None and stamp == self._stamp and self._version is not None:
            return self._ws, self._version
        self._close_connection()
        if stamp.file is None:
            raise WorkspaceError(f"{self.path}: the workspace file is gone")
        try:
            ws = Workspace.open(self.path, read_only=True, memory_limit=self.memory_limit)
        except Exception as exc:
            text = str(exc).lower()
            if "lock" in text or "different configuration" in text:  # another process / this process writes it
                raise WorkspaceLockedError(
                    f"{self.path} is being written by another process (an ingest?); try again when it finishes"
                ) from exc
            raise
        self.opens += 1
        try:
            version = ws.committed_ingest()
        except BaseException:
            ws.close()
            raise
        # The stamp taken before opening: a write in between only makes the next read re-open once more.
        self._ws, self._stamp, self._version = ws, stamp, version
        return ws, version

    def _schedule_release(self) -> None:
        if self.release_after is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.release_after, self._release_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _release_if_idle(self) -> None:
        if not self.lock.acquire(blocking=False):
            return  # a read is running; it schedules the next release itself
        try:
            if self.release_after is not None and time.monotonic() - self._last_used >= self.release_after * 0.9:
                self._close_connection()
        finally:
            self.lock.release()

    def release(self) -> None:
        """Close the connection now (the next read re-opens it); lets another process write the file."""
        with self.lock:
            self._close_connection()

    def _close_connection(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.release()
