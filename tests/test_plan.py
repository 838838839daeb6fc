"""The plan executor and its journal: confirm one by one, verify, resume without repeating."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from citadel_tui.core.errors import ReadOnlyError, StoreUnavailableError
from citadel_tui.core.journal import Journal
from citadel_tui.core.plan import Action, Check, Executor
from citadel_tui.core.securefiles import UnsafeDirectoryError, private_dir, write_private

CANARY = "canary-plan-91a2b3"


class Crash(BaseException):
    """Stands for the process dying between the write and the journal entry after it."""


class FakeStore:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.writes: list[str] = []
        self.crash_after_write: str | None = None
        self.fail: set[str] = set()

    def perform(self, action: Action) -> None:
        if action.target in self.fail:
            raise StoreUnavailableError("store down")
        self.data[action.target] = "value"
        self.writes.append(action.target)
        if action.target == self.crash_after_write:
            raise Crash

    def check(self, action: Action) -> tuple[Check, str]:
        return (Check.DONE, "present") if action.target in self.data else (Check.ABSENT, "not there")


def plan(n: int) -> list[Action]:
    return [Action("create", "create", "aws", f"KEY_{i}", (("length", "12"),)) for i in range(n)]


def test_confirm_each_decline_writes_nothing(tmp_path: Path) -> None:
    store, journal = FakeStore(), Journal(tmp_path / ".citadel" / "journal.jsonl")
    results = Executor(journal, store.perform, store.check).run(plan(3), confirm=lambda a: a.target != "KEY_1")
    assert [r.state for r in results] == ["verified", "declined", "verified"]
    assert store.writes == ["KEY_0", "KEY_2"]
    outcomes = [(e.target, e.outcome) for e in journal.entries()]
    assert outcomes[:4] == [("KEY_0", "confirmed"), ("KEY_0", "started"), ("KEY_0", "done"), ("KEY_0", "verified")]
    assert ("KEY_1", "declined") in outcomes


def test_crash_between_write_and_journal_resumes_without_repeating(tmp_path: Path) -> None:
    store, journal = FakeStore(), Journal(tmp_path / ".citadel" / "journal.jsonl")
    store.crash_after_write = "KEY_5"
    with pytest.raises(Crash):
        Executor(journal, store.perform, store.check).run(plan(10), confirm=lambda a: True)
    store.crash_after_write = None
    results = Executor(journal, store.perform, store.check).run(plan(10), confirm=lambda a: True)
    assert all(r.state == "verified" for r in results)
    assert sorted(store.writes) == sorted(f"KEY_{i}" for i in range(10))  # each written exactly once
    assert "rechecked" in [e.outcome for e in journal.entries() if e.target == "KEY_5"]


def test_failure_is_journaled_and_retried_later(tmp_path: Path) -> None:
    store, journal = FakeStore(), Journal(tmp_path / ".citadel" / "journal.jsonl")
    store.fail = {"KEY_1"}
    first = Executor(journal, store.perform, store.check).run(plan(3), confirm=lambda a: True)
    assert [r.state for r in first] == ["verified", "failed", "verified"]
    assert first[1].detail == "store down"
    store.fail = set()
    second = Executor(journal, store.perform, store.check).run(plan(3), confirm=lambda a: True)
    assert [r.state for r in second] == ["verified", "verified", "verified"]
    assert store.writes == ["KEY_0", "KEY_2", "KEY_1"]


def test_read_only_refuses_every_write(tmp_path: Path) -> None:
    store = FakeStore()
    executor = Executor(Journal(tmp_path / "j.jsonl"), store.perform, store.check, read_only=True)
    with pytest.raises(ReadOnlyError, match="read-only mode: refusing to create 'KEY_0' in aws"):
        executor.run(plan(1), confirm=lambda a: True)
    assert store.writes == []


def test_journal_files_are_private_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / ".citadel" / "journal.jsonl")
    journal.record(step="create", action_id="x", action="create", store="aws", target="K", outcome="verified")
    assert stat.S_IMODE((tmp_path / ".citadel").stat().st_mode) == 0o700
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    with journal.path.open("a") as handle:
        handle.write('{"at": "2026-')  # the process died mid-write
    assert [e.outcome for e in journal.entries()] == ["verified"]
    assert json.loads(journal.path.read_text().splitlines()[0])["user"]
    with pytest.raises(ValueError):
        journal.record(step="s", action_id="x", action="a", store="s", target="t", outcome=CANARY)
    assert CANARY not in journal.path.read_text()


def test_world_writable_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / ".citadel"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(UnsafeDirectoryError, match="chmod 700"):
        private_dir(folder)
    folder.chmod(0o700)
    write_private(folder / "state.json", "{}")
    assert stat.S_IMODE((folder / "state.json").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["state.json"]
