"""HashiCorp Vault / OpenBao KV secrets through hvac.

Inventory of a KV v2 mount takes one request on OpenBao (>= 2.2): `SCAN {mount}/detailed-metadata/
{path}` returns every secret below the folder with its metadata. Servers without SCAN (HashiCorp
Vault answers 405) and tokens without the `scan` capability fall back to one LIST per folder plus
one metadata read per secret, run concurrently; the client remembers which way works. KV v1 has no
metadata: the inventory is names only (SCAN, else recursive LIST).

Values: a per-key secret holds one field, `value`. A secret holding anything else (a bundle, or
fields written by other tools) is read as the JSON text of all its fields, which is what `Source`
expects of a bundle secret; with layout = "bundle", `create_secret`/`add_version` store the JSON
object's fields as the secret's fields.

Tags and the rotation schedule live in KV v2 `custom_metadata` (`rotation-period` = "30d"); Vault
does not rotate KV secrets itself, so the schedule is a record for operators and for Citadel.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hvac
import requests
from hvac import exceptions as hv

from citadel_tui import credentials
from citadel_tui.core import errors
from citadel_tui.core.config import SourceConfig
from citadel_tui.core.model import AuditState, AuditStatus, SecretMeta
from citadel_tui.providers.base import MAX_CONCURRENCY, StoreClient

ROTATION_KEY = "rotation-period"
_PERIOD = re.compile(r"^\s*(\d+)\s*([dhw]?)\s*$")
_HOURS_PER_UNIT = {"": 24, "d": 24, "h": 1, "w": 24 * 7}


def find_token(url: str) -> tuple[str, str]:
    """The token and where it came from: VAULT_TOKEN, then the OS keyring, then ~/.vault-token."""
    token = os.environ.get("VAULT_TOKEN", "").strip()
    if token:
        return token, "VAULT_TOKEN"
    keyring_problem = ""
    try:
        token = (credentials.load_token(url) or "").strip()
    except errors.CredentialsMissingError as exc:
        keyring_problem = f" ({exc})"
    if token:
        return token, "the OS keyring"
    path = Path.home() / ".vault-token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, str(path)
    raise errors.CredentialsMissingError(
        f"no Vault token for {url}: run `citadel login vault --url {url}` or set VAULT_TOKEN{keyring_problem}"
    )


class VaultClient(StoreClient):
    kind = "vault"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.url: str = config.option("url").rstrip("/")
        self.mount: str = config.option("mount", "secret").strip("/")
        self.base: str = config.option("path", "").strip("/")
        self.kv_version: int = config.option("kv_version", 2)
        self.use_scan: bool | None = None
        """None until the server has answered a SCAN; False forces LIST (+ metadata reads)."""
        self.token_origin = ""
        self._client: hvac.Client | None = None

    # -- connection ------------------------------------------------------------------------

    def _vault(self) -> hvac.Client:
        with self._lock:
            if self._client is None:
                try:
                    token, self.token_origin = find_token(self.url)
                except errors.CredentialsMissingError as exc:
                    exc.source = self.config.name
                    raise
                session = requests.Session()
                # No retries below us: StoreClient.call is the one retry layer and counts requests.
                adapter = requests.adapters.HTTPAdapter(pool_maxsize=MAX_CONCURRENCY, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._client = hvac.Client(
                    url=self.url,
                    token=token,
                    namespace=self.config.option("namespace"),
                    timeout=self.config.timeout_seconds,
                    verify=self.config.option("ca_cert", True),
                    session=session,
                )
            return self._client

    def reset_credentials(self) -> None:
        """Drop the client so the next request reads the token again (e.g. after `citadel login`)."""
        self.close()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.adapter.close()

    def _request(self, method: str, api_path: str, **kwargs: Any) -> Any:
        return self._vault().adapter.request(method, f"/v1/{api_path}", **kwargs)

    def _full(self, name: str) -> str:
        return "/".join(part for part in (self.base, name.strip("/")) if part)

    def _data_path(self, name: str) -> str:
        full = self._full(name)
        return f"{self.mount}/data/{full}" if self.kv_version == 2 else f"{self.mount}/{full}"

    def _metadata_path(self, name: str) -> str:
        return f"{self.mount}/metadata/{self._full(name)}"

    # -- inventory -------------------------------------------------------------------------

    def list_secrets(self, prefix: str) -> Iterator[SecretMeta]:
        # Only the folder holding the prefix is walked: a bundle or sub-folder prefix reads less.
        folder = prefix[: prefix.rfind("/") + 1]
        if self.kv_version == 1:
            names = self._scan_names(folder)
            if names is None:
                names = self._list_tree(folder)
            yield from (SecretMeta(name=n, details={"path": f"{self.mount}/{self._full(n)}"})
                        for n in sorted(names) if n.startswith(prefix))
            return
        entries = self._scan_metadata(folder)
        if entries is None:
            names = [n for n in self._list_tree(folder) if n.startswith(prefix)]
            metadata = self.map_concurrent(self._read_metadata, names)
            entries = {n: m for n, m in zip(names, metadata) if m is not None}
        for name in sorted(entries):
            if name.startswith(prefix):
                yield self._meta(name, entries[name])

    def _scan(self, api_path: str) -> dict[str, Any] | None:
        """One SCAN (recursive list); None when the server or the token cannot SCAN."""
        if self.use_scan is False:
            return None

        def scan() -> dict[str, Any] | None:
            try:
                return self._request("SCAN", api_path)
            except (hv.UnexpectedError, hv.UnsupportedOperation, hv.Forbidden):
                return None  # 405 from servers without SCAN; 403 from policies granting only `list`
            except hv.InvalidPath as exc:
                if "unsupported path" in " ".join(exc.errors or []):
                    return None
                raise

        answer = self.call("scan", scan, api_path)
        self.use_scan = answer is not None
        if answer is None:
            return None
        return answer.get("data") or {}

    def _scan_metadata(self, folder: str) -> dict[str, dict[str, Any]] | None:
        data = self._scan(f"{self.mount}/detailed-metadata/{self._full(folder)}")
        if data is None:
            return None
        if self._empty(folder, data):
            return {}
        return {folder + key: info for key, info in data["key_info"].items()}  # absent: malformed answer

    def _scan_names(self, folder: str) -> list[str] | None:
        data = self._scan(f"{self.mount}/{self._full(folder)}")
        if data is None:
            return None
        if self._empty(folder, data):
            return []
        return [folder + key for key in data["keys"] if not key.endswith("/")]  # absent: malformed answer

    def _empty(self, folder: str, data: dict[str, Any]) -> bool:
        """SCAN answers an empty or absent folder with empty data; one LIST tells that apart from
        an answer stripped of its fields (a broken proxy), which must fail as malformed."""
        if data:
            return False
        if self._list(folder):
            raise KeyError("SCAN answered no data for a folder LIST says is not empty")
        return True

    def _list_tree(self, folder: str) -> list[str]:
        """Every secret name under `folder`: one LIST per folder, each level's folders concurrently."""
        names: list[str] = []
        level = [folder]
        while level:
            found = self.map_concurrent(lambda sub: [sub + key for key in self._list(sub)], level)
            level = []
            for keys in found:
                for key in keys:
                    (level if key.endswith("/") else names).append(key)
        return names

    def _list(self, folder: str) -> list[str]:
        full = self._full(folder)
        api_path = f"{self.mount}/metadata/{full}" if self.kv_version == 2 else f"{self.mount}/{full}"
        api_path = api_path.rstrip("/") + "/"

        def list_keys() -> list[str]:
            try:
                return self._request("LIST", api_path)["data"]["keys"]
            except hv.InvalidPath as exc:
                if exc.errors:  # e.g. "no handler for route": the mount itself is missing
                    raise
                return []  # an empty folder

        return self.call("list", list_keys, api_path)

    def _read_metadata(self, name: str) -> dict[str, Any] | None:
        """A secret's KV v2 metadata, or None when it vanished since it was listed."""
        try:
            return self.call("read", lambda: self._request("GET", self._metadata_path(name))["data"],
                             self._metadata_path(name))
        except errors.SecretNotFoundError:
            return None

    def _meta(self, name: str, info: dict[str, Any]) -> SecretMeta:
        current = int(info.get("current_version") or 0)
        versions = info.get("versions") or {}
        latest = versions.get(str(current)) or {}
        deletion = _time(latest.get("deletion_time"))
        custom = {str(k): str(v) for k, v in (info.get("custom_metadata") or {}).items()}
        period = rotation_days(custom.get(ROTATION_KEY))
        # The current version's creation is when the value last changed; updated_time also moves
        # on metadata writes (tags, rotation schedule).
        changed = _time(latest.get("created_time")) or _time(info.get("updated_time"))
        return SecretMeta(
            name=name,
            created=_time(info.get("created_time")),
            last_changed=changed,
            next_rotation=changed + timedelta(days=period) if period and changed else None,
            rotation_enabled=period is not None,
            rotation_period_days=period,
            enabled=not (latest.get("destroyed") or (deletion and deletion <= datetime.now(timezone.utc))),
            deletion_date=deletion,
            versions=sum(1 for v in versions.values() if not v.get("destroyed")),
            tags=custom,
            details={"path": f"{self.mount}/data/{self._full(name)}", "current_version": str(current)},
        )

    # -- values ----------------------------------------------------------------------------

    def read_value(self, name: str) -> str:
        api_path = self._data_path(name)
        answer = self.call("read", lambda: self._request("GET", api_path), api_path)
        data = answer.get("data") or {}
        fields = data.get("data") if self.kv_version == 2 else data
        if not isinstance(fields, dict):
            raise errors.SecretNotFoundError(
                f"secret {api_path} has no current version (deleted or destroyed)",
                source=self.config.name, action="read",
            )
        if set(fields) == {"value"}:
            value = fields["value"]
            return value if isinstance(value, str) else json.dumps(value)
        return json.dumps(fields)

    def _fields(self, name: str, value: str) -> dict[str, Any]:
        """What to store: the bundle's JSON object as fields, else one `value` field."""
        if self.config.layout != "bundle":
            return {"value": value}
        try:
            fields = json.loads(value)
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            raise errors.MalformedResponseError(
                f"bundle secret {name!r} must be written as a JSON object of KEY: value",
                source=self.config.name, action="write",
            )
        return fields

    def _write(self, action: str, name: str, value: str, cas: int | None = None) -> None:
        api_path = self._data_path(name)
        fields = self._fields(name, value)
        body = {"data": fields, "options": {} if cas is None else {"cas": cas}} if self.kv_version == 2 else fields
        self.call(action, lambda: self._request("POST", api_path, json=body), api_path)

    def _v1_exists(self, name: str) -> bool:
        api_path = self._data_path(name)
        try:
            self.call("read", lambda: self._request("GET", api_path), api_path)
        except errors.SecretNotFoundError:
            return False
        return True

    def create_secret(self, name: str, value: str, tags: Mapping[str, str]) -> None:
        """KV v2 writes with cas=0, which the server refuses if the secret exists. KV v1 has no
        check-and-set: existence is checked first (a concurrent writer could slip in between)."""
        if self.kv_version == 1:
            if self._v1_exists(name):
                raise errors.SecretExistsError(
                    f"secret {self._data_path(name)} already exists; Citadel never overwrites it",
                    source=self.config.name, action="create",
                )
            self._write("create", name, value)
            return
        self._write("create", name, value, cas=0)
        if tags:
            self._patch_metadata(name, dict(tags))

    def add_version(self, name: str, value: str) -> None:
        """KV v2: write with cas = the current version, so a concurrent change is not lost."""
        if self.kv_version == 1:
            if not self._v1_exists(name):
                raise errors.SecretNotFoundError(f"no secret at {self._data_path(name)}",
                                                 source=self.config.name, action="update")
            self._write("update", name, value)
            return
        metadata = self._read_metadata(name)
        if metadata is None:
            raise errors.SecretNotFoundError(f"no secret at {self._metadata_path(name)}",
                                             source=self.config.name, action="update")
        self._write("update", name, value, cas=int(metadata.get("current_version") or 0))

    def configure_rotation(self, name: str, period_days: int) -> None:
        if self.kv_version == 1:
            raise errors.SourceError(
                f"mount {self.mount}/ is KV v1, which has no metadata to hold a rotation schedule; "
                "upgrade it with `bao kv enable-versioning`",
                source=self.config.name, action="configure rotation",
            )
        self._patch_metadata(name, {ROTATION_KEY: f"{period_days}d"})

    def _patch_metadata(self, name: str, custom: dict[str, str]) -> None:
        """Merge into custom_metadata (JSON merge patch) without touching the other settings."""
        api_path = self._metadata_path(name)
        self.call("patch", lambda: self._request(
            "PATCH", api_path, json={"custom_metadata": custom},
            headers={"Content-Type": "application/merge-patch+json"},
        ), api_path)

    # -- audit -----------------------------------------------------------------------------

    def audit_status(self) -> AuditStatus:
        """Audit devices from `GET sys/audit` (needs `read` and `sudo` on sys/audit)."""
        try:
            answer = self.call("read (sudo)", lambda: self._request("GET", "sys/audit"), "sys/audit")
        except errors.PermissionDeniedError:
            return AuditStatus(AuditState.UNKNOWN, "the token may not read sys/audit: grant "
                               "capabilities [\"read\", \"sudo\"] on path \"sys/audit\" to tell")
        except errors.SourceError as exc:
            return AuditStatus(AuditState.UNKNOWN, str(exc))
        devices = {path: info for path, info in (answer.get("data") or {}).items() if isinstance(info, dict)}
        if not devices:
            return AuditStatus(AuditState.OFF, f"no audit device is enabled on {self.url}; declare an `audit` "
                               "stanza in the OpenBao config (Vault: `vault audit enable file ...`)")
        described = []
        for path, info in sorted(devices.items()):
            target = (info.get("options") or {}).get("file_path")
            described.append(f"{path} ({info.get('type', '?')}{' -> ' + target if target else ''})")
        return AuditStatus(AuditState.ON, "audit devices: " + ", ".join(described))

    # -- errors ----------------------------------------------------------------------------

    def translate(self, exc: Exception, action: str, resource: str) -> errors.SourceError:
        where = f"{action} on {resource}" if resource else action
        said = "; ".join(str(e) for e in getattr(exc, "errors", None) or [])[:300]
        said_suffix = f" (server: {said})" if said else ""
        if isinstance(exc, hv.Forbidden):
            if self._token_rejected():
                return self._rejected_token()
            return errors.PermissionDeniedError(
                f"permission denied: the token lacks the {action!r} capability on {resource}; "
                "add it to the token's policy"
            )
        if isinstance(exc, hv.Unauthorized):
            return self._rejected_token()
        if isinstance(exc, hv.InvalidPath):
            if "no handler for route" in said:
                return errors.SecretNotFoundError(
                    f"no secrets engine is mounted at {self.mount}/ on {self.url}; check `mount` in citadel.toml"
                )
            return errors.SecretNotFoundError(f"no secret at {resource}")
        if isinstance(exc, hv.InvalidRequest) and "check-and-set" in said:
            if action == "create":
                return errors.SecretExistsError(f"secret {resource} already exists; Citadel never overwrites it")
            return errors.SourceError(f"secret {resource} changed while Citadel was writing it; read it and try again")
        if isinstance(exc, hv.RateLimitExceeded):
            return errors.ThrottledError(f"{self.url} rate-limited {where}{said_suffix}")
        if isinstance(exc, (hv.VaultNotInitialized, hv.VaultDown)) or "sealed" in said:
            state = "sealed" if "sealed" in said or isinstance(exc, hv.VaultDown) else "not initialized"
            return errors.StoreUnavailableError(
                f"{self.url} is {state} or in maintenance during {where}; unseal it or try again later{said_suffix}"
            )
        if isinstance(exc, (hv.InternalServerError, hv.BadGateway)):
            return errors.StoreUnavailableError(f"{self.url} failed {where}{said_suffix}; try again later")
        if isinstance(exc, requests.exceptions.Timeout):
            return errors.StoreTimeoutError(
                f"{self.url} did not answer {where} within {self.config.timeout_seconds:g}s"
            )
        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            return errors.StoreUnavailableError(f"cannot reach {self.url} ({type(exc).__name__}) during {where}")
        if isinstance(exc, hv.VaultError):
            return errors.SourceError(f"{self.url} refused {where} ({type(exc).__name__}){said_suffix}")
        return errors.MalformedResponseError(
            f"unexpected answer to {where} ({type(exc).__name__}): the store, or a proxy in front of it, "
            "sent a body Citadel cannot parse"
        )

    def _rejected_token(self) -> errors.AuthenticationError:
        return errors.AuthenticationError(
            f"{self.url} rejected the token from {self.token_origin or 'the environment'} (missing, expired "
            f"or revoked); run `citadel login vault --url {self.url}` or set VAULT_TOKEN"
        )

    def _token_rejected(self) -> bool:
        """Vault answers 403 both for a bad token and for a missing permission: ask which."""
        client = self._client
        if client is None:
            return False
        with self._lock:
            self.requests += 1
        try:
            client.adapter.request("GET", "/v1/auth/token/lookup-self")
        except hv.Forbidden:
            return True
        except Exception:  # noqa: BLE001 - any other answer: keep reporting the denial itself
            return False
        return False


def rotation_days(period: str | None) -> int | None:
    """Days in a `rotation-period` value: "30d", "2w", "720h" or a bare number of days."""
    match = _PERIOD.match(period or "")
    if not match:
        return None
    hours = int(match.group(1)) * _HOURS_PER_UNIT[match.group(2)]
    return max(1, hours // 24) if hours else None


def _time(value: str | None) -> datetime | None:
    """Vault's RFC 3339 times (nanoseconds, "Z"); empty or the zero time means none."""
    if not value or value.startswith("0001-"):
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if not match:
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(match.group(1) + fraction + zone).astimezone(timezone.utc)


__all__ = ["VaultClient", "find_token", "rotation_days"]
