"""Make an in-process moto server tell the dates real AWS tells.

moto always answers `LastAccessedDate: null` and stamps every secret with the time of its
creation. Real Secrets Manager reports the last access (to the day) and keeps history, so the
demo and the tests set those dates on moto's own model after creating secrets through boto3.
This changes the test server, never the SDK client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

DEFAULT_ACCOUNT = "123456789012"
_installed = False


def report_last_accessed() -> None:
    """Have moto's list/describe answers carry `LastAccessedDate` where one was set."""
    global _installed
    if _installed:
        return
    from moto.secretsmanager.models import FakeSecret

    plain_to_dict = FakeSecret.to_dict

    def to_dict(self: Any) -> dict[str, Any]:
        data = plain_to_dict(self)
        data["LastAccessedDate"] = getattr(self, "citadel_last_accessed", None)
        return data

    FakeSecret.to_dict = to_dict  # type: ignore[method-assign]
    _installed = True


def set_dates(
    name: str,
    *,
    region: str = "us-east-1",
    created: datetime | None = None,
    changed: datetime | None = None,
    rotated: datetime | None = None,
    next_rotation: datetime | None = None,
    accessed: datetime | None = None,
) -> None:
    """Backdate one secret held by the in-process moto server."""
    from moto.backends import get_backend

    secret = get_backend("secretsmanager")[DEFAULT_ACCOUNT][region].secrets[name]
    if created is not None:
        secret.created_date = int(created.timestamp())
    if changed is not None:
        secret.last_changed_date = int(changed.timestamp())
    if rotated is not None:
        secret.last_rotation_date = int(rotated.timestamp())
    if next_rotation is not None:
        secret.next_rotation_date = int(next_rotation.timestamp())
    if accessed is not None:
        report_last_accessed()
        secret.citadel_last_accessed = int(accessed.timestamp())
