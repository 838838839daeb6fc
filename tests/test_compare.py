from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from citadel_tui.core.compare import compare, secret_statuses
from citadel_tui.core.envfile import read_env_file
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import Inventory, Policy, SecretMeta

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
POLICY = Policy(stale_after_days=90, rotation_window_days=14, unused_after_days=90)


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (SecretMeta("a", last_changed=NOW - days(90), rotation_enabled=True, next_rotation=NOW + days(15)), []),
        (SecretMeta("a", last_changed=NOW - days(91), rotation_enabled=True, next_rotation=NOW + days(30)), ["stale"]),
        (SecretMeta("a", last_changed=NOW - days(1)), ["no-rotation"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(14)), ["rotation-due"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW - days(1)), ["rotation-overdue"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(60), expires=NOW + days(3)), ["expiring"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(60), expires=NOW - days(3)), ["expired"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(60), enabled=False), ["disabled"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(60), deletion_date=NOW), ["disabled"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(60), last_accessed=NOW - days(91)), ["unused"]),
        (SecretMeta("a", rotation_enabled=True, next_rotation=NOW + days(60), last_accessed=NOW - days(89)), []),
    ],
)
def test_secret_statuses_exact_to_the_day(meta: SecretMeta, expected: list[str]) -> None:
    assert secret_statuses(meta, POLICY, NOW) == expected


def test_rows_pair_env_keys_with_secrets(tmp_path: Path) -> None:
    fp = Fingerprinter()
    (tmp_path / ".env").write_text("DB_PASSWORD=one\nAPI_TOKEN=two\nPORT=8080\nNEW_SECRET=three\n")
    (tmp_path / ".env.staging").write_text("DB_PASSWORD=stage\n")
    prod = read_env_file(tmp_path / ".env", "production", fp)
    staging = read_env_file(tmp_path / ".env.staging", "staging", fp)
    rotating = dict(rotation_enabled=True, next_rotation=NOW + days(60))
    inventory = Inventory("aws", "aws", "production", (
        SecretMeta("p/DB_PASSWORD", key="DB_PASSWORD", fingerprint=fp("one"), **rotating),
        SecretMeta("p/API_TOKEN", key="API_TOKEN", fingerprint=fp("changed"), **rotating),
        SecretMeta("p/LEGACY", key="LEGACY", **rotating),
    ))
    broken = Inventory("gcp", "gcp", "production", error="denied")
    result = compare([prod, staging], [inventory, broken], POLICY, NOW, compare_values=True)
    got = {(r.key, r.source): r.statuses for r in result.rows}
    assert got == {
        ("DB_PASSWORD", "aws"): ("present", "in-sync"),
        ("API_TOKEN", "aws"): ("present", "drift"),
        ("PORT", "aws"): ("missing",),
        ("NEW_SECRET", "aws"): ("missing",),
        ("LEGACY", "aws"): ("orphan",),
    }
    port = next(r for r in result.rows if r.key == "PORT")
    assert port.klass == "config" and port.line == 3
    findings = {r.key for r in result.findings(["missing", "drift"])}
    assert findings == {"API_TOKEN", "NEW_SECRET"}  # PORT is config: its absence is not a finding
    assert result.counts()["missing"] == 2 and result.counts()["orphan"] == 1


def test_a_source_with_keys_is_compared_only_with_those(tmp_path: Path) -> None:
    fp = Fingerprinter()
    (tmp_path / ".env").write_text("DB_PASSWORD=one\nDB_USER=shop\nAPI_TOKEN=two\n")
    env = read_env_file(tmp_path / ".env", "production", fp)
    bundle = Inventory("db", "aws", "production", (SecretMeta("p/db#DB_PASSWORD", key="DB_PASSWORD"),))
    rest = Inventory("rest", "aws", "production", (SecretMeta("p/API_TOKEN", key="API_TOKEN"),))
    result = compare([env], [bundle, rest], POLICY, NOW, scopes={"db": ("DB_PASSWORD", "DB_USER")})
    got = {(r.key, r.source): r.statuses[0] for r in result.rows}
    assert got == {
        ("DB_PASSWORD", "db"): "present",
        ("DB_USER", "db"): "missing",
        ("DB_PASSWORD", "rest"): "missing",
        ("DB_USER", "rest"): "missing",
        ("API_TOKEN", "rest"): "present",
    }
