"""The migration checklist's engine: plans, runs and proves each step for one workspace.

The dashboard and `citadel migrate` both drive a `Migration`. Every write it makes (store or
disk) is an `Action` run by core.plan.Executor, so it is shown, confirmed, journaled
(`.citadel/journal.jsonl`), verified and resumable. Checklist decisions live in
`.citadel/state.json`. A value is read from its .env file at the moment of the write, handed to
the store and dropped: plans, the journal, the state and exports hold names and fingerprints only.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from citadel_tui.core import checklist, report
from citadel_tui.core.codegen import GeneratedCode, generate_code
from citadel_tui.core.checklist import STEPS, ChecklistState, Step
from citadel_tui.core.classify import SECRET
from citadel_tui.core.compare import Row, has_schedule
from citadel_tui.core.concealed import Concealed
from citadel_tui.core.config import Config, SourceConfig
from citadel_tui.core.envfile import EnvFile, read_env_file
from citadel_tui.core.errors import CitadelError, ReadOnlyError, SecretNotFoundError
from citadel_tui.core.journal import FINISHED, Journal
from citadel_tui.core.model import AuditState, AuditStatus, SecretMeta
from citadel_tui.core.naming import plan_names
from citadel_tui.core.plan import Action, Check, Executor, Outcome
from citadel_tui.core.policies import PolicyDoc, policies_for, secrets_for
from citadel_tui.core.securefiles import write_private
from citadel_tui.core.usage_scan import ScanResult, scan_usages
from citadel_tui.providers import Source
from citadel_tui.providers.base import bundle_object
from citadel_tui.workspace import Workspace

CITADEL_DIR = ".citadel"
EXPORT_SUFFIXES = {"markdown": "md", "json": "json", "csv": "csv"}
PENDING = ("confirmed", "started", "done")
"""Journal outcomes of an action interrupted before its verification: re-checked, never repeated blindly."""
SKIPPED_DIRS = {".git", CITADEL_DIR, "node_modules"}
BUNDLE_TAGS = {"managed-by": "citadel"}


def citadel_folder(config: Config) -> Path:
    """`.citadel/` next to citadel.toml: the project's state, journal and exports."""
    return (config.path.parent if config.path else Path.cwd()) / CITADEL_DIR


class MigrationError(CitadelError):
    """A migration step cannot be planned or run as asked."""


class ValueChangedError(MigrationError):
    """A .env value changed between the plan being shown and the write: the operator confirmed another value."""


class DeleteBlockedError(MigrationError):
    """A .env file still holds secret keys that are not migrated and rotated."""


@dataclass(frozen=True)
class EnvValue:
    """Where one key's value comes from and what it looked like when the plan was made. No value."""

    key: str
    path: Path
    klass: str
    fingerprint: str
    length: int


@dataclass(frozen=True)
class Migrated:
    """A selected key held by a store, with the store's metadata and the fingerprint of its value."""

    source: str
    environment: str
    key: str
    meta: SecretMeta
    env: EnvValue | None
    """The .env value of the source's environment; None once the file is gone."""

    @property
    def burned(self) -> bool:
        return self.env is not None and self.meta.fingerprint is not None and self.meta.fingerprint != self.env.fingerprint


class _FileKeys(NamedTuple):
    """What one .env file's secret keys have come to; the git-free part of an EnvFileReport."""

    secret_keys: tuple[str, ...]
    migrated: tuple[str, ...]
    rotated: tuple[str, ...]
    configured: bool


@dataclass(frozen=True)
class EnvFileReport:
    path: Path
    git_ignored: bool | None
    """None when the project is not a git work tree (or git is not installed)."""
    commits: tuple[str, ...]
    """Abbreviated hashes of every commit, on any branch, that contains the file."""
    secret_keys: tuple[str, ...]
    migrated: tuple[str, ...]
    rotated: tuple[str, ...]
    configured: bool = True
    """Listed as an [[env]] in citadel.toml; an unlisted file's values were never migrated."""

    def blocking(self) -> str:
        """Why the file may not be deleted yet; empty when it may."""
        if not self.configured and self.secret_keys:
            return (f"not in citadel.toml: add it as an [[env]] entry so its keys "
                    f"({', '.join(self.secret_keys)}) are migrated and rotated first")
        unmigrated = [k for k in self.secret_keys if k not in self.migrated]
        unrotated = [k for k in self.secret_keys if k in self.migrated and k not in self.rotated]
        reasons = []
        if unmigrated:
            reasons.append(f"not migrated: {', '.join(unmigrated)} (step 2)")
        if unrotated:
            reasons.append(f"not proven rotated: {', '.join(unrotated)} (step 5)")
        return "; ".join(reasons)


@dataclass(frozen=True)
class StepStatus:
    step: Step
    state: str
    open_items: tuple[str, ...]


@dataclass(frozen=True)
class _Handler:
    perform: Callable[[Action], None]
    check: Callable[[Action], tuple[Check, str]]


