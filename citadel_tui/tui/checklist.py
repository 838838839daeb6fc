"""The migration checklist in the dashboard (issue 5): nine steps, their state and open items.

The screen lists the steps; the highlighted step shows what Citadel does, what is still open
and the keys that act on it. Every read and write goes through one `Migration`
(citadel_tui.migration) in thread workers, one call at a time. A write is always a plan of
Actions, each shown in the confirmation dialog (store, exact name, layout, tags, fingerprint,
length: never a value) and confirmed one by one, or all at once by typing how many were shown;
declining writes nothing. The journal screen shows what happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from citadel_tui.core.checklist import STEPS, Step, problem_id
from citadel_tui.core.errors import CitadelError
from citadel_tui.core.journal import Journal
from citadel_tui.core.plan import Action, Outcome
from citadel_tui.core.runbook import build_runbook, write_runbook
from citadel_tui.core.usage_scan import Usage
from citadel_tui.migration import Migrated, Migration, StepStatus
from citadel_tui.tui.confirm import ALL, STOP, YES, ConfirmScreen, Typed, action_lines, plan_text
from citadel_tui.tui.new_value import NewValueScreen
from citadel_tui.tui.screens import TextScreen
from citadel_tui.workspace import Workspace

T = TypeVar("T")
STATE_VAR = {"todo": "$text-muted", "in-progress": "$warning", "done": "$success"}
TITLE_WIDTH = max(len(step.title) for step in STEPS)
"""Titles padded to one width, so the counts of open items form a column."""


class MigrationHost:
    """The app's one Migration, made on first use; calls are serialized (workers are threads)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._migration: Migration | None = None

    def call(self, work: Callable[[Migration], T]) -> T:
        with self._lock:
            if self._migration is None:
                self._migration = Migration(self.workspace)
            return work(self._migration)


# -- what each step offers -----------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """A generated document to open in the viewer: code, policies, runbook, instructions."""

    title: str
    text: str
    lexer: str = "text"


@dataclass(frozen=True)
class Ask:
    """A value the operator must enter (masked) before the step can plan with it."""

    title: str
    lines: list[str]
    then: Callable[[Migration, str], Reply]


@dataclass(frozen=True)
class Reply:
    """What a step operation answers: text for the log, a plan to confirm and run, a document to
    show, or a value to ask for first."""

    text: str = ""
    plan: tuple[Action, ...] = ()
    typed: str | None = None
    """For a destructive plan: the exact text (a file name) the operator must type."""
    view: View | None = None
    ask: Ask | None = None


@dataclass(frozen=True)
class Item:
    id: str
    label: str


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    run: Callable[[Migration], Reply]


@dataclass(frozen=True)
class StepSpec:
    """A step's keyed operations, and optionally a list of items (usages, files, stores) with
    what enter on one does."""

    operations: tuple[Operation, ...] = ()
    items: Callable[[Migration], list[Item]] | None = None
    pick: Callable[[Migration, str], Reply] | None = None
    item_hint: str = ""
    noun: str = "actions"
    """What a plan of this step is called in its summary: `create secrets: 4 of 5 verified`."""


def _box(ticked: bool) -> str:
    return "[x]" if ticked else "[ ]"


def _accept_next(m: Migration) -> Reply:
    """Accept the first .env problem not accepted yet: one at a time, each named."""
    files, _ = m.workspace.read_env_files()
    accepted = set(m.state.accepted_problems)
    for env in files:
        for problem in env.problems:
            if problem_id(env, problem) not in accepted:
                m.accept_problem(problem_id(env, problem))
                return Reply(f"accepted {env.path.name}:{problem.line} {problem.kind}: {problem.message}")
    return Reply("no .env problem left to accept")


def _reviewed(m: Migration) -> Reply:
    m.review_inventory()
    return Reply("inventory marked reviewed")


def _export(fmt: str, m: Migration) -> Reply:
    return Reply(f"inventory exported as {fmt} (keys, files, lines, problems; no value) to {m.export_inventory(fmt)}")


