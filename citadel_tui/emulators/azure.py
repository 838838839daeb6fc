"""A loopback Azure Key Vault, Entra ID token endpoint and ARM diagnostic-settings endpoint.

Azure has no official local Key Vault, so this server speaks the documented REST subset Citadel
uses, over HTTPS with a certificate made at start, so that the unmodified SDKs run against it:
`SecretClient` (challenge authentication, paging with `value` + `nextLink`), `azure.identity`
credentials (OpenID discovery and the client-credentials token grant) and ARM requests for the
vault's diagnostic settings (list, and create or update with PUT). The vault accepts only bearer tokens it issued itself, so expired or
revoked tokens fail like on Azure and a credential refresh really fetches a new one.

Faults from `FaultInjector` apply to authenticated vault and ARM requests (never to challenge
probes or token requests), so a test's queued fault hits the request it aims at.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import secrets
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from citadel_tui.emulators.faults import GARBAGE, MANGLING, Fault, FaultInjector, mangle

PAGE_SIZE = 25
"""Key Vault's default and largest page."""
VAULT_AUDIENCE = "https://vault.azure.net"
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
RECOVERY = {"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}
DATA_ACTION = "Microsoft.KeyVault/vaults/secrets/"


def _epoch(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


@dataclass
class SecretVersion:
    version: str
    value: str
    created: int
    updated: int
    enabled: bool = True
    not_before: int | None = None
    expires: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": self.enabled}
        if self.not_before is not None:
            attrs["nbf"] = self.not_before
        if self.expires is not None:
            attrs["exp"] = self.expires
        return {**attrs, "created": self.created, "updated": self.updated, **RECOVERY}


@dataclass
class StoredSecret:
    name: str
    versions: list[SecretVersion] = field(default_factory=list)
    deleted: int | None = None

    @property
    def current(self) -> SecretVersion:
        return self.versions[-1]


class ApiError(Exception):
    """An error answer: HTTP status, Key Vault/ARM error code and message."""

    def __init__(self, status: int, code: str, message: str, inner: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


class AzureEmulator:
    """Key Vault + token endpoint + ARM on one HTTPS port of 127.0.0.1."""

    def __init__(self, *, page_size: int = PAGE_SIZE, token_lifetime: int = 3600) -> None:
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self.subscription_id = str(uuid.uuid4())
        self.vault_name = "citadel-demo"
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self.faults = FaultInjector()
        self.secrets: dict[str, StoredSecret] = {}
        """Keyed by lower-case name: Key Vault names are case-insensitive."""
        self.diagnostic_settings: list[dict[str, Any]] = []
        self.tokens: dict[str, tuple[float, str]] = {}
        """Issued access token -> (expiry, audience)."""
        self.tokens_issued = 0
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file = ""
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> AzureEmulator:
        self._tmp = tempfile.TemporaryDirectory(prefix="citadel-azure-")
        cert_file, key_file, self.ca_file = _make_certificates(Path(self._tmp.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        # The handshake runs in the handler thread, so a silent client cannot block accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="azure-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.faults.clear()  # releases hung requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> AzureEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    vault_url = authority_host = management_url = base_url

    @property
    def vault_resource_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/citadel-rg"
                f"/providers/Microsoft.KeyVault/vaults/{self.vault_name}")

    def environment(self) -> dict[str, str]:
        """The AZURE_* variables with which azure.identity's EnvironmentCredential signs in here."""
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
        }

    # -- seeding and inspection --------------------------------------------------------------

    def seed_secret(
        self, name: str, value: str, *, created: dt.datetime | None = None, updated: dt.datetime | None = None,
        expires: dt.datetime | None = None, not_before: dt.datetime | None = None, enabled: bool = True,
        tags: dict[str, str] | None = None, content_type: str | None = None,
    ) -> str:
        """Add a version (the new current one) to a secret, creating it; returns the version id."""
        now = int(time.time())
        made = _epoch(created) or now
        version = SecretVersion(
            version=uuid.uuid4().hex, value=value, created=made, updated=_epoch(updated) or made,
            enabled=enabled, not_before=_epoch(not_before), expires=_epoch(expires),
            tags=dict(tags or {}), content_type=content_type,
        )
        with self.lock:
            stored = self.secrets.setdefault(name.lower(), StoredSecret(name))
            stored.versions.append(version)
        return version.version

    def soft_delete(self, name: str, when: dt.datetime | None = None) -> None:
        with self.lock:
            self.secrets[name.lower()].deleted = _epoch(when) or int(time.time())

    def reset(self) -> None:
        """Forget secrets, diagnostic settings and queued faults; issued tokens stay valid."""
        self.faults.clear()
        with self.lock:
            self.secrets.clear()
            self.diagnostic_settings = []

    def secret(self, name: str) -> StoredSecret:
        with self.lock:
            return self.secrets[name.lower()]

    def set_diagnostic_setting(self, name: str, *, category: str | None = "AuditEvent",
                               category_group: str | None = None, enabled: bool = True) -> None:
        """Route the vault's logs of one category (or category group) to a Log Analytics workspace."""
        log: dict[str, Any] = {"category": category, "categoryGroup": category_group, "enabled": enabled,
                               "retentionPolicy": {"enabled": False, "days": 0}}
        setting = {
            "id": f"{self.vault_resource_id}/providers/microsoft.insights/diagnosticSettings/{name}",
            "type": "Microsoft.Insights/diagnosticSettings",
            "name": name,
            "properties": {
                "workspaceId": f"/subscriptions/{self.subscription_id}/resourceGroups/citadel-rg"
                               "/providers/Microsoft.OperationalInsights/workspaces/citadel-logs",
                "logs": [log],
                "metrics": [{"category": "AllMetrics", "enabled": True}],
            },
        }
        with self.lock:
            self.diagnostic_settings = [s for s in self.diagnostic_settings if s["name"] != name] + [setting]

    def revoke_tokens(self) -> None:
        """Invalidate every issued token, as a credential rotation or sign-out would."""
        with self.lock:
            self.tokens.clear()

    def age_secret(self, name: str, *, created: dt.datetime | None = None, changed: dt.datetime | None = None,
                   expires: dt.datetime | None = None, disabled: bool = False) -> None:
        """Make a secret's current version look older (the demo's scenario), expiring or disabled."""
        with self.lock:
            version = self.secrets[name.lower()].current
            version.created = _epoch(created) or version.created
            version.updated = _epoch(changed) or version.updated
            version.expires = _epoch(expires) if expires is not None else version.expires
            version.enabled = version.enabled and not disabled

    # -- token endpoint ----------------------------------------------------------------------

    def issue_token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        if tenant.lower() != self.tenant_id:
            raise _AadError(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise _AadError(400, "unsupported_grant_type", 70003, "only client_credentials is served here.")
        if form.get("client_id") != self.client_id:
            raise _AadError(400, "unauthorized_client", 700016,
                            f"Application with identifier '{form.get('client_id')}' was not found "
                            "in the directory.")
        if not secrets.compare_digest(form.get("client_secret", ""), self.client_secret):
            raise _AadError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scopes = form.get("scope", "").split()
        resource = next((s.removesuffix("/.default") for s in scopes if s.endswith("/.default")), "")
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = (time.time() + self.token_lifetime, resource.rstrip("/"))
            self.tokens_issued += 1
        return {"token_type": "Bearer", "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime, "access_token": token}

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        if tenant.lower() != self.tenant_id:
            raise _AadError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.base_url}/{self.tenant_id}"
        return {
            "issuer": f"{base}/v2.0",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        }

    def audience_of(self, authorization: str | None) -> str | None:
        """The audience of a valid bearer token this emulator issued, else None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or entry[0] < time.time():
                self.tokens.pop(token, None)
                return None
            return entry[1]

    def revoke(self, authorization: str | None) -> None:
        with self.lock:
            self.tokens.pop((authorization or "").partition(" ")[2], None)

    # -- vault -------------------------------------------------------------------------------

    def _find(self, name: str) -> StoredSecret:
        stored = self.secrets.get(name.lower())
        if stored is None or stored.deleted is not None:
            raise ApiError(404, "SecretNotFound",
                           f"A secret with (name/id) {name} was not found in this key vault. If you recently "
                           "deleted this secret you may be able to recover it using the correct recovery command.")
        return stored

    def _version(self, stored: StoredSecret, version: str) -> SecretVersion:
        if not version:
            return stored.current
        for candidate in stored.versions:
            if candidate.version == version.lower():
                return candidate
        raise ApiError(404, "SecretNotFound",
                       f"A secret with (name/id) {stored.name}/{version} was not found in this key vault.")

    def _bundle(self, stored: StoredSecret, version: SecretVersion, *, value: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if value:
            body["value"] = version.value
        body["id"] = f"{self.vault_url}/secrets/{stored.name}/{version.version}"
        body["attributes"] = version.attributes()
        if version.tags:
            body["tags"] = dict(version.tags)
        if version.content_type:
            body["contentType"] = version.content_type
        return body

    def _item(self, stored: StoredSecret, version: SecretVersion, ident: str) -> dict[str, Any]:
        item = self._bundle(stored, version, value=False)
        item["id"] = ident
        if stored.deleted is not None:
            item.update(recoveryId=f"{self.vault_url}/deletedsecrets/{stored.name}",
                        deletedDate=stored.deleted, scheduledPurgeDate=stored.deleted + 90 * 86400)
        return item

    def _listed(self, key: str) -> dict[str, Any]:
        """A secret as GET /secrets and GET /deletedsecrets list it: current version, no value."""
        stored = self.secrets[key]
        return self._item(stored, stored.current, f"{self.vault_url}/secrets/{stored.name}")

    def _page(self, path: str, query: dict[str, str], keys: list[str],
              item: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """One page of items, in key order, after the `$skiptoken` marker."""
        try:
            size = int(query.get("maxresults", self.page_size))
        except ValueError:
            size = 0
        if not 1 <= size <= PAGE_SIZE:
            raise ApiError(400, "BadParameter", f"maxresults must be an integer between 1 and {PAGE_SIZE}")
        marker = ""
        if "$skiptoken" in query:
            try:
                marker = json.loads(base64.urlsafe_b64decode(query["$skiptoken"]))["NextMarker"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadParameter", "The $skiptoken is not valid") from None
        keys = sorted(key for key in keys if key > marker)
        page: dict[str, Any] = {"value": [item(key) for key in keys[:size]], "nextLink": None}
        if len(keys) > size:
            token = base64.urlsafe_b64encode(json.dumps({"NextMarker": keys[size - 1]}).encode()).decode()
            page["nextLink"] = (f"{self.vault_url}{path}?api-version={query['api-version']}"
                                f"&$skiptoken={token}&maxresults={size}")
        return page

    def vault(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        collection, name, rest = (parts + ["", "", ""])[:3]
        with self.lock:
            if collection == "secrets" and not name and method == "GET":
                live = [key for key, s in self.secrets.items() if s.deleted is None]
                return 200, self._page("/secrets", query, live, self._listed)
            if collection == "secrets" and rest == "versions" and method == "GET":
                stored = self._find(name)
                versions = {v.version: v for v in stored.versions}
                return 200, self._page(f"/secrets/{name}/versions", query, list(versions), lambda key: self._item(
                    stored, versions[key], f"{self.vault_url}/secrets/{stored.name}/{key}"))
            if collection == "secrets" and name and method == "GET":
                stored = self._find(name)
                version = self._version(stored, rest)
                if not version.enabled:
                    raise ApiError(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                                   "SecretDisabled")
                return 200, self._bundle(stored, version, value=True)
            if collection == "secrets" and name and method == "PUT":
                return 200, self._set(name, body)
            if collection == "secrets" and name and method == "PATCH":
                stored = self._find(name)
                version = self._version(stored, rest)
                attrs = body.get("attributes") or {}
                version.enabled = attrs.get("enabled", version.enabled)
                version.not_before = attrs.get("nbf", version.not_before)
                version.expires = attrs.get("exp", version.expires)
                if body.get("tags") is not None:
                    version.tags = dict(body["tags"])
                version.content_type = body.get("contentType", version.content_type)
                version.updated = int(time.time())
                return 200, self._bundle(stored, version, value=False)
            if collection == "secrets" and name and method == "DELETE":
                stored = self._find(name)
                stored.deleted = int(time.time())
                return 200, self._item(stored, stored.current, f"{self.vault_url}/secrets/{stored.name}")
            if collection == "deletedsecrets":
                return self._deleted(method, name, query)
        raise ApiError(400, "BadParameter", f"{method} {'/'.join(parts)} is not a Key Vault secrets operation")

    def _set(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if not name.replace("-", "").isalnum() or not name.isascii() or len(name) > 127:
            raise ApiError(400, "BadParameter",
                           "The request URI contains an invalid name: secret names may contain only 0-9, a-z, "
                           "A-Z and -, up to 127 characters")
        if not isinstance(body.get("value"), str):
            raise ApiError(400, "BadParameter", "Property value is required")
        stored = self.secrets.get(name.lower())
        if stored is not None and stored.deleted is not None:
            raise ApiError(409, "Conflict",
                           f"Secret {stored.name} is currently in a deleted but recoverable state, and its name "
                           "cannot be reused; in this state, the secret can only be recovered or purged.",
                           "ObjectIsDeletedButRecoverable")
        attrs = body.get("attributes") or {}
        now = int(time.time())
        version = SecretVersion(
            version=uuid.uuid4().hex, value=body["value"], created=now, updated=now,
            enabled=attrs.get("enabled", True), not_before=attrs.get("nbf"), expires=attrs.get("exp"),
            tags=dict(body.get("tags") or {}), content_type=body.get("contentType"),
        )
        stored = self.secrets.setdefault(name.lower(), StoredSecret(name))
        stored.versions.append(version)
        return self._bundle(stored, version, value=True)

    def _deleted(self, method: str, name: str, query: dict[str, str]) -> tuple[int, Any]:
        if not name and method == "GET":
            deleted = [key for key, s in self.secrets.items() if s.deleted is not None]
            return 200, self._page("/deletedsecrets", query, deleted, self._listed)
        stored = self.secrets.get(name.lower())
        if stored is None or stored.deleted is None:
            raise ApiError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        if method == "GET":
            return 200, self._item(stored, stored.current, f"{self.vault_url}/secrets/{stored.name}")
        if method == "DELETE":
            del self.secrets[name.lower()]
            return 204, None
        raise ApiError(400, "BadParameter", f"{method} on deleted secret {name} is not supported here")

    # -- ARM ---------------------------------------------------------------------------------

    def diagnostic_settings_of(self, resource_id: str) -> dict[str, Any]:
        self._check_resource(resource_id)
        with self.lock:
            return {"value": json.loads(json.dumps(self.diagnostic_settings))}

    def put_diagnostic_setting(self, resource_id: str, name: str, body: Any) -> dict[str, Any]:
        """Create or replace one diagnostic setting of the vault (names are case-insensitive), as
        `Diagnostic Settings - Create Or Update` does; returns the stored resource."""
        self._check_resource(resource_id)
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            raise ApiError(400, "InvalidRequestContent", "The request content must be an object with 'properties'.")
        destinations = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")
        if not any(isinstance(properties.get(key), str) and properties[key] for key in destinations):
            raise ApiError(400, "BadRequest", "At least one destination (workspaceId, storageAccountId, "
                           "eventHubAuthorizationRuleId or marketplacePartnerId) is required.")
        workspace = properties.get("workspaceId")
        if workspace is not None and "/providers/microsoft.operationalinsights/workspaces/" not in str(workspace).lower():
            raise ApiError(400, "LinkedInvalidPropertyId", f"Property id '{workspace}' at path "
                           "'properties.workspaceId' is invalid. Expect fully qualified resource Id that start with "
                           "'/subscriptions/{subscriptionId}'.")
        logs = properties.get("logs") or []
        if not isinstance(logs, list) or not all(
            isinstance(log, dict) and isinstance(log.get("enabled"), bool)
            and bool(log.get("category")) != bool(log.get("categoryGroup")) for log in logs
        ):
            raise ApiError(400, "BadRequest", "Every log setting needs 'enabled' and one of 'category' or "
                           "'categoryGroup'.")
        stored = {
            "id": f"{self.vault_resource_id}/providers/microsoft.insights/diagnosticSettings/{name}",
            "type": "Microsoft.Insights/diagnosticSettings",
            "name": name,
            "properties": {
                **properties,
                "logs": [{"category": log.get("category"), "categoryGroup": log.get("categoryGroup"),
                          "enabled": log["enabled"], "retentionPolicy": {"enabled": False, "days": 0}}
                         for log in logs],
                "metrics": properties.get("metrics") or [],
            },
        }
        with self.lock:
            self.diagnostic_settings = [s for s in self.diagnostic_settings
                                        if s["name"].lower() != name.lower()] + [stored]
            return json.loads(json.dumps(stored))

    def _check_resource(self, resource_id: str) -> None:
        if resource_id.lower().rstrip("/") != self.vault_resource_id.lower():
            raise ApiError(404, "ResourceNotFound", f"The Resource '{resource_id}' was not found.")


class _AadError(Exception):
    """An Entra ID (AADSTS) error answer of the token or discovery endpoint."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code = status, error, code


def _data_action(method: str, parts: list[str]) -> str:
    """The RBAC data action a vault request needs, as Key Vault names it in a 403."""
    if parts[:1] == ["deletedsecrets"]:
        return "Microsoft.KeyVault/vaults/deletedSecrets/" + ("delete" if method == "DELETE" else "read")
    if method == "GET":
        return DATA_ACTION + ("getSecret/action" if len(parts) > 1 and parts[-1] != "versions"
                              else "readMetadata/action")
    return DATA_ACTION + {"PUT": "setSecret/action", "PATCH": "update/action", "DELETE": "delete"}.get(method, method)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CitadelAzureEmulator/1"
    disable_nagle_algorithm = True
    """Headers and body are separate writes; with Nagle each answer would wait for a delayed ACK."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and the demo must not print request lines."""

    @property
    def emulator(self) -> AzureEmulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, None if body is None else json.dumps(body).encode(), headers)

    def _send_raw(self, status: int, data: bytes | None, headers: dict[str, str] | None = None) -> None:
        """An answer whose JSON body is already encoded (or deliberately broken by a fault)."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = [p for p in url.path.split("/") if p]
        try:
            if len(parts) >= 3 and parts[1:] == ["oauth2", "v2.0", "token"] and method == "POST":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                self._send(200, self.emulator.issue_token(parts[0], form))
            elif len(parts) >= 2 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                self._send(200, self.emulator.openid_configuration(parts[0]))
            elif parts[:1] == ["subscriptions"]:
                self._arm(method, url.path, query, raw)
            else:
                self._vault(method, parts, query, raw)
        except _AadError as exc:
            self._send(exc.status, {"error": exc.error, "error_description": f"AADSTS{exc.code}: {exc}",
                                    "error_codes": [exc.code], "trace_id": str(uuid.uuid4()),
                                    "correlation_id": str(uuid.uuid4())})
        except ApiError as exc:
            self._send(exc.status, exc.body(), exc.headers)
        except _Dropped:
            self.close_connection = True

    def _vault(self, method: str, parts: list[str], query: dict[str, str], raw: bytes) -> None:
        emulator = self.emulator
        authorization = self.headers.get("Authorization")
        if emulator.audience_of(authorization) != VAULT_AUDIENCE:
            raise self._challenge()
        if "api-version" not in query:
            raise ApiError(400, "BadParameter", "The api-version query parameter is required")
        fault = self._fault(authorization, _data_action(method, parts), f"/secrets/{'/'.join(parts[1:2])}",
                            self._challenge())
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiError(400, "BadParameter", "The request body is not valid JSON") from None
        status, payload = emulator.vault(method, parts, query, body)
        if fault is None:
            self._send(status, payload)
        else:
            self._send_raw(status, mangle(fault, json.dumps(payload).encode()))

    def _arm(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        """GET .../diagnosticSettings (the list) and PUT .../diagnosticSettings/NAME, with the
        same token check, api-version check and fault injection."""
        authorization = self.headers.get("Authorization")
        unauthorized = ApiError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers={
            "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/{self.emulator.tenant_id}"'
                                ', error="invalid_token", error_description="The access token is invalid."'})
        if self.emulator.audience_of(authorization) not in (*ARM_AUDIENCES, self.emulator.management_url):
            raise unauthorized
        suffix = "/providers/microsoft.insights/diagnosticsettings"
        head, _, name = path.rstrip("/").rpartition("/")
        if method == "GET" and path.lower().endswith(suffix):
            resource, action = path[: -len(suffix)], "Microsoft.Insights/diagnosticSettings/read"
        elif method == "PUT" and head.lower().endswith(suffix) and name:
            resource, action = head[: -len(suffix)], "Microsoft.Insights/diagnosticSettings/write"
        else:
            raise ApiError(404, "InvalidResourceType", f"{method} {path} is not served by this emulator")
        if "api-version" not in query:
            raise ApiError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) "
                           "is required for all requests.")
        fault = self._fault(authorization, action, resource, unauthorized)
        if method == "GET":
            answer = self.emulator.diagnostic_settings_of(resource)
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise ApiError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                               "deserialized.") from None
            answer = self.emulator.put_diagnostic_setting(resource, name, body)
        payload = json.dumps(answer).encode()
        self._send_raw(200, payload if fault is None else mangle(fault, payload))

    def _challenge(self) -> ApiError:
        header = (f'Bearer authorization="https://login.microsoftonline.com/{self.emulator.tenant_id}", '
                  f'resource="{VAULT_AUDIENCE}"')
        return ApiError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                        headers={"WWW-Authenticate": header})

    def _fault(self, authorization: str | None, action: str, resource: str, unauthorized: ApiError) -> Fault | None:
        """Serve the next queued fault, if any, in place of the real answer; a fault that
        rewrites the real answer (wrong types, missing fields) is returned for the caller to apply."""
        fault = self.emulator.faults.take()
        if fault is None or fault in MANGLING:
            return fault
        if fault is Fault.MALFORMED:
            self._send_raw(200, GARBAGE)
            raise _Dropped()
        if fault is Fault.THROTTLE:
            raise ApiError(429, "Throttled", "Request was not processed because too many requests were "
                           "received. Reason: VaultRequestTypeLimitReached", headers={"Retry-After": "1"})
        if fault is Fault.FORBIDDEN:
            raise ApiError(403, "Forbidden",
                           "Caller is not authorized to perform action on resource.\r\n"
                           f"Caller: appid={self.emulator.client_id}\r\nAction: '{action}'\r\n"
                           f"Resource: '{self.emulator.vault_resource_id.lower()}{resource}'\r\n"
                           "Assignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'\r\n",
                           "ForbiddenByRbac")
        if fault is Fault.UNAUTHENTICATED:
            self.emulator.revoke(authorization)
            raise unauthorized
        if fault is Fault.SERVER_ERROR:
            raise ApiError(503, "ServiceUnavailable", "The service is temporarily unavailable; retry later.")
        if fault is Fault.DROP:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"value": [')
            self.wfile.flush()
        else:  # Fault.HANG
            self.emulator.faults.hang()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client gave up first
            pass
        raise _Dropped()


class _Dropped(Exception):
    """The connection was cut on purpose; nothing more is sent."""


def _make_certificates(folder: Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Citadel Azure emulator CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "server.pem", folder / "server.key", folder / "ca.pem")
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return str(paths[0]), str(paths[1]), str(paths[2])
