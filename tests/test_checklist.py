from __future__ import annotations

import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from citadel_tui.core.checklist import (
    NOTHING_MIGRATED, STEP_IDS, ChecklistState, StateFileError, audit_open, create_open, env_files_open,
    inventory_open, problem_id, results_open, schedule_open,
)
from citadel_tui.core.compare import Row
from citadel_tui.core.envfile import read_env_file
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import AuditState, AuditStatus, SecretMeta


def test_nine_steps_in_the_seed_order() -> None:
    assert STEP_IDS == ("inventory", "create", "code", "staging", "rotate", "remove-env", "schedule", "audit", "emergency")


def test_state_round_trips_atomically_and_privately(tmp_path: Path) -> None:
    path = tmp_path / ".citadel" / "state.json"
    state = ChecklistState()
    state.set_step("create", "in-progress")
    state.accept("x:1:placeholder")
    state.tick_usage("app.py:3:DB_PASSWORD")
    state.save(path)
    loaded = ChecklistState.load(path)
    assert loaded == state
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded.tick_usage("app.py:3:DB_PASSWORD", migrated=False)
    assert loaded.migrated_usages == []
    with pytest.raises(ValueError):
        state.set_step("create", "finished")


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateFileError, match="move it away to start over"):
        ChecklistState.load(path)
    assert ChecklistState.load(tmp_path / "absent.json") == ChecklistState()


def test_inventory_is_done_when_reviewed_and_problems_accepted(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A_TOKEN=changeme\nB_TOKEN=x\nB_TOKEN=y\n")
    env = read_env_file(tmp_path / ".env", "p", Fingerprinter())
    state = ChecklistState()
    assert len(inventory_open(state, [env])) == 3
    state.reviewed_inventory = True
    for problem in env.problems:
        state.accept(problem_id(env, problem))
    assert inventory_open(state, [env]) == []


def test_create_and_schedule_judged_from_rows() -> None:
    rows = [
        Row("A_TOKEN", "p", "aws", None, ("present", "in-sync", "no-rotation"), ".env", 1, "secret"),
        Row("B_TOKEN", "p", "aws", None, ("present", "drift"), ".env", 2, "secret"),
        Row("PORT", "p", "aws", None, ("missing",), ".env", 3, "config"),
        Row("OLD", "p", "aws", None, ("orphan",)),
    ]
    state = ChecklistState()
    assert create_open(state, rows) == ["B_TOKEN in aws: present, drift"]
    scheduled = SecretMeta("p/A", key="A_TOKEN", next_rotation=datetime(2026, 5, 1, tzinfo=timezone.utc))
    assert schedule_open([("A_TOKEN", "aws", SecretMeta("p/A", key="A_TOKEN")), ("B_TOKEN", "gcp", scheduled),
                          ("C_TOKEN", "vault", SecretMeta("p/C", key="C_TOKEN", rotation_enabled=True))]) == ["A_TOKEN in aws"]
    state.selected_keys = ["A_TOKEN"]
    assert create_open(state, rows) == []


def test_audit_done_only_when_every_store_is_on() -> None:
    statuses = {"aws": AuditStatus(AuditState.ON, "trail"), "vault": AuditStatus(AuditState.UNKNOWN, "needs sudo")}
    assert audit_open(statuses) == ["vault: unknown (needs sudo)"]


def test_steps_on_migrated_secrets_are_open_while_nothing_is_migrated() -> None:
    """Nothing checked is not done: the dashboard must not show steps 5 to 7 done on day one."""
    assert schedule_open([]) == results_open({}) == [NOTHING_MIGRATED]
    assert env_files_open([(".env", ())], anything_migrated=False) == [NOTHING_MIGRATED]
    files = [(".env", ("DB_PASSWORD", "API_TOKEN")), (".env.staging", ())]
    assert env_files_open(files, anything_migrated=True) == [".env: holds migrated keys DB_PASSWORD, API_TOKEN"]
    assert env_files_open([], anything_migrated=True) == []  # every file with migrated keys is gone
    assert results_open({"A": True, "B": False}) == ["B"]