def _create_items(m: Migration) -> list[Item]:
    """The stores to create in, then every .env key: enter toggles one in or out."""
    chosen = set(m.target_stores())
    items = [Item(f"store:{c.name}", f"{_box(c.name in chosen)} store {c.name}  {c.kind}, {c.environment}")
             for c in m.workspace.config.sources]
    selected = set(m.selected_keys())
    files, _ = m.workspace.read_env_files()
    seen: dict[str, str] = {}
    for env in files:
        valueless = env.valueless()
        for entry in env.entries:
            note = f"  no value ({valueless[entry.key].kind})" if entry.key in valueless else ""
            seen.setdefault(entry.key, f"{entry.klass}  {env.path.name}:{entry.line}{note}")
    return items + [Item(f"key:{key}", f"{_box(key in selected)} key {key}  {where}") for key, where in sorted(seen.items())]


def _toggle_create(m: Migration, item_id: str) -> Reply:
    kind, name = item_id.split(":", 1)
    if kind == "store":
        stores = set(m.target_stores()) ^ {name}
        m.choose_stores(stores)
        return Reply(f"{'chose' if name in stores else 'left out'} store {name}; creating in: {', '.join(sorted(stores)) or 'none'}")
    keys = set(m.selected_keys()) ^ {name}
    m.select_keys(keys)
    return Reply(f"{'selected' if name in keys else 'left out'} {name}; {len(keys)} key(s) selected")


def _plan_creates(m: Migration) -> Reply:
    stores = m.target_stores()
    if not stores:
        return Reply("no store chosen: tick at least one store in the list below")
    plan = m.plan_creates(stores)
    return Reply(f"{len(plan)} create action(s) planned in {', '.join(stores)}", tuple(plan))


FILE_ITEM = "file\t"
"""Prefix of a file's item id in step 3 (a tab never appears in a usage id)."""


def _usages(m: Migration) -> list[Item]:
    """Each file with usages, ticked when all of them are, followed by its usages."""
    ticked = set(m.state.migrated_usages)
    by_file: dict[str, list[Usage]] = {}
    for usage in m.usages().usages:
        by_file.setdefault(usage.path, []).append(usage)
    items = []
    for path, usages in by_file.items():
        items.append(Item(FILE_ITEM + path, f"{_box(all(u.id in ticked for u in usages))} {path}  "
                                            f"{len(usages)} usage(s): enter ticks them all"))
        items += [Item(u.id, f"  {_box(u.id in ticked)} line {u.line}  {u.key}  {u.kind}  {u.snippet}")
                  for u in usages]
    return items


def _tick(m: Migration, item_id: str) -> Reply:
    if item_id.startswith(FILE_ITEM):
        path = item_id.removeprefix(FILE_ITEM)
        ticked = not all(u.id in m.state.migrated_usages for u in m.usages().usages if u.path == path)
        ids = m.tick_file(path, ticked)
        return Reply(f"{'ticked' if ticked else 'unticked'} {path}: {len(ids)} usage(s)")
    ticked = item_id not in m.state.migrated_usages
    m.tick_usage(item_id, ticked)
    return Reply(f"{'ticked' if ticked else 'unticked'} {item_id}")


def _no_usage(m: Migration) -> Reply:
    m.confirm_no_usage()
    return Reply("confirmed: the application reads none of the selected keys")


def _generate_code(m: Migration) -> Reply:
    written = m.generate_code()
    text = "\n\n".join(f"# ---- {path} ----\n{code.text}" for path, code in written)
    return Reply("reading code saved to " + ", ".join(str(p) for p, _ in written),
                 view=View(f"Reading code for {len(written)} store(s)", text, "python"))


def _results(title: str, results: dict[str, bool]) -> Reply:
    lines = [f"{'pass' if ok else 'FAIL'}  {key}" for key, ok in sorted(results.items())]
    return Reply("\n".join([title, *lines]) if lines else f"{title}: nothing migrated yet")


def _plan_rotations(m: Migration) -> Reply:
    plan = m.plan_rotations()
    return Reply(f"{len(plan)} rotation(s) planned", tuple(plan))


