"""GCP Secret Manager through the official gRPC client.

A secret's metadata (labels, annotations, rotation, expiry) comes from `ListSecrets` in pages of
25,000, but its dates of change and whether it has an enabled version live on its versions, so the
inventory adds one `ListSecretVersions` per secret, made concurrently. The client library's own
retries are switched off (`retry=None`) so that `StoreClient.call` is the one place that retries,
and every request is counted.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from google.api_core import exceptions as api_errors
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_errors
from google.cloud import secretmanager_v1
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)
from google.protobuf import field_mask_pb2

from citadel_tui.core import errors
from citadel_tui.core.config import SourceConfig
from citadel_tui.core.model import AuditChange, AuditState, AuditStatus, SecretMeta
from citadel_tui.core.naming import ENV_KEY_TAG
from citadel_tui.providers.base import StoreClient

PAGE_SIZE = 25000
"""The largest page ListSecrets and ListSecretVersions return."""
SECRETMANAGER = "secretmanager.googleapis.com"
PERMISSIONS = {
    "ListSecrets": "secretmanager.secrets.list",
    "GetSecret": "secretmanager.secrets.get",
    "CreateSecret": "secretmanager.secrets.create",
    "DeleteSecret": "secretmanager.secrets.delete",
    "UpdateSecret": "secretmanager.secrets.update",
    "AddSecretVersion": "secretmanager.versions.add",
    "AccessSecretVersion": "secretmanager.versions.access",
    "ListSecretVersions": "secretmanager.versions.list",
    "GetIamPolicy": "resourcemanager.projects.getIamPolicy",
    "SetIamPolicy": "resourcemanager.projects.setIamPolicy",
}
"""The IAM permission each request needs, named when it is denied."""
AUDIT_LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
"""The Data Access audit logs enable_audit turns on for Secret Manager (value reads are DATA_READ)."""
_CARRIES_VALUE = {"AddSecretVersion"}
"""Requests whose payload is a secret value: the server's error text is never repeated for them."""
_ENABLED = secretmanager_v1.SecretVersion.State.ENABLED

# The SDK's DEBUG records carry whole request and response payloads, secret values included.
logging.getLogger("google.cloud.secretmanager_v1").setLevel(logging.INFO)


