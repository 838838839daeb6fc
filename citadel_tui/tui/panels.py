"""Small read-only widgets around the table: summary counts, store state, row details, filter.

Each gets its data through one method call from the app and renders it as text with theme
colours; none of them reads the workspace or another widget.
"""

from __future__ import annotations

from datetime import datetime

from textual import on
from textual.binding import Binding
from textual.markup import escape
from textual.message import Message
from textual.widgets import Input, Static

from citadel_tui.core.compare import STATUSES, Row
from citadel_tui.core.envfile import EnvFile
from citadel_tui.core.format import age
from citadel_tui.core.model import Inventory, SecretMeta
from citadel_tui.tui.rows import ACTIONS, SEVERITY, SEVERITY_VAR, rotation_text


def status_markup(status: str, text: str | None = None) -> str:
    return f"[{SEVERITY_VAR[SEVERITY[status]]}]{escape(text or status)}[/]"


class SummaryBar(Static):
    """Counts per status for the store on screen; clicking a count filters by that status."""

    def show_counts(self, counts: dict[str, int], total: int, shown: int, status: str | None, text: str) -> None:
        parts = [f"[b]{shown:,}[/b] of {total:,} rows"]
        for name in STATUSES:
            if counts.get(name):
                label = f"{name} {counts[name]:,}"
                marked = f"[reverse]{status_markup(name, label)}[/]" if name == status else status_markup(name, label)
                parts.append(f"[@click=app.filter_status('{name}')]{marked}[/]")
        if status or text:
            active = " ".join(p for p in (f"status={status}" if status else "", f"text={text!r}" if text else "") if p)
            parts.append(f"[$text-muted]filter: {escape(active)}  (c clears)[/]")
        self.update("  ".join(parts))


class StoreStatus(Static):
    """The state of the selected store (or of all stores): every store is listed, however many.

    Loaded and loading stores are packed side by side to the width of the screen; a store in
    error gets a line of its own, with its message."""

    GAP = "   "

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.states: list[tuple[str, str, Inventory | None]] = []

    def show_states(self, states: list[tuple[str, str, Inventory | None]]) -> None:
        """`states`: (source name, `loading` / `loaded` / `error`, latest inventory)."""
        self.states = states
        self.update(self._markup())

    def on_resize(self) -> None:
        self.update(self._markup())

    def _markup(self) -> str:
        width = max(self.content_region.width, 40)
        errors, packed, line, used = [], [], [], 0
        for name, state, inventory in self.states:
            if state == "error" and inventory is not None:
                errors.append(f"[$error]✗ {escape(name)}: {escape(inventory.error_class or 'error')}: {escape(inventory.error or '')}[/]")
                continue
            if state == "loading":
                plain = f"… {name}: loading"
                markup = f"[$warning]{escape(plain)}[/]"
            elif inventory is not None:
                detail = f" ({inventory.kind}, {inventory.environment}): {len(inventory.secrets):,} secrets"
                plain = f"✓ {name}{detail}"
                markup = f"[$success]✓ {escape(name)}[/]{escape(detail)}"
            else:
                continue
            if line and used + len(self.GAP) + len(plain) > width:
                packed.append(self.GAP.join(line))
                line, used = [], 0
            used += (len(self.GAP) if line else 0) + len(plain)
            line.append(markup)
        if line:
            packed.append(self.GAP.join(line))
        return "\n".join(errors + packed) or "no stores configured"


class DetailsPanel(Static):
    """Everything known about the highlighted row, and which actions apply. Never a value."""

    def show_row(self, row: Row | None, env_file: EnvFile | None, now: datetime, read_only: bool, location: str,
                 compared: bool) -> None:
        """`compared`: whether value fingerprints were compared (the `f` toggle)."""
        if row is None:
            self.update("[$text-muted]no row selected[/]")
            return
        statuses = " · ".join(status_markup(s) for s in row.statuses)
        lines = [f"[b]{escape(row.key)}[/b]  {escape(row.environment)} · store [b]{escape(row.source)}[/b]  {statuses}"]
        if row.env_file:
            problems = env_file.problems_for(row.key) if env_file else ()
            lines.append(f"[$text-muted].env  [/] {escape(location)}  class {row.klass}"
                         + "".join(f"\n       [$warning]{p.kind}[/]: {escape(p.message)}" for p in problems))
        else:
            lines.append("[$text-muted].env  [/] not in any .env file of this environment")
        lines.extend(_secret_lines(row.secret, now))
        if row.env_file and row.secret is not None:
            lines.append(f"[$text-muted]value[/] {_fingerprint_text(row, compared)}")
        actions = [ACTIONS[s] for s in row.statuses if s in ACTIONS]
        if row.has("missing") and not row.counts_for_failure():
            actions = ["none needed: config key, may stay in .env"]
        suffix = " [$text-muted](read-only mode: not available)[/]" if read_only and actions and row.counts_for_failure() else ""
        lines.append(f"[$text-muted]do   [/] {escape(' · '.join(dict.fromkeys(actions)) or 'nothing to do')}{suffix}")
        self.update("\n".join(lines))


def _fingerprint_text(row: Row, compared: bool) -> str:
    if row.has("in-sync"):
        return status_markup("in-sync", "fingerprint matches .env")
    if row.has("drift"):
        return status_markup("drift", "fingerprint differs from .env")
    if compared:
        return "[$text-muted]fingerprint not available for this store[/]"
    return "[$text-muted]not compared (f compares fingerprints; values are never shown)[/]"


def _secret_lines(meta: SecretMeta | None, now: datetime) -> list[str]:
    if meta is None:
        return ["[$text-muted]store[/] no matching secret"]

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d} ({age(value, now)})" if value else "—"

    state = "enabled" if meta.enabled else "disabled"
    if meta.deletion_date:
        state += f", deletion scheduled {meta.deletion_date:%Y-%m-%d}"
    period = f"every {meta.rotation_period_days}d" if meta.rotation_period_days else ""
    rotation = " ".join(p for p in ("enabled" if meta.rotation_enabled else "not configured", period) if p)
    lines = [
        f"[$text-muted]store[/] [b]{escape(meta.name)}[/b]  versions {meta.versions if meta.versions is not None else '—'}  {state}",
        f"      created {when(meta.created)}  changed {when(meta.last_changed)}  accessed {when(meta.last_accessed)}"
        f"  expires {when(meta.expires)}",
        f"      rotation {rotation}  last {when(meta.last_rotated)}  next {rotation_text(meta, now)}"
        + (f" ({meta.next_rotation:%Y-%m-%d})" if meta.next_rotation else ""),
    ]
    if meta.tags:
        lines.append("      tags " + escape(", ".join(f"{k}={v}" for k, v in sorted(meta.tags.items()))))
    if meta.details:
        lines.append("      " + escape("  ".join(f"{k} {v}" for k, v in meta.details.items())))
    return lines


class FilterBar(Input):
    """The `/` filter: every keystroke narrows the table; Enter keeps it, Escape clears it."""

    BINDINGS = [Binding("escape", "dismiss", "Clear filter", id="filter.clear")]

    class Done(Message):
        """The operator left the filter (Enter or Escape)."""

    def action_dismiss(self) -> None:
        self.value = ""
        self.post_message(self.Done())

    @on(Input.Submitted)
    def _keep(self) -> None:
        self.post_message(self.Done())