def _rotation_items(m: Migration) -> list[Item]:
    """Every migrated secret, and whether the store still holds its .env value (from the
    inventories the step judgement just read: a write clears its store's cache)."""
    def state(item: Migrated) -> str:
        if item.env is None:
            return ".env gone"
        return "burned" if item.burned else "still the .env value"
    return [Item(f"{i.source}\t{i.key}", f"{i.key} in {i.source}  {i.meta.name}  {state(i)}") for i in m.migrated(refresh=False)]


def _ask_new_value(m: Migration, item_id: str) -> Reply:
    store, key = item_id.split("\t", 1)
    lines = [f"Issue a new {key} where the credential lives first (the database's ALTER USER, the",
             "provider's console or API), then paste it here. It replaces the value in "
             f"{store}; the next screen shows its fingerprint and length, never the value.",
             "The old value stays valid at its owner until you revoke it there."]
    return Reply(ask=Ask(f"New value for {key} in {store}", lines, partial(_plan_new_value, store=store, key=key)))


def _plan_new_value(m: Migration, value: str, *, store: str, key: str) -> Reply:
    action = m.plan_new_value(store, key, value)
    return Reply(f"new value of {key} for {store} planned", (action,))


def _env_files(m: Migration) -> list[Item]:
    labels = {True: "git-ignored", False: "NOT git-ignored", None: "no git"}
    return [Item(str(r.path), f"{r.path.relative_to(m.root)}  {labels[r.git_ignored]}  in {len(r.commits)} commit(s)  "
                              f"{r.blocking() or 'may be deleted'}")
            for r in m.env_file_report(refresh=False)]  # the inventories the step judgement just read


def _plan_delete(m: Migration, path: str) -> Reply:
    action = m.plan_delete(Path(path))
    return Reply(f"delete of {Path(path).name} planned", (action,), typed=Path(path).name)


def _plan_schedules(m: Migration) -> Reply:
    plan = m.plan_schedules()
    return Reply(f"{len(plan)} schedule(s) planned", tuple(plan))


def _audit(m: Migration) -> Reply:
    lines = [f"{name}: {s.state.value}  {s.detail}" for name, s in m.audit_statuses().items()]
    return Reply("\n".join(["audit logging per store (enter on a store shows how to turn it on by hand)", *lines]))


def _plan_audits(m: Migration) -> Reply:
    plan = m.plan_audits()
    return Reply(f"{len(plan)} audit change(s) planned; a store not planned is on already or needs the "
                 "instructions (enter on it)", tuple(plan))


def _audit_items(m: Migration) -> list[Item]:
    return [Item(name, f"{name}: {s.state.value}  {s.detail}") for name, s in m.audit_statuses().items()]


def _audit_guidance(m: Migration, store: str) -> Reply:
    return Reply(view=View(f"Audit logging for {store}", m.audit_guidance(store), "shell"))


def _runbook_path(m: Migration) -> Path:
    return m.folder / "runbook.md"


def _save_runbook(m: Migration) -> Reply:
    workspace = m.workspace
    files, _ = workspace.read_env_files()
    comparison = workspace.compare(files, workspace.load_all())
    path = _runbook_path(m)
    text = build_runbook(comparison, workspace.config.sources)
    write_runbook(path, text)
    return Reply(f"runbook saved to {path} (mode 0600); read it, then confirm it is saved (c)",
                 view=View(f"Break-glass runbook: {path}", text, "markdown"))


def _policies(m: Migration) -> Reply:
    written = m.write_policies()
    text = "\n\n".join(f"# ---- {doc.title}: {path} ----\n{doc.text}" for path, doc in written)
    return Reply(f"{len(written)} least-privilege document(s) saved under {m.folder / 'policies'}",
                 view=View("Least-privilege access for the application", text))


def _confirm_runbook(m: Migration) -> Reply:
    m.confirm_runbook_saved(_runbook_path(m))
    return Reply("runbook confirmed as saved")


def _verify_staging(m: Migration) -> Reply:
    return _results("staging", m.verify_staging())


def _burn_proof(m: Migration) -> Reply:
    return _results("burn proof", m.burn_proof())


