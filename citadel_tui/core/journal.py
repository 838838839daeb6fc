"""The append-only journal of every write Citadel makes: who, when, what, where, outcome.

JSON lines in `.citadel/journal.jsonl`, fsync'd per entry. Entries carry names, never values;
`Journal.record` refuses any field it does not know, so a value cannot slip in by accident.
Replaying the journal tells which actions finished, which were confirmed but not verified
(to be re-checked on resume, never repeated blindly), and which failed.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from citadel_tui.core.securefiles import append_private

OUTCOMES = ("confirmed", "declined", "started", "done", "verified", "failed", "skipped", "rechecked")
FINISHED = ("verified", "skipped")


@dataclass(frozen=True)
class JournalEntry:
    at: str
    user: str
    step: str
    action_id: str
    action: str
    store: str
    target: str
    outcome: str
    detail: str = ""


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database entry in some containers
        return "unknown"


class Journal:
    def __init__(self, path: Path, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.path = path
        self.clock = clock

    def record(self, *, step: str, action_id: str, action: str, store: str, target: str,
               outcome: str, detail: str = "") -> JournalEntry:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown journal outcome {outcome!r}")
        entry = JournalEntry(self.clock().isoformat(), _user(), step, action_id, action, store, target, outcome, detail)
        append_private(self.path, json.dumps(asdict(entry), ensure_ascii=False) + "\n")
        return entry

    def entries(self) -> Iterator[JournalEntry]:
        """Every complete entry; a last line cut short by a crash is ignored."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield JournalEntry(**json.loads(line))
                except (ValueError, TypeError):
                    continue

    def last_outcomes(self) -> dict[str, str]:
        """The latest outcome of every action id."""
        return {entry.action_id: entry.outcome for entry in self.entries()}
