"""Figures for the rotation/age view: what falls due per week, how old each store's secrets are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from citadel_tui.core.model import Inventory

WEEKS = 12
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("< 30d", 30), ("30-90d", 90), ("90-180d", 180), ("180d-1y", 365), ("> 1y", None),
)


@dataclass(frozen=True)
class Bucket:
    label: str
    count: int


@dataclass(frozen=True)
class RotationOutlook:
    overdue: int
    weeks: tuple[Bucket, ...]
    unscheduled: int


def rotation_outlook(inventories: Iterable[Inventory], now: datetime) -> RotationOutlook:
    """Secrets whose next rotation falls in each of the next twelve weeks (week 1 starts now)."""
    weeks = [0] * WEEKS
    overdue = unscheduled = 0
    for meta in (m for inv in inventories for m in inv.secrets):
        if meta.next_rotation is None:
            unscheduled += 1
        elif meta.next_rotation < now:
            overdue += 1
        elif (week := (meta.next_rotation - now).days // 7) < WEEKS:
            weeks[week] += 1
    labels = [(now + timedelta(weeks=i)).strftime("%b %d") for i in range(WEEKS)]
    return RotationOutlook(overdue, tuple(Bucket(f"wk {i + 1:>2} {labels[i]}", n) for i, n in enumerate(weeks)), unscheduled)


def age_histogram(inventory: Inventory, now: datetime) -> tuple[Bucket, ...]:
    """How long ago each secret's value last changed, in coarse buckets."""
    counts = [0] * len(AGE_BUCKETS)
    unknown = 0
    for meta in inventory.secrets:
        if meta.last_changed is None:
            unknown += 1
            continue
        days = (now - meta.last_changed).days
        counts[next(i for i, (_, limit) in enumerate(AGE_BUCKETS) if limit is None or days < limit)] += 1
    buckets = tuple(Bucket(label, n) for (label, _), n in zip(AGE_BUCKETS, counts))
    return buckets + ((Bucket("unknown", unknown),) if unknown else ())


def bar(count: int, largest: int, width: int) -> str:
    """A bar scaled to the largest count; any non-zero count gets at least one block."""
    if count == 0 or largest == 0:
        return ""
    return "█" * max(1, round(width * count / largest))
