"""A thread-safe cache with a time-to-live per entry (the seed's SecretCache, made safe).

Used for store inventories and values, and by the runtime reader applications use. The clock is
injectable so expiry is exact in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if self.clock() - stored_at >= self.ttl:
                del self._entries[key]
                return None
            return value

    def set(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = (self.clock(), value)

    def clear(self, key: Hashable | None = None) -> None:
        """Forget one entry, or everything."""
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
