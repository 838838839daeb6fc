"""The checklist, its confirmations and the journal in the dashboard, against moto: every write is
shown and confirmed, declining writes nothing, confirm-all needs the right count, the journal tells."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList

from citadel_tui.tui.app import CitadelApp
from citadel_tui.tui.checklist import ChecklistScreen, JournalScreen
from citadel_tui.tui.confirm import ConfirmScreen
from citadel_tui.tui.screens import HelpScreen, TextScreen
from tests.tui_support import CANARY, SIZE, idle, logged, make_app, seed, settle, shown, until, write_scenario


@pytest.fixture
def app(tmp_path: Path, sm, moto_url: str) -> CitadelApp:
    seed(sm)
    return make_app(write_scenario(tmp_path, moto_url, down=None))


async def test_walk_decline_refuse_wrong_count_confirm_all_and_journal(app: CitadelApp, sm) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.statuses and idle(app))
        assert app.screen.query_one("#steps", OptionList).option_count == 9
        detail = shown(app, "#step-detail")
        assert "Review the keys" in detail and "inventory has not been reviewed" in detail

        # step 1: review, accept one problem, export
        await pilot.press("r")
        await until(pilot, lambda: idle(app) and "inventory marked reviewed" in logged(app))
        await pilot.press("a")
        await until(pilot, lambda: idle(app) and "accepted .env:" in logged(app))
        assert "inventory has not been reviewed" not in shown(app, "#step-detail")

        # step 2: the create plan, one action at a time
        await pilot.press("down", "p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        first = shown(app, "#confirm-lines")
        declined = re.search(r"(?:prod|staging)/app/\w+", first).group(0)
        assert "create in store aws-" in first and "fingerprint" in first and "length" in first
        assert CANARY not in first and "tags" in first and "layout" in first
        total = int(shown(app, "#confirm-title").rsplit(" of ", 1)[1])
        assert total >= 2
        await pilot.press("n")  # declined: nothing is written for it
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "action 2 of" in shown(app, "#confirm-title"))
        await pilot.press("tab", *str(total + 1), "enter")  # the wrong count is refused
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen) and app.screen.query_one(Input).value == ""
        assert "refused" in shown(app, "#confirm-prompt")
        await pilot.press(*str(total), "enter")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and idle(app)
                    and "create secrets:" in logged(app), timeout=30)
        log = logged(app)
        assert f"1/{total} declined create '{declined}'" in log
        assert f"create secrets: {total - 1} of {total} verified" in log
        names = {s["Name"] for s in sm.list_secrets()["SecretList"]}
        assert declined not in names

        # steps 3 to 9 show their help; step 6 refuses to delete a .env not yet migrated and rotated
        for title in ("Update application code", "Test with vault in staging", "Rotate all secrets",
                      "Remove .env from servers"):
            await pilot.press("down")
            await until(pilot, lambda: title in shown(app, "#step-detail"))
        await until(pilot, lambda: app.screen.query_one("#step-items", OptionList).option_count
                    and "loading" not in str(app.screen.query_one("#step-items", OptionList).get_option_at_index(0).prompt))
        await pilot.press("tab", "enter")
        await until(pilot, lambda: idle(app) and "cannot be deleted yet" in logged(app))
        assert (app.workspace.config.path.parent / ".env").exists()

        # escape declines the action shown and every one after it
        await pilot.press("shift+tab", "up", "up", "up", "up", "p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await until(pilot, lambda: idle(app) and "create secrets: 0 of 1 verified" in logged(app))
        assert declined not in {s["Name"] for s in sm.list_secrets()["SecretList"]}

        # the journal: the declined action and every verified one, never a value
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.query_one(DataTable).row_count)
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        outcomes = [(r[5], r[6]) for r in rows]
        assert outcomes.count((declined, "declined")) == 2
        assert sum(1 for _, o in outcomes if o == "verified") == total - 1
        assert all(CANARY not in " ".join(map(str, r)) for r in rows)
        assert CANARY not in app.export_screenshot()


async def test_an_action_cut_short_by_a_kill_is_rechecked_not_written_twice(app: CitadelApp, sm) -> None:
    """The process died after the write and before its verification: the journal says `started`,
    the secret is there. Confirmed again, the action is re-checked and verified; no second write."""
    from citadel_tui.core.journal import Journal

    target = "prod/app/ANALYTICS_TOKEN"
    action_id = f"create:create:aws-prod:{target}"
    journal = Journal(app.workspace.config.path.parent / ".citadel" / "journal.jsonl")
    for outcome in ("confirmed", "started"):
        journal.record(step="create", action_id=action_id, action="create", store="aws-prod", target=target,
                       outcome=outcome)
    sm.create_secret(Name=target, SecretString=CANARY)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.statuses and idle(app))
        await pilot.press("down", "p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        total = int(shown(app, "#confirm-title").rsplit(" of ", 1)[1])
        for number in range(1, total + 1):
            await until(pilot, lambda n=number: isinstance(app.screen, ConfirmScreen)
                        and f"action {n} of" in shown(app, "#confirm-title"))
            await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and idle(app)
                    and "create secrets:" in logged(app), timeout=30)
        assert f"verified create '{target}' in aws-prod" in logged(app)
    assert len(sm.list_secret_version_ids(SecretId=target)["Versions"]) == 1
    outcomes = [e.outcome for e in journal.entries() if e.action_id == action_id]
    assert outcomes == ["confirmed", "started", "rechecked", "verified"]


async def test_dry_run_shows_the_whole_plan_and_writes_nothing(app: CitadelApp, sm) -> None:
    journal = app.workspace.config.path.parent / ".citadel" / "journal.jsonl"
    before = {s["Name"] for s in sm.list_secrets()["SecretList"]}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.statuses and idle(app))
        table_keys = {b.binding.action: b.enabled for b in app.screen.active_bindings.values()}
        assert "sort_next" not in table_keys and "filter_text" not in table_keys  # the table's keys rest here
        assert table_keys["toggle_dry_run"] is True and table_keys["help"] is True

        await pilot.press("d", "down")
        await until(pilot, lambda: "DRY RUN" in shown(app, "#step-detail") and "Create secrets" in shown(app, "#step-detail"))
        await pilot.press("f1")  # help names this step's keys, not the table's
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = shown(app, "#help-keys")
        assert "Create secrets in vault with same names: plan the creates" in keys and "Dry run on/off" in keys
        assert "Sort" not in keys and "Step key" not in keys and "export csv" not in keys
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        title, plan = shown(app, "#text-title"), shown(app, "#text-content")
        total = int(re.search(r"(\d+) action\(s\), nothing runs", title).group(1))
        assert total >= 2 and f"{total}. create in store aws-" in plan and f"{total + 1}. " not in plan
        assert plan.count("fingerprint") >= total and CANARY not in plan
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and idle(app)
                    and f"dry run: {total} create secrets action(s) shown; nothing was written" in logged(app))

        await pilot.press("d", "p")  # off again: the same plan now asks, one action at a time
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert shown(app, "#confirm-title").endswith(f"action 1 of {total}")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and idle(app)
                    and f"create secrets: 0 of {total} verified" in logged(app))
    assert {s["Name"] for s in sm.list_secrets()["SecretList"]} == before
    outcomes = [json.loads(line)["outcome"] for line in journal.read_text().splitlines()]
    assert outcomes == ["declined"] * total  # the dry run journaled nothing; the decline journaled each action


async def test_a_new_value_is_entered_masked_confirmed_by_fingerprint_and_stored(app: CitadelApp, sm) -> None:
    from citadel_tui.tui.new_value import NewValueScreen

    new_value = "canary-new-value-9d1e-do-not-leak"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.statuses and idle(app))
        await pilot.press("down", "p")  # step 2: create everything first
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        total = int(shown(app, "#confirm-title").rsplit(" of ", 1)[1])
        await pilot.press("tab", *str(total), "enter")
        await until(pilot, lambda: idle(app) and "create secrets:" in logged(app), timeout=30)

        await pilot.press("down", "down", "down")  # step 5
        items = app.screen.query_one("#step-items", OptionList)
        await until(pilot, lambda: "Rotate all secrets" in shown(app, "#step-detail") and items.option_count > 1)
        labels = [str(items.get_option_at_index(i).prompt) for i in range(items.option_count)]
        target = next(i for i, label in enumerate(labels) if label.startswith("DB_PASSWORD in aws-prod "))
        assert "still the .env value" in labels[target]
        await pilot.press("tab", *["down"] * target, "enter")
        await until(pilot, lambda: isinstance(app.screen, NewValueScreen))
        await pilot.press("enter")  # empty: refused, the screen stays
        assert isinstance(app.screen, NewValueScreen) and "empty" in shown(app, "#value-keys")
        await pilot.press(*new_value)
        assert new_value not in app.export_screenshot()  # masked while typed
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        lines = shown(app, "#confirm-lines")
        assert "set-value in store aws-prod" in lines and "prod/app/DB_PASSWORD" in lines
        assert app.workspace.fingerprint(new_value) in lines
        assert re.search(rf"new length\s+{len(new_value)}\b", lines)
        assert new_value not in lines and CANARY not in lines
        assert not app.screen.query("#confirm-typed")  # one action: no "confirm all" to type
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and idle(app)
                    and "rotations: 1 of 1 verified" in logged(app), timeout=30)
        await until(pilot, lambda: any(str(items.get_option_at_index(i).prompt).startswith("DB_PASSWORD in aws-prod ")
                                       and "burned" in str(items.get_option_at_index(i).prompt)
                                       for i in range(items.option_count)))
        assert new_value not in app.export_screenshot() and new_value not in logged(app)
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == new_value
    citadel = app.workspace.config.path.parent / ".citadel"
    assert all(new_value not in p.read_text() for p in citadel.rglob("*") if p.is_file())


TYPED = "canary-typed-4b1f-do-not-leak"


async def test_a_typed_value_is_concealed_from_reprs_and_cleared_on_cancel() -> None:
    """A crash traceback (Textual prints every frame's locals) must not show a typed credential."""
    from rich.console import Console
    from rich.traceback import Traceback
    from textual.app import App

    from citadel_tui.core.concealed import Concealed
    from citadel_tui.tui.new_value import NewValueScreen

    got: list[object] = []
    app: App[None] = App()
    async with app.run_test() as pilot:
        app.push_screen(NewValueScreen("New value", ["line"]), got.append)
        await pilot.press(*TYPED, "enter")
        app.push_screen(NewValueScreen("New value", ["line"]), got.append)
        await pilot.press(*"half-typed")
        field = app.screen.query_one(Input)
        assert field.value == "half-typed"
        await pilot.press("escape")
        assert field.value == ""  # cancelled: the widget holds nothing either
    [value, cancelled] = got
    assert isinstance(value, Concealed) and value == TYPED and cancelled is None
    assert TYPED not in repr(value) and f"{len(TYPED)} characters" in repr(value)
    try:
        (lambda typed: 1 / 0)(value)
    except ZeroDivisionError:
        console = Console(record=True, width=200)
        console.print(Traceback(show_locals=True))  # as Textual prints a crash
    shown = console.export_text()
    assert "typed = <concealed, 29 characters>" in shown and TYPED not in shown
