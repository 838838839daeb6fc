"""citadel.toml: strict loading. Every mistake names the file, the key and what is allowed."""

from __future__ import annotations

import math
import stat
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citadel_tui.core.classify import VALID_NAME
from citadel_tui.core.errors import ConfigError
from citadel_tui.core.model import Policy

KINDS = ("aws", "gcp", "azure", "vault")
LAYOUTS = ("per-key", "bundle")

# Keys every source accepts, then the keys each kind adds: name -> (type, what it is).
COMMON_SOURCE_KEYS: dict[str, tuple[type, str]] = {
    "name": (str, "unique name of the source"),
    "kind": (str, "one of " + ", ".join(KINDS)),
    "environment": (str, "environment label matched with [[env]] entries"),
    "prefix": (str, "name prefix: env key K <-> secret PREFIX+K"),
    "layout": (str, "one of " + ", ".join(LAYOUTS)),
    "secret": (str, "the bundle secret's name (layout = \"bundle\")"),
    "keys": (list, "the .env keys this store holds, e.g. [\"DB_PASSWORD\"] (default: every key of its environment)"),
    "timeout_seconds": (float, "per-request timeout in seconds"),
    "max_retries": (int, "retries on throttling and server errors"),
    "cache_ttl_seconds": (float, "how long an inventory stays fresh"),
}
KIND_KEYS: dict[str, dict[str, tuple[type, str]]] = {
    "aws": {
        "region": (str, "AWS region, e.g. us-east-1"),
        "profile": (str, "named profile from ~/.aws/config"),
        "endpoint_url": (str, "custom endpoint (testing, VPC endpoints)"),
        "rotation_lambda_arn": (str, "Lambda ARN used when configuring rotation"),
        "audit_bucket": (str, "S3 bucket CloudTrail writes the audit trail to (step 8)"),
    },
    "gcp": {
        "project": (str, "GCP project id"),
        "location": (str, "regional location, e.g. europe-west1"),
        "endpoint": (str, "host:port of a plaintext gRPC endpoint (emulator)"),
        "rotation_topic": (str, "Pub/Sub topic for rotation notifications"),
    },
    "azure": {
        "vault_url": (str, "https://NAME.vault.azure.net"),
        "ca_bundle": (str, "CA certificate file to trust (emulator)"),
        "vault_resource_id": (str, "ARM resource id of the vault (audit status)"),
        "audit_workspace_id": (str, "Log Analytics workspace resource id that receives the vault's AuditEvent logs (step 8)"),
        "management_url": (str, "Azure Resource Manager endpoint, default https://management.azure.com"),
        "authority_host": (str, "Entra ID authority for sovereign clouds or Azure Stack, e.g. login.microsoftonline.us"),
    },
    "vault": {
        "url": (str, "Vault/OpenBao address, e.g. https://vault:8200"),
        "mount": (str, "KV mount point, default \"secret\""),
        "path": (str, "folder under the mount holding this app's secrets"),
        "kv_version": (int, "1 or 2"),
        "namespace": (str, "Vault Enterprise namespace"),
        "ca_cert": (str, "CA certificate file to trust for https"),
    },
}
LIMITS: dict[str, tuple[float, float]] = {
    "timeout_seconds": (0.001, 3600.0),
    "max_retries": (0, 20),
    "cache_ttl_seconds": (0.001, 7 * 86400.0),
}
"""Inclusive bounds of numeric source keys: beyond them a value is a typo, not a choice."""
MAX_POLICY_DAYS = 36500
POLICY_LIMITS = {"rotation_period_days": (30, 90)}
"""Policy keys with their own bounds: a schedule shorter than a month or longer than a quarter
is refused, as the migration checklist prescribes."""
URL_KEYS = ("url", "vault_url", "endpoint_url", "management_url", "authority_host")
REQUIRED_KIND_KEYS = {"aws": (), "gcp": ("project",), "azure": ("vault_url",), "vault": ("url",)}


@dataclass(frozen=True)
class EnvConfig:
    path: Path
    environment: str = "default"


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    environment: str = "default"
    prefix: str = ""
    layout: str = "per-key"
    secret: str | None = None
    timeout_seconds: float = 10.0
    max_retries: int = 3
    cache_ttl_seconds: float = 300.0
    options: dict[str, Any] = field(default_factory=dict)
    """The kind-specific keys (region, project, vault_url, url, ...)."""
    keys: tuple[str, ...] | None = None
    """The .env keys this store holds when an environment's keys are split across stores."""

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def holds(self, key: str) -> bool:
        """Whether this store is where `key` of its environment belongs."""
        return self.keys is None or key in self.keys


