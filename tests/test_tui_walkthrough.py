"""The whole checklist in the dashboard, through the Pilot, on `citadel demo --scenario migration`
against the four real local stores (moto, OpenBao, the GCP and Azure emulators): from every key
missing to all nine steps done. On the way: a declined confirmation writes nothing, a store failing
mid-plan keeps what succeeded and the rest is retried, the burn proof fails for a secret that was
not rotated, a .env file is deleted only after its exact name is typed. Nothing ever shows a value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.content import Content
from textual.widgets import DataTable, OptionList, RichLog

from citadel_tui.core.config import load_config
from citadel_tui.demo import CANARY, write_workspace
from citadel_tui.emulators.faults import Fault
from citadel_tui.tui.app import CitadelApp
from citadel_tui.tui.checklist import ChecklistScreen, JournalScreen
from citadel_tui.tui.confirm import ConfirmScreen
from citadel_tui.tui.screens import TextScreen
from citadel_tui.workspace import Workspace
from tests.tui_support import idle, logged, settle, shown, until

SIZE = (160, 50)
STEP_IDS = ("inventory", "create", "code", "staging", "rotate", "remove-env", "schedule", "audit", "emergency")


@pytest.fixture
def project(demo_stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in demo_stack.environment().items():
        monkeypatch.setenv(name, value)
    return write_workspace(demo_stack, tmp_path, scenario="migration")


class Walk:
    """The operator's hands: keys on the checklist screen, and what it shows."""

    def __init__(self, app: CitadelApp, pilot) -> None:
        self.app, self.pilot = app, pilot

    @property
    def screen(self) -> ChecklistScreen:
        assert isinstance(self.app.screen, ChecklistScreen)
        return self.app.screen

    def state(self, step_id: str) -> str:
        return self.screen.statuses[step_id].state

    def open_items(self, step_id: str) -> tuple[str, ...]:
        return self.screen.statuses[step_id].open_items

    async def settled(self) -> None:
        await until(self.pilot, lambda: isinstance(self.app.screen, ChecklistScreen) and idle(self.app))

    async def press(self, *keys: str) -> None:
        """Press keys that run an operation, and wait until the steps are judged again."""
        before = self.screen.statuses
        await self.pilot.press(*keys)
        await until(self.pilot, lambda: isinstance(self.app.screen, ChecklistScreen) and idle(self.app)
                    and self.screen.statuses is not before)

    async def go_to(self, step_id: str) -> None:
        steps = self.screen.query_one("#steps", OptionList)
        if not steps.has_focus:
            await self.pilot.press("shift+tab")
        assert steps.has_focus
        moves = STEP_IDS.index(step_id) - (steps.highlighted or 0)
        await self.pilot.press(*(["down"] * moves if moves > 0 else ["up"] * -moves))
        await until(self.pilot, lambda: self.screen.step.id == step_id and idle(self.app))
        items = self.screen.query_one("#step-items", OptionList)
        if items.display:
            await until(self.pilot, lambda: items.option_count > 0)

    def items(self) -> list[tuple[str, str]]:
        items = self.screen.query_one("#step-items", OptionList)
        options = [items.get_option_at_index(i) for i in range(items.option_count)]
        return [(str(o.id), Content.from_markup(str(o.prompt)).plain) for o in options]

    async def pick(self, item_id: str) -> None:
        """Move the list cursor to one item with the arrow keys and press enter on it."""
        items = self.screen.query_one("#step-items", OptionList)
        if not items.has_focus:
            await self.pilot.press("tab")
        ids = [i for i, _ in self.items()]
        moves = ids.index(item_id) - (items.highlighted or 0)
        await self.pilot.press(*(["down"] * moves if moves > 0 else ["up"] * -moves))
        assert items.highlighted == ids.index(item_id)
        await self.pilot.press("enter")

    async def confirm(self) -> tuple[str, int]:
        """Wait for the confirmation dialog; what it shows and how many actions the plan holds."""
        await until(self.pilot, lambda: isinstance(self.app.screen, ConfirmScreen))
        lines = shown(self.app, "#confirm-lines")
        assert CANARY not in lines
        return lines, int(shown(self.app, "#confirm-title").rsplit(" of ", 1)[1])

    async def plan_finished(self, noun: str) -> str:
        await until(self.pilot, lambda: isinstance(self.app.screen, ChecklistScreen) and idle(self.app)
                    and f"{noun}:" in logged(self.app).rsplit("confirmed; running", 1)[-1], timeout=60)
        await self.settled()
        return logged(self.app).rsplit("confirmed; running", 1)[-1]

    async def read_document(self) -> str:
        await until(self.pilot, lambda: isinstance(self.app.screen, TextScreen))
        document = self.app.screen.text
        assert CANARY not in document and CANARY not in self.app.export_screenshot()
        await self.pilot.press("escape")
        await until(self.pilot, lambda: isinstance(self.app.screen, ChecklistScreen))
        return document


