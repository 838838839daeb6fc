"""AWS Secrets Manager through botocore, the client engine of boto3.

The inventory comes from `ListSecrets` pages of 100, which already carry every date Citadel
needs (no `DescribeSecret` per secret). boto3's own retries are switched off so that
`StoreClient.call` is the one place that retries, and every request is counted.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator, Mapping
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
from citadel_tui.core.model import AuditChange, AuditState, AuditStatus, SecretMeta
from citadel_tui.providers.base import StoreClient

PAGE_SIZE = 100

_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_AUTH_CODES = {
    "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
}
_DENIED_CODES = {"AccessDeniedException", "AccessDenied"}
AUDIT_TRAIL = "citadel-audit"
"""The trail enable_audit creates (or finds and keeps)."""
SERVICE_OF_ACTION = dict.fromkeys(("DescribeTrails", "GetTrailStatus", "CreateTrail", "StartLogging"), "cloudtrail")
"""The IAM service prefix of every action that is not Secrets Manager's, so that a denial names
the exact permission to grant (cloudtrail:CreateTrail, not secretsmanager:CreateTrail). No S3
request is made: CloudTrail itself checks that the bucket exists and that its policy allows it."""


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

    def audit_change(self) -> AuditChange | None:
        """A multi-region trail into `audit_bucket`, then StartLogging; None without the bucket."""
        bucket = self.config.option("audit_bucket")
        if not bucket:
            return None
        return AuditChange(f"trail {AUDIT_TRAIL}", (
            ("trail", f"{AUDIT_TRAIL} (multi-region; an existing trail of that name is kept)"),
            ("bucket", f"s3://{bucket} (its bucket policy must let cloudtrail.amazonaws.com write)"),
            ("events", "management events, Secrets Manager GetSecretValue included"),
            ("region", str(self.config.option("region") or "the profile's default region")),
            ("then", f"StartLogging on {AUDIT_TRAIL} unless it is already logging"),
        ))

    def enable_audit(self) -> None:
        """CreateTrail unless the trail exists, then StartLogging unless it is logging: a second
        run only reads. A trail named citadel-audit that already exists is kept as it is."""
        bucket = self.config.option("audit_bucket")
        if not bucket:
            raise errors.AuditNotSupportedError(
                f"source {self.config.name!r}: set audit_bucket = \"BUCKET\" (an S3 bucket whose policy lets "
                "cloudtrail.amazonaws.com write) so that Citadel can create the CloudTrail trail"
            )
        trails = self.call(
            "DescribeTrails",
            lambda: self._client("cloudtrail").describe_trails(trailNameList=[AUDIT_TRAIL]),
            AUDIT_TRAIL,
        ).get("trailList", [])
        trail = next((t for t in trails if t.get("Name") == AUDIT_TRAIL), None)
        if trail is None:
            try:
                trail = self.call("CreateTrail", lambda: self._client("cloudtrail").create_trail(
                    Name=AUDIT_TRAIL, S3BucketName=bucket, IsMultiRegionTrail=True), AUDIT_TRAIL)
            except errors.SecretExistsError:  # created meanwhile by someone else: keep it
                trail = {"Name": AUDIT_TRAIL}
        arn = trail.get("TrailARN") or AUDIT_TRAIL
        status = self.call("GetTrailStatus", lambda: self._client("cloudtrail").get_trail_status(Name=arn), arn)
        if not status.get("IsLogging"):
            self.call("StartLogging", lambda: self._client("cloudtrail").start_logging(Name=arn), arn)

    def translate(self, exc: Exception, action: str, resource: str) -> errors.SourceError:
        where = f"{action} on {resource!r}" if resource else action
        service = SERVICE_OF_ACTION.get(action, "secretsmanager")
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
                    f"access denied: the credentials lack {service}:{action} on {resource or '*'}; "
                    "grant it in the IAM policy of the identity Citadel runs as"
                )
            if code in _AUTH_CODES:
                return errors.AuthenticationError(f"AWS rejected the credentials ({code}): {message}")
            if code in _THROTTLE_CODES or status == 429:
                return errors.ThrottledError(f"AWS throttled {where} ({code or status})")
            if code == "ResourceNotFoundException":
                return errors.SecretNotFoundError(f"no secret {resource!r} in this account and region")
            if code in _TRAIL_ERRORS:
                return _TRAIL_ERRORS[code](resource, str(self.config.option("audit_bucket") or "?"))
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


_TRAIL_ERRORS: dict[str, Callable[[str, str], errors.SourceError]] = {
    "TrailAlreadyExistsException": lambda trail, bucket: errors.SecretExistsError(
        f"CloudTrail trail {trail!r} already exists"),
    "TrailNotFoundException": lambda trail, bucket: errors.SecretNotFoundError(
        f"no CloudTrail trail {trail!r} in this account and region"),
    "S3BucketDoesNotExistException": lambda trail, bucket: errors.SecretNotFoundError(
        f"S3 bucket {bucket!r} (audit_bucket) does not exist; create it, with a bucket policy that lets "
        "cloudtrail.amazonaws.com call s3:GetBucketAcl and s3:PutObject, or fix audit_bucket"),
    "InsufficientS3BucketPolicyException": lambda trail, bucket: errors.PermissionDeniedError(
        f"the bucket policy of {bucket!r} (audit_bucket) does not let CloudTrail write to it; allow "
        "cloudtrail.amazonaws.com s3:GetBucketAcl on the bucket and s3:PutObject on AWSLogs/ACCOUNT_ID/*"),
    "InvalidHomeRegionException": lambda trail, bucket: errors.SourceError(
        f"trail {trail!r} was created in another region and can be started only there; run Citadel with "
        "that region (or `aws cloudtrail start-logging` there)"),
    "MaximumNumberOfTrailsExceededException": lambda trail, bucket: errors.SourceError(
        "this region already has 5 trails, the most CloudTrail allows; start logging on one of them instead"),
}
"""CloudTrail answers to the audit requests, each with what the operator can do about it."""


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