class Migration:
    """The nine steps for one workspace; state and journal live in `<config dir>/.citadel/`."""

    def __init__(self, workspace: Workspace, *, read_only: bool = False) -> None:
        self.workspace = workspace
        self.read_only = read_only or workspace.config.read_only
        self.folder = citadel_folder(workspace.config)
        self.root = self.folder.parent
        """The project: where `.env*` files are looked for and git is asked."""
        self.state_path = self.folder / "state.json"
        self.journal = Journal(self.folder / "journal.jsonl")
        self.state = ChecklistState.load(self.state_path)
        self._planned: dict[str, tuple[EnvValue, ...]] = {}
        self._scan: tuple[tuple[str, ...], ScanResult] | None = None
        """The last usage scan and the keys it looked for."""
        self._new_values: dict[str, str] = {}
        """Action id -> the value the operator entered for it; in memory only, dropped once it ran."""
        self._handlers = {
            "create": _Handler(self._perform_create, self._check_create),
            "add-version": _Handler(self._perform_rotation, self._check_burned),
            "rotate-now": _Handler(self._perform_rotation, self._check_burned),
            "set-value": _Handler(self._perform_new_value, self._check_new_value),
            "configure-rotation": _Handler(self._perform_schedule, self._check_schedule),
            "delete-file": _Handler(self._perform_delete, self._check_delete),
            "enable-audit": _Handler(self._perform_audit, self._check_audit),
        }

    # -- running plans ---------------------------------------------------------------------

    def run(self, actions: Sequence[Action], confirm: Callable[[Action], bool], *, dry_run: bool = False) -> list[Outcome]:
        """Run the confirmed actions through the Executor. A dry run journals and writes nothing."""
        if dry_run:
            self._forget(actions)
            return [Outcome(action, "planned", action.describe()) for action in actions]
        unknown = [a.describe() for a in actions if a.id not in self._planned]
        if unknown:
            raise MigrationError(f"not planned by this migration: {'; '.join(unknown)}; plan the step again")
        if self.read_only and actions:
            raise ReadOnlyError(
                f"read-only mode (read_only = true in citadel.toml, or --read-only): refusing to run "
                f"{len(actions)} action(s); nothing was written"
            )
        self._reopen_undone(actions)
        try:
            outcomes = Executor(self.journal, self._perform, self._check, read_only=self.read_only).run(actions, confirm)
        finally:
            self._forget(actions)
        self._touch({a.step for a in actions})
        return outcomes

    def _forget(self, actions: Sequence[Action]) -> None:
        """Drop the entered values of these actions: they ran, or only had to be shown."""
        for action in actions:
            self._new_values.pop(action.id, None)

    def _reopen_undone(self, actions: Sequence[Action]) -> None:
        """The Executor reports an action finished in an earlier run as finished again. When its
        effect is gone since (the secret was deleted, the .env file restored), that would tell the
        operator "verified" while nothing is there: journal it as re-checked, so it is confirmed and
        run again."""
        last = self.journal.last_outcomes()
        for action in actions:
            if last.get(action.id) not in FINISHED:
                continue
            try:
                state, detail = self._check(action)
            except CitadelError:
                continue  # cannot tell now: the Executor reports the earlier outcome
            if state is not Check.DONE:
                self.journal.record(step=action.step, action_id=action.id, action=action.kind, store=action.store,
                                    target=action.target, outcome="rechecked",
                                    detail=f"finished in an earlier run but not in effect now ({detail}); runs again")

    @staticmethod
    def confirm_all(count_typed: str, actions: Sequence[Action]) -> bool:
        """"Confirm all shown" holds only when the operator typed the number of actions shown."""
        return count_typed.strip() == str(len(actions))

    def _perform(self, action: Action) -> None:
        self._handlers[action.kind].perform(action)

    def _check(self, action: Action) -> tuple[Check, str]:
        return self._handlers[action.kind].check(action)

    # -- step 1: inventory -----------------------------------------------------------------

    def export_inventory(self, fmt: str) -> Path:
        """Write the inventory (keys, files, lines, class, problems; never values) to `.citadel/exports/`."""
        if fmt not in EXPORT_SUFFIXES:
            raise MigrationError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_SUFFIXES)}")
        env_files = self._env_files()
        now = self.workspace.clock()
        text = {
            "markdown": lambda: report.inventory_markdown(env_files, now),
            "json": lambda: report.inventory_json(env_files, now),
            "csv": lambda: report.inventory_csv(env_files),
        }[fmt]()
        path = self.folder / "exports" / f"inventory-{now:%Y%m%dT%H%M%S}.{EXPORT_SUFFIXES[fmt]}"
        write_private(path, text)
        return path

    def review_inventory(self) -> None:
        self.state.reviewed_inventory = True
        self._touch({"inventory"})

    def accept_problem(self, problem_id: str) -> None:
        """Accept one .env problem (`path:line:kind`, see core.checklist.problem_id) instead of fixing it."""
        self.state.accept(problem_id)
        self._touch({"inventory"})

    def select_keys(self, keys: Iterable[str] | None) -> None:
        """The keys to migrate; None means every secret-class key."""
        self.state.selected_keys = sorted(set(keys)) if keys is not None else None
        self._touch({"create"})

    def choose_stores(self, names: Iterable[str] | None) -> None:
        """The stores step 2 creates in and step 3 writes reading code for; None means every source."""
        chosen = sorted({self._source(name).name for name in names}) if names is not None else None
        self.state.target_stores = chosen
        self._touch({"create"})

    def target_stores(self) -> list[str]:
        """The chosen stores, in citadel.toml order (a store removed from the file drops out)."""
        chosen = self.state.target_stores
        return [c.name for c in self.workspace.config.sources if chosen is None or c.name in chosen]

    # -- step 2: create ----------------------------------------------------------------------

    def plan_creates(self, store_names: Sequence[str], keys: Sequence[str] | None = None) -> list[Action]:
        """A create action for every selected key (or `keys`) missing from each store.

        Names are mapped for every store before anything is planned: a collision or impossible name
        raises NamingError, a missing key whose .env value is empty or a placeholder MigrationError.
        An action interrupted in an earlier run is planned again, to be re-checked."""
        sources = [self._source(name) for name in store_names]
        wanted = {s.name: self._wanted(s.config, keys) for s in sources}
        names = {s.name: self._names(s, wanted[s.name]) for s in sources}
        present = {s.name: {m.key for m in s.inventory(refresh=True)} for s in sources}
        refused = sorted({reason for s in sources for key, reason in self._valueless(s.config, keys).items()
                          if key not in present[s.name]})
        if refused:
            raise MigrationError(
                f"no real value to store for {', '.join(refused)}: set the value in the file, or leave "
                f"the key out of the selection; nothing was planned"
            )
        last = self.journal.last_outcomes()
        actions: list[Action] = []
        for source in sources:
            for target, values in names[source.name].items():
                missing = [v for v in values if v.key not in present[source.name]]
                pending = last.get(Action("create", "create", source.name, target).id) in PENDING
                chosen = missing or (values if pending else [])
                if chosen:
                    action = self._create_action(source, target, chosen, target_exists=len(missing) < len(values))
                    actions.append(self._plan(action, chosen))
        self._remember_selection(v.key for values in wanted.values() for v in values)
        return actions

    def _wanted(self, config: SourceConfig, keys: Sequence[str] | None) -> list[EnvValue]:
        """The .env values this store should hold: the selection (or `keys`), narrowed to the
        store's own `keys` when the environment is split across stores."""
        values = self._env_values(config.environment, selected_only=keys is None)
        unknown = [k for k in keys or () if k not in values]
        if unknown:
            raise MigrationError(
                f"no value for {', '.join(unknown)} in the {config.environment!r} .env files of source "
                f"{config.name!r}; pick keys from the inventory"
            )
        chosen = keys if keys is not None else list(values)
        return [values[k] for k in chosen if config.holds(k)]

    def _valueless(self, config: SourceConfig, keys: Sequence[str] | None) -> dict[str, str]:
        """The wanted keys of this store whose winning .env binding is empty or a placeholder,
        each with where it is (`.env:7 placeholder`)."""
        files = [env for env in self._env_files() if env.environment == config.environment]
        winning = {entry.key: env for env in files for entry in env.entries}
        wanted = keys if keys is not None else [e.key for env in files for e in env.entries
                                                if self._is_selected(e.key, e.klass)]
        found = {}
        for key in wanted:
            problem = winning[key].valueless().get(key) if key in winning and config.holds(key) else None
            if problem is not None:
                found[key] = f"{key} ({winning[key].path.name}:{problem.line} {problem.kind})"
        return found

    @staticmethod
    def _names(source: Source, values: list[EnvValue]) -> dict[str, list[EnvValue]]:
        """Target secret name -> the keys it holds (all of them for a bundle)."""
        if source.config.layout == "bundle":
            return {source.secret_name(""): values} if values else {}
        names = plan_names(source.config.kind, source.config.prefix, [v.key for v in values])
        return {names[v.key]: [v] for v in values}

    @staticmethod
    def _create_action(source: Source, target: str, values: list[EnvValue], *, target_exists: bool) -> Action:
        if source.config.layout == "bundle":
            layout = "bundle: adds only missing fields to the existing JSON" if target_exists else "bundle: new JSON secret"
            tags = BUNDLE_TAGS
        else:
            layout, tags = "per-key", source.tags_for(values[0].key)
        facts = [("layout", layout), ("tags", ", ".join(f"{k}={v}" for k, v in tags.items()))]
        for value in values:
            facts += [(f"{value.key} from", value.path.name), (f"{value.key} fingerprint", value.fingerprint),
                      (f"{value.key} length", str(value.length))]
        return Action("create", "create", source.name, target, tuple(facts))

    def _perform_create(self, action: Action) -> None:
        source = self.workspace.source(action.store)
        values = {planned.key: self._fresh_value(planned) for planned in self._planned[action.id]}
        try:
            if source.config.layout == "bundle":
                self._write_bundle(source, action.target, values, replace=False)
            else:
                [(key, value)] = values.items()
                source.client.create_secret(action.target, value, source.tags_for(key))
        finally:
            source.invalidate()

    def _check_create(self, action: Action) -> tuple[Check, str]:
        source = self.workspace.source(action.store)
        planned = self._planned[action.id]
        try:
            if source.config.layout == "bundle":
                stored = source.read_bundle(action.target)
            else:
                stored = {planned[0].key: source.client.read_value(action.target)}
        except SecretNotFoundError:
            return Check.ABSENT, f"{action.target!r} is not in {action.store}"
        fingerprint = self.workspace.fingerprint
        conflicts = [p.key for p in planned if p.key in stored and fingerprint(stored[p.key]) != p.fingerprint]
        if conflicts:
            return Check.CONFLICT, (f"{', '.join(conflicts)} already in {action.target!r} with another value; "
                                    "Citadel never overwrites it")
        missing = [p.key for p in planned if p.key not in stored]
        if missing:
            return Check.ABSENT, f"{', '.join(missing)} not in {action.target!r} yet"
        return Check.DONE, "present with the fingerprint shown"

    # -- step 3: code (the scanner and code generator are core/usage_scan.py, core/codegen.py) ---

    def tick_usage(self, usage_id: str, migrated: bool = True) -> None:
        """Tick (or untick) one code usage (`file:line:key`) as reading from the store now."""
        self.state.tick_usage(usage_id, migrated)
        self._touch({"code"})

    def tick_file(self, path: str, migrated: bool = True) -> list[str]:
        """Tick (or untick) every usage the scan finds in one file (relative path, `/`
        separators): the file reads from the store now. Returns the usage ids."""
        ids = [u.id for u in self.usages().usages if u.path == path]
        if not ids:
            raise MigrationError(f"{path}: the scan finds no use of the selected keys there")
        for usage_id in ids:
            self.state.tick_usage(usage_id, migrated)
        self._touch({"code"})
        return ids

    def confirm_no_usage(self) -> None:
        """The operator confirms the code reads none of the keys; refused while the scan finds uses."""
        found = self.usages(rescan=True).usages  # "none" must come from a scan of the files as they are now
        if found:
            raise MigrationError(f"the scan found {len(found)} use(s) of the selected keys: tick each one instead")
        self.state.no_usage_confirmed = True
        self._touch({"code"})

    def selected_keys(self) -> list[str]:
        """The keys being migrated: the selection, else every secret-class key of the .env files."""
        if self.state.selected_keys is not None:
            return list(self.state.selected_keys)
        return sorted({e.key for env in self._env_files() for e in env.entries if e.klass == SECRET})

    def usages(self, *, rescan: bool = False) -> ScanResult:
        """Every use of the selected keys in the project's source tree. The scan is kept until the
        selection changes or `rescan` is asked: a large tree takes seconds, and ticking a usage
        changes no file."""
        keys = tuple(self.selected_keys())
        if rescan or self._scan is None or self._scan[0] != keys:
            self._scan = (keys, scan_usages(self.root, keys))
        return self._scan[1]

    def generate_code(self, style: str = "reader") -> list[tuple[Path, GeneratedCode]]:
        """The module that reads the selected keys, per target store, saved under
        `.citadel/code/<store>/` for the operator to copy into the application."""
        keys = self.selected_keys()
        if not keys:
            raise MigrationError("no key selected: select the keys to migrate in step 2 first")
        written = []
        for name in self.target_stores():
            config = self._source(name).config
            held = [k for k in keys if config.holds(k)]
            if not held:
                continue
            generated = generate_code(config, held, style=style, config_path=str(self.workspace.config.path or "citadel.toml"))
            path = self.folder / "code" / name / generated.filename
            write_private(path, generated.text)
            written.append((path, generated))
        return written

    # -- step 4: staging ---------------------------------------------------------------------

    def verify_staging(self, environment: str = "staging", migrated: Sequence[Migrated] | None = None) -> dict[str, bool]:
        """Per migrated key of the staging .env files: do the staging stores hold that value?
        `migrated`: what `migrated()` returned moments ago, to judge without reading again."""
        values = self._env_values(environment)
        stores = [c.name for c in self.workspace.config.sources if c.environment == environment]
        if not values or not stores:
            raise MigrationError(
                f"staging needs [[env]] and [[source]] entries with environment = {environment!r} "
                f"(found {len(values)} key(s) and {len(stores)} store(s))"
            )
        matches: dict[str, list[bool]] = {key: [] for key in values}
        for item in self.migrated(stores) if migrated is None else [i for i in migrated if i.source in stores]:
            if item.key in matches:
                matches[item.key].append(item.meta.fingerprint == values[item.key].fingerprint)
        results = {key: bool(found) and all(found) for key, found in matches.items()}
        if self.state.pass_staging(key for key, passed in results.items() if passed):
            self._save()
        return results

    # -- step 5: rotate ----------------------------------------------------------------------

    def plan_rotations(self, store_names: Sequence[str] | None = None) -> list[Action]:
        """Per migrated secret whose store value still equals the .env value: AWS secrets with a
        rotation Lambda are rotated by it; every other gets a new random version nobody sees."""
        last = self.journal.last_outcomes()
        actions = []
        for item in self.migrated(store_names):
            if item.env is None:
                continue
            lambda_arn = item.meta.details.get("rotation_lambda")
            kind = "rotate-now" if lambda_arn else "add-version"
            how = (("how", f"rotation Lambda {lambda_arn}"),) if lambda_arn else (
                ("how", "new random value (never shown)"),
                ("only for", "a secret this application alone issues and checks (signing key, session secret)"),
                ("otherwise", "decline: issue a new credential at its owner (database, API provider), then "
                              "enter it on this secret in the list (step 5)"))
            facts = (*how, ("burn proof", f".env fingerprint {item.env.fingerprint} must no longer match"))
            action = Action("rotate", kind, item.source, item.meta.name, facts)
            if not item.burned or last.get(action.id) in PENDING:
                actions.append(self._plan(action, [item.env]))
        return actions

    def plan_new_value(self, store: str, key: str, value: str) -> Action:
        """Rotation by hand: the operator issued a new credential where it lives (ALTER USER, the
        provider's console) and gives it here to replace the value in the store. The value is held
        in memory for this one action only; what is shown and journaled is its fingerprint."""
        item = next((i for i in self.migrated([self._source(store).name]) if i.key == key), None)
        if item is None:
            raise MigrationError(f"{key} is not in {store} yet: create it first (step 2)")
        if not value.strip():
            raise MigrationError(f"the new value of {key} is empty; nothing was planned")
        fingerprint = self.workspace.fingerprint(value)
        if item.env is not None and fingerprint == item.env.fingerprint:
            raise MigrationError(f"the new value of {key} is the .env value: it would burn nothing; "
                                 f"issue a new credential first")
        if fingerprint == item.meta.fingerprint:
            raise MigrationError(f"{store} already holds this value of {key}; nothing was planned")
        burn = (("burn proof", f".env fingerprint {item.env.fingerprint} must no longer match"),) if item.env else ()
        replaces = "the .env value" if item.env is not None and not item.burned else "a value rotated before (not the .env one)"
        facts = (("key", key), ("how", "the new value you entered (never shown)"), ("replaces", replaces),
                 ("current fingerprint", item.meta.fingerprint or "unknown"),
                 ("new fingerprint", fingerprint), ("new length", str(len(value))), *burn)
        action = Action("rotate", "set-value", store, item.meta.name, facts)
        self._new_values[action.id] = Concealed(value)
        return self._plan(action, [item.env] if item.env else [])

    def _perform_new_value(self, action: Action) -> None:
        value = self._new_values.get(action.id)
        if value is None:
            raise MigrationError(f"the new value for {action.target!r} is no longer in memory; enter it again")
        key = dict(action.facts)["key"]
        source = self.workspace.source(action.store)
        state, detail = self._check_new_value(action)
        if state is not Check.ABSENT:  # never overwrite a value that changed after the plan was shown
            raise MigrationError(f"{action.target!r} in {action.store}: {detail}")
        try:
            if source.config.layout == "bundle":
                self._write_bundle(source, source.secret_name(key), {key: value}, replace=True)
            else:
                source.client.add_version(action.target, value)
        finally:
            source.invalidate()

    def _check_new_value(self, action: Action) -> tuple[Check, str]:
        facts = dict(action.facts)
        stored = self.workspace.fingerprint(self.workspace.source(action.store).read_value(facts["key"]))
        if stored == facts["new fingerprint"]:
            return Check.DONE, "the store holds the new value"
        if stored == facts["current fingerprint"]:
            return Check.ABSENT, "the store still holds the value it held when the plan was shown"
        return Check.CONFLICT, "the store's value changed since the plan was shown; plan it again"

    def burn_proof(self, migrated: Sequence[Migrated] | None = None) -> dict[str, bool]:
        """Per migrated key: the store's current value differs from the .env value (every store
        holding it). Where the .env file is gone, a verified rotation in the journal is the proof."""
        rotated = self._journal_rotated()
        results: dict[str, bool] = {}
        for item in self.migrated() if migrated is None else migrated:
            burned = item.burned if item.env is not None else (item.source, item.meta.name) in rotated
            results[item.key] = results.get(item.key, True) and burned
        return results

    def _perform_rotation(self, action: Action) -> None:
        source = self.workspace.source(action.store)
        try:
            if action.kind == "rotate-now":
                rotate_now = getattr(source.client, "rotate_now", None)
                if rotate_now is None:
                    raise MigrationError(f"{action.store} cannot rotate on demand; plan the rotation again")
                rotate_now(action.target)
            elif source.config.layout == "bundle":
                [planned] = self._planned[action.id]
                self._write_bundle(source, source.secret_name(planned.key), {planned.key: secrets.token_urlsafe(32)},
                                   replace=True)
            else:
                source.client.add_version(action.target, secrets.token_urlsafe(32))
        finally:
            source.invalidate()

    def _check_burned(self, action: Action) -> tuple[Check, str]:
        [planned] = self._planned[action.id]
        stored = self.workspace.source(action.store).read_value(planned.key)
        if self.workspace.fingerprint(stored) == planned.fingerprint:
            return Check.ABSENT, "the store still holds the .env value"
        return Check.DONE, "burned: the store's value no longer matches the .env value"

    def _journal_rotated(self) -> set[tuple[str, str]]:
        return {(e.store, e.target) for e in self.journal.entries() if e.step == "rotate" and e.outcome == "verified"}

    # -- step 6: remove .env files -----------------------------------------------------------

    def env_file_report(self, *, refresh: bool = True) -> list[EnvFileReport]:
        """Every `.env*` file under the project: git status, history, and its keys' migration.
        `refresh=False` reuses store inventories read moments ago (step_status just read them)."""
        stored = self.migrated(refresh=refresh)
        return [self._file_report(path, stored) for path in self._env_paths()]

    def _env_paths(self) -> list[Path]:
        """Every `.env*` file under the project, outside .git, .citadel and node_modules."""
        return sorted(p for p in self.root.rglob(".env*")
                      if p.is_file() and not SKIPPED_DIRS.intersection(p.relative_to(self.root).parts))

    def plan_delete(self, path: Path) -> Action:
        """Deleting a .env file: allowed only once each of its secret keys is migrated and burned."""
        file_report = self._file_report(path, self.migrated())
        blocking = file_report.blocking()
        if blocking:
            raise DeleteBlockedError(f"{path.name} cannot be deleted yet: {blocking}")
        facts = (("secret keys", ", ".join(file_report.secret_keys) or "none"),
                 ("git-ignored", {True: "yes", False: "NO", None: "not a git work tree"}[file_report.git_ignored]),
                 ("in git history", ", ".join(file_report.commits) or "no commit"),
                 ("confirm by typing", path.name))
        return self._plan(Action("remove-env", "delete-file", "disk", str(path), facts), ())

    @staticmethod
    def confirm_delete(typed: str, action: Action) -> bool:
        """A file is deleted only when the operator typed its exact name."""
        return typed.strip() == Path(action.target).name

    def _file_report(self, path: Path, stored: list[Migrated]) -> EnvFileReport:
        return EnvFileReport(path=path, git_ignored=self._git_ignored(path), commits=self._git_commits(path),
                             **self._file_keys(path, stored)._asdict())

    def _file_keys(self, path: Path, stored: list[Migrated]) -> _FileKeys:
        """Its secret keys holding a real value (placeholders in a `.env.example` hold none) are
        migrated when a store of the file's environment holds them, and rotated when no store still
        holds the file's value. A file not listed in citadel.toml was never migrated: it reports
        which of its values a store holds, and may not be deleted while it has secret keys."""
        resolved = path.resolve()
        environment = next((e.environment for e in self.workspace.config.envs if e.path.resolve() == resolved), None)
        env = read_env_file(path, environment or "", self.workspace.fingerprint)
        no_value = env.valueless()
        entries = {e.key: e for e in env.entries if e.key not in no_value and self._is_selected(e.key, e.klass)}
        kept = {i.key for i in stored if i.key in entries and i.meta.fingerprint == entries[i.key].fingerprint}
        migrated = {i.key for i in stored if i.environment == environment} if environment is not None else kept
        return _FileKeys(
            secret_keys=tuple(entries),
            migrated=tuple(k for k in entries if k in migrated),
            rotated=tuple(k for k in entries if k in migrated and k not in kept) if environment is not None else (),
            configured=environment is not None,
        )

    def _git(self, *args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None

    def _git_ignored(self, path: Path) -> bool | None:
        result = self._git("check-ignore", "-q", "--", str(path))
        return {0: True, 1: False}.get(result.returncode) if result else None

    def _git_commits(self, path: Path) -> tuple[str, ...]:
        result = self._git("log", "--all", "--format=%h", "--", str(path))
        return tuple(result.stdout.split()) if result and result.returncode == 0 else ()

    @staticmethod
    def _perform_delete(action: Action) -> None:
        try:
            Path(action.target).unlink()
        except OSError as exc:
            raise MigrationError(f"cannot delete {action.target}: {exc.strerror}") from None

    @staticmethod
    def _check_delete(action: Action) -> tuple[Check, str]:
        if Path(action.target).exists():
            return Check.ABSENT, "the file is still there"
        return Check.DONE, "deleted"

    # -- step 7: schedule --------------------------------------------------------------------

    def plan_schedules(self, store_names: Sequence[str] | None = None) -> list[Action]:
        """configure_rotation for every migrated secret without a schedule, period from the policy."""
        period = self.workspace.config.policy.rotation_period_days
        targets: dict[tuple[str, str], list[str]] = {}
        for item in self.migrated(store_names):
            if not has_schedule(item.meta):
                name = self.workspace.source(item.source).secret_name(item.key)
                targets.setdefault((item.source, name), []).append(item.key)
        return [self._plan(Action("schedule", "configure-rotation", store, name,
                                  (("every", f"{period} days"), ("keys", ", ".join(keys)))), ())
                for (store, name), keys in targets.items()]

    def _perform_schedule(self, action: Action) -> None:
        source = self.workspace.source(action.store)
        try:
            source.client.configure_rotation(action.target, self.workspace.config.policy.rotation_period_days)
        finally:
            source.invalidate()

    def _check_schedule(self, action: Action) -> tuple[Check, str]:
        metas = [m for m in self.workspace.source(action.store).inventory(refresh=True)
                 if m.name.split("#")[0] == action.target]
        if not metas:
            return Check.CONFLICT, f"{action.target!r} is no longer in {action.store}"
        if all(has_schedule(m) for m in metas):
            return Check.DONE, "rotation scheduled"
        return Check.ABSENT, "no rotation schedule yet"

    # -- step 8: audit -----------------------------------------------------------------------

    def plan_audits(self, store_names: Sequence[str] | None = None) -> list[Action]:
        """enable-audit for every store whose audit logging is not on and whose API can turn it on
        (audit_guidance explains the others)."""
        statuses = self.audit_statuses()
        actions = []
        for name, status in statuses.items():
            if status.state is AuditState.ON or (store_names is not None and name not in store_names):
                continue
            change = self.workspace.source(name).client.audit_change()
            if change is not None:
                actions.append(self._plan(Action("audit", "enable-audit", name, change.target, change.facts), ()))
        return actions

    def _perform_audit(self, action: Action) -> None:
        self.workspace.source(action.store).client.enable_audit()

    def _check_audit(self, action: Action) -> tuple[Check, str]:
        status = self.workspace.source(action.store).client.audit_status()
        if status.state is AuditState.ON:
            return Check.DONE, status.detail
        if status.state is AuditState.OFF:
            return Check.ABSENT, status.detail
        raise MigrationError(f"cannot tell whether audit logging is on in {action.store}: {status.detail}")

    def audit_statuses(self) -> dict[str, AuditStatus]:
        """Every store's audit-logging status, asked concurrently; a failure is UNKNOWN with why."""
        configs = self.workspace.config.sources
        if not configs:
            return {}
        with ThreadPoolExecutor(max_workers=len(configs)) as pool:
            statuses = list(pool.map(self._audit_one, configs))
        return {c.name: s for c, s in zip(configs, statuses)}

    def _audit_one(self, config: SourceConfig) -> AuditStatus:
        try:
            return self.workspace.source(config.name).client.audit_status()
        except CitadelError as exc:
            return AuditStatus(AuditState.UNKNOWN, str(exc))

    def audit_guidance(self, store: str) -> str:
        """What the operator runs to turn audit logging on for this store by hand."""
        config = self._source(store).config
        guidance = {
            "aws": lambda: (
                "Secrets Manager reads (GetSecretValue) are CloudTrail management events. Create a trail "
                "and start it:\n"
                "  aws cloudtrail create-trail --name citadel-audit --s3-bucket-name BUCKET "
                f"--is-multi-region-trail --region {config.option('region', 'REGION')}\n"
                "  aws cloudtrail start-logging --name citadel-audit\n"
                "Or set audit_bucket = \"BUCKET\" in this source of citadel.toml: Citadel then plans the "
                "same two calls here, shown and confirmed first."),
            "gcp": lambda: (
                "Turn on Data Access audit logs (DATA_READ, DATA_WRITE, ADMIN_READ) for "
                "secretmanager.googleapis.com:\n"
                f"  gcloud projects get-iam-policy {config.option('project')} --format=yaml > policy.yaml\n"
                "  # add under auditConfigs:\n"
                "  #   - service: secretmanager.googleapis.com\n"
                "  #     auditLogConfigs: [{logType: ADMIN_READ}, {logType: DATA_READ}, {logType: DATA_WRITE}]\n"
                f"  gcloud projects set-iam-policy {config.option('project')} policy.yaml\n"
                "Citadel plans the same change here (p), shown and confirmed first; it needs "
                "resourcemanager.projects.setIamPolicy on the project."),
            "azure": lambda: (
                "Send the vault's AuditEvent logs somewhere with a diagnostic setting:\n"
                "  az monitor diagnostic-settings create --name citadel-audit "
                f"--resource {config.option('vault_resource_id', 'VAULT_RESOURCE_ID')} "
                "--logs '[{\"category\":\"AuditEvent\",\"enabled\":true}]' --workspace LOG_ANALYTICS_WORKSPACE_ID\n"
                "Or set audit_workspace_id = \"WORKSPACE_RESOURCE_ID\" in this source of citadel.toml: Citadel "
                "then plans the same diagnostic setting here, shown and confirmed first."),
            "vault": lambda: (
                "OpenBao enables audit devices only from its server configuration: add a stanza and restart\n"
                "  audit \"file\" \"citadel\" {\n    options { file_path = \"/var/log/openbao/audit.log\" }\n  }\n"
                f"HashiCorp Vault: VAULT_ADDR={config.option('url')} vault audit enable file "
                "file_path=/var/log/vault/audit.log"),
        }
        return guidance[config.kind]()

    # -- step 9: emergency -------------------------------------------------------------------

    def write_policies(self) -> list[tuple[Path, PolicyDoc]]:
        """Least-privilege read access to exactly the migrated secrets of each store, saved under
        `.citadel/policies/` (IAM JSON, Vault HCL, GCP bindings, Azure role assignment)."""
        keys: dict[str, set[str]] = {}
        for item in self.migrated(refresh=False):
            keys.setdefault(item.source, set()).add(item.key)
        if not keys:
            raise MigrationError("no secret is migrated yet: nothing to grant access to (step 2)")
        written = []
        for config in self.workspace.config.sources:
            if config.name in keys:
                for doc in policies_for(config, secrets_for(config, sorted(keys[config.name]))):
                    path = self.folder / "policies" / doc.filename
                    write_private(path, doc.text)
                    written.append((path, doc))
        return written

    def confirm_runbook_saved(self, path: Path) -> None:
        """The operator confirms the break-glass runbook is saved (at `path`, which must exist)."""
        if not path.is_file():
            raise MigrationError(f"{path}: no such file; save the runbook there first")
        self.state.runbook_saved = str(path)
        self._touch({"emergency"})

    # -- the checklist -----------------------------------------------------------------------

    def step_status(self, usage_ids: Sequence[str] | None = None, *, fresh: bool = False) -> dict[str, StepStatus]:
        """What is still open per step, judged by core.checklist; step states are persisted.

        Every step is judged from the files as they are now and the stores as last read: code
        from `usage_ids` (default: the usage scan), staging and the burn proof from the
        inventories, audit by asking every store. Inventories come from the sources' caches,
        which every write of this migration clears; `fresh` reads every store and scans the code
        again (what changed elsewhere shows then, or once the cache expires)."""
        env_files = self._env_files()
        rows = self._rows(env_files, refresh=fresh)
        migrated = self.migrated(refresh=False)
        found = {
            "inventory": checklist.inventory_open(self.state, env_files),
            "create": checklist.create_open(self.state, rows),
            "code": checklist.code_open(self.state, usage_ids if usage_ids is not None
                                        else [u.id for u in self.usages(rescan=fresh).usages]),
            "staging": self._staging_open(migrated),
            "rotate": checklist.results_open(self.burn_proof(migrated)),
            "remove-env": checklist.env_files_open(  # the keys only: git is asked when a file is listed or deleted
                ((str(path), self._file_keys(path, migrated).migrated) for path in self._env_paths()),
                anything_migrated=bool(migrated)),
            "schedule": checklist.schedule_open((i.key, i.source, i.meta) for i in migrated),
            "audit": checklist.audit_open(self.audit_statuses()),
            "emergency": checklist.emergency_open(self.state),
        }
        touched = {e.step for e in self.journal.entries()}
        statuses = {}
        for step in STEPS:
            open_items = tuple(found[step.id])
            state = "done" if not open_items else (
                "in-progress" if step.id in touched or self.state.steps[step.id] != "todo" else "todo")
            self.state.set_step(step.id, state)
            statuses[step.id] = StepStatus(step, state, open_items)
        self._save()
        return statuses

    def _staging_open(self, migrated: Sequence[Migrated]) -> list[str]:
        """Staging is a test before the rotation: a key that passed once stays passed, since
        rotating it and removing .env.staging afterwards must make the same check fail."""
        passed = set(self.state.staging_passed)
        try:
            results = self.verify_staging(migrated=migrated)
        except MigrationError as exc:
            return [] if passed else [str(exc)]
        return checklist.results_open({key: ok or key in passed for key, ok in results.items()})

    def _rows(self, env_files: list[EnvFile], *, refresh: bool) -> list[Row]:
        """Comparison rows of the stores written to (all stores before any write); a secret whose
        rotation was verified counts as in sync, since its .env value is burned on purpose."""
        written = {e.store for e in self.journal.entries() if e.step == "create"}
        inventories = self.workspace.load_all(compare_values=True, refresh=refresh)
        comparison = self.workspace.compare(env_files, inventories, compare_values=True)
        rotated = self._journal_rotated()
        rows = []
        for row in comparison.rows:
            if written and row.source not in written:
                continue
            if row.secret and (row.source, row.secret.name) in rotated and row.has("drift"):
                row = replace(row, statuses=tuple("in-sync" if s == "drift" else s for s in row.statuses))
            rows.append(row)
        return rows

    def _touch(self, step_ids: set[str]) -> None:
        for step_id in step_ids:
            if self.state.steps[step_id] == "todo":
                self.state.set_step(step_id, "in-progress")
        self._save()

    def _save(self) -> None:
        self.state.save(self.state_path)

    # -- shared --------------------------------------------------------------------------------

    def _source(self, name: str) -> Source:
        if name not in {c.name for c in self.workspace.config.sources}:
            names = ", ".join(c.name for c in self.workspace.config.sources) or "none"
            raise MigrationError(f"no source named {name!r}; configured: {names}")
        return self.workspace.source(name)

    def _plan(self, action: Action, values: Sequence[EnvValue]) -> Action:
        self._planned[action.id] = tuple(values)
        return action

    def _env_files(self) -> list[EnvFile]:
        """The .env files that can be read; one deleted in step 6 simply drops out."""
        return self.workspace.read_env_files()[0]

    def _is_selected(self, key: str, klass: str) -> bool:
        selection = self.state.selected_keys
        return key in selection if selection is not None else klass == SECRET

    def _remember_selection(self, keys: Iterable[str]) -> None:
        """Planned keys join the selection, so later steps still know them once the .env files are gone."""
        self.state.selected_keys = sorted(set(self.state.selected_keys or ()) | set(keys))
        self._save()

    def _env_values(self, environment: str, *, selected_only: bool = True) -> dict[str, EnvValue]:
        """Keys with a value in the environment's .env files; a later file overrides an earlier one."""
        values: dict[str, EnvValue] = {}
        for env in self._env_files():
            if env.environment != environment:
                continue
            for entry in env.entries:
                if entry.fingerprint and (not selected_only or self._is_selected(entry.key, entry.klass)):
                    values[entry.key] = EnvValue(entry.key, env.path, entry.klass, entry.fingerprint, entry.length)
        return values

    def migrated(self, store_names: Sequence[str] | None = None, *, refresh: bool = True) -> list[Migrated]:
        """Every selected key a store holds, with the fingerprint of the store's value: what
        steps 4 to 9 work on."""
        items = []
        for config in self.workspace.config.sources:
            if store_names is not None and config.name not in store_names:
                continue
            values = self._env_values(config.environment)
            wanted = set(values) | set(self.state.selected_keys or ())
            source = self.workspace.source(config.name)
            for meta in source.inventory(fingerprint=self.workspace.fingerprint, refresh=refresh):
                if meta.key in wanted and config.holds(meta.key):
                    items.append(Migrated(config.name, config.environment, meta.key, meta, values.get(meta.key)))
        return items

    def _fresh_value(self, planned: EnvValue) -> str:
        """The value as the file holds it now; refused if it is not the one the operator confirmed."""
        value = self.workspace.env_value(planned.path, planned.key)
        if self.workspace.fingerprint(value) != planned.fingerprint:
            raise ValueChangedError(
                f"{planned.key} in {planned.path} changed after the plan was shown; plan the step again"
            )
        return value

    @staticmethod
    def _write_bundle(source: Source, name: str, values: dict[str, str], *, replace: bool) -> None:
        """Create the bundle, or add a version that adds (or, to rotate, replaces) only these
        fields; every other field is written back exactly as stored."""
        try:
            raw = source.client.read_value(name)
        except SecretNotFoundError:
            if replace:
                raise
            source.client.create_secret(name, json.dumps(values), BUNDLE_TAGS)
            return
        current = bundle_object(raw, name, source.name)
        changed = values if replace else {k: v for k, v in values.items() if k not in current}
        if changed:
            source.client.add_version(name, json.dumps({**current, **changed}))


__all__ = [
    "DeleteBlockedError", "EnvFileReport", "EnvValue", "Migrated", "Migration", "MigrationError",
    "StepStatus", "ValueChangedError", "citadel_folder",
]