async def test_the_demo_goes_from_all_missing_to_all_nine_steps_done(project: Path, demo_stack) -> None:
    root = project.parent
    workspace = Workspace(load_config(project))
    app = CitadelApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k")
        walk = Walk(app, pilot)
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.statuses and idle(app))
        assert len(walk.open_items("create")) == 17  # five prod keys in three stores, two staging keys in one

        # 1. inventory: review, accept the placeholder, export in every format
        await walk.press("r")
        assert walk.state("inventory") == "in-progress"
        assert any("GITHUB_TOKEN" in item and "placeholder" in item for item in walk.open_items("inventory"))
        await walk.press("a")
        assert walk.state("inventory") == "done"
        for key in ("e", "x", "c"):
            await walk.press(key)
        exports = sorted(p.suffix for p in (root / ".citadel" / "exports").iterdir())
        assert exports == [".csv", ".json", ".md"]

        # 2. create: leave the placeholder out, decline one, a store fails mid-plan, retry the rest
        await walk.go_to("create")
        assert [label[:3] for _, label in walk.items()[:4]] == ["[x]"] * 4  # every store chosen
        assert ("key:GITHUB_TOKEN", "[x] key GITHUB_TOKEN  secret  .env:7  no value (placeholder)") in walk.items()
        await walk.press("p")  # a placeholder is never stored: nothing is planned until it is left out
        assert "no real value to store for GITHUB_TOKEN (.env:7 placeholder)" in logged(app)
        assert not isinstance(app.screen, ConfirmScreen) and len(walk.open_items("create")) == 17
        await walk.pick("key:GITHUB_TOKEN")
        await until(pilot, lambda: idle(app) and "left out GITHUB_TOKEN" in logged(app))
        await until(pilot, lambda: ("key:GITHUB_TOKEN", "[ ] key GITHUB_TOKEN  secret  .env:7  no value (placeholder)")
                    in walk.items())
        await pilot.press("p")
        lines, total = await walk.confirm()
        assert total == 14 and "create in store aws-prod" in lines and "prod/shop/DB_PASSWORD" in lines
        assert "fingerprint" in lines and "length" in lines and "tags" in lines
        await pilot.press("y")
        await until(pilot, lambda: "action 2 of 14" in shown(app, "#confirm-title"))
        declined = re.search(r"prod/shop/\w+", shown(app, "#confirm-lines")).group(0)
        await pilot.press("n")
        await until(pilot, lambda: "action 3 of 14" in shown(app, "#confirm-title"))
        demo_stack.azure.faults.push(Fault.FORBIDDEN)  # Azure refuses the next request: a write mid-plan
        await pilot.press("tab", "1", "4", "enter")
        log = await walk.plan_finished("create secrets")
        assert "create secrets: 12 of 14 verified" in log
        shown_log = app.screen.query_one("#step-log", RichLog)  # the newest line is in view
        assert shown_log.max_scroll_y > 0 and shown_log.is_vertical_scroll_end
        assert shown_log.lines[-1].text.strip() in "create secrets: 12 of 14 verified"
        assert f"declined create '{declined}' in aws-prod" in log
        assert len(re.findall(r"failed create '[^']+' in azure-prod", log)) == 1
        assert walk.state("create") == "in-progress" and len(walk.open_items("create")) == 2
        await pilot.press("p")
        _, total = await walk.confirm()
        assert total == 2
        await pilot.press("y")
        await until(pilot, lambda: "action 2 of 2" in shown(app, "#confirm-title"))
        await pilot.press("y")
        assert "create secrets: 2 of 2 verified" in await walk.plan_finished("create secrets")
        assert walk.state("create") == "done"

        # 3. code: every use of a migrated key ticked; reading code generated for the stores
        await walk.go_to("code")
        files = [i.removeprefix("file\t") for i, _ in walk.items() if i.startswith("file\t")]
        usages = [i for i, _ in walk.items() if not i.startswith("file\t")]
        assert sorted(files) == ["app/mailer.js", "app/settings.py", "deploy/run.sh"]
        assert {re.split(r":\d+:", i)[0] for i in usages} == set(files) and len(usages) == 5
        await walk.pick("file\tapp/settings.py")  # one file: all three of its usages at once
        await until(pilot, lambda: idle(app) and "ticked app/settings.py: 3 usage(s)" in logged(app))
        for usage_id in [u for u in usages if not u.startswith("app/settings.py")]:
            await walk.pick(usage_id)
            await until(pilot, lambda u=usage_id: idle(app) and f"ticked {u}" in logged(app))
        await until(pilot, lambda: all(label.strip().startswith("[x]") for _, label in walk.items()))
        await pilot.press("g")
        code = await walk.read_document()
        assert "SecretReader" in code and "return get_secret('DB_PASSWORD')" in code
        assert (root / ".citadel" / "code" / "gcp-staging" / "citadel_secrets.py").is_file()
        await walk.settled()
        assert walk.state("code") == "done"

        # 4. staging: the staging store holds the staging values
        await walk.go_to("staging")
        await walk.press("v")
        assert "pass  DB_PASSWORD" in logged(app) and walk.state("staging") == "done"

        # 5. rotate: the burn proof fails before rotating and for the one declined
        await walk.go_to("rotate")
        await walk.press("v")
        assert "FAIL  DB_PASSWORD" in logged(app) and walk.state("rotate") != "done"
        await pilot.press("p")
        _, total = await walk.confirm()
        assert total == 14
        await pilot.press("n")
        await until(pilot, lambda: "action 2 of 14" in shown(app, "#confirm-title"))
        await pilot.press("tab", "1", "4", "enter")
        assert "rotations: 13 of 14 verified" in await walk.plan_finished("rotations")
        await walk.press("v")
        proof = logged(app).rsplit("burn proof", 1)[1]
        assert proof.count("FAIL") == 1 and proof.count("pass") == 3 and walk.state("rotate") != "done"
        await pilot.press("p")
        _, total = await walk.confirm()
        assert total == 1
        await pilot.press("y")
        assert "rotations: 1 of 1 verified" in await walk.plan_finished("rotations")
        await walk.press("v")
        assert "FAIL" not in logged(app).rsplit("burn proof", 1)[1] and walk.state("rotate") == "done"

        # 6. remove .env files: only by typing the exact name
        await walk.go_to("remove-env")
        for name in (".env", ".env.staging"):
            await until(pilot, lambda n=name: walk.items() and walk.items()[0][0] == str(root / n)
                        and "may be deleted" in walk.items()[0][1])
            await walk.pick(str(root / name))
            await walk.confirm()
            await pilot.press(*"wrong-name", "enter")
            await until(pilot, lambda: "refused" in shown(app, "#confirm-prompt"))
            assert (root / name).exists()
            await pilot.press(*name, "enter")
            assert "deletions: 1 of 1 verified" in await walk.plan_finished("deletions")
            assert not (root / name).exists()
        assert walk.state("remove-env") == "done"

        # 7. rotation schedules for every migrated secret
        await walk.go_to("schedule")
        assert len(walk.open_items("schedule")) == 14
        await pilot.press("p")
        _, total = await walk.confirm()
        await pilot.press("tab", *str(total), "enter")
        assert f"schedules: {total} of {total} verified" in await walk.plan_finished("schedules")
        assert walk.state("schedule") == "done"

        # 8. audit logging: turned on where the API allows; OpenBao's comes from its server config
        await walk.go_to("audit")
        await walk.press("v")
        assert walk.state("audit") != "done" and len(walk.open_items("audit")) == 3
        await pilot.press("p")
        for number in (1, 2, 3):
            _, total = await walk.confirm()
            assert total == 3 and f"action {number} of 3" in shown(app, "#confirm-title")
            await pilot.press("y")
        assert "audit changes: 3 of 3 verified" in await walk.plan_finished("audit changes")
        await walk.press("v")
        assert walk.state("audit") == "done"
        await walk.pick("vault-prod")
        assert 'audit "file"' in await walk.read_document()

        # 9. the break-glass runbook and least-privilege policies, then the confirmation
        await walk.go_to("emergency")
        await pilot.press("s")
        runbook = await walk.read_document()
        assert "prod/shop/DB_PASSWORD" in runbook
        await walk.settled()
        await pilot.press("l")
        policies = await walk.read_document()
        assert "secretsmanager:GetSecretValue" in policies and "roles/secretmanager.secretAccessor" in policies
        await walk.settled()
        await walk.press("c")

        assert {step: walk.state(step) for step in STEP_IDS} == dict.fromkeys(STEP_IDS, "done")
        steps = app.screen.query_one("#steps", OptionList)
        assert all("done" in str(steps.get_option_at_index(i).prompt) for i in range(9))

        # the journal tells exactly what happened, and never a value
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.query_one(DataTable).row_count)
        table = app.screen.query_one(DataTable)
        rows = [tuple(map(str, table.get_row_at(i))) for i in range(table.row_count)]
        outcomes = [(r[2], r[6]) for r in rows]
        assert outcomes.count(("create", "verified")) == 14 and outcomes.count(("create", "failed")) == 1
        assert outcomes.count(("create", "declined")) == 1 and outcomes.count(("rotate", "verified")) == 14
        assert outcomes.count(("remove-env", "verified")) == 2 and outcomes.count(("audit", "verified")) == 3
        assert all(CANARY not in " ".join(r) for r in rows)
        assert CANARY not in app.export_screenshot()

    written = [p for p in (root / ".citadel").rglob("*") if p.is_file()]
    assert {p.parent.name for p in written} >= {"exports", "aws-prod", "policies"}
    assert all(CANARY not in p.read_text(encoding="utf-8") for p in written)
    workspace.close()
