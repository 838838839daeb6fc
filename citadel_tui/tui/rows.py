"""What the dashboard table shows, computed once per comparison and off the event loop.

A `ViewRow` holds the display text and a sort key of every column, so filtering and sorting
50,000 rows are list comprehensions over precomputed values. No Textual here: this module is
pure and is tested without an app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from citadel_tui.core.compare import STATUSES, Comparison, Row
from citadel_tui.core.format import age
from citadel_tui.core.model import SecretMeta

PAIRING = ("missing", "orphan", "drift", "in-sync", "present")
"""Statuses that say how the two sides pair up; the gutter shows the first that applies."""

SEVERITY = {
    "missing": "bad", "drift": "bad", "rotation-overdue": "bad", "expired": "bad",
    "stale": "warn", "no-rotation": "warn", "rotation-due": "warn", "expiring": "warn",
    "present": "ok", "in-sync": "ok", "orphan": "info", "unused": "info", "disabled": "muted",
}
SEVERITY_RANK = {"bad": 0, "warn": 1, "info": 2, "muted": 3, "ok": 4}
SEVERITY_VAR = {"bad": "$error", "warn": "$warning", "ok": "$success", "info": "$accent", "muted": "$text-muted"}
"""Theme variables per severity, for markup outside the table."""

ACTIONS = {
    "missing": "create in store",
    "orphan": "add to .env or delete from store",
    "drift": "add version",
    "stale": "add version (rotate by hand)",
    "no-rotation": "configure rotation",
    "rotation-due": "rotate now",
    "rotation-overdue": "rotate now",
    "expiring": "add version / extend expiry",
    "expired": "add version / extend expiry",
    "disabled": "restore or delete",
    "unused": "review: delete if no longer needed",
}


@dataclass(frozen=True)
class Column:
    id: str
    title: str
    side: str
    """`left` (the .env), `gutter` (how they pair) or `right` (the store)."""
    width: int
    flex: bool = False
    """Flexible columns share the spare width; `width` is their minimum."""
    drop: int = 0
    """Order in which columns give way on a narrow screen (1 first); 0 never does."""


COLUMNS: tuple[Column, ...] = (
    Column("key", "KEY", "left", 14, flex=True),
    Column("file", "FILE:LINE", "left", 14),
    Column("class", "CLASS", "left", 6, drop=2),
    Column("problems", "PROBLEMS", "left", 10),
    Column("pair", "STATUS", "gutter", 7),
    Column("store", "STORE", "right", 11),
    Column("secret", "SECRET", "right", 14, flex=True),
    Column("changed", "CHANGED", "right", 8),
    Column("rotation", "ROTATION", "right", 11),
    Column("accessed", "ACCESSED", "right", 8, drop=1),
    Column("expires", "EXPIRES", "right", 7, drop=3),
    Column("flags", "FINDINGS", "right", 18, flex=True),
)
COLUMN_INDEX = {c.id: i for i, c in enumerate(COLUMNS)}


def rotation_text(meta: SecretMeta, now: datetime) -> str:
    """`in 12d`, `overdue 3d`, `on` (enabled, no date known) or `none`."""
    if meta.next_rotation is not None:
        days = (meta.next_rotation - now).days
        return f"overdue {-days}d" if meta.next_rotation < now else age(meta.next_rotation, now)
    return "on" if meta.rotation_enabled else "none"


def pairing(row: Row) -> str:
    return next(s for s in PAIRING if row.has(s))


def findings(row: Row) -> tuple[str, ...]:
    """The statuses beyond the pairing: age, rotation, expiry and usage."""
    return tuple(s for s in row.statuses if s not in PAIRING)


def _stamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("-inf")


@dataclass(frozen=True, slots=True)
class ViewRow:
    row: Row
    cells: tuple[str, ...]
    keys: tuple[object, ...]
    haystack: str
    """Lower-case text the `/` filter searches: key, secret name, file, store, statuses."""


def view_row(row: Row, now: datetime, base: Path | None) -> ViewRow:
    meta = row.secret
    file = _relative(row.env_file, base) if row.env_file else ""
    location = f"{file}:{row.line}" if row.env_file else ""
    flags = findings(row)
    pair = pairing(row)
    cells = (
        row.key if row.env_file else "",
        location,
        row.klass or "",
        ",".join(row.problems),
        pair,
        row.source,
        meta.name if meta else "",
        age(meta.last_changed, now) if meta else "",
        rotation_text(meta, now) if meta else "",
        age(meta.last_accessed, now) if meta else "",
        age(meta.expires, now) if meta and meta.expires else "",
        " ".join(flags),
    )
    keys = (
        f"{row.key.lower()}\0{row.source}",
        f"{file}\0{row.line or 0:09d}",
        row.klass or "~",
        -len(row.problems),
        SEVERITY_RANK[SEVERITY[pair]],
        row.source,
        meta.name.lower() if meta else "~",
        _stamp(meta.last_changed) if meta else float("inf"),
        _stamp(meta.next_rotation) if meta and meta.next_rotation else float("inf"),
        _stamp(meta.last_accessed) if meta else float("inf"),
        _stamp(meta.expires) if meta and meta.expires else float("inf"),
        min((SEVERITY_RANK[SEVERITY[s]] for s in flags), default=9) * 100 - len(flags),
    )  # one plain value per column: cheap to compare, and sorting holds the GIL
    haystack = " ".join((row.key, location, row.source, meta.name if meta else "", *row.statuses)).lower()
    return ViewRow(row, cells, keys, haystack)


def _relative(path: str, base: Path | None) -> str:
    """Env file names relative to the configuration, so screens never show temp paths."""
    if base is not None:
        try:
            return str(Path(path).relative_to(base))
        except ValueError:
            pass
    return Path(path).name


@dataclass(frozen=True)
class Query:
    """What the operator asked to see."""

    store: str | None = None
    text: str = ""
    status: str | None = None
    sort: str = "key"
    reverse: bool = False


@dataclass
class TableModel:
    """Every row of one comparison, with sorted orders computed on first use and kept."""

    comparison: Comparison
    rows: tuple[ViewRow, ...]
    _orders: dict[str, list[ViewRow]] = field(default_factory=dict)

    @classmethod
    def build(cls, comparison: Comparison, base: Path | None) -> TableModel:
        now = comparison.generated_at
        return cls(comparison, tuple(view_row(r, now, base) for r in comparison.rows))

    def order(self, column: str) -> list[ViewRow]:
        """Rows sorted by `column`, then by key: a stable sort of the key order."""
        if column not in self._orders:
            index = COLUMN_INDEX[column]
            base = self.rows if column == "key" else self.order("key")
            self._orders[column] = sorted(base, key=lambda v: v.keys[index])
        return self._orders[column]

    def select(self, query: Query) -> list[ViewRow]:
        """The rows `query` asks for, in its order."""
        tests: list[Callable[[ViewRow], bool]] = []
        if query.store is not None:
            tests.append(lambda v: v.row.source == query.store)
        if query.status is not None:
            tests.append(lambda v: query.status in v.row.statuses)
        needles = query.text.lower().split()
        if needles:
            tests.append(lambda v: all(n in v.haystack for n in needles))
        ordered = self.order(query.sort)
        rows = [v for v in ordered if all(t(v) for t in tests)] if tests else list(ordered)
        if query.reverse:
            rows.reverse()
        return rows

    def counts(self, store: str | None) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for view in self.rows:
            if store is None or view.row.source == store:
                for status in view.row.statuses:
                    counts[status] += 1
        return counts