@dataclass(frozen=True)
class Config:
    path: Path | None
    policy: Policy = field(default_factory=Policy)
    envs: tuple[EnvConfig, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    read_only: bool = False

    def environments(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in (*self.envs, *self.sources):
            seen.setdefault(item.environment, None)
        return list(seen)


def load_config(path: Path) -> Config:
    """Read and validate a citadel.toml. Relative env paths are relative to the file."""
    try:
        if not stat.S_ISREG(path.stat().st_mode) and not path.is_dir():
            raise ConfigError(f"{path}: is not a regular file (a FIFO, socket or device); --config needs a citadel.toml file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (use --config PATH)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; --config needs a citadel.toml file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables are nested too deeply to be a configuration") from None
    return parse_config(raw, path.absolute())


def parse_config(raw: dict[str, Any], path: Path | None) -> Config:
    where = str(path) if path else "<config>"
    base = path.parent if path else Path.cwd()
    _check_keys(where, "", raw, {"policy", "env", "source", "read_only"})
    policy = _parse_policy(where, raw.get("policy", {}))
    envs = tuple(
        _parse_env(where, i, item, base) for i, item in enumerate(_table_list(where, raw, "env"))
    )
    sources = tuple(
        _parse_source(where, i, item) for i, item in enumerate(_table_list(where, raw, "source"))
    )
    names = [s.name for s in sources]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{where}: source name {name!r} is used more than once; names must be unique")
    read_only = raw.get("read_only", False)
    if not isinstance(read_only, bool):
        raise ConfigError(f"{where}: read_only must be true or false, got {read_only!r}")
    return Config(path=path, policy=policy, envs=envs, sources=sources, read_only=read_only)


def _check_keys(where: str, section: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            label = f"{section}.{key}" if section else key
            raise ConfigError(
                f"{where}: unknown key {label!r}; allowed here: {', '.join(sorted(allowed))}"
            )


def _table_list(where: str, raw: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = raw.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{where}: {name!r} must be an array of tables, written [[{name}]]")
    return items


def _typed(where: str, label: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {label} must be {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where}: {label} must be a finite number, got {value!r}")
    if kind is str and "\x00" in value:
        raise ConfigError(f"{where}: {label} must not contain a NUL character")
    if kind is str and not value.strip() and not label.endswith("prefix"):
        raise ConfigError(f"{where}: {label} must not be empty")
    return value


def _parse_policy(where: str, table: Any) -> Policy:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [policy] must be a table")
    allowed = {"stale_after_days", "rotation_window_days", "unused_after_days", "rotation_period_days"}
    _check_keys(where, "policy", table, allowed)
    values = {}
    for key, value in table.items():
        days = _typed(where, f"policy.{key}", value, int)
        low, high = POLICY_LIMITS.get(key, (1, MAX_POLICY_DAYS))
        if not low <= days <= high:
            allowed_days = f"from {low} to {high}" if key in POLICY_LIMITS else f"a positive number of days up to {high}"
            raise ConfigError(f"{where}: policy.{key} must be {allowed_days}, got {days}")
        values[key] = days
    return Policy(**values)


def _parse_env(where: str, index: int, table: dict[str, Any], base: Path) -> EnvConfig:
    label = f"env[{index}]"
    _check_keys(where, label, table, {"path", "environment"})
    if "path" not in table:
        raise ConfigError(f"{where}: {label}.path is required (the .env file to read)")
    text = _typed(where, f"{label}.path", table["path"], str)
    try:
        path = Path(text).expanduser()
    except RuntimeError:
        raise ConfigError(f"{where}: {label}.path {text!r}: cannot expand '~' (no such user or no home directory)") from None
    environment = _typed(where, f"{label}.environment", table.get("environment", "default"), str)
    return EnvConfig(path=path if path.is_absolute() else base / path, environment=environment)


def _parse_source(where: str, index: int, table: dict[str, Any]) -> SourceConfig:
    label = f"source[{index}]"
    kind = table.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: {label}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    schema = {**COMMON_SOURCE_KEYS, **KIND_KEYS[kind]}
    _check_keys(where, label, table, set(schema))
    if "name" not in table:
        raise ConfigError(f"{where}: {label}.name is required (a unique name for this source)")
    values = {key: _typed(where, f"{label}.{key}", value, schema[key][0]) for key, value in table.items()}
    label = f"source {values['name']!r}"
    for key in REQUIRED_KIND_KEYS[kind]:
        if key not in values:
            raise ConfigError(f"{where}: {label} needs {key!r} ({KIND_KEYS[kind][key][1]})")
    layout = values.get("layout", "per-key")
    if layout not in LAYOUTS:
        raise ConfigError(f"{where}: {label}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "bundle" and "secret" not in values:
        raise ConfigError(f"{where}: {label}: layout \"bundle\" needs secret = \"NAME\" (the JSON secret)")
    for key in URL_KEYS:
        if key in values:
            _check_url(where, f"{label}: {key}", values[key])
    if values.get("kv_version", 2) not in (1, 2):
        raise ConfigError(f"{where}: {label}: kv_version must be 1 or 2, got {values['kv_version']!r}")
    for key, (low, high) in LIMITS.items():
        if key in values and not low <= values[key] <= high:
            raise ConfigError(f"{where}: {label}: {key} must be between {low:g} and {high:g}, got {values[key]!r}")
    if "keys" in values:
        values["keys"] = _key_list(where, f"{label}: keys", values["keys"])
    common = {k: v for k, v in values.items() if k in COMMON_SOURCE_KEYS}
    options = {k: v for k, v in values.items() if k not in COMMON_SOURCE_KEYS}
    return SourceConfig(**common, options=options)


def _key_list(where: str, label: str, keys: list[Any]) -> tuple[str, ...]:
    """A non-empty list of distinct .env key names."""
    if not keys:
        raise ConfigError(f"{where}: {label} must name at least one key (leave it out to mean every key)")
    bad = [k for k in keys if not isinstance(k, str) or not VALID_NAME.fullmatch(k)]
    if bad:
        raise ConfigError(f"{where}: {label}: not .env key names: {', '.join(map(repr, bad[:5]))}")
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ConfigError(f"{where}: {label}: listed twice: {', '.join(repeated)}")
    return tuple(keys)


def _check_url(where: str, label: str, url: str) -> None:
    """An http(s) URL with a host and a valid port, so a typo fails here, not deep in an SDK."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: {label} must start with http:// or https://, got {url!r}")
    problem = None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError as exc:
        problem = str(exc)
    else:
        if not parts.hostname:
            problem = "no host"
        elif any(ch.isspace() or not ch.isprintable() for ch in url):
            problem = "spaces or control characters"
    if problem:
        raise ConfigError(f"{where}: {label} is not a valid URL ({problem}), got {url!r}")
