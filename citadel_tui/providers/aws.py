"""AWS Secrets Manager through botocore, the client engine of boto3.

The inventory comes from `ListSecrets` pages of 100, which already carry every date Citadel
needs (no `DescribeSecret` per secret). boto3's own retries are switched off so that
`StoreClient.call` is the one place that retries, and every request is counted.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from citadel_tui.core import errors
from citadel_tui.core.model import AuditState, AuditStatus, SecretMeta
from citadel_tui.providers.base import StoreClient

PAGE_SIZE = 100

_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_AUTH_CODES = {
    "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
}
_DENIED_CODES = {"AccessDeniedException", "AccessDenied"}


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """One botocore data loader for every client, so API models are parsed once per process."""
    return botocore.loaders.create_loader()


class AwsClient(StoreClient):
    kind = "aws"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._clients: dict[str, Any] = {}

    def _client(self, service: str = "secretsmanager") -> Any:
        with self._lock:
            if service not in self._clients:
                opts = self.config.options
                timeout = self.config.timeout_seconds
                boto_config = BotoConfig(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=timeout,
                    read_timeout=timeout,
                )
                # A fresh session re-reads the credentials (after `aws sso login`); the shared
                # loader keeps the parsed API models, ~50 ms of JSON per new session otherwise.
                session = botocore.session.Session(profile=opts.get("profile"))
                session.register_component("data_loader", _shared_loader())
                try:
                    self._clients[service] = session.create_client(
                        service, region_name=opts.get("region"), endpoint_url=opts.get("endpoint_url"),
                        config=boto_config,
                    )
                except ProfileNotFound as exc:
                    raise errors.CredentialsMissingError(
                        f"AWS profile {exc.kwargs.get('profile')!r} is not in ~/.aws/config",
                        source=self.config.name,
                    ) from None
                except NoRegionError:
                    raise errors.ConfigError(
                        f"source {self.config.name!r}: no AWS region; set region = \"us-east-1\" "
                        "(or AWS_DEFAULT_REGION)"
                    ) from None
            return self._clients[service]

    def reset_credentials(self) -> None:
        with self._lock:
            self._clients.clear()

    def list_secrets(self, prefix: str) -> Iterator[SecretMeta]:
        request: dict[str, Any] = {"MaxResults": PAGE_SIZE, "IncludePlannedDeletion": True}
        if prefix:
            request["Filters"] = [{"Key": "name", "Values": [prefix]}]
        while True:
            page = self.call("ListSecrets", lambda: self._client().list_secrets(**request), prefix or "*")
            for entry in page.get("SecretList", []):
                # The name filter is case-insensitive on AWS; prefixes are case-sensitive here.
                if entry["Name"].startswith(prefix):
                    yield _meta(entry)
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token

    def read_value(self, name: str) -> str:
        response = self.call("GetSecretValue", lambda: self._client().get_secret_value(SecretId=name), name)
        if "SecretString" in response:
            return response["SecretString"]
        binary = response.get("SecretBinary", b"")
        try:
            return binary.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(binary).decode("ascii")

    def create_secret(self, name: str, value: str, tags: Mapping[str, str]) -> None:
        aws_tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        self.call(
            "CreateSecret",
            lambda: self._client().create_secret(Name=name, SecretString=value, Tags=aws_tags),
            name,
        )

    def add_version(self, name: str, value: str) -> None:
        self.call("PutSecretValue", lambda: self._client().put_secret_value(SecretId=name, SecretString=value), name)

    def configure_rotation(self, name: str, period_days: int) -> None:
        request: dict[str, Any] = {
            "SecretId": name,
            "RotationRules": {"AutomaticallyAfterDays": period_days},
            "RotateImmediately": False,
        }
        lambda_arn = self.config.option("rotation_lambda_arn")
        if lambda_arn:
            request["RotationLambdaARN"] = lambda_arn
        self.call("RotateSecret", lambda: self._client().rotate_secret(**request), name)

    def rotate_now(self, name: str) -> None:
        """Ask Secrets Manager to run the secret's rotation Lambda now."""
        self.call("RotateSecret", lambda: self._client().rotate_secret(SecretId=name, RotateImmediately=True), name)

    def audit_status(self) -> AuditStatus:
        """On when at least one CloudTrail trail is logging (GetSecretValue is a management event)."""
        try:
            trails = self.call(
                "DescribeTrails", lambda: self._client("cloudtrail").describe_trails(), "cloudtrail"
            ).get("trailList", [])
            logging = []
            for trail in trails:
                arn = trail.get("TrailARN") or trail["Name"]
                status = self.call(
                    "GetTrailStatus", lambda a=arn: self._client("cloudtrail").get_trail_status(Name=a), arn
                )
                if status.get("IsLogging"):
                    logging.append(trail["Name"])
        except errors.SourceError as exc:
            return AuditStatus(AuditState.UNKNOWN, str(exc))
        if logging:
            return AuditStatus(AuditState.ON, "CloudTrail logging in trail(s): " + ", ".join(logging))
        if trails:
            return AuditStatus(AuditState.OFF, "CloudTrail trails exist but none is logging: "
                               + ", ".join(t["Name"] for t in trails))
        return AuditStatus(AuditState.OFF, "no CloudTrail trail in this region; create one with "
                           "`aws cloudtrail create-trail` and `start-logging`")

    def translate(self, exc: Exception, action: str, resource: str) -> errors.SourceError:
        where = f"{action} on {resource!r}" if resource else action
        service = "cloudtrail" if action in ("DescribeTrails", "GetTrailStatus") else "secretsmanager"
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return errors.CredentialsMissingError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "or run `aws sso login`"
            )
        if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
            return errors.StoreTimeoutError(
                f"AWS did not answer {where} within {self.config.timeout_seconds:g}s"
            )
        if isinstance(exc, EndpointConnectionError):
            return errors.StoreUnavailableError(f"cannot reach AWS endpoint {exc.kwargs.get('endpoint_url')}")
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _DENIED_CODES:
                return errors.PermissionDeniedError(
                    f"access denied: the credentials lack {service}:{action} on {resource or '*'}"
                )
            if code in _AUTH_CODES:
                return errors.AuthenticationError(f"AWS rejected the credentials ({code}): {message}")
            if code in _THROTTLE_CODES or status == 429:
                return errors.ThrottledError(f"AWS throttled {where} ({code or status})")
            if code == "ResourceNotFoundException":
                return errors.SecretNotFoundError(f"no secret {resource!r} in this account and region")
            if code == "ResourceExistsException":
                return errors.SecretExistsError(f"secret {resource!r} already exists; Citadel never overwrites it")
            if status >= 500 or code in ("InternalServiceError", "InternalFailure", "ServiceUnavailable"):
                return errors.StoreUnavailableError(f"AWS failed {where} with {code or status}; try again later")
            return errors.SourceError(f"AWS refused {where}: {code}: {message}")
        if isinstance(exc, BotoCoreError):
            # Param validation messages can echo request parameters (values): never include them.
            name = type(exc).__name__
            if "Connection" in name or "Proxy" in name:
                return errors.StoreUnavailableError(f"connection to AWS lost during {where} ({name})")
            return errors.SourceError(f"AWS SDK error during {where} ({name})")
        return errors.MalformedResponseError(
            f"unexpected answer to {where} ({type(exc).__name__}): the store, or a proxy in front of it, "
            "sent a body Citadel cannot parse"
        )


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc) if value is not None else None


