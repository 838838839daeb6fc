"""Azure Key Vault through azure-keyvault-secrets, azure-identity and the ARM pipeline.

The inventory comes from `GET /secrets` pages of 25 (Key Vault's largest page), which carry every
date and tag Citadel needs; each page is one `StoreClient.call`, so it is counted and a retry
resumes from the same continuation token. The SDK's own retries are switched off.

Key Vault has no rotation schedule of its own: Citadel keeps it in the tag `rotation-period`
(`30d`) and sets the secret's expiry to the next due date, which Key Vault's near-expiry events
and Azure Policy already watch. Tags belong to a version, so a new version carries the current
version's tags over.

Credentials come from `DefaultAzureCredential` (environment, workload or managed identity,
`az login`...), never from citadel.toml.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
    map_error,
)
from azure.core.pipeline.policies import UserAgentPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.identity import CredentialUnavailableError, DefaultAzureCredential
from azure.keyvault.secrets import SecretClient, SecretProperties
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

from citadel_tui.core import errors
from citadel_tui.core.config import SourceConfig
from citadel_tui.core.model import AuditChange, AuditState, AuditStatus, SecretMeta
from citadel_tui.providers.base import UNREADABLE, StoreClient

PAGE_SIZE = 25
"""Key Vault's largest page of secrets."""
ROTATION_TAG = "rotation-period"
DEFAULT_MANAGEMENT_URL = "https://management.azure.com"
DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"
AUDIT_CATEGORY = "auditevent"
AUDIT_GROUPS = {"audit", "alllogs"}
AUDIT_SETTING = "citadel-audit"
"""The diagnostic setting enable_audit writes (replaced, never duplicated, when run again)."""
ARM_ACTIONS = {"ListDiagnosticSettings", "PutDiagnosticSetting"}
"""Requests that go to Azure Resource Manager, not to the vault."""

_SECRETS = "Microsoft.KeyVault/vaults/secrets/"
DATA_ACTIONS = {
    "GetSecrets": _SECRETS + "readMetadata/action",
    "GetSecretVersions": _SECRETS + "readMetadata/action",
    "GetSecret": _SECRETS + "getSecret/action",
    "SetSecret": _SECRETS + "setSecret/action",
    "UpdateSecret": _SECRETS + "update/action",
    "ListDiagnosticSettings": "Microsoft.Insights/diagnosticSettings/read",
    "PutDiagnosticSetting": "Microsoft.Insights/diagnosticSettings/write",
}
"""The RBAC data action each request needs, for 403 messages that do not name it."""

_PERIOD = re.compile(r"\s*(\d+)\s*d?\s*", re.IGNORECASE)
_DENIED_ACTION = re.compile(r"Action: '([^']+)'")
_AADSTS = re.compile(r"AADSTS\d+")


