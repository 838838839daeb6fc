"""Load: refreshes in quick succession while the operator types never pile up store reads."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.tui.panels import FilterBar
from tests.tui_support import SIZE, make_app, seed, settle, write_scenario

LATENCY = 3.0
"""Several times one round of the test (a refresh and a filter typed, about 0.9 s), so that
refreshes overlap a read in flight even on a loaded machine."""


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def read_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("read "))


async def test_twenty_refreshes_while_typing_coalesce_and_memory_stays_flat(tmp_path: Path, sm, moto_url: str) -> None:
    seed(sm)
    with FaultProxy(moto_url) as proxy:
        proxy.injector.latency = LATENCY  # every store read takes a while: refreshes overlap
        app = make_app(write_scenario(tmp_path, proxy.url, down=None))
        stores = len(app.workspace.config.sources)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            baseline = 0
            most_threads = 0
            before = proxy.injector.requests
            started = time.monotonic()
            for round_ in range(20):
                await pilot.press("R")
                await pilot.press("slash", *"db", "escape")
                most_threads = max(most_threads, read_threads())
                if round_ == 4:
                    await settle(pilot)
                    baseline = rss_bytes()
            await settle(pilot)
            elapsed = time.monotonic() - started
            growth = rss_bytes() - baseline
            reads = proxy.injector.requests - before
            assert app.query_one(FilterBar).display is False  # the keys were handled
    assert most_threads <= stores, f"{most_threads} store reads at once for {stores} stores"
    # One read at a time per store, each LATENCY long: refreshes asked meanwhile were coalesced
    # (without that, every one of the 20 presses would have read every store).
    assert reads <= stores * (elapsed / LATENCY + 1), f"{reads} store reads in {elapsed:.1f} s for {stores} stores"
    assert reads < 20 * stores
    assert growth < 20_000_000, f"resident memory grew by {growth} bytes over 15 refreshes"