SPECS: dict[str, StepSpec] = {
    "inventory": StepSpec((
        Operation("r", "mark the inventory reviewed", _reviewed),
        Operation("a", "accept the next .env problem", _accept_next),
        *(Operation(key, f"export {fmt}", partial(_export, fmt))
          for key, fmt in (("e", "markdown"), ("x", "json"), ("c", "csv"))),
    )),
    "create": StepSpec((Operation("p", "plan the creates", _plan_creates),), items=_create_items, pick=_toggle_create,
                       item_hint="enter chooses (or leaves out) the highlighted store or key", noun="create secrets"),
    "code": StepSpec((Operation("g", "generate reading code for the chosen stores", _generate_code),
                      Operation("n", "confirm no code reads the keys (when the scan finds none)", _no_usage)),
                     items=_usages, pick=_tick, noun="usages",
                     item_hint="enter ticks (or unticks) the highlighted usage, or every usage of a file, "
                               "as reading from the store"),
    "staging": StepSpec((Operation("v", "verify staging", _verify_staging),)),
    "rotate": StepSpec((Operation("p", "plan the rotations", _plan_rotations),
                        Operation("v", "prove the burn", _burn_proof)), noun="rotations",
                       items=_rotation_items, pick=_ask_new_value,
                       item_hint="enter stores a new value issued at the credential's owner (database, API "
                                 "provider) for the highlighted secret"),
    "remove-env": StepSpec(items=_env_files, pick=_plan_delete, noun="deletions",
                           item_hint="enter plans deleting the highlighted file (type its name to confirm)"),
    "schedule": StepSpec((Operation("p", "plan the rotation schedules", _plan_schedules),), noun="schedules"),
    "audit": StepSpec((Operation("v", "ask every store", _audit), Operation("p", "plan turning audit logging on", _plan_audits)),
                      items=_audit_items, pick=_audit_guidance, noun="audit changes",
                      item_hint="enter shows how to turn audit logging on by hand for the highlighted store"),
    "emergency": StepSpec((Operation("s", "save the break-glass runbook", _save_runbook),
                           Operation("l", "least-privilege policies", _policies),
                           Operation("c", "confirm the runbook is saved", _confirm_runbook))),
}

OPERATION_KEYS = sorted({op.key for spec in SPECS.values() for op in spec.operations})


# -- messages from the workers -------------------------------------------------------------------

class StatusLoaded(Message):
    def __init__(self, statuses: dict[str, StepStatus]) -> None:
        super().__init__()
        self.statuses = statuses


class ItemsLoaded(Message):
    def __init__(self, step_id: str, items: list[Item]) -> None:
        super().__init__()
        self.step_id, self.items = step_id, items


class Replied(Message):
    def __init__(self, step_id: str, reply: Reply) -> None:
        super().__init__()
        self.step_id, self.reply = step_id, reply


class ActionRan(Message):
    def __init__(self, number: int, total: int, outcome: Outcome) -> None:
        super().__init__()
        self.number, self.total, self.outcome = number, total, outcome


class PlanFinished(Message):
    def __init__(self, step_id: str, outcomes: list[Outcome]) -> None:
        super().__init__()
        self.step_id, self.outcomes = step_id, outcomes


def _guarded(work: Callable[[], Reply]) -> Reply:
    try:
        return work()
    except CitadelError as exc:
        return Reply(f"error: {exc}")


# -- the screens -----------------------------------------------------------------------------------

class StepLog(RichLog):
    """What the checklist did, newest line in view: also when the list above it grows or
    shrinks, which changes the log's height after the line was written."""

    def on_resize(self) -> None:
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True)


