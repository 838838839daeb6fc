"""A loopback GCP Secret Manager (and Resource Manager's Get/SetIamPolicy) over plaintext gRPC.

Google ships no Secret Manager emulator, so this is a real gRPC server speaking the v1 service
with the client library's own message classes, so the unmodified `SecretManagerServiceClient`
(and `resourcemanager_v3.ProjectsClient`, for the audit configuration) run against it. Resource
names come back with the project NUMBER, as on GCP. Clients connect through a small TCP relay in
front of the gRPC port so that a DROP fault can reset the client's connection for real.

The IAM policy is one policy served for every project. As on GCP, SetIamPolicy refuses a stale
etag with ABORTED, changes only the fields its update mask names (bindings and etag by default)
and gives the policy a new etag on every write; an empty etag overwrites unconditionally.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import threading
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud.secretmanager_v1.types import resources, service
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import empty_pb2

from citadel_tui.emulators.faults import GARBAGE, Fault, FaultInjector

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
PROJECTS_SERVICE = "google.cloud.resourcemanager.v3.Projects"
MAX_PAGE_SIZE = 25000
"""ListSecrets and ListSecretVersions cap larger page sizes at this."""
MIN_ROTATION_PERIOD = dt.timedelta(hours=1)
UPDATABLE = {"labels", "annotations", "rotation", "topics", "expire_time"}
IAM_MASK_PATHS = {"bindings": "bindings", "etag": "etag", "auditConfigs": "audit_configs",
                  "audit_configs": "audit_configs"}
"""SetIamPolicy update mask paths (JSON or proto spelling) -> the Policy field they name."""
DEFAULT_IAM_MASK = ("bindings", "etag")
"""The mask SetIamPolicy applies when the request names none."""
CONCURRENT_POLICY_CHANGE = ("There were concurrent policy changes. Please retry the whole read-modify-write "
                            "with exponential backoff.")

FAULT_STATUS = {
    Fault.THROTTLE: (grpc.StatusCode.RESOURCE_EXHAUSTED,
                     "Quota exceeded for quota metric 'Requests' of service 'secretmanager.googleapis.com'."),
    Fault.FORBIDDEN: (grpc.StatusCode.PERMISSION_DENIED, "The caller does not have permission"),
    Fault.UNAUTHENTICATED: (grpc.StatusCode.UNAUTHENTICATED,
                            "Request had invalid authentication credentials. Expected OAuth 2 access token."),
    Fault.SERVER_ERROR: (grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable."),
}

PROTOBUF_FAULTS = {
    Fault.MALFORMED: GARBAGE,  # undecodable: the client fails with INTERNAL
    # Protobuf drops a field sent with the wrong wire type, so on gRPC both of these arrive as a
    # message whose fields are all missing.
    Fault.WRONG_TYPES: b"\x08\x01\x10\x01\x18\x01",
    Fault.MISSING_FIELDS: b"",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _raw_or(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """A response serializer that passes bytes through untouched, so a MALFORMED fault can put
    undecodable bytes on the wire where a protobuf message belongs."""
    return lambda message: message if isinstance(message, bytes) else serialize(message)


class RpcError(Exception):
    """An error answer with its gRPC status code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class StoredVersion:
    number: int
    payload: bytes
    create_time: dt.datetime
    state: str = "ENABLED"
    """ENABLED, DISABLED or DESTROYED (the payload is erased)."""


@dataclass
class StoredSecret:
    project: str
    location: str | None
    secret_id: str
    create_time: dt.datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    next_rotation: dt.datetime | None = None
    rotation_period: dt.timedelta | None = None
    expire_time: dt.datetime | None = None
    versions: list[StoredVersion] = field(default_factory=list)

    @property
    def latest(self) -> StoredVersion | None:
        return self.versions[-1] if self.versions else None


@dataclass(frozen=True)
class _Name:
    """A parsed resource name: projects/P[/locations/L][/secrets/S[/versions/V]]."""

    project: str
    location: str | None
    secret: str | None = None
    version: str | None = None


