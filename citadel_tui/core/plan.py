"""Every write goes one way: plan -> show -> confirm -> run -> verify -> journal.

An `Action` describes one write completely enough to be shown and confirmed on its own (store,
exact name, layout, tags, value fingerprint and length — never the value). The `Executor` asks
for confirmation one action at a time, journals each transition before and after the write,
verifies, and on resume re-checks an action that was started but not verified instead of
repeating it blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from citadel_tui.core.errors import CitadelError, ReadOnlyError
from citadel_tui.core.journal import FINISHED, Journal


@dataclass(frozen=True)
class Action:
    step: str
    kind: str
    store: str
    target: str
    facts: tuple[tuple[str, str], ...] = ()
    """What the operator is shown besides store and target: layout, tags, fingerprint, length."""

    @property
    def id(self) -> str:
        return f"{self.step}:{self.kind}:{self.store}:{self.target}"

    def describe(self) -> str:
        facts = ", ".join(f"{k}: {v}" for k, v in self.facts)
        return f"{self.kind} {self.target!r} in {self.store}" + (f" ({facts})" if facts else "")


class Check(str, Enum):
    """What the store says about an action's effect."""

    DONE = "done"          # the effect is there and correct
    ABSENT = "absent"      # nothing was written: safe to perform
    CONFLICT = "conflict"  # something else is there: never overwrite


@dataclass
class Outcome:
    action: Action
    state: str
    detail: str = ""


@dataclass
class Executor:
    journal: Journal
    perform: Callable[[Action], None]
    check: Callable[[Action], tuple[Check, str]]
    read_only: bool = False
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self, plan: Iterable[Action], confirm: Callable[[Action], bool]) -> list[Outcome]:
        """Run each action the operator confirms; stop nothing else when one fails."""
        last = self.journal.last_outcomes()
        results = [self._run_one(action, last.get(action.id), confirm) for action in plan]
        self.outcomes.extend(results)
        return results

    def _record(self, action: Action, outcome: str, detail: str = "") -> Outcome:
        self.journal.record(step=action.step, action_id=action.id, action=action.kind,
                            store=action.store, target=action.target, outcome=outcome, detail=detail)
        return Outcome(action, outcome, detail)

    def _run_one(self, action: Action, previous: str | None, confirm: Callable[[Action], bool]) -> Outcome:
        if previous in FINISHED:
            return Outcome(action, previous, "already finished in an earlier run")
        if self.read_only:
            raise ReadOnlyError(f"read-only mode: refusing to {action.describe()}")
        if previous is not None:
            # Confirmed or started before a crash: look before doing anything again.
            state, detail = self._safe_check(action)
            if state is Check.DONE:
                self._record(action, "rechecked", "found done after an interruption")
                return self._record(action, "verified", detail)
            if state is Check.CONFLICT:
                return self._record(action, "failed", detail)
        if not confirm(action):
            return self._record(action, "declined")
        self._record(action, "confirmed")
        self._record(action, "started")
        try:
            self.perform(action)
        except CitadelError as exc:
            return self._record(action, "failed", str(exc))
        self._record(action, "done")
        state, detail = self._safe_check(action)
        if state is Check.DONE:
            return self._record(action, "verified", detail)
        return self._record(action, "failed", f"verification failed: {detail}")

    def _safe_check(self, action: Action) -> tuple[Check, str]:
        try:
            return self.check(action)
        except CitadelError as exc:
            return Check.CONFLICT, f"could not verify: {exc}"
