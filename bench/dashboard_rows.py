"""How the dashboard copes with 50,000 rows: first frame, event-loop stalls, filter and sort.

A fake store answers (after a simulated network delay) with 50,000 secrets, half of them named
by a 25,000-key .env file, so the comparison has 25,000 present and 25,000 orphan rows. A timer
firing every 10 ms records its own lateness: the longest lateness is the longest time the event
loop could not answer a key press.

    python bench/dashboard_rows.py [ROWS]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from citadel_tui.core.config import parse_config
from citadel_tui.core.model import SecretMeta
from citadel_tui.tui.app import CitadelApp
from citadel_tui.tui.diff_table import DiffTable
from citadel_tui.tui.rows import Query, TableModel
from citadel_tui.workspace import Workspace

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)
NETWORK_DELAY = 0.5
TICK = 0.01


class FakeClient:
    requests = 1


class FakeSource:
    """Stands in for a store: `count` secrets, the first half named by the .env file."""

    def __init__(self, count: int) -> None:
        self.client = FakeClient()
        self.secrets = tuple(
            SecretMeta(f"prod/app/KEY_{i:06d}", key=f"KEY_{i:06d}", last_changed=NOW - timedelta(days=i % 400),
                       next_rotation=NOW + timedelta(days=i % 90 - 10) if i % 3 else None, rotation_enabled=bool(i % 3))
            for i in range(count)
        )

    def inventory(self, fingerprint: object = None, refresh: bool = False) -> tuple[SecretMeta, ...]:
        time.sleep(NETWORK_DELAY)
        return self.secrets

    def close(self) -> None:
        pass


class StallMeter:
    def __init__(self) -> None:
        self.worst = 0.0
        self._last = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - TICK)
        self._last = now

    def reset(self) -> None:
        self.worst, self._last = 0.0, time.perf_counter()


async def wait_for_rows(table: DiffTable, previous: object, timeout: float = 60) -> float:
    started = time.perf_counter()
    while table.rows is previous:
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the table never changed")
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def main(rows: int) -> None:
    root = Path(tempfile.mkdtemp())
    (root / ".env").write_text("".join(f"KEY_{i:06d}=value{i}\n" for i in range(rows // 2)))
    config = parse_config({
        "env": [{"path": ".env", "environment": "production"}],
        "source": [{"name": "big", "kind": "aws", "environment": "production", "prefix": "prod/app/"}],
    }, root / "citadel.toml")
    source = FakeSource(rows)
    app = CitadelApp(Workspace(config, clock=lambda: NOW, opener=lambda _: source))
    meter = StallMeter()
    gc_times: list[tuple[float, float]] = []
    """(when it ended, how long it took) of every full collection."""
    gc_started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif info["generation"] == 2:
            gc_times.append((time.perf_counter(), time.perf_counter() - gc_started[0]))

    gc.callbacks.append(on_gc)
    started = time.perf_counter()
    async with app.run_test(size=(140, 40)) as pilot:
        first_frame = time.perf_counter() - started
        app.set_interval(TICK, meter.tick)
        meter.reset()
        table = app.query_one(DiffTable)
        while len(table.rows) < rows:
            await asyncio.sleep(0.01)
        filled_at = time.perf_counter()
        loaded = filled_at - started
        load_stall = meter.worst

        meter.reset()
        await pilot.press("slash")
        typing = []
        for char in "key_01234":
            before, pressed = table.rows, time.perf_counter()
            await pilot.press(char)
            await wait_for_rows(table, before)
            typing.append(time.perf_counter() - pressed)
        filter_stall = meter.worst
        before = table.rows
        await pilot.press("escape")
        await wait_for_rows(table, before)

        meter.reset()
        sorts = []
        for _ in range(11):
            before, pressed = table.rows, time.perf_counter()
            await pilot.press("s")
            await wait_for_rows(table, before)
            sorts.append(time.perf_counter() - pressed)
        sort_stall = meter.worst

        meter.reset()
        for _ in range(200):
            await pilot.press("pagedown")
        scroll_stall = meter.worst
        interactive_end = time.perf_counter()

    model_started = time.perf_counter()
    model = TableModel.build(app.model.comparison, root)
    build = time.perf_counter() - model_started
    select_started = time.perf_counter()
    model.select(Query(text="key_01", sort="changed"))
    first_sort = time.perf_counter() - select_started

    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print(f"rows                                  {rows:,} (simulated store delay {ms(NETWORK_DELAY)})")
    print(f"first frame (app start -> ready)      {ms(first_frame)}")
    print(f"table filled (start -> {rows:,} rows)  {ms(loaded)}")
    print(f"longest loop stall while loading      {ms(load_stall)}")
    print(f"filter, per keystroke (worst / mean)  {ms(max(typing))} / {ms(sum(typing) / len(typing))}")
    print(f"longest loop stall while filtering    {ms(filter_stall)}")
    print(f"sort by next column (worst / mean)    {ms(max(sorts))} / {ms(sum(sorts) / len(sorts))}")
    print(f"longest loop stall while sorting      {ms(sort_stall)}")
    print(f"longest loop stall, 200 x page down   {ms(scroll_stall)}")
    loading = [d for at, d in gc_times if at <= filled_at]
    interactive = [d for at, d in gc_times if filled_at < at <= interactive_end]
    print(f"full GCs while loading                {len(loading)}, longest {ms(max(loading, default=0))}")
    print(f"full GCs filter/sort/scroll           {len(interactive)}, longest {ms(max(interactive, default=0))}")
    print(f"off-loop: build rows {ms(build)}, first sort + filter by a new column {ms(first_sort)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
