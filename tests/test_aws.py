"""The AWS adapter: real boto3 against moto's ThreadedMotoServer on 127.0.0.1."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import SecretExistsError, SecretNotFoundError
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import AuditState
from citadel_tui.providers import open_source

CANARY = "canary-aws-0b1d2c3e"


def source(moto_url: str, **kwargs):
    config = SourceConfig(
        name="aws-prod", kind="aws", environment="production", prefix=kwargs.pop("prefix", "prod/app/"),
        options={"region": "us-east-1", "endpoint_url": moto_url}, **kwargs,
    )
    return open_source(config)


@pytest.mark.parametrize("count", [0, 1, 100, 250])
def test_inventory_uses_ceil_n_over_100_list_calls(sm, moto_url: str, count: int) -> None:
    for i in range(count):
        sm.create_secret(Name=f"prod/app/KEY_{i:03d}", SecretString=CANARY)
    sm.create_secret(Name="staging/app/KEY_000", SecretString="x")
    src = source(moto_url)
    secrets = src.inventory()
    assert [s.key for s in secrets] == [f"KEY_{i:03d}" for i in range(count)]
    assert src.client.requests == max(1, math.ceil(count / 100))


def test_metadata_dates_rotation_tags_and_deletion(sm, moto_url: str) -> None:
    with freeze_time("2026-01-10 09:00:00"):
        sm.create_secret(Name="prod/app/OLD_PASSWORD", SecretString="a", Tags=[{"Key": "team", "Value": "ops"}])
    sm.create_secret(Name="prod/app/ROTATED_TOKEN", SecretString="b")
    sm.rotate_secret(SecretId="prod/app/ROTATED_TOKEN", RotationRules={"AutomaticallyAfterDays": 30},
                     RotateImmediately=False)
    sm.create_secret(Name="prod/app/GONE_KEY", SecretString="c")
    sm.delete_secret(SecretId="prod/app/GONE_KEY", RecoveryWindowInDays=7)
    by_key = {s.key: s for s in source(moto_url).inventory()}
    old = by_key["OLD_PASSWORD"]
    assert old.created == datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)
    assert old.last_changed == old.created and old.tags == {"team": "ops"}
    assert old.rotation_enabled is False and old.next_rotation is None
    assert old.details["arn"].startswith("arn:aws:secretsmanager:us-east-1:")
    rotated = by_key["ROTATED_TOKEN"]
    assert rotated.rotation_enabled and rotated.rotation_period_days == 30
    assert rotated.next_rotation is not None and rotated.next_rotation > datetime.now(timezone.utc)
    assert by_key["GONE_KEY"].deletion_date is not None


def test_create_never_overwrites_add_version_and_read(sm, moto_url: str) -> None:
    src = source(moto_url)
    src.client.create_secret("prod/app/NEW_TOKEN", CANARY, src.tags_for("NEW_TOKEN"))
    with pytest.raises(SecretExistsError, match="already exists") as info:
        src.client.create_secret("prod/app/NEW_TOKEN", "other", {})
    assert CANARY not in str(info.value)
    assert sm.get_secret_value(SecretId="prod/app/NEW_TOKEN")["SecretString"] == CANARY
    src.client.add_version("prod/app/NEW_TOKEN", "v2")
    assert src.read_value("NEW_TOKEN") == "v2"
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId="prod/app/NEW_TOKEN")["Tags"]}
    assert tags == {"env-key": "NEW_TOKEN", "managed-by": "citadel"}
    with pytest.raises(SecretNotFoundError, match="prod/app/ABSENT"):
        src.read_value("ABSENT")


def test_configure_rotation(sm, moto_url: str) -> None:
    sm.create_secret(Name="prod/app/DB_PASSWORD", SecretString="x")
    src = source(moto_url)
    src.client.configure_rotation("prod/app/DB_PASSWORD", 45)
    described = sm.describe_secret(SecretId="prod/app/DB_PASSWORD")
    assert described["RotationEnabled"] and described["RotationRules"]["AutomaticallyAfterDays"] == 45


def test_bundle_layout_and_value_fingerprints(sm, moto_url: str) -> None:
    sm.create_secret(Name="prod/database", SecretString=json.dumps({"DB_USER": "app", "DB_PASSWORD": CANARY, "DB_PORT": 5432}))
    sm.create_secret(Name="prod/database-old", SecretString="{}")
    src = source(moto_url, prefix="", layout="bundle", secret="prod/database")
    fingerprint = Fingerprinter()
    secrets = src.inventory(fingerprint=fingerprint)
    assert [(s.key, s.name) for s in secrets] == [
        ("DB_PASSWORD", "prod/database#DB_PASSWORD"), ("DB_PORT", "prod/database#DB_PORT"), ("DB_USER", "prod/database#DB_USER"),
    ]
    assert secrets[0].fingerprint == fingerprint(CANARY) and secrets[1].fingerprint == fingerprint("5432")
    assert CANARY not in repr(secrets)
    assert src.read_value("DB_USER") == "app"


def test_bundle_that_is_not_json_is_a_clear_error(sm, moto_url: str) -> None:
    from citadel_tui.core.errors import MalformedResponseError

    sm.create_secret(Name="prod/database", SecretString=CANARY)
    with pytest.raises(MalformedResponseError, match="does not hold a JSON object") as info:
        source(moto_url, prefix="", layout="bundle", secret="prod/database").inventory()
    assert CANARY not in str(info.value)


def test_inventory_cache_and_refresh(sm, moto_url: str) -> None:
    src = source(moto_url)
    sm.create_secret(Name="prod/app/A_KEY", SecretString="x")
    assert len(src.inventory()) == 1
    sm.create_secret(Name="prod/app/B_KEY", SecretString="x")
    assert len(src.inventory()) == 1 and src.client.requests == 1
    assert len(src.inventory(refresh=True)) == 2 and src.client.requests == 2


def test_audit_status_follows_cloudtrail(moto_url: str) -> None:
    import boto3

    src = source(moto_url)
    status = src.client.audit_status()
    assert status.state is AuditState.OFF and "no CloudTrail trail" in status.detail
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    s3.create_bucket(Bucket="trail-logs")
    trails = boto3.client("cloudtrail", region_name="us-east-1", endpoint_url=moto_url)
    trails.create_trail(Name="org-trail", S3BucketName="trail-logs")
    assert src.client.audit_status().state is AuditState.OFF
    trails.start_logging(Name="org-trail")
    status = src.client.audit_status()
    assert status.state is AuditState.ON and "org-trail" in status.detail


def test_statuses_end_to_end_with_backdated_secrets(sm, moto_url: str) -> None:
    from datetime import timedelta

    from citadel_tui.core.compare import compare
    from citadel_tui.core.model import Inventory, Policy
    from citadel_tui.emulators.moto_ext import set_dates

    now = datetime.now(timezone.utc)
    for key in ("OLD_KEY", "LATE_TOKEN", "IDLE_SECRET"):
        sm.create_secret(Name=f"prod/app/{key}", SecretString="x")
    sm.rotate_secret(SecretId="prod/app/LATE_TOKEN", RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    set_dates("prod/app/OLD_KEY", created=now - timedelta(days=400), changed=now - timedelta(days=200))
    set_dates("prod/app/LATE_TOKEN", next_rotation=now - timedelta(days=2))
    set_dates("prod/app/IDLE_SECRET", accessed=now - timedelta(days=120))
    inventory = Inventory("aws", "aws", "default", source(moto_url).inventory())
    rows = {r.key: r.statuses for r in compare([], [inventory], Policy(), now).rows}
    assert rows == {
        "OLD_KEY": ("orphan", "stale", "no-rotation"),
        "LATE_TOKEN": ("orphan", "rotation-overdue"),
        "IDLE_SECRET": ("orphan", "no-rotation", "unused"),
    }
