"""Checklist step 9: the break-glass runbook, generated from the inventory.

For every secret: where it lives (store, exact name, environment), who can read it (the
least-privilege documents of `policies`), the exact command to read it in an emergency, the command
to rotate it afterwards, and who to tell. Built from a Comparison's rows, which hold metadata only,
so the runbook cannot contain a value; fingerprints are left out too.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from citadel_tui.core.codegen import STORE_TITLES, store_path
from citadel_tui.core.compare import Comparison, Row
from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import CitadelError
from citadel_tui.core.naming import RULES
from citadel_tui.core.policies import azure_scope, policies_for
from citadel_tui.core.securefiles import write_private

NEW_VALUE = "NEW_VALUE_FILE"
"""Placeholder for a file holding the new value: a value on a command line lands in shell history."""


@dataclass(frozen=True)
class Located:
    """One secret as the runbook describes it: the row, and where exactly it is stored."""

    row: Row
    name: str
    """The store's name of the secret (the bundle secret for a bundled key)."""
    field: str | None
    """The JSON field within a bundle secret, else None."""


def locate(row: Row, config: SourceConfig) -> Located:
    if config.layout == "bundle":
        return Located(row, config.secret or "", row.key)
    name = row.secret.name if row.secret else RULES[config.kind].name_for(config.prefix, row.key)
    return Located(row, name, None)


def read_command(config: SourceConfig, name: str, field: str | None = None) -> str:
    """The CLI command that prints the secret's current value (one field of a bundle)."""
    kind = config.kind
    if kind == "aws":
        args = ["aws", "secretsmanager", "get-secret-value", "--secret-id", name, *_aws_flags(config),
                "--query", "SecretString", "--output", "text"]
    elif kind == "gcp":
        args = ["gcloud", "secrets", "versions", "access", "latest", f"--secret={name}", *_gcp_flags(config)]
    elif kind == "azure":
        args = ["az", "keyvault", "secret", "show", "--vault-name", _azure_vault(config), "--name", name,
                "--query", "value", "--output", "tsv"]
    else:
        return shlex.join(["vault", "kv", "get", *_vault_flags(config), f"-field={field or 'value'}",
                           store_path(config, name)])
    command = shlex.join(args)
    return f"{command} | jq -r {shlex.quote(f'.[{json.dumps(field)}]')}" if field else command


def rotate_command(config: SourceConfig, located: Located) -> str:
    """The command that replaces the value (the store's own rotation where it is configured)."""
    name, field = located.name, located.field
    meta = located.row.secret
    kind = config.kind
    whole_bundle = field is not None
    if kind == "aws":
        if meta is not None and meta.rotation_enabled:
            return shlex.join(["aws", "secretsmanager", "rotate-secret", "--secret-id", name, *_aws_flags(config)])
        args = ["aws", "secretsmanager", "put-secret-value", "--secret-id", name,
                "--secret-string", f"file://{NEW_VALUE}", *_aws_flags(config)]
    elif kind == "gcp":
        args = ["gcloud", "secrets", "versions", "add", name, f"--data-file={NEW_VALUE}", *_gcp_flags(config)]
    elif kind == "azure":
        args = ["az", "keyvault", "secret", "set", "--vault-name", _azure_vault(config), "--name", name,
                "--file", NEW_VALUE]
    else:
        # KV v2 patches one field of a bundle; v1 can only replace the whole secret (a JSON file).
        patch = field is not None and config.option("kv_version", 2) == 2
        whole_bundle = whole_bundle and not patch
        data = f"@{NEW_VALUE}" if whole_bundle else f"{field or 'value'}=@{NEW_VALUE}"
        args = ["vault", "kv", "patch" if patch else "put", *_vault_flags(config), store_path(config, name), data]
    command = shlex.join(args)
    if whole_bundle:
        return f"{command}  # {NEW_VALUE} holds the whole JSON bundle, with the new {field}"
    return command


def _aws_flags(config: SourceConfig) -> list[str]:
    flags = []
    for option, flag in (("region", "--region"), ("profile", "--profile"), ("endpoint_url", "--endpoint-url")):
        if config.option(option):
            flags += [flag, config.option(option)]
    return flags


def _gcp_flags(config: SourceConfig) -> list[str]:
    location = config.option("location")
    return [f"--project={config.option('project')}", *([f"--location={location}"] if location else [])]


def _azure_vault(config: SourceConfig) -> str:
    return azure_scope(config).rsplit("/", 1)[-1]


def _vault_flags(config: SourceConfig) -> list[str]:
    namespace = config.option("namespace")
    return [f"-address={config.option('url')}", *([f"-namespace={namespace}"] if namespace else []),
            f"-mount={config.option('mount', 'secret').strip('/')}"]


