"""Least-privilege read access for the application, from the set of migrated secrets.

One document family per store: an AWS IAM policy (`secretsmanager:GetSecretValue` on exactly those
ARNs, or the prefix as in the seed), a Vault HCL policy (`read` on exactly those paths), GCP IAM
bindings (`roles/secretmanager.secretAccessor` per secret) and an Azure role assignment
(`Key Vault Secrets User` on the vault). Placeholders the operator must fill in are UPPER_CASE
words, never shell syntax, so a command pasted unedited fails instead of doing something else.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from citadel_tui.core.config import Config, SourceConfig
from citadel_tui.core.errors import ConfigError, NamingError
from citadel_tui.core.naming import plan_names

GCP_ROLE = "roles/secretmanager.secretAccessor"
AZURE_ROLE = "Key Vault Secrets User"
AZURE_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6"
"""The built-in role's id, the same in every tenant."""
AWS_SUFFIX = "-??????"
"""AWS appends a hyphen and 6 random characters to every secret ARN."""


@dataclass(frozen=True)
class PolicyDoc:
    kind: str
    title: str
    format: str
    """json, hcl or shell."""
    filename: str
    text: str


def secrets_for(config: SourceConfig, keys: Sequence[str]) -> list[tuple[str, str]]:
    """(env key, store name) per key; every key of a bundle maps to the bundle secret."""
    if config.layout == "bundle":
        return [(key, config.secret or "") for key in dict.fromkeys(keys)]
    return list(plan_names(config.kind, config.prefix, keys).items())


def _names(secrets: Sequence[tuple[str, str]]) -> list[str]:
    return sorted({name for _, name in secrets})


def aws_partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def aws_iam_policy(config: SourceConfig, secrets: Sequence[tuple[str, str]], *, account_id: str | None = None,
                   region: str | None = None, use_prefix: bool = False) -> dict[str, Any]:
    """The IAM policy document. `use_prefix` grants `PREFIX*` (every secret under the prefix,
    including ones created later) instead of the exact ARNs."""
    region = region or config.option("region") or "*"
    base = f"arn:{aws_partition(region)}:secretsmanager:{region}:{account_id or '*'}:secret:"
    if use_prefix and config.prefix and config.layout != "bundle":
        resources: str | list[str] = f"{base}{config.prefix}*"
    else:
        resources = [f"{base}{name}{AWS_SUFFIX}" for name in _names(secrets)]
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CitadelReadMigratedSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": resources,
        }],
    }


def vault_paths(config: SourceConfig, secrets: Sequence[tuple[str, str]]) -> list[str]:
    """API paths the application reads: `MOUNT/data/PATH/NAME` on KV v2, `MOUNT/PATH/NAME` on v1."""
    mount = config.option("mount", "secret").strip("/")
    folder = config.option("path", "").strip("/")
    data = "data" if config.option("kv_version", 2) == 2 else ""
    paths = []
    for name in _names(secrets):
        path = "/".join(p for p in (mount, data, folder, name) if p)
        if path.endswith("*") or "+" in path.split("/"):
            raise NamingError(f"vault: {path!r} would be a wildcard in a policy; it cannot be granted exactly")
        paths.append(path)
    return paths


def vault_policy(config: SourceConfig, secrets: Sequence[tuple[str, str]]) -> str:
    """HCL granting `read` on exactly the application's secret paths."""
    blocks = [f'path {json.dumps(path)} {{\n  capabilities = ["read"]\n}}' for path in vault_paths(config, secrets)]
    header = f"# Citadel: read-only access to the migrated secrets of source {config.name!r}, nothing else."
    return "\n\n".join([header, *blocks]) + "\n"


def gcp_resource(config: SourceConfig, name: str) -> str:
    location = config.option("location")
    parent = f"projects/{config.option('project')}" + (f"/locations/{location}" if location else "")
    return f"{parent}/secrets/{name}"


def gcp_member(config: SourceConfig, principal: str | None) -> str:
    return principal or f"serviceAccount:APP_SERVICE_ACCOUNT@{config.option('project')}.iam.gserviceaccount.com"


def gcp_bindings(config: SourceConfig, secrets: Sequence[tuple[str, str]],
                 principal: str | None = None) -> list[dict[str, Any]]:
    """One IAM binding per secret resource (never project-wide)."""
    member = gcp_member(config, principal)
    return [{"resource": gcp_resource(config, name), "bindings": [{"role": GCP_ROLE, "members": [member]}]}
            for name in _names(secrets)]


def gcp_commands(config: SourceConfig, secrets: Sequence[tuple[str, str]], principal: str | None = None) -> list[str]:
    member = gcp_member(config, principal)
    location = config.option("location")
    return [
        shlex.join(["gcloud", "secrets", "add-iam-policy-binding", name, f"--project={config.option('project')}",
                    *([f"--location={location}"] if location else []), f"--member={member}", f"--role={GCP_ROLE}"])
        for name in _names(secrets)
    ]


