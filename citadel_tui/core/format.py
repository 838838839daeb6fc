"""Short human text for dates, shared by the CLI report and the dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


def age(value: datetime | None, now: datetime) -> str:
    """A short human age or distance: `3d ago`, `in 12d`."""
    if value is None:
        return "—"
    days = (now - value).days
    if days >= 0:
        return "today" if days == 0 else f"{days}d ago"
    return f"in {-days}d"