class GcpEmulator:
    """Secret Manager + Projects.GetIamPolicy on one plaintext gRPC endpoint of 127.0.0.1."""

    def __init__(self, *, max_page_size: int = MAX_PAGE_SIZE, workers: int = 32) -> None:
        self.max_page_size = max_page_size
        self.workers = workers
        self.faults = FaultInjector()
        self.secrets: dict[tuple[str, str | None, str], StoredSecret] = {}
        """Keyed by (project id, location or None, secret id)."""
        self.project_numbers: dict[str, str] = {}
        self._policy_revision = 0
        """Never reset: an etag read before a reset must not match a policy written after it."""
        self.policy = policy_pb2.Policy(version=1, etag=self._next_etag())
        """The IAM policy (bindings, audit configs, etag) GetIamPolicy serves for every project."""
        self.calls: list[str] = []
        """RPC method names in the order they were served (faulted ones included)."""
        self._after: dict[str, list[Callable[[], None]]] = {}
        self.lock = threading.RLock()
        self._server: grpc.Server | None = None
        self._relay: _Relay | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GcpEmulator:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="gcp-emulator"))
        server.add_generic_rpc_handlers((self._secret_manager_handler(), self._projects_handler()))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        self._relay = _Relay(port)
        return self

    def stop(self) -> None:
        self.faults.clear()  # releases hung requests
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def __enter__(self) -> GcpEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        assert self._relay is not None, "start() the emulator first"
        return f"127.0.0.1:{self._relay.port}"

    @property
    def connections(self) -> int:
        """TCP connections clients opened so far (a rebuilt channel opens a new one)."""
        return self._relay.connections if self._relay else 0

    def reset(self) -> None:
        """Forget every secret, IAM binding and audit config, fault, hook and call."""
        self.faults.clear()
        with self.lock:
            self.secrets.clear()
            self.policy = policy_pb2.Policy(version=1, etag=self._next_etag())
            self.calls.clear()
            self._after.clear()

    # -- seeding and inspection --------------------------------------------------------------

    def project_number(self, project: str) -> str:
        with self.lock:
            return self.project_numbers.setdefault(project, str(100000000000 + zlib.crc32(project.encode())))

    def seed_secret(
        self, project: str, secret_id: str, *values: str, location: str | None = None,
        create_time: dt.datetime | None = None, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, topics: list[str] | None = None,
        next_rotation: dt.datetime | None = None, rotation_period: dt.timedelta | None = None,
        expire_time: dt.datetime | None = None,
    ) -> StoredSecret:
        """Create a secret with one ENABLED version per value, all created at `create_time`."""
        made = create_time or _now()
        secret = StoredSecret(
            project=project, location=location, secret_id=secret_id, create_time=made,
            labels=dict(labels or {}), annotations=dict(annotations or {}), topics=list(topics or []),
            next_rotation=next_rotation, rotation_period=rotation_period, expire_time=expire_time,
        )
        with self.lock:
            self.secrets[(project, location, secret_id)] = secret
            for value in values:
                self.seed_version(project, secret_id, value, location=location, create_time=made)
        return secret

    def seed_version(
        self, project: str, secret_id: str, value: str | bytes, *, location: str | None = None,
        create_time: dt.datetime | None = None, state: str = "ENABLED",
    ) -> StoredVersion:
        """Add a version (ENABLED, DISABLED or DESTROYED) to a seeded secret; bytes are stored as is."""
        with self.lock:
            secret = self.secret(project, secret_id, location=location)
            version = StoredVersion(
                number=len(secret.versions) + 1,
                payload=b"" if state == "DESTROYED" else value if isinstance(value, bytes) else value.encode(),
                create_time=create_time or _now(), state=state,
            )
            secret.versions.append(version)
            return version

    def secret(self, project: str, secret_id: str, *, location: str | None = None) -> StoredSecret:
        with self.lock:
            return self.secrets[(project, location, secret_id)]

    def age_secret(
        self, name: str, *, created: dt.datetime, changed: dt.datetime, next_rotation: dt.datetime | None = None,
        expires: dt.datetime | None = None, disabled: bool = False, project: str | None = None,
    ) -> None:
        """Make a secret look older (the demo): creation, last version, schedule, expiry, state.

        Without `project`, the secret is looked up by id alone; it must then be unique."""
        with self.lock:
            matches = [s for (p, _, sid), s in self.secrets.items() if sid == name and project in (None, p)]
            if len(matches) != 1:
                raise KeyError(f"{len(matches)} secrets named {name!r}; pass project=")
            secret = matches[0]
            secret.create_time = created
            for version in secret.versions:
                version.create_time = created
                if disabled and version.state == "ENABLED":
                    version.state = "DISABLED"
            if secret.versions:
                secret.versions[-1].create_time = changed
            if next_rotation is not None:
                secret.next_rotation = next_rotation
            secret.expire_time = expires

    def set_audit_config(self, service_name: str, *log_types: str, exempted: tuple[str, ...] = ()) -> None:
        """Set the project's Data Access audit config for one service (`allServices` for all), as
        another administrator would: the policy gets a new etag."""
        config = policy_pb2.AuditConfig(service=service_name, audit_log_configs=[
            policy_pb2.AuditLogConfig(log_type=policy_pb2.AuditLogConfig.LogType.Value(log_type),
                                      exempted_members=exempted)
            for log_type in log_types
        ])
        with self.lock:
            kept = [c for c in self.policy.audit_configs if c.service != service_name]
            del self.policy.audit_configs[:]
            self.policy.audit_configs.extend(sorted([*kept, config], key=lambda c: c.service))
            self.policy.etag = self._next_etag()

    def add_binding(self, role: str, *members: str) -> None:
        """Grant a role to members in the IAM policy, as another administrator would (new etag)."""
        with self.lock:
            self.policy.bindings.add(role=role, members=members)
            self.policy.etag = self._next_etag()

    def audit_log_types(self, service_name: str) -> list[str]:
        """The log types of every audit config of one service, in order, duplicates kept."""
        with self.lock:
            return [policy_pb2.AuditLogConfig.LogType.Name(log.log_type)
                    for config in self.policy.audit_configs if config.service == service_name
                    for log in config.audit_log_configs]

    def after_call(self, method: str, action: Callable[[], None]) -> None:
        """Run `action` once, right after the next `method` RPC is answered: another writer
        acting between a client's read and its write (e.g. GetIamPolicy then SetIamPolicy)."""
        with self.lock:
            self._after.setdefault(method, []).append(action)

    def _next_etag(self) -> bytes:
        self._policy_revision += 1
        return b"BwX" + struct.pack(">Q", self._policy_revision)

    # -- gRPC plumbing -----------------------------------------------------------------------

    def _secret_manager_handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Callable[[Any], Any], Any, Any]] = {
            "ListSecrets": (self._list_secrets, service.ListSecretsRequest, service.ListSecretsResponse),
            "GetSecret": (self._get_secret, service.GetSecretRequest, resources.Secret),
            "CreateSecret": (self._create_secret, service.CreateSecretRequest, resources.Secret),
            "AddSecretVersion": (self._add_version, service.AddSecretVersionRequest, resources.SecretVersion),
            "AccessSecretVersion": (self._access_version, service.AccessSecretVersionRequest,
                                    service.AccessSecretVersionResponse),
            "ListSecretVersions": (self._list_versions, service.ListSecretVersionsRequest,
                                   service.ListSecretVersionsResponse),
            "UpdateSecret": (self._update_secret, service.UpdateSecretRequest, resources.Secret),
            "DeleteSecret": (self._delete_secret, service.DeleteSecretRequest, empty_pb2.Empty),
        }
        return grpc.method_handlers_generic_handler(SERVICE, {
            name: grpc.unary_unary_rpc_method_handler(
                self._serve(name, fn),
                request_deserializer=request.deserialize,
                response_serializer=_raw_or(response.serialize if hasattr(response, "serialize")
                                            else response.SerializeToString),
            )
            for name, (fn, request, response) in methods.items()
        })

    def _projects_handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Callable[[Any], Any], Any]] = {
            "GetIamPolicy": (self._get_iam_policy, iam_policy_pb2.GetIamPolicyRequest),
            "SetIamPolicy": (self._set_iam_policy, iam_policy_pb2.SetIamPolicyRequest),
        }
        return grpc.method_handlers_generic_handler(PROJECTS_SERVICE, {
            name: grpc.unary_unary_rpc_method_handler(
                self._serve(name, fn),
                request_deserializer=request.FromString,
                response_serializer=_raw_or(policy_pb2.Policy.SerializeToString),
            )
            for name, (fn, request) in methods.items()
        })

    def _serve(self, method: str, fn: Callable[[Any], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            with self.lock:
                self.calls.append(method)
            fault = self.faults.take()
            if fault in FAULT_STATUS:
                context.abort(*FAULT_STATUS[fault])
            if fault is Fault.DROP:
                assert self._relay is not None
                self._relay.reset_all()
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
            if fault is Fault.HANG:
                self.faults.hang()
                context.abort(grpc.StatusCode.UNAVAILABLE, "hung request released")
            if fault in PROTOBUF_FAULTS:
                return PROTOBUF_FAULTS[fault]  # sent as is by `_raw_or`, in place of the real message
            try:
                with self.lock:
                    answer = fn(request)
                    after = self._after.pop(method, [])
            except RpcError as exc:
                context.abort(exc.code, exc.message)
            for action in after:
                action()
            return answer
        return handler

    # -- names -------------------------------------------------------------------------------

    def _parse(self, name: str, *, want: str) -> _Name:
        """Parse a parent ("parent"), secret ("secret") or version ("version") resource name."""
        parts = name.split("/")
        if len(parts) < 2 or parts[0] != "projects" or not parts[1]:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name [{name}].")
        project = next((p for p, n in self.project_numbers.items() if n == parts[1]), parts[1])
        rest = parts[2:]
        location = None
        if rest[:1] == ["locations"]:
            if len(rest) < 2 or not rest[1]:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name [{name}].")
            location, rest = rest[1], rest[2:]
        shape = {"parent": 0, "secret": 2, "version": 4}[want]
        if len(rest) != shape or rest[0::2] != ["secrets", "versions"][: shape // 2] or not all(rest[1::2]):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name [{name}].")
        return _Name(project, location, *rest[1::2])

    def _name_of(self, secret: StoredSecret) -> str:
        where = f"projects/{self.project_number(secret.project)}"
        if secret.location:
            where += f"/locations/{secret.location}"
        return f"{where}/secrets/{secret.secret_id}"

    def _lookup(self, name: str) -> StoredSecret:
        parsed = self._parse(name, want="secret")
        secret = self.secrets.get((parsed.project, parsed.location, parsed.secret or ""))
        if secret is None:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found.")
        return secret

    def _version(self, name: str) -> tuple[StoredSecret, StoredVersion]:
        parsed = self._parse(name, want="version")
        secret = self._lookup(name.rsplit("/versions/", 1)[0])
        if parsed.version == "latest":
            version = secret.latest
        elif (parsed.version or "").isdigit() and 0 < int(parsed.version or 0) <= len(secret.versions):
            version = secret.versions[int(parsed.version or 0) - 1]
        else:
            version = None
        if version is None:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")
        return secret, version

    # -- messages ----------------------------------------------------------------------------

    def _secret_message(self, secret: StoredSecret) -> resources.Secret:
        message = resources.Secret(
            name=self._name_of(secret), create_time=secret.create_time,
            labels=secret.labels, annotations=secret.annotations,
            topics=[resources.Topic(name=topic) for topic in secret.topics],
        )
        if secret.location is None:
            message.replication = resources.Replication(automatic=resources.Replication.Automatic())
        if secret.next_rotation is not None or secret.rotation_period is not None:
            message.rotation = resources.Rotation(
                next_rotation_time=secret.next_rotation, rotation_period=secret.rotation_period,
            )
        if secret.expire_time is not None:
            message.expire_time = secret.expire_time
        return message

    def _version_message(self, secret: StoredSecret, version: StoredVersion) -> resources.SecretVersion:
        return resources.SecretVersion(
            name=f"{self._name_of(secret)}/versions/{version.number}",
            create_time=version.create_time,
            state=getattr(resources.SecretVersion.State, version.state),
        )

    def _page(self, items: list[Any], page_size: int, token: str) -> tuple[list[Any], str]:
        """One page and the next token: the token is the offset, opaque to clients."""
        if page_size < 0:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "page_size must not be negative.")
        try:
            start = int(token) if token else 0
        except ValueError:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid page token [{token}].") from None
        size = min(page_size or self.max_page_size, self.max_page_size)
        page = items[start:start + size]
        return page, str(start + size) if start + size < len(items) else ""

    # -- Secret Manager methods ---------------------------------------------------------------

    def _list_secrets(self, request: service.ListSecretsRequest) -> service.ListSecretsResponse:
        parent = self._parse(request.parent, want="parent")
        if request.filter:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "The emulator does not evaluate list filters.")
        matching = sorted(
            (s for (p, loc, _), s in self.secrets.items() if (p, loc) == (parent.project, parent.location)),
            key=lambda s: s.secret_id,
        )
        page, token = self._page(matching, request.page_size, request.page_token)
        return service.ListSecretsResponse(
            secrets=[self._secret_message(s) for s in page], next_page_token=token, total_size=len(matching),
        )

    def _get_secret(self, request: service.GetSecretRequest) -> resources.Secret:
        return self._secret_message(self._lookup(request.name))

    def _create_secret(self, request: service.CreateSecretRequest) -> resources.Secret:
        parent = self._parse(request.parent, want="parent")
        secret_id = request.secret_id
        if not secret_id or len(secret_id) > 255 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret_id):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Secret ID [{secret_id}] must be 1-255 letters, digits, underscores or hyphens.")
        key = (parent.project, parent.location, secret_id)
        if key in self.secrets:
            raise RpcError(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{request.parent}/secrets/{secret_id}] already exists.")
        body = request.secret
        is_automatic = "automatic" in body.replication
        if parent.location is None and not (is_automatic or "user_managed" in body.replication):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "Secret.replication is required.")
        if parent.location is not None and (is_automatic or "user_managed" in body.replication):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "Regional secrets must not set Secret.replication.")
        _check_labels(dict(body.labels))
        secret = StoredSecret(
            project=parent.project, location=parent.location, secret_id=secret_id, create_time=_now(),
            labels=dict(body.labels), annotations=dict(body.annotations),
        )
        self._apply_schedule(secret, body, {"rotation", "topics", "expire_time"})
        self.secrets[key] = secret
        return self._secret_message(secret)

    def _add_version(self, request: service.AddSecretVersionRequest) -> resources.SecretVersion:
        secret = self._lookup(request.parent)
        if len(request.payload.data) > 64 * 1024:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "Secret payload must be at most 65536 bytes.")
        version = StoredVersion(number=len(secret.versions) + 1, payload=request.payload.data, create_time=_now())
        secret.versions.append(version)
        return self._version_message(secret, version)

    def _access_version(self, request: service.AccessSecretVersionRequest) -> service.AccessSecretVersionResponse:
        secret, version = self._version(request.name)
        if version.state != "ENABLED":
            raise RpcError(grpc.StatusCode.FAILED_PRECONDITION,
                           f"Secret Version [{self._name_of(secret)}/versions/{version.number}] is in {version.state} state.")
        return service.AccessSecretVersionResponse(
            name=f"{self._name_of(secret)}/versions/{version.number}",
            payload=resources.SecretPayload(data=version.payload),
        )

    def _list_versions(self, request: service.ListSecretVersionsRequest) -> service.ListSecretVersionsResponse:
        if request.filter:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "The emulator does not evaluate list filters.")
        secret = self._lookup(request.parent)
        newest_first = list(reversed(secret.versions))
        page, token = self._page(newest_first, request.page_size, request.page_token)
        return service.ListSecretVersionsResponse(
            versions=[self._version_message(secret, v) for v in page], next_page_token=token,
            total_size=len(newest_first),
        )

    def _update_secret(self, request: service.UpdateSecretRequest) -> resources.Secret:
        secret = self._lookup(request.secret.name)
        paths = set(request.update_mask.paths)
        if not paths or not paths <= UPDATABLE:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"update_mask must name some of {', '.join(sorted(UPDATABLE))}; got {sorted(paths)}.")
        body = request.secret
        if "labels" in paths:
            _check_labels(dict(body.labels))
            secret.labels = dict(body.labels)
        if "annotations" in paths:
            secret.annotations = dict(body.annotations)
        self._apply_schedule(secret, body, paths)
        return self._secret_message(secret)

    def _apply_schedule(self, secret: StoredSecret, body: resources.Secret, paths: set[str]) -> None:
        """Rotation, topics and expiry, validated as Secret Manager does: rotation needs topics."""
        topics = [t.name for t in body.topics] if "topics" in paths else secret.topics
        for topic in topics:
            parts = topic.split("/")
            if len(parts) != 4 or parts[0] != "projects" or parts[2] != "topics" or not parts[1] or not parts[3]:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid topic name [{topic}]; expected projects/*/topics/*.")
        next_rotation, period = secret.next_rotation, secret.rotation_period
        if "rotation" in paths:
            rotation = body.rotation
            next_rotation = rotation.next_rotation_time if "next_rotation_time" in rotation else None
            period = rotation.rotation_period if "rotation_period" in rotation else None
            if period is not None and next_rotation is None:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                               "Rotation.next_rotation_time is required when rotation_period is set.")
            if period is not None and period < MIN_ROTATION_PERIOD:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "Rotation.rotation_period must be at least 3600s.")
            if next_rotation is not None and next_rotation < _now() + dt.timedelta(minutes=5):
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                               "Rotation.next_rotation_time must be at least 5 minutes in the future.")
        if next_rotation is not None and not topics:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           "Secret.topics must be set to configure rotation (rotation notifications go to Pub/Sub).")
        secret.topics, secret.next_rotation, secret.rotation_period = topics, next_rotation, period
        if "expire_time" in paths:
            secret.expire_time = body.expire_time if "expire_time" in body else None

    def _delete_secret(self, request: service.DeleteSecretRequest) -> empty_pb2.Empty:
        secret = self._lookup(request.name)
        del self.secrets[(secret.project, secret.location, secret.secret_id)]
        return empty_pb2.Empty()

    # -- Resource Manager ------------------------------------------------------------------

    def _get_iam_policy(self, request: iam_policy_pb2.GetIamPolicyRequest) -> policy_pb2.Policy:
        self._parse(request.resource, want="parent")
        answer = policy_pb2.Policy()
        answer.CopyFrom(self.policy)
        return answer

    def _set_iam_policy(self, request: iam_policy_pb2.SetIamPolicyRequest) -> policy_pb2.Policy:
        """Replace the fields the update mask names; a stale etag is refused, as on GCP."""
        self._parse(request.resource, want="parent")
        body = request.policy
        if body.etag and body.etag != self.policy.etag:
            raise RpcError(grpc.StatusCode.ABORTED, CONCURRENT_POLICY_CHANGE)
        fields = set()
        for path in request.update_mask.paths or DEFAULT_IAM_MASK:
            if path not in IAM_MASK_PATHS:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Invalid update_mask path [{path}]; allowed: bindings, etag, auditConfigs.")
            fields.add(IAM_MASK_PATHS[path])
        for binding in body.bindings if "bindings" in fields else ():
            if not binding.role.startswith(("roles/", "projects/", "organizations/")) or not binding.members:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Policy binding for role [{binding.role}] needs a role name and at least one member.")
        for config in body.audit_configs if "audit_configs" in fields else ():
            unspecified = any(log.log_type == policy_pb2.AuditLogConfig.LOG_TYPE_UNSPECIFIED
                              for log in config.audit_log_configs)
            if not config.service or unspecified:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Audit config for service [{config.service}] needs a service and a log type per log config.")
        updated = policy_pb2.Policy()
        updated.CopyFrom(self.policy)
        if "bindings" in fields:
            del updated.bindings[:]
            updated.bindings.extend(body.bindings)
        if "audit_configs" in fields:
            del updated.audit_configs[:]
            updated.audit_configs.extend(body.audit_configs)
        updated.version = max(updated.version, body.version)
        updated.etag = self._next_etag()
        self.policy = updated
        return self._get_iam_policy(iam_policy_pb2.GetIamPolicyRequest(resource=request.resource))


def _check_labels(labels: dict[str, str]) -> None:
    """Label keys start with a lowercase letter; keys and values hold lowercase letters, digits, _ and -."""
    def ok(text: str) -> bool:
        return len(text) <= 63 and all(c.islower() or c.isdigit() or c in "_-" for c in text)

    for key, value in labels.items():
        if not (key[:1].islower() and ok(key) and ok(value)):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Invalid label [{key}]: keys and values may hold lowercase letters, digits, _ and -.")


class _Relay:
    """TCP pass-through in front of the gRPC port, so a DROP fault can reset client connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._clients: dict[socket.socket, threading.Event] = {}
        """Open client connections -> set once the relay has closed them."""
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="gcp-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed
                return
            try:
                backend = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for sock in (client, backend):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._clients[client] = threading.Event()
            for src, dst in ((client, backend), (backend, client)):
                threading.Thread(target=self._pump, args=(src, dst, client, backend), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, client: socket.socket, backend: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        # Shut both down first: that wakes the other direction's recv, which close() alone does not.
        for sock, how in ((backend, socket.SHUT_RDWR), (client, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass
        client.close()
        backend.close()
        with self._lock:
            closed = self._clients.pop(client, None)
        if closed is not None:
            closed.set()

    def reset_all(self) -> None:
        """Reset every client connection (RST, not FIN), as a crashed load balancer would; returns
        once they are closed, so nothing the server answers afterwards reaches the client."""
        with self._lock:
            clients = dict(self._clients)
        for client in clients:
            try:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.shutdown(socket.SHUT_RD)  # wakes the pump, which closes: the RST goes out then
            except OSError:
                pass
        for closed in clients.values():
            closed.wait(1.0)

    def stop(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self.listener.close()
        self.reset_all()
