"""The Workspace pipeline: sources load concurrently, one failure never stops the others."""

from __future__ import annotations

import time
from pathlib import Path

from citadel_tui.core.config import parse_config
from citadel_tui.emulators.faults import Fault
from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.workspace import Workspace

LATENCY = 0.6


def config_for(urls: list[str], tmp_path: Path):
    sources = [
        {"name": f"aws-{i}", "kind": "aws", "prefix": "app/", "region": "us-east-1", "endpoint_url": url,
         "max_retries": 0, "timeout_seconds": 5}
        for i, url in enumerate(urls)
    ]
    return parse_config({"source": sources}, tmp_path / "citadel.toml")


def test_sources_load_concurrently_and_failures_stay_in_their_source(sm, moto_url: str, tmp_path: Path) -> None:
    sm.create_secret(Name="app/A_KEY", SecretString="x")
    proxies = [FaultProxy(moto_url).start() for _ in range(3)]
    try:
        for proxy in proxies:
            proxy.injector.latency = LATENCY
        proxies[2].injector.push(Fault.FORBIDDEN)
        workspace = Workspace(config_for([p.url for p in proxies], tmp_path))
        started = time.perf_counter()
        inventories = workspace.load_all()
        elapsed = time.perf_counter() - started
    finally:
        for proxy in proxies:
            proxy.stop()
    assert [(i.source, i.ok, len(i.secrets)) for i in inventories] == [
        ("aws-0", True, 1), ("aws-1", True, 1), ("aws-2", False, 0),
    ]
    assert inventories[2].error_class == "PermissionDeniedError"
    assert "secretsmanager:ListSecrets" in (inventories[2].error or "")
    # Three sources, each at least one LATENCY away: together about one LATENCY, not three.
    assert elapsed < 2 * LATENCY


def test_refresh_bypasses_the_cache(sm, moto_url: str, tmp_path: Path) -> None:
    workspace = Workspace(config_for([moto_url], tmp_path))
    config = workspace.config.sources[0]
    assert len(workspace.load(config).secrets) == 0
    sm.create_secret(Name="app/NEW_KEY", SecretString="x")
    assert len(workspace.load(config).secrets) == 0  # still fresh in the cache
    assert [s.key for s in workspace.load(config, refresh=True).secrets] == ["NEW_KEY"]
