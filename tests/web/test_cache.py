"""The answer cache's bounds and version rule, against a plain-list LRU model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from liuliang.web.cache import CachedView, CacheKey, ViewCache


def entry(size: int) -> CachedView:
    return CachedView(b"x" * size, 1.0)


def test_least_recently_used_goes_first() -> None:
    cache = ViewCache(max_entries=2)
    a, b, c = (CacheKey(1, k, ()) for k in "abc")
    cache.put(a, entry(1))
    cache.put(b, entry(1))
    assert cache.get(a) is not None  # a is now the most recent
    cache.put(c, entry(1))
    assert cache.get(b) is None and cache.get(a) is not None and cache.get(c) is not None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (3, 1, 2, 2)


def test_bytes_bound_and_oversized_answers() -> None:
    cache = ViewCache(max_entries=100, max_bytes=10)
    cache.put(CacheKey(1, "a", ()), entry(6))
    cache.put(CacheKey(1, "b", ()), entry(6))  # 12 bytes > 10: a goes
    assert len(cache) == 1 and cache.get(CacheKey(1, "b", ())) is not None
    cache.put(CacheKey(1, "huge", ()), entry(11))  # bigger than the whole cache: not kept, nothing evicted
    assert len(cache) == 1 and cache.stats().bytes == 6


def test_a_new_version_drops_the_old_answers() -> None:
    cache = ViewCache()
    for version in (1, 2):
        for key in "ab":
            cache.put(CacheKey(version, key, ("day",)), entry(3))
    cache.retain_version(2)
    assert {k.version for k in cache._items} == {2} and cache.stats().bytes == 6
    assert cache.get(CacheKey(1, "a", ("day",))) is None


ops = st.lists(
    st.tuples(st.sampled_from(["put", "get"]), st.integers(0, 6), st.integers(1, 5)), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(ops, st.integers(1, 4), st.integers(5, 15))
def test_matches_a_naive_lru(operations: list[tuple[str, int, int]], max_entries: int, max_bytes: int) -> None:
    cache = ViewCache(max_entries=max_entries, max_bytes=max_bytes)
    model: list[tuple[int, int]] = []  # (key, size), least recent first
    for op, k, size in operations:
        key = CacheKey(0, str(k), ())
        found = [m for m in model if m[0] == k]
        if op == "get":
            got = cache.get(key)
            assert (got is None) == (not found)
            if found:
                assert len(got.body) == found[0][1]
                model.remove(found[0])
                model.append(found[0])
        else:
            cache.put(key, entry(size))
            if found:
                model.remove(found[0])
            if size <= max_bytes:
                model.append((k, size))
                while len(model) > max_entries or sum(s for _, s in model) > max_bytes:
                    model.pop(0)
        assert [int(k.view) for k in cache._items] == [m[0] for m in model]
        assert cache.stats().bytes == sum(s for _, s in model)