class GcpClient(StoreClient):
    kind = "gcp"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.project: str = config.option("project")
        location = config.option("location")
        self.parent = f"projects/{self.project}" + (f"/locations/{location}" if location else "")
        self._secrets_client: secretmanager_v1.SecretManagerServiceClient | None = None
        self._projects_client: Any = None
        self._retired: list[Any] = []
        """Clients replaced by reset_credentials, closed in close() (calls may still be in flight)."""
        self._client_lock = threading.Lock()

    # -- clients ---------------------------------------------------------------------------

    def _secrets(self) -> secretmanager_v1.SecretManagerServiceClient:
        with self._client_lock:
            if self._secrets_client is None:
                endpoint = self.config.option("endpoint")
                location = self.config.option("location")
                if endpoint:
                    # A channel handed to the transport means no credentials are looked up: anonymous.
                    transport = SecretManagerServiceGrpcTransport(channel=_insecure_channel(endpoint))
                    self._secrets_client = secretmanager_v1.SecretManagerServiceClient(transport=transport)
                else:
                    options = ClientOptions(api_endpoint=f"secretmanager.{location}.rep.googleapis.com") if location else None
                    self._secrets_client = secretmanager_v1.SecretManagerServiceClient(client_options=options)
            return self._secrets_client

    def _projects(self) -> Any:
        """Resource Manager's Projects client (audit configuration); imported only when asked."""
        from google.cloud import resourcemanager_v3
        from google.cloud.resourcemanager_v3.services.projects.transports import ProjectsGrpcTransport

        with self._client_lock:
            if self._projects_client is None:
                endpoint = self.config.option("endpoint")
                if endpoint:
                    transport = ProjectsGrpcTransport(channel=_insecure_channel(endpoint))
                    self._projects_client = resourcemanager_v3.ProjectsClient(transport=transport)
                else:
                    self._projects_client = resourcemanager_v3.ProjectsClient()
            return self._projects_client

    def reset_credentials(self) -> None:
        """Build new clients (new channel, credentials looked up again) for the next request."""
        with self._client_lock:
            self._retired.extend(c for c in (self._secrets_client, self._projects_client) if c is not None)
            self._secrets_client = self._projects_client = None

    def close(self) -> None:
        self.reset_credentials()
        with self._client_lock:
            retired, self._retired = self._retired, []
        for client in retired:
            client.transport.close()

    def _rpc(self, action: str, resource: str, method: str, request: Mapping[str, Any]) -> Any:
        """One Secret Manager request through `call`: no SDK retry, the source's timeout."""
        timeout = self.config.timeout_seconds
        return self.call(
            action,
            lambda: getattr(self._secrets(), method)(request=dict(request), retry=None, timeout=timeout),
            resource,
        )

    # -- StoreClient -----------------------------------------------------------------------

    def list_secrets(self, prefix: str) -> Iterator[SecretMeta]:
        secrets: list[secretmanager_v1.Secret] = []
        token = ""
        while True:
            # The pager would fetch later pages by itself, uncounted: read one page's fields only.
            page = self._rpc("ListSecrets", self.parent, "list_secrets",
                             {"parent": self.parent, "page_size": PAGE_SIZE, "page_token": token})
            secrets.extend(s for s in page.secrets if _short(s.name).startswith(prefix))
            token = page.next_page_token
            if not token:
                break
        versions = self.map_concurrent(lambda s: self._versions(s.name), secrets)
        for secret, secret_versions in zip(secrets, versions):
            yield _meta(secret, secret_versions)

    def _versions(self, secret_name: str) -> list[secretmanager_v1.SecretVersion]:
        versions: list[secretmanager_v1.SecretVersion] = []
        token = ""
        while True:
            page = self._rpc("ListSecretVersions", secret_name, "list_secret_versions",
                             {"parent": secret_name, "page_size": PAGE_SIZE, "page_token": token})
            versions.extend(page.versions)
            token = page.next_page_token
            if not token:
                return versions

    def read_value(self, name: str) -> str:
        version = f"{self._name(name)}/versions/latest"
        response = self._rpc("AccessSecretVersion", version, "access_secret_version", {"name": version})
        if not response.name:  # Secret Manager always names the version it returns
            raise errors.MalformedResponseError(
                f"GCP answered AccessSecretVersion on {version} without the version's name; "
                "check that `endpoint` points at Secret Manager",
                source=self.config.name, action="AccessSecretVersion",
            )
        try:
            return response.payload.data.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.MalformedResponseError(
                f"secret {name!r} holds binary data, not UTF-8 text; Citadel manages text values only",
                source=self.config.name, action="AccessSecretVersion",
            ) from None

    def create_secret(self, name: str, value: str, tags: Mapping[str, str]) -> None:
        """CreateSecret then AddSecretVersion; if the value cannot be added, the empty secret just
        created is deleted again so that a retry is not refused as 'already exists'."""
        labels = {k: v for k, v in tags.items() if k != ENV_KEY_TAG and _is_label(k, v)}
        annotations = {k: v for k, v in tags.items() if k not in labels}
        secret: dict[str, Any] = {"labels": labels, "annotations": annotations}
        if not self.config.option("location"):
            secret["replication"] = {"automatic": {}}  # regional secrets take no replication policy
        full = self._name(name)
        self._rpc("CreateSecret", full, "create_secret",
                  {"parent": self.parent, "secret_id": name, "secret": secret})
        try:
            self.add_version(name, value)
        except errors.SourceError as exc:
            try:
                self._rpc("DeleteSecret", full, "delete_secret", {"name": full})
            except errors.SourceError:
                exc.args = (f"{exc}; the new secret {full} has no value and could not be deleted: "
                            "delete it before trying again",)
            raise

    def add_version(self, name: str, value: str) -> None:
        full = self._name(name)
        self._rpc("AddSecretVersion", full, "add_secret_version",
                  {"parent": full, "payload": {"data": value.encode("utf-8")}})

    def configure_rotation(self, name: str, period_days: int) -> None:
        """Rotation on GCP is a schedule of Pub/Sub notifications, so it needs `rotation_topic`;
        the secret's other topics are kept."""
        topic = self.config.option("rotation_topic")
        if not topic:
            raise errors.SourceError(
                f"source {self.config.name!r} has no rotation_topic: GCP rotation publishes to Pub/Sub; set "
                f"rotation_topic = \"projects/{self.project}/topics/NAME\" (the Secret Manager service agent "
                "needs pubsub.topics.publish on it)",
                source=self.config.name, action="UpdateSecret",
            )
        if "/" not in topic:
            topic = f"projects/{self.project}/topics/{topic}"
        full = self._name(name)
        current = self._rpc("GetSecret", full, "get_secret", {"name": full})
        topics = [t.name for t in current.topics]
        period = dt.timedelta(days=period_days)
        secret = {
            "name": full,
            "topics": [{"name": t} for t in (topics if topic in topics else [*topics, topic])],
            "rotation": {"rotation_period": period, "next_rotation_time": dt.datetime.now(dt.timezone.utc) + period},
        }
        mask = field_mask_pb2.FieldMask(paths=["rotation", "topics"])
        self._rpc("UpdateSecret", full, "update_secret", {"secret": secret, "update_mask": mask})

    def audit_status(self) -> AuditStatus:
        """On when the project's IAM policy enables DATA_READ audit logs for Secret Manager
        (value reads are Data Access events; admin activity is always logged)."""
        if not _has_resource_manager():
            return AuditStatus(AuditState.UNKNOWN, "reading the audit configuration needs "
                               "google-cloud-resource-manager; pip install google-cloud-resource-manager")
        project = f"projects/{self.project}"
        timeout = self.config.timeout_seconds
        try:
            policy = self.call(
                "GetIamPolicy",
                lambda: self._projects().get_iam_policy(request={"resource": project}, retry=None, timeout=timeout),
                project,
            )
        except errors.SourceError as exc:
            return AuditStatus(AuditState.UNKNOWN, str(exc))
        for config in policy.audit_configs:
            if config.service not in (SECRETMANAGER, "allServices"):
                continue
            for log in config.audit_log_configs:
                if log.log_type == log.LogType.DATA_READ:
                    exempted = f"; not logged for {', '.join(log.exempted_members)}" if log.exempted_members else ""
                    return AuditStatus(AuditState.ON, f"Data Access (DATA_READ) audit logs on for "
                                       f"{config.service} in {project}{exempted}")
        return AuditStatus(AuditState.OFF, f"no DATA_READ audit log for {SECRETMANAGER} in {project}'s IAM "
                           "policy: value reads are not logged; enable Data Access logs for Secret Manager "
                           "(IAM & Admin > Audit Logs); a folder or organization policy may still enable them")

    def audit_change(self) -> AuditChange | None:
        """Data Access audit logs for Secret Manager in the project's IAM policy; None when
        google-cloud-resource-manager (the Projects API client) is not installed."""
        if not _has_resource_manager():
            return None
        project = f"projects/{self.project}"
        return AuditChange(f"{project} IAM policy", (
            ("service", SECRETMANAGER),
            ("log types", ", ".join(AUDIT_LOG_TYPES) + " (the missing ones are added)"),
            ("policy", f"{project}: auditConfigs only (update mask), sent with the etag read"),
            ("concurrency", "a policy changed meanwhile is refused (ABORTED), never overwritten"),
            ("kept", "every binding, every other service's audit config, exempted members"),
            ("permission", PERMISSIONS["SetIamPolicy"]),
        ))

    def enable_audit(self) -> None:
        """Read-modify-write of the project's IAM policy: add the missing Secret Manager audit log
        types, send the policy back with the etag read and update mask auditConfigs. Nothing is
        written when every type is already there."""
        if not _has_resource_manager():
            raise errors.AuditNotSupportedError(
                f"source {self.config.name!r}: changing the project's audit configuration needs "
                "google-cloud-resource-manager; pip install google-cloud-resource-manager"
            )
        from google.iam.v1 import policy_pb2

        project = f"projects/{self.project}"
        timeout = self.config.timeout_seconds
        # Version 3 so that conditional role bindings come back whole: the policy is sent back.
        policy = self.call("GetIamPolicy", lambda: self._projects().get_iam_policy(
            request={"resource": project, "options": {"requested_policy_version": 3}},
            retry=None, timeout=timeout), project)
        config = next((c for c in policy.audit_configs if c.service == SECRETMANAGER), None)
        if config is None:
            config = policy.audit_configs.add(service=SECRETMANAGER)
        present = {log.log_type for log in config.audit_log_configs}
        missing = [policy_pb2.AuditLogConfig.LogType.Value(name) for name in AUDIT_LOG_TYPES]
        missing = [log_type for log_type in missing if log_type not in present]
        if not missing:
            return
        for log_type in missing:
            config.audit_log_configs.add(log_type=log_type)
        mask = field_mask_pb2.FieldMask(paths=["auditConfigs"])
        self.call("SetIamPolicy", lambda: self._projects().set_iam_policy(
            request={"resource": project, "policy": policy, "update_mask": mask},
            retry=None, timeout=timeout), project)

    def translate(self, exc: Exception, action: str, resource: str) -> errors.SourceError:
        where = f"{action} on {resource}" if resource else action
        if isinstance(exc, auth_errors.DefaultCredentialsError):
            return errors.CredentialsMissingError(
                f"no Google credentials ({exc}); run `gcloud auth application-default login` "
                "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
            )
        if isinstance(exc, auth_errors.RefreshError):
            return errors.AuthenticationError(
                f"Google refused to refresh the credentials ({exc}); run `gcloud auth application-default login`"
            )
        if isinstance(exc, auth_errors.TransportError):
            return errors.StoreUnavailableError(f"cannot reach Google's token endpoint during {where}")
        if not isinstance(exc, api_errors.GoogleAPICallError):
            return errors.MalformedResponseError(f"unexpected failure of {where} ({type(exc).__name__})")
        code = exc.grpc_status_code
        detail = "" if action in _CARRIES_VALUE else f": {exc.message}"
        if code is grpc.StatusCode.PERMISSION_DENIED:
            permission = PERMISSIONS.get(action, action)
            return errors.PermissionDeniedError(
                f"permission denied: the credentials lack {permission} on {resource or self.parent} "
                "(or it does not exist)"
            )
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return errors.AuthenticationError(f"GCP rejected the credentials for {where}{detail}")
        if code is grpc.StatusCode.NOT_FOUND:
            return errors.SecretNotFoundError(f"GCP has no {resource or 'such resource'} ({action}){detail}")
        if code is grpc.StatusCode.ALREADY_EXISTS:
            return errors.SecretExistsError(f"secret {resource} already exists; Citadel never overwrites it")
        if code is grpc.StatusCode.ABORTED and action == "SetIamPolicy":
            return errors.ConcurrentChangeError(
                f"the IAM policy of {resource} changed after Citadel read it (etag mismatch, ABORTED); "
                "nothing was written: run the audit step again to re-read the policy and apply the change"
            )
        if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
            return errors.ThrottledError(f"GCP throttled {where} (RESOURCE_EXHAUSTED)")
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return errors.StoreTimeoutError(f"GCP did not answer {where} within {self.config.timeout_seconds:g}s")
        if code is grpc.StatusCode.INTERNAL and "deserializ" in (exc.message or ""):
            return errors.MalformedResponseError(
                f"GCP answered {where} with bytes that are not a Secret Manager message; "
                "check that `endpoint` points at Secret Manager and not another gRPC service"
            )
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            return errors.StoreUnavailableError(f"GCP failed {where} with {code.name}{detail}; try again later")
        return errors.SourceError(f"GCP refused {where} with {code.name if code else exc.code}{detail}")

    # -- helpers ---------------------------------------------------------------------------

    def _name(self, secret_id: str) -> str:
        return f"{self.parent}/secrets/{secret_id}"


