"""Pairing env keys with store secrets and deciding every row's statuses.

Rows are made per environment: each key of each env file of that environment against each
source of the same environment, then every secret of a source that no env file names (orphan).
The clock is a parameter, so results are exact to the day in tests.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from citadel_tui.core.classify import SECRET
from citadel_tui.core.envfile import EnvEntry, EnvFile
from citadel_tui.core.model import Inventory, Policy, SecretMeta
from citadel_tui.core.statuses import DEFAULT_FAIL_ON, STATUSES

__all__ = ["DEFAULT_FAIL_ON", "STATUSES", "Comparison", "Row", "compare", "secret_statuses"]



@dataclass(frozen=True)
class Row:
    key: str
    environment: str
    source: str
    secret: SecretMeta | None
    statuses: tuple[str, ...]
    env_file: str | None = None
    line: int | None = None
    klass: str | None = None
    problems: tuple[str, ...] = ()
    """Kinds of .env problems on this key (duplicate, placeholder, ...)."""

    def has(self, status: str) -> bool:
        return status in self.statuses

    def counts_for_failure(self) -> bool:
        """Config-class keys are not expected in a store: their `missing` is not a finding."""
        return not (self.klass is not None and self.klass != SECRET and self.secret is None)


@dataclass(frozen=True)
class Comparison:
    generated_at: datetime
    policy: Policy
    env_files: tuple[EnvFile, ...]
    inventories: tuple[Inventory, ...]
    rows: tuple[Row, ...]
    compared_values: bool = False

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            for status in row.statuses:
                counts[status] += 1
        return counts

    def findings(self, fail_on: Iterable[str]) -> list[Row]:
        wanted = set(fail_on)
        return [r for r in self.rows if r.counts_for_failure() and wanted.intersection(r.statuses)]


def has_schedule(meta: SecretMeta) -> bool:
    """A rotation is configured: the store names a next date, or says rotation is on."""
    return meta.next_rotation is not None or meta.rotation_enabled


def secret_statuses(meta: SecretMeta, policy: Policy, now: datetime) -> list[str]:
    """Age, rotation, expiry and usage statuses of one secret at `now`."""
    statuses = []
    window = timedelta(days=policy.rotation_window_days)
    if meta.last_changed and now - meta.last_changed > timedelta(days=policy.stale_after_days):
        statuses.append("stale")
    if not has_schedule(meta):
        statuses.append("no-rotation")
    elif meta.next_rotation is not None:
        if meta.next_rotation < now:
            statuses.append("rotation-overdue")
        elif meta.next_rotation <= now + window:
            statuses.append("rotation-due")
    if meta.expires is not None:
        if meta.expires <= now:
            statuses.append("expired")
        elif meta.expires <= now + window:
            statuses.append("expiring")
    if not meta.enabled or meta.deletion_date is not None:
        statuses.append("disabled")
    if meta.last_accessed and now - meta.last_accessed > timedelta(days=policy.unused_after_days):
        statuses.append("unused")
    return statuses


def compare(
    env_files: Sequence[EnvFile],
    inventories: Sequence[Inventory],
    policy: Policy,
    now: datetime,
    *,
    compare_values: bool = False,
    scopes: Mapping[str, Collection[str]] | None = None,
) -> Comparison:
    """`scopes`: per source name, the only .env keys that source is compared with (its
    `keys`); a source not named there is compared with every key of its environment."""
    rows: list[Row] = []
    for inventory in inventories:
        if not inventory.ok:
            continue
        files = [f for f in env_files if f.environment == inventory.environment]
        scope = (scopes or {}).get(inventory.source)
        rows.extend(_rows_for(inventory, files, policy, now, compare_values, scope))
    return Comparison(now, policy, tuple(env_files), tuple(inventories), tuple(rows), compare_values)


def _rows_for(
    inventory: Inventory, files: list[EnvFile], policy: Policy, now: datetime, compare_values: bool,
    scope: Collection[str] | None,
) -> Iterable[Row]:
    by_key: dict[str, SecretMeta] = {}
    for meta in inventory.secrets:
        if meta.key is not None:
            by_key.setdefault(meta.key, meta)
    named: set[str] = set()
    for env in files:
        for entry in env.entries:
            if scope is not None and entry.key not in scope:
                continue
            named.add(entry.key)
            meta = by_key.get(entry.key)
            yield Row(
                key=entry.key,
                environment=inventory.environment,
                source=inventory.source,
                secret=meta,
                statuses=tuple(_env_row_statuses(entry, meta, policy, now, compare_values)),
                env_file=str(env.path),
                line=entry.line,
                klass=entry.klass,
                problems=tuple(dict.fromkeys(p.kind for p in env.problems_for(entry.key))),
            )
    for key, meta in sorted(by_key.items()):
        if key not in named:
            yield Row(
                key=key,
                environment=inventory.environment,
                source=inventory.source,
                secret=meta,
                statuses=("orphan", *secret_statuses(meta, policy, now)),
            )


def _env_row_statuses(
    entry: EnvEntry, meta: SecretMeta | None, policy: Policy, now: datetime, compare_values: bool
) -> list[str]:
    if meta is None:
        return ["missing"]
    statuses = ["present"]
    if compare_values and meta.fingerprint is not None and entry.fingerprint is not None:
        statuses.append("in-sync" if meta.fingerprint == entry.fingerprint else "drift")
    return statuses + secret_statuses(meta, policy, now)
