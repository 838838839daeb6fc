"""The Azure adapter: the real SecretClient, azure.identity and ARM pipeline over HTTPS loopback
to the Key Vault emulator, which issues and checks its own tokens."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import (
    AuthenticationError,
    CredentialsMissingError,
    PermissionDeniedError,
    SecretExistsError,
    SecretNotFoundError,
    SourceError,
    StoreTimeoutError,
    StoreUnavailableError,
    ThrottledError,
)
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import AuditState
from citadel_tui.emulators.azure import AzureEmulator
from citadel_tui.emulators.faults import Fault
from citadel_tui.providers import Source, open_source

CANARY = "canary-azure-5f1e2d3c"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY = timedelta(days=1)


@pytest.fixture
def emu(azure_vault: AzureEmulator) -> AzureEmulator:
    return azure_vault


def source(emu: AzureEmulator, **kwargs) -> Source:
    options = {
        "vault_url": emu.vault_url, "ca_bundle": emu.ca_file, "authority_host": emu.authority_host,
        "management_url": emu.management_url, "vault_resource_id": emu.vault_resource_id,
        **kwargs.pop("options", {}),
    }
    options = {key: value for key, value in options.items() if value is not None}
    config = SourceConfig(
        name="azure-prod", kind="azure", environment="production", prefix=kwargs.pop("prefix", "prod-myapp-"),
        timeout_seconds=kwargs.pop("timeout_seconds", 2.0), options=options, **kwargs,
    )
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (24, 1), (60, 3)])
def test_inventory_reads_pages_of_25(emu: AzureEmulator, count: int, pages: int) -> None:
    for i in range(count):
        emu.seed_secret(f"prod-myapp-KEY-{i:03d}", CANARY)
    emu.seed_secret("staging-myapp-KEY-000", "x")
    src = source(emu)
    secrets = src.inventory()
    assert [s.key for s in secrets] == [f"KEY_{i:03d}" for i in range(count)]
    assert src.client.requests == pages  # the whole vault is listed: count + 1 secrets
    assert CANARY not in repr(secrets)


def test_metadata_dates_tags_rotation_disabled_expiring(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-DB-PASSWORD", "a", created=NOW - 400 * DAY, updated=NOW - 200 * DAY,
                    tags={"env-key": "DB_PASSWORD", "team": "ops"}, content_type="text/plain")
    emu.seed_secret("PROD-MYAPP-API-TOKEN", "b", created=NOW - 10 * DAY, tags={"rotation-period": "30d"})
    emu.seed_secret("prod-myapp-LEGACY-KEY", "c", enabled=False, not_before=NOW - 5 * DAY)
    emu.seed_secret("prod-myapp-SESSION-KEY", "d", expires=NOW + 3 * DAY)
    by_key = {s.key: s for s in source(emu).inventory()}
    assert set(by_key) == {"DB_PASSWORD", "API_TOKEN", "LEGACY_KEY", "SESSION_KEY"}
    db = by_key["DB_PASSWORD"]
    assert (db.created, db.last_changed) == (NOW - 400 * DAY, NOW - 200 * DAY)
    assert db.tags == {"env-key": "DB_PASSWORD", "team": "ops"} and db.details["content_type"] == "text/plain"
    assert db.details["id"] == f"{emu.vault_url}/secrets/prod-myapp-DB-PASSWORD"
    assert db.details["recovery_level"] == "Recoverable+Purgeable"
    assert not db.rotation_enabled and db.next_rotation is None and db.last_accessed is None
    token = by_key["API_TOKEN"]
    assert token.name == "PROD-MYAPP-API-TOKEN"  # the prefix matches case-insensitively
    assert token.rotation_enabled and token.rotation_period_days == 30
    assert token.next_rotation == NOW + 20 * DAY
    legacy = by_key["LEGACY_KEY"]
    assert legacy.enabled is False and legacy.details["not_before"] == (NOW - 5 * DAY).isoformat()
    assert by_key["SESSION_KEY"].expires == NOW + 3 * DAY


def test_create_never_overwrites_add_version_keeps_tags(emu: AzureEmulator) -> None:
    src = source(emu)
    src.client.create_secret("prod-myapp-NEW-TOKEN", CANARY, src.tags_for("NEW_TOKEN"))
    with pytest.raises(SecretExistsError, match="already exists") as info:
        src.client.create_secret("PROD-MYAPP-new-token", "other", {})
    assert CANARY not in str(info.value)
    assert emu.secret("prod-myapp-NEW-TOKEN").current.value == CANARY
    src.client.add_version("prod-myapp-NEW-TOKEN", "v2")
    stored = emu.secret("prod-myapp-NEW-TOKEN")
    assert [v.value for v in stored.versions] == [CANARY, "v2"]
    assert stored.current.tags == {"env-key": "NEW_TOKEN", "managed-by": "citadel"}
    assert src.read_value("NEW_TOKEN") == "v2"
    with pytest.raises(SecretNotFoundError, match="prod-myapp-ABSENT"):
        src.read_value("ABSENT")


def test_create_over_a_soft_deleted_name_explains_recover_or_purge(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-OLD-KEY", "x")
    src = source(emu)
    src.client._secrets().begin_delete_secret("prod-myapp-OLD-KEY").wait()  # the SDK's soft delete
    assert emu.secret("prod-myapp-OLD-KEY").deleted is not None
    assert src.inventory() == ()
    with pytest.raises(SecretExistsError, match="deleted but recoverable.*recover.*purge"):
        src.client.create_secret("prod-myapp-OLD-KEY", CANARY, {})


def test_configure_rotation_sets_tag_and_expiry(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-DB-PASSWORD", "x", tags={"env-key": "DB_PASSWORD"})
    src = source(emu)
    src.client.configure_rotation("prod-myapp-DB-PASSWORD", 45)
    current = emu.secret("prod-myapp-DB-PASSWORD").current
    assert current.tags == {"env-key": "DB_PASSWORD", "rotation-period": "45d"}
    assert current.expires is not None and abs(current.expires - (NOW + 45 * DAY).timestamp()) < 60
    meta = src.inventory()[0]
    assert meta.rotation_enabled and meta.rotation_period_days == 45
    assert meta.next_rotation is not None and meta.next_rotation > NOW + 44 * DAY
    src.client.add_version("prod-myapp-DB-PASSWORD", "rotated")
    renewed = emu.secret("prod-myapp-DB-PASSWORD").current
    assert renewed.value == "rotated" and renewed.tags["rotation-period"] == "45d" and renewed.expires


def test_audit_status_on_off_unknown(emu: AzureEmulator) -> None:
    src = source(emu)
    status = src.client.audit_status()
    assert status.state is AuditState.OFF and "no diagnostic setting" in status.detail
    emu.set_diagnostic_setting("metrics-only", category="AuditEvent", enabled=False)
    assert src.client.audit_status().state is AuditState.OFF
    emu.set_diagnostic_setting("to-law", category=None, category_group="allLogs")
    status = src.client.audit_status()
    assert status.state is AuditState.ON and "to-law" in status.detail
    emu.faults.push(Fault.FORBIDDEN)
    status = src.client.audit_status()
    assert status.state is AuditState.UNKNOWN and "Microsoft.Insights/diagnosticSettings/read" in status.detail
    emu.faults.push(Fault.UNAUTHENTICATED)
    assert src.client.audit_status().state is AuditState.ON  # token refreshed, then answered
    status = source(emu, options={"vault_resource_id": emu.vault_resource_id + "-other"}).client.audit_status()
    assert status.state is AuditState.UNKNOWN and "check vault_resource_id" in status.detail
    status = source(emu, options={"vault_resource_id": None}).client.audit_status()
    assert status.state is AuditState.UNKNOWN and "set vault_resource_id" in status.detail


def test_throttling_is_retried_and_counted(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-A-KEY", "x")
    src = source(emu)
    emu.faults.push(Fault.THROTTLE, times=2)
    assert [s.key for s in src.inventory()] == ["A_KEY"]
    assert (src.client.requests, src.client.retries) == (3, 2)
    emu.faults.push(Fault.THROTTLE, times=4)
    with pytest.raises(ThrottledError, match="throttled GetSecret"):
        src.read_value("A_KEY")


def test_forbidden_names_the_missing_data_action(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-A-KEY", CANARY)
    src = source(emu)
    emu.faults.push(Fault.FORBIDDEN)
    with pytest.raises(PermissionDeniedError, match="secrets/readMetadata/action"):
        src.inventory()
    emu.faults.push(Fault.FORBIDDEN)
    with pytest.raises(PermissionDeniedError, match=r"secrets/getSecret/action on .*/secrets/prod-myapp-A-KEY"):
        src.read_value("A_KEY")
    assert src.client.requests == 2


def test_revoked_token_is_refreshed_once_then_succeeds(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-A-KEY", "x")
    src = source(emu)
    assert len(src.inventory()) == 1
    issued = emu.tokens_issued
    emu.faults.push(Fault.UNAUTHENTICATED)
    assert len(src.inventory(refresh=True)) == 1
    assert src.client.requests == 3 and emu.tokens_issued == issued + 1
    emu.revoke_tokens()
    assert src.read_value("A_KEY") == "x"
    assert emu.tokens_issued == issued + 2


def test_server_errors_exhaust_retries(emu: AzureEmulator) -> None:
    src = source(emu, max_retries=2)
    emu.faults.push(Fault.SERVER_ERROR, times=3)
    with pytest.raises(StoreUnavailableError, match="HTTP 503 ServiceUnavailable"):
        src.inventory()
    assert (src.client.requests, src.client.retries) == (3, 2)


def test_dropped_connection_is_retried(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-A-KEY", "x")
    src = source(emu)
    emu.faults.push(Fault.DROP)
    assert len(src.inventory()) == 1 and src.client.retries == 1
    emu.faults.push(Fault.DROP)
    with pytest.raises(StoreUnavailableError, match="broke during GetSecrets"):
        source(emu, max_retries=0).inventory()


def test_hang_times_out(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-A-KEY", "x")
    src = source(emu, timeout_seconds=0.5, max_retries=0)
    src.inventory()
    emu.faults.push(Fault.HANG)
    with pytest.raises(StoreTimeoutError, match="within 0.5s"):
        src.read_value("A_KEY")


def test_missing_and_rejected_credentials(emu: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(AuthenticationError, match="AADSTS7000215") as info:
        source(emu).inventory()
    assert "not-the-secret" not in str(info.value)
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    src = source(emu)
    with pytest.raises(CredentialsMissingError, match="az login"):
        src.inventory()
    assert src.client.requests == 1


def test_canary_value_never_in_errors_or_logs(emu: AzureEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu.seed_secret("prod-myapp-A-KEY", CANARY)
    emu.seed_secret("prod-myapp-GONE", CANARY)
    emu.soft_delete("prod-myapp-GONE")
    src = source(emu, max_retries=0, timeout_seconds=0.5)
    failures: list[SourceError] = []
    for fault in (Fault.FORBIDDEN, Fault.THROTTLE, Fault.SERVER_ERROR, Fault.DROP, Fault.HANG):
        emu.faults.push(fault)
        with pytest.raises(SourceError) as info:
            src.read_value("A_KEY")
        failures.append(info.value)
        emu.faults.clear()
    for fault in (Fault.FORBIDDEN, Fault.SERVER_ERROR):
        emu.faults.push(fault)
        with pytest.raises(SourceError) as info:
            src.client.add_version("prod-myapp-A-KEY", CANARY)
        failures.append(info.value)
        emu.faults.clear()
    with pytest.raises(SourceError) as info:
        src.client.create_secret("prod-myapp-GONE", CANARY, {})
    failures.append(info.value)
    with pytest.raises(SourceError) as info:
        src.client.create_secret("prod-myapp-bad_name", CANARY, {})
    failures.append(info.value)
    assert len({type(f) for f in failures}) >= 5
    for failure in failures:
        assert CANARY not in str(failure) and CANARY not in repr(failure.args)
    assert CANARY not in caplog.text


def test_per_key_layout_through_source(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-DB-PASSWORD", "s3cret", tags={"env-key": "DB_PASSWORD"})
    emu.seed_secret("prod-myapp-API-TOKEN", "tok")
    emu.seed_secret("prod-myapp-STALE", "old", enabled=False)
    emu.seed_secret("prod-other-DB-PASSWORD", "nope")
    src = source(emu)
    assert src.secret_name("DB_PASSWORD") == "prod-myapp-DB-PASSWORD"
    fingerprint = Fingerprinter()
    secrets = src.inventory(fingerprint=fingerprint)
    assert [(s.key, s.name) for s in secrets] == [
        ("API_TOKEN", "prod-myapp-API-TOKEN"), ("DB_PASSWORD", "prod-myapp-DB-PASSWORD"), ("STALE", "prod-myapp-STALE"),
    ]
    assert secrets[1].fingerprint == fingerprint("s3cret") and secrets[1].length == 6
    assert secrets[2].fingerprint is None  # disabled: its value cannot be read
    assert src.client.requests == 3  # one list page, two reads
    assert src.read_value("DB_PASSWORD") == "s3cret"


def test_bundle_layout_through_source(emu: AzureEmulator) -> None:
    emu.seed_secret("prod-myapp-config", json.dumps({"DB_USER": "app", "DB_PASSWORD": CANARY, "DB_PORT": 5432}),
                    content_type="application/json")
    emu.seed_secret("prod-myapp-config-old", "{}")
    src = source(emu, prefix="", layout="bundle", secret="PROD-MYAPP-CONFIG")
    fingerprint = Fingerprinter()
    secrets = src.inventory(fingerprint=fingerprint)
    assert [(s.key, s.name) for s in secrets] == [
        ("DB_PASSWORD", "prod-myapp-config#DB_PASSWORD"), ("DB_PORT", "prod-myapp-config#DB_PORT"),
        ("DB_USER", "prod-myapp-config#DB_USER"),
    ]
    assert secrets[0].fingerprint == fingerprint(CANARY) and CANARY not in repr(secrets)
    assert src.read_value("DB_PORT") == "5432"