class ChecklistScreen(Screen[None]):
    """The nine steps with their state; the highlighted step's help, open items, keys and log."""

    BINDINGS = [
        Binding("escape,k,q", "app.pop_screen", "Back to the table", id="checklist.close"),
        Binding("R", "reload(True)", "Recheck steps (read every store, scan the code again)", id="checklist.reload"),
        Binding("j", "app.journal", "Journal", id="checklist.journal"),
        Binding("d", "toggle_dry_run", "Dry run on/off", id="checklist.dry_run"),
        *(Binding(key, f"operate('{key}')", "", show=False, id=f"checklist.op_{key}")  # described by help_keys
          for key in OPERATION_KEYS),
    ]
    LOG_LINES = 200

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.host = MigrationHost(workspace)
        self.statuses: dict[str, StepStatus] = {}
        self.log_lines: list[str] = []
        self.item_cursor: dict[str, int] = {}
        self.dry_run = False
        """While on, a plan is shown whole in a viewer and nothing is confirmed, run or journaled."""

    @property
    def step(self) -> Step:
        index = self.query_one("#steps", OptionList).highlighted
        return STEPS[index or 0]

    def compose(self) -> ComposeResult:
        yield OptionList(*(Option(self._label(i, step, None), id=step.id) for i, step in enumerate(STEPS, 1)),
                         id="steps")
        with Vertical(id="step-body"):
            yield Static("", id="step-detail")
            yield OptionList(id="step-items")
            yield StepLog(id="step-log", wrap=True, markup=False, max_lines=self.LOG_LINES)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#steps", OptionList).highlighted = 0
        self.action_reload(fresh=True)  # opened: the truth of the stores, not the dashboard's cache

    # -- workers

    def _in_worker(self, work: Callable[[], None], description: str) -> None:
        self.run_worker(work, name="checklist", description=description, group="checklist", thread=True,
                        exit_on_error=False)

    def action_reload(self, fresh: bool = False) -> None:
        """Judge every step again; stores are read and the code scanned anew only when asked (R):
        after a tick nothing changed there, and after a write the engine has cleared that store."""
        self._in_worker(lambda: self.post_message(StatusLoaded(self.host.call(lambda m: m.step_status(fresh=fresh)))),
                        "judge every checklist step")

    def _ask(self, step_id: str, work: Callable[[Migration], Reply], description: str) -> None:
        self._in_worker(lambda: self.post_message(Replied(step_id, _guarded(lambda: self.host.call(work)))), description)

    def _load_items(self, step: Step) -> None:
        spec = SPECS[step.id]
        if spec.items is not None:
            items = spec.items
            self._in_worker(lambda: self.post_message(ItemsLoaded(step.id, _items(self.host, items))),
                            f"list the items of step {step.id}")

    # -- showing

    @staticmethod
    def _label(number: int, step: Step, status: StepStatus | None) -> str:
        if status is None:
            return f"{number}. {escape(step.title)}  [$text-muted]…[/]"
        opened = f" [$text-muted]{len(status.open_items):>4}[/]" if status.open_items else ""
        return f"{number}. [{STATE_VAR[status.state]}]{status.state:<11}[/] {escape(step.title):<{TITLE_WIDTH}}{opened}"

    @on(StatusLoaded)
    def _loaded(self, message: StatusLoaded) -> None:
        self.statuses = message.statuses
        steps = self.query_one("#steps", OptionList)
        for number, step in enumerate(STEPS, 1):
            steps.replace_option_prompt(step.id, self._label(number, step, self.statuses.get(step.id)))
        self._show_step()

    @on(OptionList.OptionHighlighted, "#steps")
    def _highlighted(self) -> None:
        self._show_step()
        self.refresh_bindings()

    def _show_step(self) -> None:
        step, spec = self.step, SPECS[self.step.id]
        status = self.statuses.get(step.id)
        lines = [f"[b]{escape(step.title)}[/b]  [{STATE_VAR[status.state]}]{status.state}[/]" if status
                 else f"[b]{escape(step.title)}[/b]  [$text-muted]checking…[/]", escape(step.help), ""]
        if self.dry_run:
            lines[0] += "  [$warning]DRY RUN[/] [$text-muted]plans are shown whole, nothing runs (d: off)[/]"
        if status is not None:
            lines.append(f"[b]open[/b] ({len(status.open_items)})" if status.open_items else "[$success]nothing open[/]")
            lines += [f"  • {escape(item)}" for item in status.open_items[:10]]
            if len(status.open_items) > 10:
                lines.append(f"  … and {len(status.open_items) - 10} more")
        keys = [f"[b]{op.key}[/b] {escape(op.label)}" for op in spec.operations]
        if spec.item_hint:
            keys.append(f"[b]tab[/b] the list below; {escape(spec.item_hint)}")
        lines += ["", "   ".join(keys)]
        self.query_one("#step-detail", Static).update("\n".join(lines))
        items = self.query_one("#step-items", OptionList)
        items.display = spec.items is not None
        items.clear_options()
        self._load_items(step)

    def _log(self, *lines: str) -> None:
        self.log_lines = (self.log_lines + list(lines))[-self.LOG_LINES:]
        log = self.query_one("#step-log", StepLog)
        for line in lines:
            log.write(Text(line))

    # -- acting

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "operate":
            return any(op.key == parameters[0] for op in SPECS[self.step.id].operations) or None
        return True

    def help_keys(self) -> list[tuple[str, str]]:
        """The highlighted step's own keys, for the help screen (their bindings are shared by all steps)."""
        spec = SPECS[self.step.id]
        keys = [(op.key, f"{self.step.title}: {op.label}") for op in spec.operations]
        return keys + ([("enter", f"{self.step.title}: {spec.item_hint}")] if spec.item_hint else [])

    def action_toggle_dry_run(self) -> None:
        self.dry_run = not self.dry_run
        self._log(f"dry run {'on: plans are shown, nothing runs' if self.dry_run else 'off'}")
        self._show_step()

    def action_operate(self, key: str) -> None:
        step = self.step
        operation = next(op for op in SPECS[step.id].operations if op.key == key)
        self._log(f"{step.id}: {operation.label}…")
        self._ask(step.id, operation.run, operation.label)

    @on(OptionList.OptionSelected, "#step-items")
    def _item_selected(self, message: OptionList.OptionSelected) -> None:
        step, item_id = self.step, message.option.id
        pick = SPECS[step.id].pick
        if pick is not None and item_id is not None:
            self._ask(step.id, lambda m: pick(m, item_id), f"{step.id}: {item_id}")

    @on(ItemsLoaded)
    def _items_loaded(self, message: ItemsLoaded) -> None:
        if message.step_id != self.step.id:
            return
        items = self.query_one("#step-items", OptionList)
        cursor = self.item_cursor.get(message.step_id, 0)
        items.clear_options()
        items.add_options([Option(escape(i.label), id=i.id) for i in message.items]
                          or [Option("nothing here", disabled=True)])
        if message.items:
            items.highlighted = min(cursor, len(message.items) - 1)

    @on(OptionList.OptionHighlighted, "#step-items")
    def _item_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        """Remember the cursor per step: the list is reloaded after every tick and must not jump."""
        if message.option.id is not None:
            self.item_cursor[self.step.id] = message.option_index

    @on(Replied)
    def _replied(self, message: Replied) -> None:
        reply = message.reply
        if reply.text:
            self._log(*reply.text.splitlines())
        if reply.view is not None:
            self.app.push_screen(TextScreen(reply.view.title, reply.view.text, reply.view.lexer))
        if reply.ask is not None:
            self._ask_value(message.step_id, reply.ask)
            return
        if reply.plan and self.dry_run:
            plan = reply.plan  # the engine's dry run writes nothing and forgets entered values
            self._in_worker(lambda: self.host.call(lambda m: m.run(plan, lambda a: False, dry_run=True)), "dry run")
            noun = SPECS[message.step_id].noun
            self._log(f"dry run: {len(reply.plan)} {noun} action(s) shown; nothing was written")
            self.app.push_screen(TextScreen(f"Dry run, {noun}: {len(reply.plan)} action(s), nothing runs",
                                            plan_text(reply.plan)))
            self.action_reload()
        elif reply.plan:
            self._confirm(message.step_id, reply.plan, reply.typed, {})
        else:
            self.action_reload()

    def _ask_value(self, step_id: str, ask: Ask) -> None:
        """The masked input; the value goes straight to the step's planner, in a worker."""
        def entered(value: str | None) -> None:
            if value is None:
                self._log("cancelled: nothing planned")
                return
            self._ask(step_id, lambda m: ask.then(m, value), ask.title)

        self.app.push_screen(NewValueScreen(ask.title, ask.lines), entered)

    def _confirm(self, step_id: str, plan: tuple[Action, ...], typed: str | None, answers: dict[str, bool]) -> None:
        """Show the next unanswered action; when every action has an answer, run the plan."""
        if len(answers) == len(plan):
            self._run(step_id, plan, answers)
            return
        action = plan[len(answers)]
        title = f"{SPECS[step_id].noun}: action {len(answers) + 1} of {len(plan)}"
        check: Typed | None = None  # a plan of one action has nothing to confirm all at once
        if typed is not None:
            check = Typed(f"type {typed} to delete it", lambda text: Migration.confirm_delete(text, action), YES)
        elif len(plan) > 1:
            check = Typed(f"confirm all {len(plan)} shown: type {len(plan)}", lambda text: Migration.confirm_all(text, plan), ALL)

        def answered(answer: str | None) -> None:
            if answer in (ALL, STOP):
                answers.update({a.id: answer == ALL for a in plan[len(answers):]})
            else:
                answers[action.id] = answer == YES
            self._confirm(step_id, plan, typed, answers)

        self.app.push_screen(ConfirmScreen(title, action_lines(action), typed=check, single=typed is None), answered)

    def _run(self, step_id: str, plan: tuple[Action, ...], answers: dict[str, bool]) -> None:
        self._log(f"{sum(answers.values())} of {len(plan)} confirmed; running")
        self._in_worker(partial(self._run_plan, step_id, plan, answers), f"run {len(plan)} action(s)")

    def _run_plan(self, step_id: str, plan: tuple[Action, ...], answers: dict[str, bool]) -> None:
        """One action at a time, so each outcome shows as soon as it is known."""
        outcomes = []
        for number, action in enumerate(plan, 1):
            try:
                [outcome] = self.host.call(lambda m: m.run([action], lambda a: answers.get(a.id, False)))
            except CitadelError as exc:
                outcome = Outcome(action, "failed", str(exc))
            outcomes.append(outcome)
            self.post_message(ActionRan(number, len(plan), outcome))
        self.post_message(PlanFinished(step_id, outcomes))

    @on(ActionRan)
    def _action_ran(self, message: ActionRan) -> None:
        outcome, action = message.outcome, message.outcome.action
        detail = f": {outcome.detail}" if outcome.detail else ""
        self._log(f"{message.number}/{message.total} {outcome.state} {action.kind} {action.target!r} in {action.store}{detail}")

    @on(PlanFinished)
    def _plan_finished(self, message: PlanFinished) -> None:
        verified = sum(o.state == "verified" for o in message.outcomes)
        self._log(f"{SPECS[message.step_id].noun}: {verified} of {len(message.outcomes)} verified")
        self.action_reload()


