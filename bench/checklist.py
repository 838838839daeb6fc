"""What the migration checklist costs on the demo's four real servers (moto, OpenBao, the GCP and
Azure emulators), against what the dashboard reads anyway.

    python -m bench.checklist [--repeats 5]

- judging the nine steps (`Migration.step_status`: every inventory with value fingerprints, the
  .env files, a usage scan, git, the audit status of every store) against the bare read of every
  inventory with fingerprints (`Workspace.load_all`), before and after the secrets are created:
  fresh (R: stores read, code scanned) and after a tick (caches kept);
- one confirmed create through plan -> confirm -> run -> verify -> journal (fsync per entry),
  against the same secret written with the store's SDK and nothing else (AWS, moto).

Figures are medians of `--repeats` runs in one process; ratios, since the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from citadel_tui.core.config import load_config
from citadel_tui.demo import demo_workspace
from citadel_tui.migration import Migration
from citadel_tui.workspace import Workspace


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(repeats: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="citadel-bench-") as folder, \
            demo_workspace(Path(folder), scenario="migration") as demo:
        workspace = Workspace(load_config(demo.config_path))
        migration = Migration(workspace)
        try:
            for phase in ("all missing", "all created"):
                if phase == "all created":
                    stores = [c.name for c in workspace.config.sources]
                    migration.select_keys([k for k in migration.selected_keys() if k != "GITHUB_TOKEN"])
                    plan = migration.plan_creates(stores)
                    start = time.perf_counter()
                    outcomes = migration.run(plan, lambda action: True)
                    per_action = (time.perf_counter() - start) / len(plan)
                    assert all(o.state == "verified" for o in outcomes), [o.detail for o in outcomes]
                floor = median_seconds(lambda: workspace.load_all(compare_values=True, refresh=True), repeats)
                fresh = median_seconds(lambda: migration.step_status(fresh=True), repeats)
                cached = median_seconds(migration.step_status, repeats)
                rows.append((f"nine steps judged (R), {phase}", f"{fresh * 1000:.0f} ms = {fresh / floor:.2f}x "
                                                                f"reading every inventory ({floor * 1000:.0f} ms)"))
                rows.append((f"nine steps judged after a tick, {phase}", f"{cached * 1000:.0f} ms = "
                                                                         f"{cached / floor:.2f}x"))
            rows.append(("one create, all stores (plan to journal)", f"{per_action * 1000:.0f} ms per action "
                                                                     f"({len(plan)} actions)"))
            rows.append(_create_against_sdk(workspace, migration, repeats))
        finally:
            workspace.close()
    return rows


def _create_against_sdk(workspace: Workspace, migration: Migration, repeats: int) -> tuple[str, str]:
    """One AWS create through the whole path against one bare create_secret call."""
    import boto3

    config = workspace.source("aws-prod").config
    client = boto3.client("secretsmanager", endpoint_url=config.option("endpoint_url"),
                          region_name=config.option("region"))
    sdk_times, citadel_times = [], []
    for _ in range(repeats):
        name = f"bench/sdk-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        client.create_secret(Name=name, SecretString="bench-value")
        sdk_times.append(time.perf_counter() - start)
        key = f"BENCH_{uuid.uuid4().hex[:8].upper()}_TOKEN"
        with (migration.root / ".env").open("a") as env:
            env.write(f"{key}=bench-value-{uuid.uuid4().hex}\n")
        start = time.perf_counter()
        [action] = migration.plan_creates(["aws-prod"], [key])
        [outcome] = migration.run([action], lambda a: True)
        citadel_times.append(time.perf_counter() - start)
        assert outcome.state == "verified", outcome.detail
    sdk, citadel = statistics.median(sdk_times), statistics.median(citadel_times)
    return ("one AWS create: plan, confirm, write, verify, journal",
            f"{citadel * 1000:.0f} ms = {citadel / sdk:.1f}x a bare create_secret ({sdk * 1000:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = bench(args.repeats)
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")


if __name__ == "__main__":
    main()
