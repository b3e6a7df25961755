"""The dashboard's answer cache: encoded view responses, per workspace version, least recently used out first.

A view is a pure function of (workspace data, view key, knobs), and the workspace changes only when an ingest
commits, so an answer keyed by (workspace version, key, normalised knobs) never goes stale: a new ingest changes the
version and with it every key, and :meth:`ViewCache.retain_version` drops the old answers at once instead of leaving
them to age out. Values are the encoded JSON bodies, so a hit costs a dictionary lookup and no re-serialising.

Bounded two ways, by entry count and by total bytes, because one cohort heatmap's JSON can weigh a few hundred KB
while a scorecard weighs a few. Thread-safe: FastAPI answers synchronous endpoints from a thread pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

DEFAULT_MAX_ENTRIES = 512
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class CacheKey:
    """What determines an answer: the workspace version (last committed ingest), the view and its knobs."""

    version: int
    view: str
    knobs: Hashable


@dataclass(frozen=True)
class CachedView:
    """An encoded answer (JSON object without the per-response fields) and how long it took to build."""

    body: bytes
    build_ms: float


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int


class ViewCache:
    """A bounded LRU of :class:`CachedView` keyed by :class:`CacheKey`."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[CacheKey, CachedView] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CachedView | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self._misses += 1
                return None
            self._items.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: CacheKey, value: CachedView) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            if len(value.body) > self.max_bytes:
                return  # larger than the whole cache: keeping it would evict everything else
            self._items[key] = value
            self._bytes += len(value.body)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted.body)

    def retain_version(self, version: int) -> None:
        """Drop every answer computed on another workspace version (called when a new ingest is seen)."""
        with self._lock:
            for key in [k for k in self._items if k.version != version]:
                self._bytes -= len(self._items.pop(key).body)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._items), self._bytes)

    def __len__(self) -> int:
        return len(self._items)
