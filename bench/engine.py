"""The comparison engine at scale: env keys x stores x secrets, time and peak memory.

EnvFile and Inventory objects are built directly (no server, no file): this measures `compare()`
alone. Each store holds `secrets` secrets; the first `keys` of them are named by the .env file,
the rest are orphans, so every row kind the engine makes is exercised.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from citadel_tui.core.classify import SECRET
from citadel_tui.core.compare import compare
from citadel_tui.core.envfile import EnvEntry, EnvFile
from citadel_tui.core.model import Inventory, Policy, SecretMeta

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)


@dataclass(frozen=True)
class EngineResult:
    keys: int
    stores: int
    secrets: int
    rows: int
    seconds: float
    peak_bytes: int


def inputs(keys: int, stores: int, secrets: int) -> tuple[list[EnvFile], list[Inventory]]:
    env = EnvFile(
        Path("/bench/.env"), "production",
        tuple(EnvEntry(f"KEY_{i:06d}", i + 1, SECRET, None, 12) for i in range(keys)), (),
    )
    inventories = [
        Inventory(f"store{s}", "aws", "production", tuple(
            SecretMeta(f"prod/app/KEY_{i:06d}", key=f"KEY_{i:06d}", last_changed=NOW - timedelta(days=i % 400),
                       next_rotation=NOW + timedelta(days=i % 90 - 10) if i % 3 else None,
                       rotation_enabled=bool(i % 3), last_accessed=NOW - timedelta(days=i % 200))
            for i in range(secrets)
        ))
        for s in range(stores)
    ]
    return [env], inventories


def bench_engine(keys: int, stores: int, secrets: int) -> EngineResult:
    """Time of one `compare()` (no tracing), then its peak allocation under tracemalloc."""
    env_files, inventories = inputs(keys, stores, secrets)
    gc.collect()
    started = time.perf_counter()
    comparison = compare(env_files, inventories, Policy(), NOW)
    seconds = time.perf_counter() - started
    rows = len(comparison.rows)
    del comparison
    gc.collect()
    tracemalloc.start()
    compare(env_files, inventories, Policy(), NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expected = stores * max(keys, secrets)
    if rows != expected:
        raise AssertionError(f"compare made {rows} rows, expected {expected}")
    return EngineResult(keys, stores, secrets, rows, seconds, peak)