def azure_scope(config: SourceConfig) -> str:
    """The vault's ARM id: `vault_resource_id` when configured, else a template to fill in."""
    configured = config.option("vault_resource_id")
    if configured:
        return configured
    vault = (urlparse(config.option("vault_url", "")).hostname or "VAULT_NAME").split(".")[0]
    return f"/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP/providers/Microsoft.KeyVault/vaults/{vault}"


def azure_assignment(config: SourceConfig, secrets: Sequence[tuple[str, str]],
                     principal: str | None = None) -> dict[str, Any]:
    return {
        "roleDefinitionName": AZURE_ROLE,
        "roleDefinitionId": AZURE_ROLE_ID,
        "principalId": principal or "APP_PRINCIPAL_OBJECT_ID",
        "scope": azure_scope(config),
        "citadel": {
            "secrets": _names(secrets),
            "note": "needs the vault's Azure RBAC permission model; the role reads every secret in this "
                    "vault, so keep one vault per application",
        },
    }


def azure_command(config: SourceConfig, principal: str | None = None) -> str:
    return shlex.join(["az", "role", "assignment", "create", "--role", AZURE_ROLE,
                       "--assignee", principal or "APP_PRINCIPAL_OBJECT_ID", "--scope", azure_scope(config)])


def policies_for(config: SourceConfig, secrets: Sequence[tuple[str, str]], *, account_id: str | None = None,
                 region: str | None = None, principal: str | None = None,
                 use_prefix: bool = False) -> list[PolicyDoc]:
    """The documents that grant the application read access to `secrets` of one source."""
    if not secrets:
        raise ValueError(f"source {config.name!r}: no secrets to grant access to")
    stem = f"citadel-{config.name}"
    if config.kind == "aws":
        policy = aws_iam_policy(config, secrets, account_id=account_id, region=region, use_prefix=use_prefix)
        return [PolicyDoc("aws", "IAM policy (attach to the application's role)", "json",
                          f"{stem}-iam-policy.json", json.dumps(policy, indent=2) + "\n")]
    if config.kind == "vault":
        return [PolicyDoc("vault", "Vault policy (bind to the application's auth role)", "hcl",
                          f"{stem}.hcl", vault_policy(config, secrets))]
    if config.kind == "gcp":
        return [
            PolicyDoc("gcp", "IAM bindings per secret", "json", f"{stem}-bindings.json",
                      json.dumps(gcp_bindings(config, secrets, principal), indent=2) + "\n"),
            PolicyDoc("gcp", "gcloud commands", "shell", f"{stem}-bindings.sh",
                      "\n".join(gcp_commands(config, secrets, principal)) + "\n"),
        ]
    if config.kind == "azure":
        return [
            PolicyDoc("azure", "Role assignment", "json", f"{stem}-role-assignment.json",
                      json.dumps(azure_assignment(config, secrets, principal), indent=2) + "\n"),
            PolicyDoc("azure", "az command", "shell", f"{stem}-role-assignment.sh", azure_command(config, principal) + "\n"),
        ]
    raise ValueError(f"unknown store kind {config.kind!r}")


def policy_report(config: Config, source_names: Sequence[str], keys: Sequence[str], *, fmt: str = "text",
                  account_id: str | None = None, region: str | None = None, principal: str | None = None,
                  use_prefix: bool = False) -> str:
    """`citadel policy`: the access documents for `keys` in each named source (all when empty),
    as readable text or one JSON object."""
    if fmt not in ("text", "json"):
        raise ValueError(f"format must be text or json, got {fmt!r}")
    known = {s.name: s for s in config.sources}
    unknown = [n for n in source_names if n not in known]
    if unknown:
        raise ConfigError(f"no source named {', '.join(map(repr, unknown))}; configured: {', '.join(known) or 'none'}")
    if not keys:
        raise ValueError("no keys given: name the env keys the application reads")
    sources = [known[n] for n in dict.fromkeys(source_names)] if source_names else list(config.sources)
    report = []
    for source in sources:
        docs = policies_for(source, secrets_for(source, keys), account_id=account_id, region=region,
                            principal=principal, use_prefix=use_prefix)
        report.append((source, docs))
    if fmt == "json":
        return json.dumps({"sources": [
            {"name": s.name, "kind": s.kind, "environment": s.environment, "policies": [
                {"title": d.title, "format": d.format, "filename": d.filename,
                 "content": json.loads(d.text) if d.format == "json" else d.text} for d in docs]}
            for s, docs in report]}, indent=2) + "\n"
    sections = []
    for source, docs in report:
        sections.append(f"== source {source.name} ({source.kind}, environment {source.environment}) ==")
        sections.extend(f"-- {d.title}: {d.filename}\n{d.text}" for d in docs)
    return "\n".join(sections)
