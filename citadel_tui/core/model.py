"""The secret metadata model shared by every store, the comparison and the views.

Values never appear here: a secret is described by its metadata, and at most by a keyed
fingerprint and a length when the operator asked to compare values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum


@dataclass(frozen=True)
class SecretMeta:
    """What a store says about one secret (or one field of a bundle secret), without its value."""

    name: str
    """The exact name in the store (a bundle field is shown as `name#FIELD`)."""
    key: str | None = None
    """The env key this secret maps to, filled in by the source's layout."""
    created: datetime | None = None
    last_changed: datetime | None = None
    last_rotated: datetime | None = None
    next_rotation: datetime | None = None
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    last_accessed: datetime | None = None
    expires: datetime | None = None
    enabled: bool = True
    deletion_date: datetime | None = None
    versions: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    """Store-specific facts worth showing (ARN, content type, current version...)."""
    fingerprint: str | None = None
    length: int | None = None

    def with_key(self, key: str | None, **changes: object) -> SecretMeta:
        return replace(self, key=key, **changes)


@dataclass(frozen=True)
class Inventory:
    """The result of reading one source: its secrets, or the error that stopped it."""

    source: str
    kind: str
    environment: str
    secrets: tuple[SecretMeta, ...] = ()
    error: str | None = None
    error_class: str | None = None
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class AuditState(str, Enum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AuditStatus:
    state: AuditState
    detail: str
    """What was found (trail names, devices) or, for UNKNOWN, why it could not be told."""


@dataclass(frozen=True)
class AuditChange:
    """What enabling audit logging would write, shown to the operator before they confirm it."""

    target: str
    """What is written, e.g. "trail citadel-audit", "projects/p IAM policy"."""
    facts: tuple[tuple[str, str], ...]
    """(label, value) pairs: bucket, log types, destination... Never a secret value."""


@dataclass(frozen=True)
class Policy:
    stale_after_days: int = 90
    rotation_window_days: int = 14
    unused_after_days: int = 90
    rotation_period_days: int = 30
    """The schedule Citadel configures on migrated secrets (step 7)."""
