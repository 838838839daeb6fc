"""The one pipeline every front end uses: sources -> inventory -> comparison.

A Workspace holds the configuration, one `Source` per configured store (opened on first use,
so an SDK is imported only when its store is read), and the per-run fingerprint key.
The CLI calls `load_all()`; the dashboard calls `load()` per store from its workers.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from dotenv.parser import parse_stream

from citadel_tui.core.classify import SECRET
from citadel_tui.core.compare import Comparison, compare
from citadel_tui.core.config import Config, SourceConfig
from citadel_tui.core.envfile import EnvFile, read_env_text, read_env_file
from citadel_tui.core.errors import CitadelError, EnvFileError
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import Inventory
from citadel_tui.providers import Source, open_source


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Workspace:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utc_now,
        opener: Callable[[SourceConfig], Source] = open_source,
    ) -> None:
        self.config = config
        self.clock = clock
        self.fingerprint = Fingerprinter()
        self._opener = opener
        self._sources: dict[str, Source] = {}
        self._lock = threading.Lock()

    def read_env_files(self) -> tuple[list[EnvFile], list[EnvFileError]]:
        """Every configured .env file that could be read, and an error for each that could not."""
        files, failures = [], []
        for env in self.config.envs:
            try:
                files.append(read_env_file(env.path, env.environment, self.fingerprint))
            except EnvFileError as exc:
                failures.append(exc)
        return files, failures

    def env_value(self, path: Path, key: str) -> str:
        """One key's value, read from the file at this moment (the last binding wins, as in
        python-dotenv), for the one write that needs it. Same guarded read as the inventory."""
        value = None
        for binding in parse_stream(io.StringIO(read_env_text(path))):
            if binding.key == key and not binding.error:
                value = binding.value
        if not value:
            raise EnvFileError(f"{path}: no value for {key} any more; reload the inventory and plan again")
        return value

    def source(self, name: str) -> Source:
        with self._lock:
            if name not in self._sources:
                config = next(s for s in self.config.sources if s.name == name)
                self._sources[name] = self._opener(config)
            return self._sources[name]

    def load(self, config: SourceConfig, *, compare_values: bool = False, refresh: bool = False) -> Inventory:
        """Read one source's inventory; any failure becomes the Inventory's error, never a raise."""
        started = time.perf_counter()
        source: Source | None = None
        try:
            source = self.source(config.name)
            secrets = source.inventory(fingerprint=self.fingerprint if compare_values else None, refresh=refresh)
        except CitadelError as exc:
            return Inventory(
                config.name, config.kind, config.environment, error=str(exc),
                error_class=type(exc).__name__,
                requests=source.client.requests if source else 0,
                seconds=time.perf_counter() - started,
            )
        return Inventory(
            config.name, config.kind, config.environment, secrets,
            requests=source.client.requests, seconds=time.perf_counter() - started,
        )

    def load_all(self, *, compare_values: bool = False, refresh: bool = False) -> list[Inventory]:
        """Every source at once: the total time is about the slowest source, not the sum."""
        configs: Sequence[SourceConfig] = self.config.sources
        if not configs:
            return []
        with ThreadPoolExecutor(max_workers=len(configs)) as pool:
            return list(pool.map(lambda c: self.load(c, compare_values=compare_values, refresh=refresh), configs))

    def secret_values(self, environment: str) -> tuple[dict[str, str], list[str]]:
        """Every key the environment's stores hold, with its value, and the secret-class keys of
        the environment's .env files that no store holds. The first source configured wins.
        Raises the first store or .env error: a command must not start half-configured."""
        env_files, failures = self.read_env_files()
        if failures:
            raise failures[0]
        values: dict[str, str] = {}
        for config in self.config.sources:
            if config.environment != environment:
                continue
            source = self.source(config.name)
            keys = [m.key for m in source.inventory() if m.key and m.key not in values and config.holds(m.key)
                    and m.enabled and m.deletion_date is None]
            values.update(source.read_values(keys))
        wanted = {e.key for f in env_files if f.environment == environment for e in f.entries if e.klass == SECRET}
        return values, sorted(wanted - set(values))

    def compare(self, env_files: Sequence[EnvFile], inventories: Sequence[Inventory], *, compare_values: bool = False) -> Comparison:
        scopes = {c.name: c.keys for c in self.config.sources if c.keys is not None}
        return compare(env_files, inventories, self.config.policy, self.clock(), compare_values=compare_values,
                       scopes=scopes)

    def close(self) -> None:
        with self._lock:
            for source in self._sources.values():
                source.close()
            self._sources.clear()
