from __future__ import annotations

import threading

from citadel_tui.core.cache import TTLCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_exactly_at_their_ttl() -> None:
    clock = FakeClock()
    cache: TTLCache[str] = TTLCache(300, clock)
    cache.set("a", "1")
    clock.now += 299.999
    assert cache.get("a") == "1"
    clock.now += 0.001
    assert cache.get("a") is None and len(cache) == 0


def test_per_entry_expiry_and_clear() -> None:
    clock = FakeClock()
    cache: TTLCache[int] = TTLCache(10, clock)
    cache.set("old", 1)
    clock.now += 5
    cache.set("new", 2)
    clock.now += 5
    assert (cache.get("old"), cache.get("new")) == (None, 2)
    cache.set("x", 3)
    cache.clear("new")
    assert (cache.get("new"), cache.get("x")) == (None, 3)
    cache.clear()
    assert len(cache) == 0


def test_concurrent_writers_do_not_lose_entries() -> None:
    cache: TTLCache[int] = TTLCache(60)

    def write(base: int) -> None:
        for i in range(500):
            cache.set(base + i, i)

    threads = [threading.Thread(target=write, args=(n * 1000,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 4000