def _items(host: MigrationHost, items: Callable[[Migration], list[Item]]) -> list[Item]:
    try:
        return host.call(items)
    except CitadelError as exc:
        return [Item("error", f"error: {exc}")]


class JournalLoaded(Message):
    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows


class JournalScreen(Screen[None]):
    """Every write Citadel made or was asked to make, oldest first, from `.citadel/journal.jsonl`."""

    BINDINGS = [Binding("escape,j,q", "app.pop_screen", "Back", id="journal.close"),
                Binding("r", "reload", "Reload", id="journal.reload")]
    COLUMNS = ("when", "user", "step", "action", "store", "target", "outcome", "detail")

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.journal = Journal(path)

    def compose(self) -> ComposeResult:
        yield Static("[b]Journal[/b]  every confirmed, declined, run and verified action", id="journal-title")
        yield DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.COLUMNS)
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load, name="journal", description="read the journal", group="journal", thread=True,
                        exclusive=True, exit_on_error=False)

    def _load(self) -> None:
        rows = [(e.at[:19].replace("T", " "), e.user, e.step, e.action, e.store, e.target, e.outcome, e.detail)
                for e in self.journal.entries()]
        self.post_message(JournalLoaded(rows))

    @on(JournalLoaded)
    def _loaded(self, message: JournalLoaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(message.rows)
        if not message.rows:
            self.query_one("#journal-title", Static).update("[b]Journal[/b]  [$text-muted]nothing written yet[/]")
