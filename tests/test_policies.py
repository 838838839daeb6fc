"""Least-privilege access documents: exact resources per store, valid JSON, well-formed HCL."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest

from citadel_tui.core.config import Config, SourceConfig
from citadel_tui.core.errors import ConfigError, NamingError
from citadel_tui.core.policies import (
    aws_iam_policy,
    policies_for,
    policy_report,
    secrets_for,
    vault_policy,
)

KEYS = ["DB_PASSWORD", "API_KEY"]


def source(kind: str, **kwargs: Any) -> SourceConfig:
    options = kwargs.pop("options", {})
    return SourceConfig(name=f"{kind}-prod", kind=kind, **kwargs, options=options)


AWS = source("aws", prefix="prod/", options={"region": "us-east-1"})
GCP = source("gcp", options={"project": "acme-prod"})
AZURE = source("azure", options={"vault_url": "https://acme-kv.vault.azure.net"})
VAULT = source("vault", options={"url": "https://vault:8200", "mount": "kv", "path": "apps/web"})


def test_aws_exact_arns_with_random_suffix() -> None:
    policy = aws_iam_policy(AWS, secrets_for(AWS, KEYS), account_id="123456789012")
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CitadelReadMigratedSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/API_KEY-??????",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/DB_PASSWORD-??????",
            ],
        }],
    }


def test_aws_prefix_as_in_the_seed_and_partitions() -> None:
    policy = aws_iam_policy(AWS, secrets_for(AWS, KEYS), use_prefix=True)
    assert policy["Statement"][0]["Resource"] == "arn:aws:secretsmanager:us-east-1:*:secret:prod/*"
    china = aws_iam_policy(AWS, [("A", "A")], region="cn-north-1")
    assert china["Statement"][0]["Resource"] == ["arn:aws-cn:secretsmanager:cn-north-1:*:secret:A-??????"]


def test_aws_bundle_grants_the_one_bundle_secret() -> None:
    bundle = source("aws", layout="bundle", secret="app/config", options={"region": "eu-west-1"})
    [doc] = policies_for(bundle, secrets_for(bundle, KEYS), use_prefix=True)
    assert json.loads(doc.text)["Statement"][0]["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:*:secret:app/config-??????"]
    assert doc.filename == "citadel-aws-prod-iam-policy.json"


HCL_BLOCK = re.compile(r'path "([^"]+)" \{\n  capabilities = \["read"\]\n\}')


def test_vault_hcl_kv2_and_kv1() -> None:
    text = vault_policy(VAULT, secrets_for(VAULT, KEYS))
    assert HCL_BLOCK.findall(text) == ["kv/data/apps/web/API_KEY", "kv/data/apps/web/DB_PASSWORD"]
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 6 and text.count("{") == text.count("}") == 2
    v1 = source("vault", options={"url": "https://v", "kv_version": 1})
    assert HCL_BLOCK.findall(vault_policy(v1, [("A", "A")])) == ["secret/A"]


def test_vault_wildcard_names_are_refused() -> None:
    with pytest.raises(NamingError, match="wildcard"):
        vault_policy(VAULT, [("A", "A*")])


def test_gcp_bindings_per_secret_and_commands() -> None:
    json_doc, shell_doc = policies_for(GCP, secrets_for(GCP, KEYS), principal="serviceAccount:web@acme-prod.iam.gserviceaccount.com")
    assert json.loads(json_doc.text) == [
        {"resource": f"projects/acme-prod/secrets/{name}",
         "bindings": [{"role": "roles/secretmanager.secretAccessor",
                       "members": ["serviceAccount:web@acme-prod.iam.gserviceaccount.com"]}]}
        for name in ("API_KEY", "DB_PASSWORD")
    ]
    first = shlex.split(shell_doc.text.splitlines()[0])
    assert first == ["gcloud", "secrets", "add-iam-policy-binding", "API_KEY", "--project=acme-prod",
                     "--member=serviceAccount:web@acme-prod.iam.gserviceaccount.com",
                     "--role=roles/secretmanager.secretAccessor"]


def test_gcp_regional_secrets() -> None:
    regional = source("gcp", options={"project": "p", "location": "europe-west1"})
    json_doc, shell_doc = policies_for(regional, [("A", "A")])
    assert json.loads(json_doc.text)[0]["resource"] == "projects/p/locations/europe-west1/secrets/A"
    assert "--location=europe-west1" in shell_doc.text
    assert "serviceAccount:APP_SERVICE_ACCOUNT@p.iam.gserviceaccount.com" in shell_doc.text


def test_azure_role_assignment_on_the_vault() -> None:
    json_doc, shell_doc = policies_for(AZURE, secrets_for(AZURE, KEYS), principal="0000-app")
    assignment = json.loads(json_doc.text)
    scope = "/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP/providers/Microsoft.KeyVault/vaults/acme-kv"
    assert assignment["roleDefinitionName"] == "Key Vault Secrets User"
    assert assignment["scope"] == scope and assignment["principalId"] == "0000-app"
    assert assignment["citadel"]["secrets"] == ["API-KEY", "DB-PASSWORD"]
    assert shlex.split(shell_doc.text) == ["az", "role", "assignment", "create", "--role", "Key Vault Secrets User",
                                           "--assignee", "0000-app", "--scope", scope]
    configured = source("azure", options={"vault_url": "https://x.vault.azure.net", "vault_resource_id": "/subscriptions/s/x"})
    assert json.loads(policies_for(configured, [("A", "A")])[0].text)["scope"] == "/subscriptions/s/x"


def test_policy_report_text_and_json() -> None:
    config = Config(path=None, sources=(AWS, GCP, AZURE, VAULT))
    text = policy_report(config, ["aws-prod", "vault-prod"], KEYS)
    assert text.startswith("== source aws-prod (aws, environment default) ==\n-- IAM policy")
    assert "== source vault-prod (vault, environment default) ==" in text and "gcp" not in text
    data = json.loads(policy_report(config, [], KEYS, fmt="json"))
    assert [s["name"] for s in data["sources"]] == ["aws-prod", "gcp-prod", "azure-prod", "vault-prod"]
    assert data["sources"][0]["policies"][0]["content"]["Statement"][0]["Action"] == ["secretsmanager:GetSecretValue"]
    assert data["sources"][3]["policies"][0]["format"] == "hcl"


def test_policy_report_errors() -> None:
    config = Config(path=None, sources=(AWS,))
    with pytest.raises(ConfigError, match="no source named 'nope'; configured: aws-prod"):
        policy_report(config, ["nope"], KEYS)
    with pytest.raises(ValueError, match="no keys"):
        policy_report(config, [], [])
    with pytest.raises(NamingError):
        policy_report(Config(path=None, sources=(AZURE,)), [], ["A_B", "A-B"])
