"""Reading secrets from application code: `SecretReader`.

One configured store, a TTL cache (the seed's SecretCache, thread-safe), and the seed's rotation
pattern: when the caller's own code fails with an authentication error (the database rejected a
password that was rotated), clear the cache and try once more with a fresh value.

    reader = SecretReader.from_config("citadel.toml", source="aws-prod")

    @reader.refresh_on(psycopg.OperationalError, key="DB_PASSWORD")
    def connect():
        return psycopg.connect(password=reader.get("DB_PASSWORD"))

Importing this module loads neither Textual nor any cloud SDK; the configured store's SDK is
imported when the first secret is read.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from citadel_tui.core.cache import TTLCache
from citadel_tui.core.config import SourceConfig, load_config
from citadel_tui.core.errors import ConfigError, MalformedResponseError

T = TypeVar("T")


class SecretReader:
    def __init__(self, config: SourceConfig, *, ttl_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.cache: TTLCache[str] = TTLCache(ttl_seconds, clock)
        self._source: Any = None

    @classmethod
    def from_config(cls, path: str | Path, source: str, **kwargs: Any) -> SecretReader:
        """The reader for the source named `source` in a citadel.toml."""
        config = load_config(Path(path))
        for item in config.sources:
            if item.name == source:
                return cls(item, **kwargs)
        names = ", ".join(s.name for s in config.sources) or "none"
        raise ConfigError(f"{path}: no source named {source!r}; configured: {names}")

    def _store(self) -> Any:
        if self._source is None:
            from citadel_tui.providers import open_source

            self._source = open_source(self.config)
        return self._source

    def get(self, key: str) -> str:
        """The current value for an env key, from the cache while it is fresh."""
        value = self.cache.get(key)
        if value is None:
            value = self._store().read_value(key)
            self.cache.set(key, value)
        return value

    def get_json(self, key: str) -> Any:
        """The value parsed as JSON (e.g. the seed's `prod/database` object)."""
        try:
            return json.loads(self.get(key))
        except ValueError:
            raise MalformedResponseError(f"{key!r} in {self.config.name!r} is not JSON", source=self.config.name) from None

    def clear(self, key: str | None = None) -> None:
        """Forget one cached value, or all of them."""
        self.cache.clear(key)

    def refresh_on(self, *exc_types: type[BaseException], key: str | None = None
                   ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: if the wrapped call raises one of `exc_types`, clear the cache (one key or
        all) and call it once more, so a rotated credential is picked up."""
        if not exc_types:
            raise TypeError("refresh_on needs at least one exception type")

        def decorate(fn: Callable[..., T]) -> Callable[..., T]:
            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> T:
                try:
                    return fn(*args, **kwargs)
                except exc_types:
                    self.clear(key)
                    return fn(*args, **kwargs)

            return wrapper

        return decorate

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
