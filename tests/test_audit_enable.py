"""Step 8 for real: each adapter turns audit logging on where the store's API allows it.

Real SDKs over loopback only: boto3 against moto (through the fault proxy where a fault is
needed), the GCP ProjectsClient against the GCP emulator, the ARM pipeline against the Azure
emulator, hvac against a real OpenBao. Nothing is monkeypatched in an SDK.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import grpc
import pytest
from google.api_core import exceptions as api_errors
from google.iam.v1 import policy_pb2
from google.protobuf import field_mask_pb2

from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import (
    AuditNotSupportedError,
    ConcurrentChangeError,
    PermissionDeniedError,
    SecretNotFoundError,
    SourceError,
    ThrottledError,
)
from citadel_tui.core.model import AuditChange, AuditState
from citadel_tui.emulators.azure import ApiError, AzureEmulator
from citadel_tui.emulators.faults import Fault, FaultInjector
from citadel_tui.emulators.gcp import GcpEmulator
from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.providers import Source, open_source

BUCKET = "citadel-trail-logs"
PROJECT = "shop-prod"
SECRETMANAGER = "secretmanager.googleapis.com"
ALL_TYPES = ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]


class FaultAt(FaultInjector):
    """Serves `fault` to requests number `first` .. `first + times - 1` (1-based) and to no other,
    so a fault can aim at a write that follows a read."""

    def __init__(self, fault: Fault, first: int, times: int = 1) -> None:
        super().__init__()
        self.fault, self.first, self.times = fault, first, times

    def take(self) -> Fault | None:
        super().take()  # counts the request (the queue is empty)
        return self.fault if self.first <= self.requests < self.first + self.times else None


def facts(change: AuditChange | None) -> dict[str, str]:
    assert change is not None
    return dict(change.facts)


# -- AWS: CloudTrail ------------------------------------------------------------------------------

def aws_source(endpoint: str, **options: str) -> Source:
    config = SourceConfig(name="aws-prod", kind="aws", environment="production", prefix="prod/app/",
                          options={"region": "us-east-1", "endpoint_url": endpoint, **options})
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


@pytest.fixture
def bucket(moto_url: str) -> str:
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url).create_bucket(Bucket=BUCKET)
    return BUCKET


def test_aws_creates_and_starts_the_trail_then_only_reads(moto_url: str, bucket: str) -> None:
    src = aws_source(moto_url, audit_bucket=bucket)
    assert src.client.audit_status().state is AuditState.OFF
    change = src.client.audit_change()
    assert change is not None and change.target == "trail citadel-audit"
    assert bucket in facts(change)["bucket"] and "multi-region" in facts(change)["trail"]
    src.client.enable_audit()
    status = src.client.audit_status()
    assert status.state is AuditState.ON and "citadel-audit" in status.detail
    trails = boto3.client("cloudtrail", region_name="us-east-1", endpoint_url=moto_url)
    [trail] = trails.describe_trails()["trailList"]
    assert (trail["Name"], trail["S3BucketName"], trail["IsMultiRegionTrail"]) == ("citadel-audit", bucket, True)
    before = src.client.requests
    src.client.enable_audit()  # DescribeTrails and GetTrailStatus: nothing written
    assert src.client.requests - before == 2
    assert len(trails.describe_trails()["trailList"]) == 1


def test_aws_keeps_an_existing_trail_and_starts_it(moto_url: str, bucket: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    s3.create_bucket(Bucket="org-trail-logs")
    trails = boto3.client("cloudtrail", region_name="us-east-1", endpoint_url=moto_url)
    trails.create_trail(Name="citadel-audit", S3BucketName="org-trail-logs")
    src = aws_source(moto_url, audit_bucket=bucket)
    assert src.client.audit_status().state is AuditState.OFF
    src.client.enable_audit()
    assert src.client.audit_status().state is AuditState.ON
    [trail] = trails.describe_trails()["trailList"]
    assert trail["S3BucketName"] == "org-trail-logs" and trail["IsMultiRegionTrail"] is False


def test_aws_without_audit_bucket_cannot_enable(moto_url: str) -> None:
    src = aws_source(moto_url)
    assert src.client.audit_change() is None
    with pytest.raises(AuditNotSupportedError, match="audit_bucket"):
        src.client.enable_audit()
    assert src.client.requests == 0


def test_aws_missing_bucket_is_named(moto_url: str) -> None:
    src = aws_source(moto_url, audit_bucket="no-such-bucket")
    with pytest.raises(SecretNotFoundError, match="S3 bucket 'no-such-bucket' .*does not exist"):
        src.client.enable_audit()
    assert src.client.audit_status().state is AuditState.OFF


@pytest.mark.parametrize(("request_number", "permission"), [
    (1, "cloudtrail:DescribeTrails on citadel-audit;"),
    (2, "cloudtrail:CreateTrail on citadel-audit;"),
    (4, "cloudtrail:StartLogging on arn:aws:cloudtrail:us-east-1:123456789012:trail/citadel-audit;"),
])
def test_aws_denial_names_the_cloudtrail_permission(moto_url: str, bucket: str, request_number: int,
                                                     permission: str) -> None:
    with FaultProxy(moto_url, injector=FaultAt(Fault.FORBIDDEN, request_number)) as proxy:
        src = aws_source(proxy.url, audit_bucket=bucket)
        with pytest.raises(PermissionDeniedError, match=permission.replace(".", r"\.")) as info:
            src.client.enable_audit()
    assert "secretsmanager:" not in str(info.value)


# -- GCP: the project's IAM policy ----------------------------------------------------------------

@pytest.fixture(scope="module")
def gcp_server() -> Iterator[GcpEmulator]:
    with GcpEmulator() as emulator:
        yield emulator


@pytest.fixture
def gcp(gcp_server: GcpEmulator) -> Iterator[GcpEmulator]:
    gcp_server.reset()
    yield gcp_server
    gcp_server.reset()


def gcp_source(emu: GcpEmulator, **common: object) -> Source:
    config = SourceConfig(name="gcp-prod", kind="gcp", environment="production", prefix="prod-myapp-",
                          timeout_seconds=2.0, options={"project": PROJECT, "endpoint": emu.endpoint},
                          **common)  # type: ignore[arg-type]
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


def projects_client(emu: GcpEmulator):
    from google.cloud import resourcemanager_v3
    from google.cloud.resourcemanager_v3.services.projects.transports import ProjectsGrpcTransport

    channel = grpc.insecure_channel(emu.endpoint)
    return resourcemanager_v3.ProjectsClient(transport=ProjectsGrpcTransport(channel=channel))


def test_gcp_adds_the_secret_manager_audit_logs_and_keeps_the_rest(gcp: GcpEmulator) -> None:
    gcp.add_binding("roles/secretmanager.secretAccessor", "serviceAccount:app@shop-prod.iam.gserviceaccount.com")
    gcp.set_audit_config("storage.googleapis.com", "DATA_READ")
    gcp.set_audit_config(SECRETMANAGER, "DATA_WRITE", exempted=("user:ci@example.com",))
    src = gcp_source(gcp)
    assert src.client.audit_status().state is AuditState.OFF
    change = src.client.audit_change()
    assert change is not None and change.target == f"projects/{PROJECT} IAM policy"
    assert facts(change)["service"] == SECRETMANAGER and "ADMIN_READ, DATA_READ, DATA_WRITE" in facts(change)["log types"]
    etag = gcp.policy.etag
    src.client.enable_audit()
    assert gcp.calls == ["GetIamPolicy", "GetIamPolicy", "SetIamPolicy"]
    assert gcp.policy.etag != etag
    assert sorted(gcp.audit_log_types(SECRETMANAGER)) == ALL_TYPES
    assert gcp.audit_log_types("storage.googleapis.com") == ["DATA_READ"]
    [secretmanager] = [c for c in gcp.policy.audit_configs if c.service == SECRETMANAGER]
    exempted = {policy_pb2.AuditLogConfig.LogType.Name(log.log_type): list(log.exempted_members)
                for log in secretmanager.audit_log_configs}
    assert exempted == {"DATA_WRITE": ["user:ci@example.com"], "ADMIN_READ": [], "DATA_READ": []}
    assert [(b.role, list(b.members)) for b in gcp.policy.bindings] == [
        ("roles/secretmanager.secretAccessor", ["serviceAccount:app@shop-prod.iam.gserviceaccount.com"])]
    assert src.client.audit_status().state is AuditState.ON
    etag, calls = gcp.policy.etag, len(gcp.calls)
    src.client.enable_audit()  # every type is there: read only
    assert gcp.calls[calls:] == ["GetIamPolicy"] and gcp.policy.etag == etag
    assert sorted(gcp.audit_log_types(SECRETMANAGER)) == ALL_TYPES


def test_gcp_set_iam_policy_behaves_like_resource_manager(gcp: GcpEmulator) -> None:
    client = projects_client(gcp)
    resource = f"projects/{PROJECT}"
    first = client.get_iam_policy(request={"resource": resource})
    assert first.etag and first.etag == client.get_iam_policy(request={"resource": resource}).etag
    first.bindings.add(role="roles/viewer", members=["user:ops@example.com"])
    first.audit_configs.add(service=SECRETMANAGER).audit_log_configs.add(
        log_type=policy_pb2.AuditLogConfig.DATA_READ)
    written = client.set_iam_policy(request={"resource": resource, "policy": first})  # default mask: bindings, etag
    assert written.etag != first.etag and [b.role for b in written.bindings] == ["roles/viewer"]
    assert not written.audit_configs  # not in the default mask
    with pytest.raises(api_errors.Aborted, match="concurrent policy changes"):
        client.set_iam_policy(request={"resource": resource, "policy": first})  # first.etag is stale now
    del written.bindings[:]
    written.audit_configs.add(service=SECRETMANAGER).audit_log_configs.add(
        log_type=policy_pb2.AuditLogConfig.DATA_READ)
    mask = field_mask_pb2.FieldMask(paths=["auditConfigs"])
    again = client.set_iam_policy(request={"resource": resource, "policy": written, "update_mask": mask})
    assert [b.role for b in again.bindings] == ["roles/viewer"]  # bindings are not in the mask: kept
    assert [c.service for c in again.audit_configs] == [SECRETMANAGER] and again.etag not in (written.etag, first.etag)
    with pytest.raises(api_errors.InvalidArgument, match="update_mask path"):
        client.set_iam_policy(request={"resource": resource, "policy": again,
                                       "update_mask": field_mask_pb2.FieldMask(paths=["owners"])})
    again.etag = b""  # no etag: an unconditional overwrite
    del again.audit_configs[:]
    cleared = client.set_iam_policy(request={"resource": resource, "policy": again, "update_mask": mask})
    assert not cleared.audit_configs and gcp.policy.etag == cleared.etag
    client.transport.close()


def test_gcp_stale_etag_is_refused_and_explained(gcp: GcpEmulator) -> None:
    src = gcp_source(gcp)
    # Another administrator grants a role between Citadel's GetIamPolicy and its SetIamPolicy.
    gcp.after_call("GetIamPolicy", lambda: gcp.add_binding("roles/owner", "user:admin@example.com"))
    with pytest.raises(ConcurrentChangeError, match=f"IAM policy of projects/{PROJECT} changed.*nothing was written"):
        src.client.enable_audit()
    assert gcp.calls == ["GetIamPolicy", "SetIamPolicy"]  # refused once, not retried with the same etag
    assert gcp.audit_log_types(SECRETMANAGER) == [] and [b.role for b in gcp.policy.bindings] == ["roles/owner"]
    src.client.enable_audit()  # run again: the policy is read afresh, the other change survives
    assert sorted(gcp.audit_log_types(SECRETMANAGER)) == ALL_TYPES
    assert [b.role for b in gcp.policy.bindings] == ["roles/owner"]


def test_gcp_faults_on_the_write_are_translated(gcp: GcpEmulator) -> None:
    src = gcp_source(gcp, max_retries=2)
    gcp.after_call("GetIamPolicy", lambda: gcp.faults.push(Fault.FORBIDDEN))
    with pytest.raises(PermissionDeniedError, match=f"resourcemanager.projects.setIamPolicy on projects/{PROJECT}"):
        src.client.enable_audit()
    gcp.after_call("GetIamPolicy", lambda: gcp.faults.push(Fault.THROTTLE, times=3))
    with pytest.raises(ThrottledError, match="throttled SetIamPolicy"):
        src.client.enable_audit()
    assert gcp.audit_log_types(SECRETMANAGER) == []
    gcp.after_call("GetIamPolicy", lambda: gcp.faults.push(Fault.UNAUTHENTICATED))
    src.client.enable_audit()  # new channel, same request: the etag read is still current
    assert sorted(gcp.audit_log_types(SECRETMANAGER)) == ALL_TYPES
    assert gcp.calls[-3:] == ["GetIamPolicy", "SetIamPolicy", "SetIamPolicy"]


# -- Azure: a diagnostic setting on the vault ------------------------------------------------------

def workspace_id(emu: AzureEmulator) -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/citadel-rg"
            "/providers/Microsoft.OperationalInsights/workspaces/shop-audit")


def azure_source(emu: AzureEmulator, **options: str | None) -> Source:
    merged = {
        "vault_url": emu.vault_url, "ca_bundle": emu.ca_file, "authority_host": emu.authority_host,
        "management_url": emu.management_url, "vault_resource_id": emu.vault_resource_id,
        "audit_workspace_id": workspace_id(emu), **options,
    }
    config = SourceConfig(name="azure-prod", kind="azure", environment="production", prefix="prod-myapp-",
                          timeout_seconds=2.0, options={k: v for k, v in merged.items() if v is not None})
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


def test_azure_puts_the_diagnostic_setting_then_only_reads(azure_vault: AzureEmulator) -> None:
    emu = azure_vault
    emu.set_diagnostic_setting("metrics-only", category="AuditEvent", enabled=False)
    src = azure_source(emu)
    assert src.client.audit_status().state is AuditState.OFF
    change = src.client.audit_change()
    assert change is not None and change.target == "diagnostic setting citadel-audit"
    assert workspace_id(emu) in facts(change)["destination"] and facts(change)["vault"] == emu.vault_resource_id
    src.client.enable_audit()
    status = src.client.audit_status()
    assert status.state is AuditState.ON and "citadel-audit" in status.detail
    by_name = {s["name"]: s for s in emu.diagnostic_settings}
    assert set(by_name) == {"metrics-only", "citadel-audit"}
    written = by_name["citadel-audit"]["properties"]
    assert written["workspaceId"] == workspace_id(emu)
    assert [(log["category"], log["enabled"]) for log in written["logs"]] == [("AuditEvent", True)]
    before = src.client.requests
    src.client.enable_audit()  # the setting is there: one GET, no PUT
    assert src.client.requests - before == 1
    assert sorted(s["name"] for s in emu.diagnostic_settings) == ["citadel-audit", "metrics-only"]


def test_azure_replaces_its_own_setting_when_the_workspace_changed(azure_vault: AzureEmulator) -> None:
    src = azure_source(azure_vault)
    src.client.enable_audit()
    other = workspace_id(azure_vault).replace("shop-audit", "central-audit")
    azure_source(azure_vault, audit_workspace_id=other).client.enable_audit()
    [setting] = azure_vault.diagnostic_settings
    assert setting["name"] == "citadel-audit" and setting["properties"]["workspaceId"] == other


def test_azure_without_the_options_cannot_enable(azure_vault: AzureEmulator) -> None:
    for missing in ("audit_workspace_id", "vault_resource_id"):
        src = azure_source(azure_vault, **{missing: None})
        assert src.client.audit_change() is None
        with pytest.raises(AuditNotSupportedError, match=missing):
            src.client.enable_audit()
        assert src.client.requests == 0
    assert azure_vault.diagnostic_settings == []


def test_azure_write_faults_are_translated(azure_vault: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    src = azure_source(azure_vault)
    # The emulator's own fault queue is swapped for one that skips the first request (the GET).
    monkeypatch.setattr(azure_vault, "faults", FaultAt(Fault.FORBIDDEN, 2))
    with pytest.raises(PermissionDeniedError,
                       match="Microsoft.Insights/diagnosticSettings/write on .*Monitoring Contributor"):
        src.client.enable_audit()
    monkeypatch.setattr(azure_vault, "faults", FaultAt(Fault.THROTTLE, 2, times=4))
    with pytest.raises(ThrottledError, match="throttled PutDiagnosticSetting"):
        src.client.enable_audit()
    assert azure_vault.diagnostic_settings == []
    monkeypatch.setattr(azure_vault, "faults", FaultAt(Fault.UNAUTHENTICATED, 2))
    issued = azure_vault.tokens_issued
    src.client.enable_audit()  # the token is refused, a new one fetched, the PUT sent again
    assert azure_vault.tokens_issued > issued
    assert src.client.audit_status().state is AuditState.ON


def test_azure_emulator_validates_the_setting_like_arm(azure_vault: AzureEmulator) -> None:
    src = azure_source(azure_vault, audit_workspace_id="shop-audit")
    with pytest.raises(SourceError, match="HTTP 400 LinkedInvalidPropertyId: .*properties.workspaceId"):
        src.client.enable_audit()
    src = azure_source(azure_vault, vault_resource_id=azure_vault.vault_resource_id + "-other")
    with pytest.raises(SecretNotFoundError, match="check vault_resource_id"):
        src.client.enable_audit()
    for body in ({"properties": {"logs": [{"category": "AuditEvent", "enabled": True}]}},  # no destination
                 {"properties": {"workspaceId": workspace_id(azure_vault), "logs": [{"category": "AuditEvent"}]}},
                 {"workspaceId": workspace_id(azure_vault)}):
        with pytest.raises(ApiError) as info:
            azure_vault.put_diagnostic_setting(azure_vault.vault_resource_id, "bad", body)
        assert info.value.status == 400
    assert azure_vault.diagnostic_settings == []


# -- Vault / OpenBao -------------------------------------------------------------------------------

def test_openbao_offers_no_audit_change(bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    config = SourceConfig(name="vault-prod", kind="vault", environment="production",
                          options={"url": bao.url, "path": "audit-enable"})
    src = open_source(config)
    assert src.client.audit_status().state is AuditState.OFF  # the store is reachable, and off
    assert src.client.audit_change() is None
    with pytest.raises(AuditNotSupportedError, match="cannot turn audit logging on through the vault API"):
        src.client.enable_audit()
