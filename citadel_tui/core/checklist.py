"""The seed's migration checklist (.env -> vault) as nine steps with state that survives a crash.

Each step knows what "done" means from facts the rest of Citadel gathers (the comparison, scans,
verifications); this module only holds the operator's decisions and judges the facts. State is
`.citadel/state.json`, written atomically, never holding a value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from citadel_tui.core.compare import Row, has_schedule
from citadel_tui.core.envfile import EnvFile, EnvProblem
from citadel_tui.core.errors import CitadelError
from citadel_tui.core.model import AuditState, AuditStatus, SecretMeta
from citadel_tui.core.securefiles import write_private


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    help: str
    """What Citadel does to help, and how it knows the step is done."""


STEPS = (
    Step("inventory", "Inventory all secrets currently in .env",
         "Review the keys of every .env file (class, line, problems); export the inventory. Done when "
         "you have reviewed it and every .env problem is resolved or accepted."),
    Step("create", "Create secrets in vault with same names",
         "A plan of create actions for the selected secret keys, one confirmation each; existing "
         "secrets are never overwritten. Done when every selected key is present with a matching fingerprint."),
    Step("code", "Update application code to read from vault",
         "Every use of each key in the source tree (Python, JavaScript, shell, Docker, Kubernetes, CI), "
         "and reading code for the chosen store. Done when every usage is ticked as migrated."),
    Step("staging", "Test with vault in staging first",
         "Reads every migrated secret from the staging stores and checks fingerprints against "
         ".env.staging. Done when all pass."),
    Step("rotate", "Rotate all secrets (old .env values are burned)",
         "Triggers rotation where the store can (a rotation Lambda), adds a random value for a secret the "
         "application alone issues, or stores a new credential you issued at its owner; proves the burn: "
         "the store's value no longer matches the .env value. Done when every migrated secret is proven rotated."),
    Step("remove-env", "Remove .env from servers",
         "Checks .env files are git-ignored and absent from git history; deletes a .env file (typed "
         "confirmation) once all its secret keys are migrated and rotated. Done when none with migrated keys remains."),
    Step("schedule", "Set up automated rotation schedule",
         "Configures each store's rotation schedule (30 to 90 days by policy). Done when no migrated "
         "secret is no-rotation."),
    Step("audit", "Configure audit logging on secret access",
         "Shows each store's audit-logging status, enables it where the API allows, explains where it "
         "does not. Done when every store is on."),
    Step("emergency", "Document emergency access procedure",
         "Generates a break-glass runbook from the inventory and least-privilege policies. Done when "
         "you confirm it is saved."),
)
STEP_IDS = tuple(step.id for step in STEPS)
STEP_STATES = ("todo", "in-progress", "done")


class StateFileError(CitadelError):
    """.citadel/state.json exists but cannot be used."""


@dataclass
class ChecklistState:
    steps: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STEP_IDS, "todo"))
    reviewed_inventory: bool = False
    accepted_problems: list[str] = field(default_factory=list)
    """Ids (`path:line:kind`) of .env problems the operator accepted instead of fixing."""
    selected_keys: list[str] | None = None
    """Keys chosen for migration; None means every secret-class key."""
    target_stores: list[str] | None = None
    """Sources the keys are created in (step 2) and the code reads from (step 3); None means all."""
    migrated_usages: list[str] = field(default_factory=list)
    """Ids (`file:line:key`) of code usages the operator ticked as migrated."""
    no_usage_confirmed: bool = False
    """The scan found no use of the keys and the operator confirmed the code reads none of them."""
    runbook_saved: str | None = None
    staging_passed: list[str] = field(default_factory=list)
    """Keys whose staging check passed once: rotating them (step 5) and removing .env.staging
    (step 6) must later make the same check fail, and the step stays done for them."""

    def pass_staging(self, keys: Iterable[str]) -> bool:
        """Remember keys that passed staging; whether any was new."""
        new = sorted(set(keys) - set(self.staging_passed))
        self.staging_passed = sorted([*self.staging_passed, *new])
        return bool(new)

    def set_step(self, step_id: str, status: str) -> None:
        if step_id not in STEP_IDS or status not in STEP_STATES:
            raise ValueError(f"unknown step {step_id!r} or state {status!r}")
        self.steps[step_id] = status

    def accept(self, problem_id: str) -> None:
        if problem_id not in self.accepted_problems:
            self.accepted_problems.append(problem_id)

    def tick_usage(self, usage_id: str, migrated: bool = True) -> None:
        if migrated and usage_id not in self.migrated_usages:
            self.migrated_usages.append(usage_id)
        elif not migrated and usage_id in self.migrated_usages:
            self.migrated_usages.remove(usage_id)

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> ChecklistState:
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = cls(**data)
        except (ValueError, TypeError) as exc:
            raise StateFileError(f"{path}: not a Citadel state file ({exc}); move it away to start over") from None
        state.steps = {**dict.fromkeys(STEP_IDS, "todo"), **{k: v for k, v in state.steps.items() if k in STEP_IDS}}
        return state


def problem_id(env: EnvFile, problem: EnvProblem) -> str:
    return f"{env.path}:{problem.line}:{problem.kind}"


def selected(state: ChecklistState, rows: Iterable[Row]) -> list[Row]:
    """The env rows the migration covers: selected keys, else every secret-class key."""
    chosen = set(state.selected_keys) if state.selected_keys is not None else None
    return [r for r in rows if r.env_file and (r.key in chosen if chosen is not None else r.klass == "secret")]


# -- "done" judgements: each returns the list of what is still open (empty = done) ----------------

NOTHING_MIGRATED = "nothing is migrated yet: create the secrets first (step 2)"
"""Open on every step that checks migrated secrets while there are none: nothing checked is not done."""

def inventory_open(state: ChecklistState, env_files: Iterable[EnvFile]) -> list[str]:
    open_items = [] if state.reviewed_inventory else ["the inventory has not been reviewed"]
    for env in env_files:
        for problem in env.problems:
            if problem_id(env, problem) not in state.accepted_problems:
                open_items.append(f"{env.path.name}:{problem.line} {problem.kind}: {problem.message}")
    return open_items


def create_open(state: ChecklistState, rows: Iterable[Row]) -> list[str]:
    """Rows must come from a comparison made with values compared."""
    return [f"{r.key} in {r.source}: {', '.join(r.statuses)}" for r in selected(state, rows)
            if not (r.has("present") and r.has("in-sync"))]


def code_open(state: ChecklistState, usage_ids: Iterable[str]) -> list[str]:
    """Every usage not ticked; no usage at all is open until the operator confirms it: a scan
    that finds nothing may only mean the code builds the names at run time."""
    usage_ids = list(usage_ids)
    if not usage_ids and not state.no_usage_confirmed:
        return ["the scan found no use of the selected keys: confirm the application reads none of them"]
    return [u for u in usage_ids if u not in state.migrated_usages]


def results_open(results: Mapping[str, bool]) -> list[str]:
    """For staging checks and burn proofs: the keys that did not pass; no key checked is open."""
    if not results:
        return [NOTHING_MIGRATED]
    return [key for key, passed in results.items() if not passed]


def env_files_open(files: Iterable[tuple[str, Sequence[str]]], anything_migrated: bool) -> list[str]:
    """Per .env file (name, its migrated keys): a file holding migrated keys is open. Before any
    store holds a migrated key the step is open too: every secret still lives in the files."""
    if not anything_migrated:
        return [NOTHING_MIGRATED]
    return [f"{name}: holds migrated keys {', '.join(migrated)}" for name, migrated in files if migrated]


def schedule_open(migrated: Iterable[tuple[str, str, SecretMeta]]) -> list[str]:
    """Judged from the stores (key, store, metadata), not the .env files: it holds once they are gone."""
    migrated = list(migrated)
    if not migrated:
        return [NOTHING_MIGRATED]
    return [f"{key} in {store}" for key, store, meta in migrated if not has_schedule(meta)]


def audit_open(statuses: Mapping[str, AuditStatus]) -> list[str]:
    return [f"{name}: {s.state.value} ({s.detail})" for name, s in statuses.items() if s.state is not AuditState.ON]


def emergency_open(state: ChecklistState) -> list[str]:
    return [] if state.runbook_saved else ["the runbook has not been saved and confirmed"]