def build_runbook(comparison: Comparison, sources: Sequence[SourceConfig], *,
                  contacts: Sequence[str] = (), principal: str | None = None,
                  account_id: str | None = None) -> str:
    """The Markdown runbook for every secret the inventory found in a store."""
    configs = {s.name: s for s in sources}
    stored = [r for r in comparison.rows if r.secret is not None and r.source in configs]
    held = {(r.key, r.environment) for r in comparison.rows if r.secret is not None}
    missing = sorted({(r.key, r.environment) for r in comparison.rows
                      if r.secret is None and r.counts_for_failure()} - held)
    tell = "\n".join(f"- {c}" for c in contacts) or "- (no contacts configured: write them here now, not during an incident)"
    out = [
        "# Break-glass runbook: emergency access to secrets",
        "",
        f"Generated by Citadel on {comparison.generated_at:%Y-%m-%d %H:%M} from the inventory: "
        f"{len(stored)} secrets in {len({r.source for r in stored})} stores. "
        "This document holds no secret values and no fingerprints.",
        "",
        "## Who to tell",
        "",
        "Before reading any secret, and again once it has been rotated:",
        "",
        tell,
        "",
        "## Procedure",
        "",
        "1. Tell the people above why you need which secret; record it in the incident ticket.",
        "2. Authenticate to the store with your own break-glass identity, never the application's.",
        "3. Read only the secrets you need, with the command given for each below; do not paste "
        "values into chats, tickets or files.",
        "4. When the emergency is over, rotate every secret you read (the value you saw is burned): "
        "issue a new credential where it lives (database, API provider), then store it with the command "
        f"given below, writing the new value to a private file for `{NEW_VALUE}` and deleting that file "
        "after; or run `citadel migrate --step rotate --store STORE --key KEY --new-value`, which asks "
        "for the value hidden and journals the rotation.",
        "5. Restart or let refresh the applications that read it; confirm with the people above that it is done.",
        "",
    ]
    for source_name in dict.fromkeys(r.source for r in stored):
        config = configs[source_name]
        located = [locate(r, config) for r in stored if r.source == source_name]
        out += _source_section(config, located, principal, account_id)
    if missing:
        out += ["## Not in any store yet", "",
                "These keys still live only in .env files; there is no store to read them from:", ""]
        out += [f"- `{key}` ({environment})" for key, environment in missing]
        out.append("")
    return "\n".join(out)


def _source_section(config: SourceConfig, located: list[Located], principal: str | None,
                    account_id: str | None) -> list[str]:
    environments = ", ".join(dict.fromkeys(item.row.environment for item in located))
    out = [f"## {config.name}: {STORE_TITLES[config.kind]} (environment {environments})", "",
           f"Where: {_where(config)}.", "", "### Who can read", "",
           "Administrators of this store, and the application through these least-privilege grants:", ""]
    try:
        secrets = [(item.row.key, item.name) for item in located]
        docs = policies_for(config, secrets, principal=principal, account_id=account_id)
    except (CitadelError, ValueError) as exc:
        out += [f"(no policy could be generated: {exc})", ""]
    else:
        for doc in docs:
            out += [f"{doc.title}, file `{doc.filename}`:", "", f"```{doc.format}", doc.text.rstrip("\n"), "```", ""]
    out += ["### Secrets", "", "| Env key | Environment | Stored as | Rotation | Last changed |",
            "|---|---|---|---|---|"]
    for item in located:
        meta = item.row.secret
        stored_as = f"`{item.name}` field `{item.field}`" if item.field else f"`{item.name}`"
        rotation = ("on" + (f", every {meta.rotation_period_days} days" if meta.rotation_period_days else "")
                    if meta and meta.rotation_enabled else "off")
        changed = f"{meta.last_changed:%Y-%m-%d}" if meta and meta.last_changed else "unknown"
        out.append(f"| `{item.row.key}` | {item.row.environment} | {stored_as} | {rotation} | {changed} |")
    out.append("")
    for item in located:
        out += [f"#### {item.row.key} ({item.row.environment})", "", "Read in an emergency:", "", "```sh",
                read_command(config, item.name, item.field), "```", "", "Rotate after use:", "", "```sh",
                rotate_command(config, item), "```", ""]
    if config.kind == "vault":
        out += ["OpenBao: `bao` takes the same arguments as `vault`.", ""]
    return out


def _where(config: SourceConfig) -> str:
    parts = {
        "aws": [("region", config.option("region")), ("profile", config.option("profile"))],
        "gcp": [("project", config.option("project")), ("location", config.option("location"))],
        "azure": [("vault", config.option("vault_url"))],
        "vault": [("address", config.option("url")), ("mount", config.option("mount", "secret")),
                  ("folder", config.option("path")), ("namespace", config.option("namespace"))],
    }[config.kind]
    parts += [("prefix", config.prefix or None), ("bundle secret", config.secret if config.layout == "bundle" else None)]
    return ", ".join(f"{label} `{value}`" for label, value in parts if value)


def write_runbook(path: Path, text: str) -> None:
    """Save the runbook privately (0600, atomic): it maps out where every secret lives."""
    write_private(path, text)
