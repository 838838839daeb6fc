"""The Citadel dashboard: one app, one factory, used by `citadel tui`, the demo and the tests.

The app owns the state (store states, the comparison, the query) and pushes it down to small
widgets. Every store read (in a daemon thread, abandoned on quit), the comparison and every
filter/sort runs in a worker that posts a Message back, so the screen never waits on the network
or on 50,000 rows. Once a comparison is built its objects are frozen out of the cyclic garbage
collector (`gc.freeze()`): full collections no longer walk 50,000 rows while the user types.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer, Header, Tab, Tabs
from textual.worker import get_current_worker

from citadel_tui.core.compare import STATUSES
from citadel_tui.core.config import Config, SourceConfig
from citadel_tui.core.envfile import EnvFile
from citadel_tui.core.model import Inventory
from citadel_tui.migration import citadel_folder
from citadel_tui.tui.checklist import ChecklistScreen, JournalScreen
from citadel_tui.tui.commands import CitadelCommands
from citadel_tui.tui.diff_table import DiffTable
from citadel_tui.tui.panels import DetailsPanel, FilterBar, StoreStatus, SummaryBar
from citadel_tui.tui.rows import COLUMN_INDEX, COLUMNS, Query, TableModel, ViewRow
from citadel_tui.tui.screens import HelpScreen, RotationScreen
from citadel_tui.tui.theme import CITADEL_THEME
from citadel_tui.tui.threads import in_daemon_thread
from citadel_tui.workspace import Workspace

W = TypeVar("W", bound=Widget)
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ALL = "store-all"
STATUS_KEYS = {"m": "missing", "o": "orphan", "d": "drift", "n": "no-rotation", "x": "rotation-overdue",
               "t": "stale", "e": "expired", "u": "unused"}


@dataclass
class StoreState:
    config: SourceConfig
    state: str = "loading"
    """`loading`, `loaded` or `error`."""
    inventory: Inventory | None = None
    """The latest answer; kept while a refresh runs so the table does not go blank."""
    generation: int = 0
    """Bumped by every load; an answer from an older load is ignored."""
    reading: bool = False
    """A read of this store is in flight."""
    again: bool = False
    """A refresh was asked for while a read was in flight: one more read follows it."""


class StoreLoaded(Message):
    def __init__(self, name: str, generation: int, inventory: Inventory) -> None:
        super().__init__()
        self.name, self.generation, self.inventory = name, generation, inventory


class ModelReady(Message):
    def __init__(self, generation: int, model: TableModel) -> None:
        super().__init__()
        self.generation, self.model = generation, model


class ViewReady(Message):
    def __init__(self, generation: int, rows: list[ViewRow], counts: dict[str, int], total: int) -> None:
        super().__init__()
        self.generation, self.rows, self.counts, self.total = generation, rows, counts, total


class CitadelApp(App[int]):
    """Side-by-side .env / store view of every configured store, for any Workspace."""

    TITLE = "Citadel"
    SUB_TITLE = ".env ⇄ secret stores"
    CSS_PATH = "citadel.tcss"
    COMMANDS = App.COMMANDS | {CitadelCommands}
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("slash", "filter_text", "Filter", id="app.filter"),
        Binding("r", "refresh", "Refresh", id="app.refresh"),
        Binding("R", "refresh_all", "Refresh all", id="app.refresh_all"),
        Binding("s", "sort_next", "Sort", id="app.sort"),
        Binding("S", "sort_reverse", "Reverse", id="app.sort_reverse"),
        Binding("v", "rotation", "Rotation view", id="app.rotation"),
        Binding("k", "checklist", "Checklist", id="app.checklist"),
        Binding("j", "journal", "Journal", id="app.journal"),
        Binding("i", "toggle_details", "Details", id="app.details"),
        Binding("f", "toggle_fingerprints", "Fingerprints", id="app.fingerprints"),
        Binding("c", "clear_filters", "Clear filters", id="app.clear"),
        Binding("left_square_bracket", "store(-1)", "Previous store", show=False, id="app.store_prev"),
        Binding("right_square_bracket", "store(1)", "Next store", show=False, id="app.store_next"),
        *(Binding(key, f"filter_status('{status}')", f"Only {status}", show=False, id=f"app.only_{status}")
          for key, status in STATUS_KEYS.items()),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    TABLE_ACTIONS = frozenset(b.action.split("(")[0] for b in BINDINGS) - {"help", "checklist", "journal", "quit"}
    """Every key but help, checklist, journal and quit acts on the table: another screen on top
    neither shows nor obeys them."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.stores = {s.name: StoreState(s) for s in workspace.config.sources}
        self.env_files: dict[str, EnvFile] = {}
        self.model: TableModel | None = None
        self.view_query = Query()
        self.compare_values = False
        """Whether stores are read with value fingerprints (the `f` toggle): in-sync and drift
        appear; values are compared by keyed hash only and never shown."""
        self._tab_store = {f"store-{i}": name for i, name in enumerate(self.stores)}
        self._generations = {"model": 0, "view": 0}
        self._frame = 0
        self._counts: tuple[dict[str, int], int, int] = ({}, 0, 0)
        """Counts per status, rows of the store, rows shown: what the summary bar says."""

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(Tab("all stores", id=ALL), *(Tab(self._label(n), id=t) for t, n in self._tab_store.items()), id="stores")
        yield StoreStatus(id="store-status")
        yield SummaryBar(id="summary")
        yield FilterBar(placeholder="filter: words in key, secret, file, store or status", id="filter")
        yield DiffTable(id="table")
        yield DetailsPanel(id="details")
        yield Footer()

    def on_mount(self) -> None:
        self.register_theme(CITADEL_THEME)
        self.theme = "citadel"
        files, errors = self.workspace.read_env_files()
        self.env_files = {str(f.path): f for f in files}
        for error in errors:
            self.notify(str(error), title=".env file", severity="error", timeout=30)
        self._widget(DiffTable).focus()
        self._show_store_states()
        for name in self.stores:
            self.load_store(name)
        # The spinner's timer belongs to the tabs it animates: it stops when they are removed,
        # so it never fires into a dashboard that is being torn down.
        self._widget(Tabs).set_interval(0.1, self._spin)
        self._compare()

    # -- store loading -----------------------------------------------------------------------

    def load_store(self, name: str, *, refresh: bool = False) -> None:
        """Start reading one store. While a read is in flight, refreshes are coalesced into one
        more read after it, so pressing `r` twenty times never piles up twenty store reads."""
        store = self.stores[name]
        store.state = "loading"
        self._relabel(name)
        self._show_store_states()
        if store.reading:
            store.again = True
            return
        store.reading = True
        store.generation += 1
        self.run_worker(
            self._read_store(store, store.generation, refresh, self.compare_values),
            name=f"load {name}", description=f"read store {name}", group=f"load-{name}", exclusive=True, exit_on_error=False,
        )

    async def _read_store(self, store: StoreState, generation: int, refresh: bool, compare_values: bool) -> None:
        """The read runs in a daemon thread: a store that hangs never holds up quitting."""
        config = store.config
        read = partial(self.workspace.load, config, refresh=refresh, compare_values=compare_values)
        try:
            inventory = await in_daemon_thread(f"read {config.name}", read)
        finally:
            store.reading = False
        if store.again:
            store.again = False
            self.load_store(config.name, refresh=True)
            return
        self.post_message(StoreLoaded(config.name, generation, inventory))

    @on(StoreLoaded)
    def _store_loaded(self, message: StoreLoaded) -> None:
        store = self.stores[message.name]
        if message.generation != store.generation:
            return
        store.inventory = message.inventory
        store.state = "loaded" if message.inventory.ok else "error"
        self._relabel(message.name)
        self._show_store_states()
        self._compare()

    def _compare(self) -> None:
        self._generations["model"] += 1
        inventories = [s.inventory for s in self.stores.values() if s.inventory is not None and s.inventory.ok]
        config = self.workspace.config
        base = config.path.parent if config.path else None
        self.run_worker(
            partial(self._build_model, self._generations["model"], inventories, list(self.env_files.values()), base,
                    self.compare_values),
            name="compare", description="compare .env files with stores", group="compare", thread=True, exclusive=True, exit_on_error=False,
        )

    def _build_model(self, generation: int, inventories: list[Inventory], files: list[EnvFile], base: Path | None,
                     compare_values: bool) -> None:
        model = TableModel.build(self.workspace.compare(files, inventories, compare_values=compare_values), base)
        if not get_current_worker().is_cancelled:
            self.post_message(ModelReady(generation, model))

    @on(ModelReady)
    def _model_ready(self, message: ModelReady) -> None:
        if message.generation == self._generations["model"]:
            self.model = message.model
            gc.freeze()
            self.apply_view()

    # -- the view ----------------------------------------------------------------------------

    def apply_view(self, **changes: object) -> None:
        """Change the query and recompute the visible rows off the event loop."""
        self.view_query = replace(self.view_query, **changes)
        if self.model is None:
            return
        self._generations["view"] += 1
        self.run_worker(
            partial(self._select, self._generations["view"], self.model, self.view_query),
            name="view", description="filter and sort rows", group="view", thread=True, exclusive=True, exit_on_error=False,
        )
        self._show_summary_filter()

    def _select(self, generation: int, model: TableModel, query: Query) -> None:
        rows = model.select(query)
        counts = model.counts(query.store)
        total = sum(1 for v in model.rows if query.store is None or v.row.source == query.store)
        if not get_current_worker().is_cancelled:
            self.post_message(ViewReady(generation, rows, counts, total))

    @on(ViewReady)
    def _view_ready(self, message: ViewReady) -> None:
        if message.generation != self._generations["view"]:
            return
        query = self.view_query
        self._widget(DiffTable).show(
            message.rows, show_store=query.store is None, sort=(query.sort, query.reverse),
            empty_text=self._empty_text(),
        )
        self._counts = (message.counts, message.total, len(message.rows))
        self._show_summary_filter()

    def _empty_text(self) -> str:
        query = self.view_query
        if query.text or query.status:
            return "no row matches the filter (c clears it)"
        store = self.stores.get(query.store or "")
        if store is not None and store.state == "error":
            return f"{store.config.name} could not be read: see the error above (r retries)"
        if any(s.state == "loading" for s in self.stores.values()):
            return "loading stores…"
        return "nothing to compare: no .env key and no secret"

    def _show_summary_filter(self) -> None:
        counts, total, shown = self._counts
        self._widget(SummaryBar).show_counts(counts, total, shown, self.view_query.status, self.view_query.text)

    @on(DiffTable.Highlighted)
    def _highlighted(self, message: DiffTable.Highlighted) -> None:
        view = message.view
        row = view.row if view else None
        self._widget(DetailsPanel).show_row(
            row, self.env_files.get(row.env_file or "") if row else None,
            self.model.comparison.generated_at if self.model else self.workspace.clock(),
            self.workspace.config.read_only, view.cells[COLUMN_INDEX["file"]] if view else "",
            self.compare_values,
        )

    @on(DiffTable.SortClicked)
    def _sort_clicked(self, message: DiffTable.SortClicked) -> None:
        self.action_sort(message.column)

    @on(Tabs.TabActivated)
    def _tab_activated(self, message: Tabs.TabActivated) -> None:
        self.apply_view(store=self._tab_store.get(message.tab.id or ""))
        self._show_store_states()

    def _widget(self, kind: type[W], selector: str | None = None) -> W:
        """A widget of the dashboard screen, even while the rotation view or help is on top."""
        return self.screen_stack[0].query_one(selector or kind, kind)

    # -- store labels and states -------------------------------------------------------------

    def _label(self, name: str) -> str:
        store = self.stores[name]
        if store.state == "loading":
            return f"{name} [$warning]{SPINNER[self._frame % len(SPINNER)]}[/]"
        if store.state == "error" and store.inventory is not None:
            return f"{name} [$error]✗ {store.inventory.error_class}[/]"
        count = len(store.inventory.secrets) if store.inventory else 0
        return f"{name} [$success]✓ {count:,}[/]"

    def _relabel(self, name: str) -> None:
        tab_id = next(t for t, n in self._tab_store.items() if n == name)
        if self.is_mounted:
            self._widget(Tab, f"#{tab_id}").label = self._label(name)

    def _spin(self) -> None:
        loading = [n for n, s in self.stores.items() if s.state == "loading"]
        if loading:
            self._frame += 1
            for name in loading:
                self._relabel(name)

    def _show_store_states(self) -> None:
        store = self.view_query.store
        shown = [s for n, s in self.stores.items() if store is None or n == store]
        self._widget(StoreStatus).show_states([(s.config.name, s.state, s.inventory) for s in shown])

    # -- actions -----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Refresh the store on screen (every store in the all-stores view)."""
        if self.view_query.store is None:
            self.action_refresh_all()
        else:
            self.load_store(self.view_query.store, refresh=True)

    def action_refresh_all(self) -> None:
        for name in self.stores:
            self.load_store(name, refresh=True)

    def action_filter_text(self) -> None:
        bar = self._widget(FilterBar)
        bar.display = True
        bar.focus()

    @on(FilterBar.Changed)
    def _filter_changed(self, message: FilterBar.Changed) -> None:
        self.apply_view(text=message.value)

    @on(FilterBar.Done)
    def _filter_done(self) -> None:
        bar = self._widget(FilterBar)
        bar.display = bool(bar.value)
        self._widget(DiffTable).focus()

    def action_filter_status(self, status: str) -> None:
        """Only rows with `status`; asking for the same status again shows every row."""
        self.apply_view(status=None if self.view_query.status == status else status)

    def action_clear_filters(self) -> None:
        bar = self._widget(FilterBar)
        with bar.prevent(FilterBar.Changed):
            bar.value = ""
        bar.display = False
        self.apply_view(text="", status=None)

    def action_sort(self, column: str) -> None:
        """Sort by `column`; sorting by the current column again reverses the order."""
        same = self.view_query.sort == column
        self.apply_view(sort=column, reverse=not self.view_query.reverse if same else False)

    def action_sort_next(self) -> None:
        ids = [c.id for c in self._widget(DiffTable).columns]
        current = ids.index(self.view_query.sort) if self.view_query.sort in ids else -1
        self.apply_view(sort=ids[(current + 1) % len(ids)], reverse=False)

    def action_sort_reverse(self) -> None:
        self.apply_view(reverse=not self.view_query.reverse)

    def action_store(self, step: int) -> None:
        tabs = self._widget(Tabs)
        if step < 0:
            tabs.action_previous_tab()
        else:
            tabs.action_next_tab()

    def action_show_store(self, tab_id: str) -> None:
        self._widget(Tabs).active = tab_id

    def action_toggle_details(self) -> None:
        details = self._widget(DetailsPanel)
        details.display = not details.display

    def action_toggle_fingerprints(self) -> None:
        """Read every store again with (or without) value fingerprints, so in-sync and drift show."""
        self.compare_values = not self.compare_values
        self.notify("comparing value fingerprints: in-sync / drift shown, values never" if self.compare_values
                    else "fingerprints off: values not compared", title="fingerprints")
        for name in self.stores:
            self.load_store(name)

    def action_rotation(self) -> None:
        inventories = [s.inventory for s in self.stores.values() if s.inventory is not None and s.inventory.ok]
        self.push_screen(RotationScreen(inventories, self.workspace.clock()))

    def action_checklist(self) -> None:
        """The migration checklist; every store is read again when it closes (it may have written)."""
        if not isinstance(self.screen, ChecklistScreen):
            self.push_screen(ChecklistScreen(self.workspace), lambda _: self.action_refresh_all())

    def action_journal(self) -> None:
        if not isinstance(self.screen, JournalScreen):
            self.push_screen(JournalScreen(citadel_folder(self.workspace.config) / "journal.jsonl"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in self.TABLE_ACTIONS or len(self.screen_stack) == 1

    def action_help(self) -> None:
        keys = [(self.get_key_display(b.binding), b.binding.description)
                for b in self.screen.active_bindings.values() if b.binding.description and b.enabled]
        keys += getattr(self.screen, "help_keys", list)()  # a screen whose keys change with what is highlighted
        merged: dict[str, list[str]] = {}
        for key, description in keys:
            merged.setdefault(description, []).append(key)
        self.push_screen(HelpScreen([(" ".join(k), d) for d, k in merged.items()]))

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """Every action by name, for the command palette."""
        entries: list[tuple[str, str, Callable[[], object]]] = [
            ("Refresh all stores", "read every store again", self.action_refresh_all),
            ("Show all stores", "rows of every store", partial(self.action_show_store, ALL)),
            ("Filter by text", "type words to match key, secret, file, store or status", self.action_filter_text),
            ("Clear filters", "show every row of the store on screen", self.action_clear_filters),
            ("Reverse sort", "flip the order of the table", self.action_sort_reverse),
            ("Rotation and age view", "rotations due per week, age of secrets per store", self.action_rotation),
            ("Toggle fingerprint match", "compare .env values with stores by keyed hash (in-sync / drift)",
             self.action_toggle_fingerprints),
            ("Toggle details panel", "show or hide the panel under the table", self.action_toggle_details),
            ("Migration checklist", "the nine steps from .env to a vault; every write shown and confirmed",
             self.action_checklist),
            ("Journal", "every write Citadel made: who, when, what, where, outcome", self.action_journal),
            ("Help: keys", "every key binding", self.action_help),
        ]
        for tab_id, name in self._tab_store.items():
            entries.append((f"Show store {name}", f"rows of {name} only", partial(self.action_show_store, tab_id)))
            entries.append((f"Refresh store {name}", f"read {name} again", partial(self.load_store, name, refresh=True)))
        entries.extend((f"Filter: {s}", f"only rows that are {s} (again to clear)", partial(self.action_filter_status, s))
                       for s in STATUSES)
        entries.extend((f"Sort by {c.title.lower()}", f"order rows by {c.title.lower()} (again to reverse)",
                        partial(self.action_sort, c.id)) for c in COLUMNS)
        return entries


def run_app(config: Config) -> int:
    """Open the dashboard on `config`; the exit code is the app's return value (0 by default)."""
    workspace = Workspace(config)
    try:
        return CitadelApp(workspace).run() or 0
    finally:
        workspace.close()
