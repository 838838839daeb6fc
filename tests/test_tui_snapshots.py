"""Screenshots of the dashboard at 140x40 with a fixed clock: the all-stores table, a status
filter, the rotation view and the help screen. Ports, timings and temp paths never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui_support import SIZE, make_app, seed, settle, write_scenario


@pytest.fixture
def app(tmp_path: Path, sm, moto_url: str):
    seed(sm)
    return make_app(write_scenario(tmp_path, moto_url))


def after(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_all_stores(app, snap_compare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after())


def test_missing_only(app, snap_compare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after("m", "down", "down"))


def test_rotation_view(app, snap_compare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after("v"))


def test_help_screen(app, snap_compare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after("f1"))
