"""The dashboard driven through Textual's pilot against moto: what the screen shows."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Tab

from citadel_tui.core.errors import StoreUnavailableError
from citadel_tui.tui.app import CitadelApp
from citadel_tui.tui.diff_table import DiffTable
from citadel_tui.tui.panels import DetailsPanel, FilterBar, StoreStatus, SummaryBar
from citadel_tui.tui.rows import COLUMN_INDEX
from citadel_tui.tui.screens import HelpScreen, RotationScreen
from tests.tui_support import CANARY, SIZE, hanging_endpoint, make_app, seed, settle, source_toml, write_scenario


@pytest.fixture
def app(tmp_path: Path, sm, moto_url: str) -> CitadelApp:
    seed(sm)
    return make_app(write_scenario(tmp_path, moto_url))


def keys(app: CitadelApp) -> list[tuple[str, str]]:
    """(key or secret name, source) of every row on screen, in order."""
    return [(v.row.key, v.row.source) for v in app.query_one(DiffTable).rows]


def text(app: CitadelApp, widget: type) -> str:
    return str(app.query_one(widget).render())


def tab(app: CitadelApp, name: str) -> str:
    return next(t.label.plain for t in app.query(Tab) if t.label.plain.startswith(name))


async def test_both_sides_store_states_and_summary(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rows = {(v.row.key, v.row.source): v for v in app.query_one(DiffTable).rows}
        assert len(rows) == 11
        missing = rows["ANALYTICS_TOKEN", "aws-prod"]
        assert missing.cells[COLUMN_INDEX["secret"]] == "" and missing.cells[COLUMN_INDEX["file"]] == ".env:1"
        orphan = rows["LEGACY_KEY", "aws-prod"]
        assert orphan.cells[COLUMN_INDEX["key"]] == "" and orphan.cells[COLUMN_INDEX["secret"]] == "prod/app/LEGACY_KEY"
        overdue = rows["API_TOKEN", "aws-prod"].cells
        assert overdue[COLUMN_INDEX["rotation"]] == "overdue 10d" and overdue[COLUMN_INDEX["changed"]] == "40d ago"
        assert rows["STRIPE_KEY", "aws-prod"].cells[COLUMN_INDEX["problems"]] == "duplicate"
        assert tab(app, "aws-prod") == "aws-prod ✓ 5"
        assert tab(app, "aws-down") == "aws-down ✗ StoreUnavailableError"
        assert "aws-down: StoreUnavailableError: cannot reach AWS endpoint" in text(app, StoreStatus)
        summary = text(app, SummaryBar)
        assert "11 of 11 rows" in summary and "missing 4" in summary and "rotation-overdue 1" in summary


async def test_filter_by_text_status_and_sort(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"stripe")
        await settle(pilot)
        assert app.focused is app.query_one(FilterBar)
        assert keys(app) == [("STRIPE_KEY", "aws-prod")]
        await pilot.press("escape")
        await settle(pilot)
        assert len(keys(app)) == 11 and isinstance(app.focused, DiffTable)

        await pilot.press("m")
        await settle(pilot)
        assert {k for k, _ in keys(app)} == {"ANALYTICS_TOKEN", "LOG_LEVEL", "PORT", "REDIS_URL"}
        assert "filter: status=missing" in text(app, SummaryBar)
        await pilot.press("m")
        await settle(pilot)
        assert len(keys(app)) == 11

        await pilot.click(DiffTable, offset=(64, 0))  # the STORE header
        await settle(pilot)
        assert app.view_query.sort == "store" and keys(app)[-1][1] == "aws-staging"
        await pilot.click(DiffTable, offset=(64, 0))
        await settle(pilot)
        assert app.view_query.reverse and keys(app)[0][1] == "aws-staging"
        await pilot.press("s")
        await settle(pilot)
        assert app.view_query.sort == "secret" and not app.view_query.reverse


async def test_store_tabs_cursor_and_details(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert {s for _, s in keys(app)} == {"aws-prod"} and len(keys(app)) == 8
        assert "aws-staging" not in text(app, StoreStatus)
        await pilot.click(DiffTable, offset=(2, 2))  # second row: API_TOKEN
        await settle(pilot)
        details = text(app, DetailsPanel)
        assert "API_TOKEN" in details and "prod/app/API_TOKEN" in details
        assert "rotation enabled every 30d" in details and "overdue 10d (2026-02-20)" in details
        assert "do    rotate now" in details and "tags team=payments" in details
        await pilot.press("down", "down")
        await settle(pilot)
        assert "configure rotation" in text(app, DetailsPanel)  # DB_PASSWORD: no rotation
        await pilot.click(Tab, offset=(2, 0))  # the "all stores" tab
        await settle(pilot)
        assert len(keys(app)) == 11


async def test_store_failing_mid_refresh_stays_in_its_place(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        client = app.workspace.source("aws-prod").client

        def refuse(prefix: str):
            raise StoreUnavailableError("cannot reach AWS endpoint (test): connection reset")

        client.list_secrets = refuse
        await pilot.press("R")
        await settle(pilot)
        assert tab(app, "aws-prod") == "aws-prod ✗ StoreUnavailableError"
        assert "aws-prod: StoreUnavailableError: cannot reach AWS endpoint (test)" in text(app, StoreStatus)
        assert {s for _, s in keys(app)} == {"aws-staging"}
        assert tab(app, "aws-staging") == "aws-staging ✓ 2"


async def test_first_frame_and_keys_while_a_store_hangs(tmp_path: Path, sm, moto_url: str) -> None:
    seed(sm)
    with hanging_endpoint() as endpoint:
        config_path = tmp_path / "citadel.toml"
        write_scenario(tmp_path, moto_url, down=None)
        config_path.write_text(config_path.read_text() + source_toml("aws-hung", "production", "prod/app/", endpoint, 30))
        from citadel_tui.core.config import load_config

        app = make_app(load_config(config_path))
        started = time.perf_counter()
        async with app.run_test(size=SIZE) as pilot:
            assert time.perf_counter() - started < 5
            assert tab(app, "aws-hung").startswith("aws-hung ") and "✓" not in tab(app, "aws-hung")
            for _ in range(100):
                await pilot.pause(0.05)
                if app.stores["aws-prod"].state == "loaded" and len(app.query_one(DiffTable).rows) == 11:
                    break
            assert app.stores["aws-hung"].state == "loading"
            await pilot.press("slash", *"redis")
            await pilot.pause(0.3)
            assert app.query_one(FilterBar).value == "redis"
            assert keys(app) == [("REDIS_URL", "aws-staging")]
            assert "aws-hung: loading" in text(app, StoreStatus)
            reader = next(t for t in threading.enumerate() if t.name == "read aws-hung")
            assert reader.daemon  # quitting does not wait for the hung store's timeout


async def test_rotation_view_help_and_palette(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, RotationScreen)
        outlook = str(app.screen.query_one("#rotation-outlook").render())
        assert "overdue           1" in outlook and "wk  1 Mar 02     1" in outlook and "wk  6 Apr 06     1" in outlook
        ages = str(app.screen.query_one("#rotation-ages").render())
        assert "aws-prod (5 secrets)" in ages and "> 1y          1" in ages
        await pilot.press("escape", "f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        lines = str(app.screen.query_one("#help-keys").render()).splitlines()
        described = {line[12:].strip(): line[:12].strip() for line in lines if line.strip()}
        assert described["Refresh all"] == "R" and described["Filter"] == "/" and described["Only orphan"] == "o"
        await pilot.press("escape", "ctrl+p")
        await pilot.pause()
        await pilot.press(*"Filter: orphan")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert app.view_query.status == "orphan" and len(keys(app)) == 2


async def test_no_value_is_ever_rendered(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screens = [app.export_screenshot()]
        for key in ("down", "down", "down", "right_square_bracket", "down", "down", "down", "down"):
            await pilot.press(key)
            await settle(pilot)
            screens.append(app.export_screenshot())
        await pilot.press("v")
        await pilot.pause()
        screens.append(app.export_screenshot())
        assert all(CANARY not in svg and "changeme" not in svg for svg in screens)


async def test_fingerprint_toggle_shows_match_never_values(app: CitadelApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"db_pass", "enter")
        await settle(pilot)
        assert "not compared (f compares fingerprints" in text(app, DetailsPanel)
        await pilot.press("c", "f")
        await settle(pilot)
        assert app.compare_values
        statuses = {(v.row.key, v.row.source): v.row.statuses for v in app.query_one(DiffTable).rows}
        assert "in-sync" in statuses["DB_PASSWORD", "aws-prod"] and "drift" in statuses["SESSION_SECRET", "aws-prod"]
        await pilot.press("slash", *"db_pass", "enter")
        await settle(pilot)
        assert "fingerprint matches .env" in text(app, DetailsPanel)
        await pilot.press("c", "slash", *"session", "enter")
        await settle(pilot)
        assert "fingerprint differs from .env" in text(app, DetailsPanel)
        assert CANARY not in app.export_screenshot() and "changeme" not in app.export_screenshot()
        await pilot.press("f")
        await settle(pilot)
        assert not app.compare_values
        assert not any("in-sync" in v.row.statuses for v in app.query_one(DiffTable).rows)