def _has_resource_manager() -> bool:
    """Whether google-cloud-resource-manager (optional: audit configuration only) is installed."""
    try:
        from google.cloud import resourcemanager_v3  # noqa: F401
    except ImportError:
        return False
    return True


def _insecure_channel(endpoint: str) -> grpc.Channel:
    """A plaintext channel with its own connection, so that a rebuilt client really reconnects."""
    return grpc.insecure_channel(endpoint, options=[
        ("grpc.max_receive_message_length", -1), ("grpc.use_local_subchannel_pool", 1),
    ])


def _short(resource: str) -> str:
    """The secret id of projects/P[/locations/L]/secrets/ID."""
    return resource.rsplit("/", 1)[-1]


def _is_label(key: str, value: str) -> bool:
    """GCP label syntax: lowercase letters, digits, _ and -, the key starting with a letter."""
    def ok(text: str) -> bool:
        return len(text) <= 63 and all(c.islower() or c.isdigit() or c in "_-" for c in text)

    return key[:1].islower() and ok(key) and ok(value)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.timezone.utc) if value is not None else None


def _meta(secret: secretmanager_v1.Secret, versions: list[secretmanager_v1.SecretVersion]) -> SecretMeta:
    enabled = [v for v in versions if v.state == _ENABLED]
    latest = max(enabled or versions, key=lambda v: v.create_time, default=None)
    period = secret.rotation.rotation_period if "rotation_period" in secret.rotation else None
    next_rotation = secret.rotation.next_rotation_time if "next_rotation_time" in secret.rotation else None
    details = {"resource": secret.name}
    if "automatic" in secret.replication:
        details["replication"] = "automatic"
    elif "user_managed" in secret.replication:
        details["replication"] = "user-managed: " + ", ".join(r.location for r in secret.replication.user_managed.replicas)
    if secret.topics:
        details["topics"] = ", ".join(t.name for t in secret.topics)
    if latest is not None:
        details["latest_version"] = _short(latest.name)
    return SecretMeta(
        name=_short(secret.name),
        created=_utc(secret.create_time),
        last_changed=_utc(latest.create_time) if latest is not None else None,
        next_rotation=_utc(next_rotation),
        rotation_enabled=next_rotation is not None,
        rotation_period_days=round(period.total_seconds() / 86400) if period else None,
        expires=_utc(secret.expire_time) if "expire_time" in secret else None,
        enabled=bool(enabled),
        versions=len(versions),
        tags={**secret.labels, **secret.annotations},
        details=details,
    )