class AzureClient(StoreClient):
    kind = "azure"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.vault_url: str = config.option("vault_url", "").rstrip("/")
        self.management_url: str = config.option("management_url", DEFAULT_MANAGEMENT_URL).rstrip("/")
        self._credential: DefaultAzureCredential | None = None
        self._secret_client: SecretClient | None = None
        self._arm_client: ARMPipelineClient | None = None

    # -- clients -------------------------------------------------------------------------------

    def _connection(self) -> dict[str, Any]:
        """Transport settings shared by the vault, ARM and token requests."""
        options: dict[str, Any] = {
            "connection_timeout": self.config.timeout_seconds,
            "read_timeout": self.config.timeout_seconds,
        }
        if self.config.option("ca_bundle"):
            options["connection_verify"] = self.config.option("ca_bundle")
        return options

    def _get_credential(self) -> DefaultAzureCredential:
        if self._credential is None:
            options = self._connection()
            authority = self.config.option("authority_host")
            if authority:
                # A private authority (Azure Stack, the emulator) is not in Microsoft's instance list.
                options.update(authority=authority, disable_instance_discovery=True)
            self._credential = DefaultAzureCredential(**options)
        return self._credential

    def _secrets(self) -> SecretClient:
        with self._lock:
            if self._secret_client is None:
                self._secret_client = SecretClient(
                    self.vault_url, self._get_credential(), retry_total=0,
                    # The challenge names vault.azure.net; a loopback vault cannot be a subdomain of it.
                    verify_challenge_resource=not _is_loopback(self.vault_url),
                    **self._connection(),
                )
            return self._secret_client

    def _arm(self) -> ARMPipelineClient:
        with self._lock:
            if self._arm_client is None:
                self._arm_client = ARMPipelineClient(
                    base_url=self.management_url,
                    policies=[
                        UserAgentPolicy(sdk_moniker="citadel-tui"),
                        ARMChallengeAuthenticationPolicy(self._get_credential(), self.management_url + "/.default"),
                    ],
                    transport=RequestsTransport(**self._connection()),
                )
            return self._arm_client

    def reset_credentials(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for client in (self._secret_client, self._arm_client, self._credential):
                if client is not None:
                    client.close()
            self._secret_client = self._arm_client = self._credential = None

    # -- operations ------------------------------------------------------------------------------

    def list_secrets(self, prefix: str) -> Iterator[SecretMeta]:
        token: str | None = None
        while True:
            page, token = self.call("GetSecrets", lambda t=token: self._secret_page(t), prefix or "*")
            for props in page:
                # Names are case-insensitive in Key Vault, so prefixes are too.
                if props.name.lower().startswith(prefix.lower()):
                    yield _meta(props)
            if not token:
                return

    def _secret_page(self, token: str | None) -> tuple[list[SecretProperties], str | None]:
        """One page of secret properties and the token of the next (None on the last page)."""
        pages = self._secrets().list_properties_of_secrets(max_page_size=PAGE_SIZE).by_page(continuation_token=token)
        items = list(next(pages))
        return items, pages.continuation_token

    def read_value(self, name: str) -> str:
        return self.call("GetSecret", lambda: self._secrets().get_secret(name).value or "", name)

    def create_secret(self, name: str, value: str, tags: Mapping[str, str]) -> None:
        # set_secret would add a version to an existing secret: look first.
        try:
            self.call("GetSecretVersions", lambda: list(next(
                self._secrets().list_properties_of_secret_versions(name, max_page_size=1).by_page())), name)
        except errors.SecretNotFoundError:
            self.call("SetSecret", lambda: self._secrets().set_secret(name, value, tags=dict(tags)), name)
            return
        raise errors.SecretExistsError(
            f"secret {name!r} already exists in {self.vault_url}; Citadel never overwrites it",
            source=self.config.name, action="SetSecret",
        )

    def add_version(self, name: str, value: str) -> None:
        current = self._current_properties(name)
        tags = current.tags or {}
        period = _period(tags.get(ROTATION_TAG))
        expires = datetime.now(timezone.utc) + timedelta(days=period) if period else current.expires_on
        self.call(
            "SetSecret",
            lambda: self._secrets().set_secret(
                name, value, tags=tags, content_type=current.content_type, expires_on=expires),
            name,
        )

    def configure_rotation(self, name: str, period_days: int) -> None:
        current = self._current_properties(name)
        tags = {**(current.tags or {}), ROTATION_TAG: f"{period_days}d"}
        due = datetime.now(timezone.utc) + timedelta(days=period_days)
        self.call(
            "UpdateSecret",
            lambda: self._secrets().update_secret_properties(name, current.version, tags=tags, expires_on=due),
            name,
        )

    def _current_properties(self, name: str) -> SecretProperties:
        """The current version's properties (Key Vault has no metadata-only read of one secret)."""
        return self.call("GetSecret", lambda: self._secrets().get_secret(name).properties, name)

    def audit_status(self) -> AuditStatus:
        """On when a diagnostic setting of the vault sends its AuditEvent logs somewhere."""
        resource_id = self.config.option("vault_resource_id")
        if not resource_id:
            return AuditStatus(AuditState.UNKNOWN, "set vault_resource_id = \"/subscriptions/SUB/resourceGroups/RG/"
                               "providers/Microsoft.KeyVault/vaults/NAME\" to check the vault's diagnostic settings")
        try:
            settings = self.call("ListDiagnosticSettings", lambda: self._diagnostic_settings(resource_id), resource_id)
        except errors.SourceError as exc:
            return AuditStatus(AuditState.UNKNOWN, str(exc))
        auditing = [s.get("name", "?") for s in settings if _sends_audit_events(s)]
        if auditing:
            return AuditStatus(AuditState.ON, "AuditEvent logs sent by diagnostic setting(s): " + ", ".join(auditing))
        if settings:
            return AuditStatus(AuditState.OFF, "no diagnostic setting sends the AuditEvent category: "
                               + ", ".join(s.get("name", "?") for s in settings))
        return AuditStatus(AuditState.OFF, "the vault has no diagnostic setting; add one sending the AuditEvent "
                           "category (`az monitor diagnostic-settings create --resource VAULT_ID ...`)")

    def audit_change(self) -> AuditChange | None:
        """Diagnostic setting citadel-audit sending AuditEvent to `audit_workspace_id`; None
        without it or without vault_resource_id."""
        resource_id = self.config.option("vault_resource_id")
        workspace = self.config.option("audit_workspace_id")
        if not resource_id or not workspace:
            return None
        return AuditChange(f"diagnostic setting {AUDIT_SETTING}", (
            ("vault", resource_id),
            ("logs", "AuditEvent (every secret read and change)"),
            ("destination", f"Log Analytics workspace {workspace}"),
            ("setting", f"{AUDIT_SETTING} (created, or replaced if it exists with another destination)"),
            ("permission", DATA_ACTIONS["PutDiagnosticSetting"]),
        ))

    def enable_audit(self) -> None:
        """PUT diagnostic setting citadel-audit unless it already sends AuditEvent to the workspace:
        a second run only reads."""
        resource_id = self.config.option("vault_resource_id")
        workspace = self.config.option("audit_workspace_id")
        if not resource_id or not workspace:
            missing = [k for k, v in (("vault_resource_id", resource_id), ("audit_workspace_id", workspace)) if not v]
            raise errors.AuditNotSupportedError(
                f"source {self.config.name!r}: set {' and '.join(missing)} (the vault's ARM resource id and the "
                "Log Analytics workspace resource id) so that Citadel can add a diagnostic setting sending the "
                "vault's AuditEvent logs"
            )
        settings = self.call("ListDiagnosticSettings", lambda: self._diagnostic_settings(resource_id), resource_id)
        try:
            done = any(_is_audit_setting(setting, workspace) for setting in settings)
        except UNREADABLE as exc:
            raise errors.MalformedResponseError(
                f"Azure answered ListDiagnosticSettings on {resource_id!r} with data Citadel cannot read "
                f"({type(exc).__name__}); check management_url",
                source=self.config.name, action="ListDiagnosticSettings",
            ) from None
        if done:
            return
        body = {"properties": {"workspaceId": workspace, "logs": [{"category": "AuditEvent", "enabled": True}]}}
        self.call("PutDiagnosticSetting", lambda: self._put_diagnostic_setting(resource_id, body), resource_id)

    def _put_diagnostic_setting(self, resource_id: str, body: dict[str, Any]) -> None:
        request = HttpRequest(
            "PUT",
            f"{self.management_url}/{resource_id.strip('/')}/providers/Microsoft.Insights/diagnosticSettings/{AUDIT_SETTING}",
            params={"api-version": DIAGNOSTIC_SETTINGS_API}, json=body,
        )
        response = self._arm().send_request(request)
        if response.status_code not in (200, 201):
            map_error(response.status_code, response, {401: ClientAuthenticationError, 404: ResourceNotFoundError})
            raise HttpResponseError(response=response)

    def _diagnostic_settings(self, resource_id: str) -> list[dict[str, Any]]:
        client = self._arm()
        request = HttpRequest(
            "GET", f"{self.management_url}/{resource_id.strip('/')}/providers/Microsoft.Insights/diagnosticSettings",
            params={"api-version": DIAGNOSTIC_SETTINGS_API},
        )
        response = client.send_request(request)
        if response.status_code != 200:
            map_error(response.status_code, response, {401: ClientAuthenticationError, 404: ResourceNotFoundError})
            raise HttpResponseError(response=response)
        return list(response.json().get("value") or [])

    # -- errors ----------------------------------------------------------------------------------

    def translate(self, exc: Exception, action: str, resource: str) -> errors.SourceError:
        where = f"{action} on {resource!r}" if resource else action
        if isinstance(exc, CredentialUnavailableError) or (
            # DefaultAzureCredential reports "every credential unavailable" as a plain
            # ClientAuthenticationError; a rejected credential has an HTTP status or an AADSTS code.
            isinstance(exc, ClientAuthenticationError) and exc.status_code is None and not _AADSTS.search(str(exc))
        ):
            return errors.CredentialsMissingError(
                "no Azure credentials found: run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                "AZURE_CLIENT_SECRET, or run where a managed identity is assigned"
            )
        if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
            return errors.StoreTimeoutError(
                f"Azure did not answer {where} within {self.config.timeout_seconds:g}s"
            )
        if isinstance(exc, DecodeError):
            return errors.StoreUnavailableError(f"the connection to {self.vault_url} broke during {where}")
        if isinstance(exc, ServiceRequestError):
            hint = " (if the vault uses a private CA, set ca_bundle)" if "SSL" in str(exc) else ""
            return errors.StoreUnavailableError(f"cannot reach {self._endpoint(action)} for {where}{hint}")
        if isinstance(exc, ServiceResponseError):
            return errors.StoreUnavailableError(f"the connection to {self._endpoint(action)} broke during {where}")
        if isinstance(exc, HttpResponseError):
            return self._translate_status(exc, action, resource, where)
        return errors.MalformedResponseError(
            f"unexpected answer to {where} ({type(exc).__name__}): the store, or a proxy in front of it, "
            "sent a body Citadel cannot parse"
        )

    def _translate_status(self, exc: HttpResponseError, action: str, resource: str, where: str) -> errors.SourceError:
        status = exc.status_code or 0
        code, inner, message = _error_fields(exc)
        if status == 401 or (isinstance(exc, ClientAuthenticationError) and not status):
            # Token endpoint errors carry an AADSTS code that says what is wrong with the credential.
            aad = _AADSTS.search(str(exc.message or ""))
            detail = f" ({aad.group(0)})" if aad else f" ({code})" if code else ""
            return errors.AuthenticationError(
                f"Azure rejected the credentials for {where}{detail}; sign in again (`az login`) "
                "or check AZURE_CLIENT_ID/AZURE_CLIENT_SECRET"
            )
        if status == 403 and inner == "SecretDisabled":
            return errors.PermissionDeniedError(
                f"secret {resource!r} is disabled; enable it (`az keyvault secret set-attributes --enabled true`)"
            )
        if status == 403:
            named = _DENIED_ACTION.search(message)
            data_action = named.group(1) if named else DATA_ACTIONS.get(action, action)
            if action in ARM_ACTIONS:
                role = "Monitoring Contributor" if action == "PutDiagnosticSetting" else "Monitoring Reader"
                return errors.PermissionDeniedError(
                    f"access denied: the identity lacks {data_action} on {resource}; assign a role that grants "
                    f"it on the vault (e.g. {role})"
                )
            return errors.PermissionDeniedError(
                f"access denied: the identity lacks {data_action} on {self.vault_url}/secrets/{resource}; assign "
                "a role that grants it (e.g. Key Vault Secrets User or Officer) or add the permission to the "
                "vault's access policy"
            )
        if status == 404 and action in ARM_ACTIONS:
            return errors.SecretNotFoundError(f"no vault {resource!r} in Azure Resource Manager; check vault_resource_id")
        if status == 404:
            return errors.SecretNotFoundError(f"no secret {resource!r} in {self.vault_url}")
        if status == 409:
            return errors.SecretExistsError(
                f"secret {resource!r} is deleted but recoverable in {self.vault_url}, so its name cannot be reused; "
                f"recover it (`az keyvault secret recover --name {resource}`) or purge it "
                f"(`az keyvault secret purge --name {resource}`)"
            )
        if status == 429:
            return errors.ThrottledError(f"Azure throttled {where} ({code or status})")
        if status >= 500:
            return errors.StoreUnavailableError(f"Azure failed {where} with HTTP {status} {code}; try again later")
        if action in ARM_ACTIONS and message:
            # ARM requests carry resource ids, never a value: their messages say what to fix.
            return errors.SourceError(f"Azure refused {where}: HTTP {status} {code}: {message}")
        # Other messages may quote request content, so only the status and code are shown.
        return errors.SourceError(f"Azure refused {where}: HTTP {status} {code}")

    def _endpoint(self, action: str) -> str:
        return self.management_url if action in ARM_ACTIONS else self.vault_url


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_fields(exc: HttpResponseError) -> tuple[str, str, str]:
    """(code, inner code, message) of a Key Vault or ARM error body; empty strings when absent."""
    try:
        body = exc.response.json() if exc.response is not None else {}
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", ""
    inner = error.get("innererror") or {}
    return str(error.get("code") or ""), str(inner.get("code") or ""), str(error.get("message") or "")


def _period(tag: str | None) -> int | None:
    match = _PERIOD.fullmatch(tag or "")
    days = int(match.group(1)) if match else 0
    return days or None


def _is_audit_setting(setting: dict[str, Any], workspace: str) -> bool:
    """Whether this is Citadel's setting, already sending AuditEvent to `workspace`."""
    destination = str((setting.get("properties") or {}).get("workspaceId") or "")
    return (str(setting.get("name") or "").lower() == AUDIT_SETTING and _sends_audit_events(setting)
            and destination.lower() == workspace.lower())


def _sends_audit_events(setting: dict[str, Any]) -> bool:
    logs = (setting.get("properties") or {}).get("logs") or []
    return any(
        log.get("enabled") and (
            str(log.get("category") or "").lower() == AUDIT_CATEGORY
            or str(log.get("categoryGroup") or "").lower() in AUDIT_GROUPS
        )
        for log in logs
    )


def _meta(props: SecretProperties) -> SecretMeta:
    tags = dict(props.tags or {})
    period = _period(tags.get(ROTATION_TAG))
    updated = props.updated_on
    details = {"id": props.id or ""}
    for label, value in (("content_type", props.content_type), ("not_before", props.not_before),
                         ("recovery_level", props.recovery_level), ("managed", props.managed)):
        if value:
            if isinstance(value, Enum):  # recovery_level is an enum of the SDK
                value = value.value
            details[label] = value.isoformat() if isinstance(value, datetime) else str(value)
    return SecretMeta(
        name=props.name or "",
        created=props.created_on,
        last_changed=updated,
        next_rotation=updated + timedelta(days=period) if period and updated else None,
        rotation_enabled=period is not None,
        rotation_period_days=period,
        expires=props.expires_on,
        enabled=props.enabled is not False,
        tags=tags,
        details=details,
    )
