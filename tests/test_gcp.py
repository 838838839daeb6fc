"""The GCP adapter: the real SecretManagerServiceClient (and ProjectsClient) over plaintext gRPC on
loopback to the Secret Manager emulator."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import (
    AuthenticationError,
    CredentialsMissingError,
    MalformedResponseError,
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
from citadel_tui.emulators.faults import Fault
from citadel_tui.emulators.gcp import GcpEmulator
from citadel_tui.providers import Source, open_source

PROJECT = "shop-prod"
CANARY = "canary-gcp-7d2e91ab"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def server() -> Iterator[GcpEmulator]:
    with GcpEmulator() as emulator:
        yield emulator


@pytest.fixture
def emu(server: GcpEmulator) -> Iterator[GcpEmulator]:
    server.reset()
    server.max_page_size = 25000
    yield server
    server.reset()


def source(emu: GcpEmulator, **kwargs) -> Source:
    options = {"project": PROJECT, "endpoint": emu.endpoint, **kwargs.pop("options", {})}
    config = SourceConfig(
        name="gcp-prod", kind="gcp", environment="production", prefix=kwargs.pop("prefix", "prod-myapp-"),
        timeout_seconds=kwargs.pop("timeout_seconds", 2.0),
        options={k: v for k, v in options.items() if v is not None}, **kwargs,
    )
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


@pytest.mark.parametrize(("count", "page_size", "pages"), [(0, 25000, 1), (5, 25000, 1), (5, 2, 3)])
def test_inventory_is_list_pages_plus_one_version_list_per_secret(
    emu: GcpEmulator, count: int, page_size: int, pages: int,
) -> None:
    emu.max_page_size = page_size  # the server caps the client's 25000
    for i in range(count):
        emu.seed_secret(PROJECT, f"prod-myapp-KEY_{i}", CANARY)
    emu.seed_secret(PROJECT, "staging-myapp-KEY_0", "x")
    emu.seed_secret("other-project", "prod-myapp-ELSEWHERE", "x")
    src = source(emu)
    secrets = src.inventory()
    assert [s.key for s in secrets] == [f"KEY_{i}" for i in range(count)]
    assert src.client.requests == pages + count
    assert emu.calls.count("ListSecrets") == pages and emu.calls.count("ListSecretVersions") == count
    assert CANARY not in repr(secrets)


def test_metadata_dates_rotation_expiry_disabled(emu: GcpEmulator) -> None:
    db = emu.seed_secret(PROJECT, "prod-myapp-DB_PASSWORD", "a", create_time=NOW - 400 * DAY,
                         labels={"team": "ops"}, annotations={"env-key": "DB_PASSWORD"})
    emu.seed_version(PROJECT, db.secret_id, "b", create_time=NOW - 200 * DAY)
    emu.seed_version(PROJECT, db.secret_id, "c", create_time=NOW - 10 * DAY, state="DISABLED")
    emu.seed_secret(PROJECT, "prod-myapp-API_TOKEN", "t", create_time=NOW - 40 * DAY,
                    topics=[f"projects/{PROJECT}/topics/rotation"], rotation_period=30 * DAY,
                    next_rotation=NOW + 20 * DAY, expire_time=NOW + 90 * DAY)
    legacy = emu.seed_secret(PROJECT, "prod-myapp-LEGACY", create_time=NOW - 5 * DAY)
    emu.seed_version(PROJECT, legacy.secret_id, "old", state="DISABLED", create_time=NOW - 5 * DAY)
    emu.seed_version(PROJECT, legacy.secret_id, "gone", state="DESTROYED", create_time=NOW - 4 * DAY)
    emu.seed_secret(PROJECT, "prod-myapp-EMPTY")
    by_key = {s.key: s for s in source(emu).inventory()}
    assert set(by_key) == {"DB_PASSWORD", "API_TOKEN", "LEGACY", "EMPTY"}
    meta = by_key["DB_PASSWORD"]
    assert meta.name == "prod-myapp-DB_PASSWORD"
    assert (meta.created, meta.last_changed) == (NOW - 400 * DAY, NOW - 200 * DAY)  # latest ENABLED version
    assert meta.enabled and meta.versions == 3 and meta.details["latest_version"] == "2"
    assert meta.tags == {"team": "ops", "env-key": "DB_PASSWORD"}
    assert meta.details["resource"] == f"projects/{emu.project_number(PROJECT)}/secrets/prod-myapp-DB_PASSWORD"
    assert meta.details["replication"] == "automatic"
    assert not meta.rotation_enabled and meta.next_rotation is None and meta.expires is None
    assert meta.last_accessed is None and meta.last_rotated is None
    token = by_key["API_TOKEN"]
    assert token.rotation_enabled and token.rotation_period_days == 30 and token.next_rotation == NOW + 20 * DAY
    assert token.expires == NOW + 90 * DAY and token.details["topics"] == f"projects/{PROJECT}/topics/rotation"
    legacy_meta = by_key["LEGACY"]
    assert legacy_meta.enabled is False and legacy_meta.versions == 2 and legacy_meta.last_changed == NOW - 4 * DAY
    assert by_key["EMPTY"].enabled is False and by_key["EMPTY"].versions == 0 and by_key["EMPTY"].last_changed is None


def test_create_never_overwrites_add_version_and_read(emu: GcpEmulator) -> None:
    src = source(emu)
    src.client.create_secret("prod-myapp-NEW_TOKEN", CANARY, src.tags_for("NEW_TOKEN"))
    stored = emu.secret(PROJECT, "prod-myapp-NEW_TOKEN")
    assert stored.labels == {"managed-by": "citadel"} and stored.annotations == {"env-key": "NEW_TOKEN"}
    with pytest.raises(SecretExistsError, match="prod-myapp-NEW_TOKEN already exists") as info:
        src.client.create_secret("prod-myapp-NEW_TOKEN", "other", {})
    assert CANARY not in str(info.value)
    assert [v.payload for v in stored.versions] == [CANARY.encode()]
    src.client.add_version("prod-myapp-NEW_TOKEN", "v2")
    assert [v.payload for v in stored.versions] == [CANARY.encode(), b"v2"]
    assert src.read_value("NEW_TOKEN") == "v2"
    assert [s.key for s in src.inventory()] == ["NEW_TOKEN"]
    with pytest.raises(SecretNotFoundError, match="prod-myapp-ABSENT"):
        src.read_value("ABSENT")
    emu.seed_version(PROJECT, "prod-myapp-NEW_TOKEN", "v3", state="DISABLED")
    with pytest.raises(SourceError, match="FAILED_PRECONDITION.*DISABLED state"):
        src.read_value("NEW_TOKEN")
    emu.seed_secret(PROJECT, "prod-myapp-BINARY")
    emu.seed_version(PROJECT, "prod-myapp-BINARY", b"\xff\xfe")
    with pytest.raises(MalformedResponseError, match="binary"):
        src.read_value("BINARY")


def test_create_removes_the_empty_secret_when_the_value_is_refused(emu: GcpEmulator) -> None:
    src = source(emu)
    too_big = CANARY * 5000  # over Secret Manager's 64 KiB payload limit
    with pytest.raises(SourceError, match="AddSecretVersion on .*prod-myapp-HUGE with INVALID_ARGUMENT") as info:
        src.client.create_secret("prod-myapp-HUGE", too_big, {})
    assert CANARY not in str(info.value)
    assert emu.calls == ["CreateSecret", "AddSecretVersion", "DeleteSecret"]
    assert (PROJECT, None, "prod-myapp-HUGE") not in emu.secrets
    src.client.create_secret("prod-myapp-HUGE", "small", {})  # so a retry is not refused as existing


def test_configure_rotation_needs_a_topic_and_keeps_other_topics(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-DB_PASSWORD", "x", topics=[f"projects/{PROJECT}/topics/audit"])
    with pytest.raises(SourceError, match="rotation_topic") as info:
        source(emu).client.configure_rotation("prod-myapp-DB_PASSWORD", 45)
    assert not isinstance(info.value, StoreUnavailableError) and emu.calls == []
    src = source(emu, options={"rotation_topic": "secret-rotation"})
    before = datetime.now(timezone.utc)
    src.client.configure_rotation("prod-myapp-DB_PASSWORD", 45)
    stored = emu.secret(PROJECT, "prod-myapp-DB_PASSWORD")
    assert stored.topics == [f"projects/{PROJECT}/topics/audit", f"projects/{PROJECT}/topics/secret-rotation"]
    assert stored.rotation_period == 45 * DAY
    assert stored.next_rotation is not None and before + 45 * DAY <= stored.next_rotation <= datetime.now(timezone.utc) + 45 * DAY
    src.client.configure_rotation("prod-myapp-DB_PASSWORD", 30)
    assert len(stored.topics) == 2 and stored.rotation_period == 30 * DAY
    meta = src.inventory()[0]
    assert meta.rotation_enabled and meta.rotation_period_days == 30 and meta.next_rotation > NOW + 29 * DAY


def test_regional_location(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-GLOBAL", "g")
    src = source(emu, options={"location": "europe-west1"})
    src.client.create_secret("prod-myapp-REGIONAL", "r", {})
    stored = emu.secret(PROJECT, "prod-myapp-REGIONAL", location="europe-west1")
    assert stored.versions[0].payload == b"r"
    [meta] = src.inventory()
    assert meta.key == "REGIONAL" and "replication" not in meta.details
    assert meta.details["resource"].endswith("/locations/europe-west1/secrets/prod-myapp-REGIONAL")
    assert src.read_value("REGIONAL") == "r"


def test_audit_status_from_the_project_iam_policy(emu: GcpEmulator) -> None:
    src = source(emu)
    status = src.client.audit_status()
    assert status.state is AuditState.OFF and "no DATA_READ audit log" in status.detail
    emu.set_audit_config("secretmanager.googleapis.com", "DATA_WRITE")
    assert src.client.audit_status().state is AuditState.OFF
    emu.set_audit_config("allServices", "ADMIN_READ", "DATA_READ", exempted=("user:ci@example.com",))
    status = src.client.audit_status()
    assert status.state is AuditState.ON and "allServices" in status.detail and "ci@example.com" in status.detail
    emu.faults.push(Fault.FORBIDDEN)
    status = src.client.audit_status()
    assert status.state is AuditState.UNKNOWN
    assert f"resourcemanager.projects.getIamPolicy on projects/{PROJECT}" in status.detail


def test_throttling_is_retried_and_counted(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-A_KEY", "x")
    src = source(emu)
    emu.faults.push(Fault.THROTTLE, times=2)
    assert [s.key for s in src.inventory()] == ["A_KEY"]
    assert (src.client.requests, src.client.retries) == (4, 2)
    emu.faults.push(Fault.THROTTLE, times=4)
    with pytest.raises(ThrottledError, match="throttled AccessSecretVersion"):
        src.read_value("A_KEY")


def test_forbidden_names_the_iam_permission(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-A_KEY", CANARY)
    src = source(emu)
    emu.faults.push(Fault.FORBIDDEN)
    with pytest.raises(PermissionDeniedError, match=f"secretmanager.secrets.list on projects/{PROJECT}"):
        src.inventory()
    emu.faults.push(Fault.FORBIDDEN)
    with pytest.raises(PermissionDeniedError,
                       match=f"secretmanager.versions.access on projects/{PROJECT}/secrets/prod-myapp-A_KEY/versions/latest"):
        src.read_value("A_KEY")
    assert src.client.requests == 2


def test_unauthenticated_rebuilds_the_channel_then_succeeds(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-A_KEY", "x")
    src = source(emu)
    assert src.read_value("A_KEY") == "x"
    connections = emu.connections
    emu.faults.push(Fault.UNAUTHENTICATED)
    assert src.read_value("A_KEY") == "x"
    assert (src.client.requests, src.client.retries) == (3, 0)
    assert emu.connections == connections + 1  # a new client on a new channel
    emu.faults.push(Fault.UNAUTHENTICATED, times=2)
    with pytest.raises(AuthenticationError, match="rejected the credentials"):
        src.read_value("A_KEY")
    src.close()


def test_server_errors_exhaust_retries(emu: GcpEmulator) -> None:
    src = source(emu, max_retries=2)
    emu.faults.push(Fault.SERVER_ERROR, times=3)
    with pytest.raises(StoreUnavailableError, match="ListSecrets .* with UNAVAILABLE"):
        src.inventory()
    assert (src.client.requests, src.client.retries) == (3, 2)


def test_dropped_connection_is_retried(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-A_KEY", "x")
    src = source(emu)
    emu.faults.push(Fault.DROP)
    assert len(src.inventory()) == 1
    # The reset fails the request in flight, and sometimes the next one, sent before gRPC notices.
    # (that one fails in the client, with a broken pipe, and never reaches the server).
    assert src.client.retries in (1, 2) and emu.calls.count("ListSecrets") == 2
    emu.faults.push(Fault.DROP)
    with pytest.raises(StoreUnavailableError, match="AccessSecretVersion .* with UNAVAILABLE"):
        source(emu, max_retries=0).read_value("A_KEY")


def test_hang_times_out(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-A_KEY", "x")
    src = source(emu, timeout_seconds=0.5, max_retries=0)
    src.inventory()
    emu.faults.push(Fault.HANG)
    started = time.monotonic()
    with pytest.raises(StoreTimeoutError, match="within 0.5s"):
        src.read_value("A_KEY")
    assert time.monotonic() - started < 2


def test_missing_credentials_say_how_to_log_in(emu: GcpEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    src = source(emu, options={"endpoint": None})
    with pytest.raises(CredentialsMissingError, match="gcloud auth application-default login") as info:
        src.inventory()
    assert "missing-key.json" in str(info.value) and src.client.requests == 1


def test_canary_value_never_in_errors_or_logs(
    emu: GcpEmulator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As an application that configures the "google" logger at DEBUG: the SDK's records reach the root.
    monkeypatch.setattr(logging.getLogger("google"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="google")
    emu.seed_secret(PROJECT, "prod-myapp-A_KEY", CANARY)
    src = source(emu, max_retries=0, timeout_seconds=0.5)
    failures: list[SourceError] = []
    for fault in (*(f for f in Fault if f is not Fault.DROP), Fault.DROP):
        emu.faults.push(fault, times=2)  # an authentication failure is retried once, after a reset
        with pytest.raises(SourceError) as info:
            src.read_value("A_KEY")
        failures.append(info.value)
        emu.faults.clear()
    src = source(emu, max_retries=0)  # a new channel: the reset one may fail its next request too
    for fault in (Fault.FORBIDDEN, Fault.SERVER_ERROR, Fault.DROP):
        emu.faults.push(fault)
        with pytest.raises(SourceError) as info:
            src.client.add_version("prod-myapp-A_KEY", CANARY)
        failures.append(info.value)
        emu.faults.clear()
    src = source(emu, max_retries=0)
    for name, value in (("prod-myapp-A_KEY", CANARY), ("prod-myapp-HUGE", CANARY * 5000), ("bad/name", CANARY)):
        with pytest.raises(SourceError) as info:
            src.client.create_secret(name, value, {})
        failures.append(info.value)
    assert src.read_value("A_KEY") == CANARY  # a successful read is logged by nobody either
    assert len({type(f) for f in failures}) >= 6
    for failure in failures:
        assert CANARY not in str(failure) and CANARY not in repr(failure.args)
    encoded = base64.b64encode(CANARY.encode()).decode().rstrip("=")  # how JSON payload dumps carry bytes
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert CANARY not in text and encoded not in text


def test_per_key_layout_through_source(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-DB_PASSWORD", "s3cret", annotations={"env-key": "DB_PASSWORD"})
    emu.seed_secret(PROJECT, "prod-myapp-API_TOKEN", "tok")
    stale = emu.seed_secret(PROJECT, "prod-myapp-STALE")
    emu.seed_version(PROJECT, stale.secret_id, "old", state="DISABLED")
    emu.seed_secret(PROJECT, "prod-other-DB_PASSWORD", "nope")
    src = source(emu)
    assert src.secret_name("DB_PASSWORD") == "prod-myapp-DB_PASSWORD"
    fingerprint = Fingerprinter()
    secrets = src.inventory(fingerprint=fingerprint)
    assert [(s.key, s.name) for s in secrets] == [
        ("API_TOKEN", "prod-myapp-API_TOKEN"), ("DB_PASSWORD", "prod-myapp-DB_PASSWORD"), ("STALE", "prod-myapp-STALE"),
    ]
    assert secrets[1].fingerprint == fingerprint("s3cret") and secrets[1].length == 6
    assert secrets[2].fingerprint is None  # no enabled version: nothing to read
    assert src.client.requests == 1 + 3 + 2  # one list page, three version lists, two reads
    assert src.read_value("DB_PASSWORD") == "s3cret"


def test_bundle_layout_through_source(emu: GcpEmulator) -> None:
    emu.seed_secret(PROJECT, "prod-myapp-config",
                    json.dumps({"DB_USER": "app", "DB_PASSWORD": CANARY, "DB_PORT": 5432}))
    emu.seed_secret(PROJECT, "prod-myapp-config-old", "{}")
    src = source(emu, prefix="", layout="bundle", secret="prod-myapp-config")
    fingerprint = Fingerprinter()
    secrets = src.inventory(fingerprint=fingerprint)
    assert [(s.key, s.name) for s in secrets] == [
        ("DB_PASSWORD", "prod-myapp-config#DB_PASSWORD"), ("DB_PORT", "prod-myapp-config#DB_PORT"),
        ("DB_USER", "prod-myapp-config#DB_USER"),
    ]
    assert secrets[0].fingerprint == fingerprint(CANARY) and CANARY not in repr(secrets)
    assert src.read_value("DB_PORT") == "5432"