def _meta(entry: dict[str, Any]) -> SecretMeta:
    rules = entry.get("RotationRules") or {}
    period = rules.get("AutomaticallyAfterDays")
    enabled = bool(entry.get("RotationEnabled"))
    next_rotation = _utc(entry.get("NextRotationDate"))
    if enabled and next_rotation is None and period:
        base = _utc(entry.get("LastRotatedDate") or entry.get("LastChangedDate") or entry.get("CreatedDate"))
        next_rotation = base + timedelta(days=period) if base else None
    details = {"arn": entry.get("ARN", "")}
    for field, label in (("KmsKeyId", "kms_key"), ("Description", "description"),
                         ("OwningService", "owning_service"), ("RotationLambdaARN", "rotation_lambda")):
        if entry.get(field):
            details[label] = str(entry[field])
    stages = entry.get("SecretVersionsToStages")
    return SecretMeta(
        name=entry["Name"],
        created=_utc(entry.get("CreatedDate")),
        last_changed=_utc(entry.get("LastChangedDate")),
        last_rotated=_utc(entry.get("LastRotatedDate")),
        next_rotation=next_rotation,
        rotation_enabled=enabled,
        rotation_period_days=period,
        last_accessed=_utc(entry.get("LastAccessedDate")),
        deletion_date=_utc(entry.get("DeletedDate")),
        versions=len(stages) if stages is not None else None,
        tags={t["Key"]: t.get("Value", "") for t in entry.get("Tags", [])},
        details=details,
    )
