"""`citadel demo`: the whole product on an embedded default, no cloud account needed.

Starts real servers on 127.0.0.1 — moto for AWS, a real OpenBao dev server for Vault, and the
project's GCP and Azure emulators — and writes a throw-away workspace (`.env`, `.env.staging`,
`citadel.toml`) for one of two scenarios, then opens the dashboard on it:

- `dashboard`: the stores are seeded through Citadel's own adapters so that every status appears;
- `migration`: the stores are empty (every key is missing) and the project has application code,
  the starting point of the nine-step checklist (`k`).

Every value contains `CANARY`, so tests can prove no value ever reaches a screen, a report or a log.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from citadel_tui.core.config import Config, load_config
from citadel_tui.providers import open_source

CANARY = "CANARY"
GCP_PROJECT = "shop-staging"
VAULT_TOKEN = "citadel-demo-root"
AUDIT_BUCKET = "shop-cloudtrail-audit"
SCENARIOS = ("dashboard", "migration")


def demo_value(key: str) -> str:
    """A realistic-looking value that carries the canary marker."""
    return f"{key.lower()}-{CANARY}-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Seed:
    """One secret the demo puts in a store, and how old and how scheduled it looks."""

    source: str
    key: str
    same_as_env: bool = True
    changed_days_ago: int = 3
    rotation_days: int | None = None
    next_rotation_in_days: int | None = None
    expires_in_days: int | None = None
    accessed_days_ago: int | None = None
    disabled: bool = False


PRODUCTION_KEYS = (
    "DATABASE_URL", "DB_PASSWORD", "STRIPE_SECRET_KEY", "JWT_SIGNING_KEY", "SENDGRID_API_KEY",
    "API_TOKEN", "ANALYTICS_KEY", "OAUTH_CLIENT_SECRET", "SESSION_SECRET", "REDIS_PASSWORD",
    "SLACK_WEBHOOK_TOKEN",
)
STAGING_KEYS = ("DB_PASSWORD", "STRIPE_SECRET_KEY", "JWT_SIGNING_KEY", "SESSION_SECRET")
MIGRATION_KEYS = ("DB_PASSWORD", "STRIPE_SECRET_KEY", "JWT_SIGNING_KEY", "SENDGRID_API_KEY")
MIGRATION_STAGING_KEYS = ("DB_PASSWORD", "STRIPE_SECRET_KEY")
APP_FILES = {
    "app/settings.py": (
        "import os\n\n"
        "DATABASE_PASSWORD = os.environ[\"DB_PASSWORD\"]\n"
        "STRIPE_KEY = os.getenv(\"STRIPE_SECRET_KEY\")\n"
        "JWT_KEY = os.environ.get(\"JWT_SIGNING_KEY\", \"\")\n"
    ),
    "app/mailer.js": "const apiKey = process.env.SENDGRID_API_KEY;\nmodule.exports = { apiKey };\n",
    "deploy/run.sh": "#!/bin/sh\nexec gunicorn app:wsgi --env DB_PASSWORD=\"$DB_PASSWORD\"\n",
}
"""The migration scenario's application: the code step 3 finds and the operator ticks."""

SEEDS = (
    # AWS, production: rotation in every state, an old secret, an idle one, drift, an orphan.
    Seed("aws-prod", "DATABASE_URL", rotation_days=30, next_rotation_in_days=27, accessed_days_ago=1),
    Seed("aws-prod", "DB_PASSWORD", rotation_days=30, next_rotation_in_days=20, accessed_days_ago=0),
    Seed("aws-prod", "STRIPE_SECRET_KEY", same_as_env=False, rotation_days=90, next_rotation_in_days=60),
    Seed("aws-prod", "JWT_SIGNING_KEY", changed_days_ago=40, rotation_days=30, next_rotation_in_days=-10),
    Seed("aws-prod", "SENDGRID_API_KEY", changed_days_ago=80, rotation_days=90, next_rotation_in_days=10),
    Seed("aws-prod", "API_TOKEN", changed_days_ago=210),
    Seed("aws-prod", "ANALYTICS_KEY", changed_days_ago=30, accessed_days_ago=120),
    Seed("aws-prod", "LEGACY_FTP_PASSWORD", changed_days_ago=400),
    # Azure, production: expiry and a disabled secret.
    Seed("azure-prod", "SESSION_SECRET", rotation_days=30, expires_in_days=5),
    Seed("azure-prod", "REDIS_PASSWORD", changed_days_ago=100, expires_in_days=-3),
    Seed("azure-prod", "SLACK_WEBHOOK_TOKEN", disabled=True),
    Seed("azure-prod", "DB_PASSWORD", rotation_days=60),
    # Vault, production: a schedule by custom metadata, one without, an orphan.
    Seed("vault-prod", "DB_PASSWORD", rotation_days=7),
    Seed("vault-prod", "API_TOKEN"),
    Seed("vault-prod", "OLD_SMTP_PASSWORD"),
    # GCP, staging.
    Seed("gcp-staging", "DB_PASSWORD", rotation_days=30, next_rotation_in_days=25),
    Seed("gcp-staging", "STRIPE_SECRET_KEY", changed_days_ago=120, rotation_days=90, next_rotation_in_days=5),
    Seed("gcp-staging", "SESSION_SECRET", disabled=True),
)


def env_text(values: dict[str, str]) -> str:
    """The production .env, with the problems real ones have: a duplicate, a placeholder,
    a line python-dotenv cannot parse, and plain configuration next to secrets."""
    lines = ["# Shop API — production", "PORT=8080", "LOG_LEVEL=info"]
    lines += [f"{key}={values[key]}" for key in PRODUCTION_KEYS]
    lines += [
        "GITHUB_TOKEN=changeme",
        f"SENTRY_DSN=https://{CANARY.lower()}@o1.ingest.sentry.io/1",
        f"MAILER_PASSWORD='{values['DB_PASSWORD'][:6]}",
        f"SENTRY_DSN=https://{CANARY.lower()}2@o1.ingest.sentry.io/1",
    ]
    return "\n".join(lines) + "\n"


def staging_text(values: dict[str, str]) -> str:
    lines = ["# Shop API — staging", "PORT=8080", "FEATURE_FLAGS=beta-checkout"]
    lines += [f"{key}={values['staging:' + key]}" for key in STAGING_KEYS]
    return "\n".join(lines) + "\n"


class DemoStack:
    """The four local stores; a context manager that stops everything it started."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.endpoints: dict[str, Any] = {}

    def __enter__(self) -> DemoStack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        """Start the four servers; OpenBao declares a file audit device in its configuration, the
        only way OpenBao takes one (the other stores get theirs through Citadel, step 8)."""
        from moto.server import ThreadedMotoServer

        from citadel_tui.emulators.azure import AzureEmulator
        from citadel_tui.emulators.gcp import GcpEmulator
        from citadel_tui.emulators.openbao import OpenBaoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        self.endpoints["aws"] = f"http://{host}:{port}"
        audit_dir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="citadel-demo-audit-")))
        self.bao = self._stack.enter_context(OpenBaoServer(token=VAULT_TOKEN, audit_log=audit_dir / "openbao-audit.log"))
        self.gcp = self._stack.enter_context(GcpEmulator())
        self.azure = self._stack.enter_context(AzureEmulator())

    def environment(self) -> dict[str, str]:
        """The credentials the SDKs find in the environment, as they would on an operator's machine."""
        return {
            "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1",
            "VAULT_TOKEN": VAULT_TOKEN, **self.azure.environment(),
        }

    @property
    def audit_workspace_id(self) -> str:
        """A Log Analytics workspace in the vault's resource group, for the vault's diagnostic setting."""
        group = self.azure.vault_resource_id.split("/providers/")[0]
        return f"{group}/providers/Microsoft.OperationalInsights/workspaces/shop-audit"

    def config_text(self, scenario: str = "dashboard") -> str:
        bundle = "" if scenario == "migration" else f"""
[[source]]
name = "aws-db-bundle"
kind = "aws"
environment = "production"
layout = "bundle"
secret = "prod/shop-database"
keys = ["DB_USER", "DB_PASSWORD", "DB_HOST"]
region = "us-east-1"
endpoint_url = "{self.endpoints['aws']}"
"""
        return f"""# Written by `citadel demo --scenario {scenario}`: four local stores on 127.0.0.1.
[policy]
stale_after_days = 90
rotation_window_days = 14
unused_after_days = 90

[[env]]
path = ".env"
environment = "production"

[[env]]
path = ".env.staging"
environment = "staging"

[[source]]
name = "aws-prod"
kind = "aws"
environment = "production"
prefix = "prod/shop/"
region = "us-east-1"
endpoint_url = "{self.endpoints['aws']}"
audit_bucket = "{AUDIT_BUCKET}"
{bundle}
[[source]]
name = "azure-prod"
kind = "azure"
environment = "production"
prefix = "shop-"
vault_url = "{self.azure.vault_url}"
ca_bundle = "{self.azure.ca_file}"
authority_host = "{self.azure.authority_host}"
management_url = "{self.azure.management_url}"
vault_resource_id = "{self.azure.vault_resource_id}"
audit_workspace_id = "{self.audit_workspace_id}"

[[source]]
name = "vault-prod"
kind = "vault"
environment = "production"
url = "{self.bao.url}"
mount = "secret"
path = "shop"

[[source]]
name = "gcp-staging"
kind = "gcp"
environment = "staging"
project = "{GCP_PROJECT}"
endpoint = "{self.gcp.endpoint}"
rotation_topic = "projects/{GCP_PROJECT}/topics/secret-rotation"
"""


def write_workspace(stack: DemoStack, root: Path, now: datetime | None = None, scenario: str = "dashboard") -> Path:
    """Write `.env`, `.env.staging` and `citadel.toml` under `root`; seed the stores for the
    dashboard scenario, or write the application's code for the migration one."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    now = now or datetime.now(timezone.utc)
    values = {key: demo_value(key) for key in PRODUCTION_KEYS}
    values.update({f"staging:{key}": demo_value(key) for key in STAGING_KEYS})
    if scenario == "migration":
        env, staging = migration_env_texts(values)
    else:
        env, staging = env_text(values), staging_text(values)
    (root / ".env").write_text(env, encoding="utf-8")
    (root / ".env.staging").write_text(staging, encoding="utf-8")
    config_path = root / "citadel.toml"
    config_path.write_text(stack.config_text(scenario), encoding="utf-8")
    _create_audit_bucket(stack)
    if scenario == "migration":
        for relative, text in APP_FILES.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text, encoding="utf-8")
    else:
        _seed(stack, load_config(config_path), values, now)
    for path in (root / ".env", root / ".env.staging", config_path):
        path.chmod(0o600)
    return config_path


def migration_env_texts(values: dict[str, str]) -> tuple[str, str]:
    """The migration scenario's .env files: secrets, configuration and one placeholder to leave out."""
    env = ["# Shop API — production", "PORT=8080", *(f"{key}={values[key]}" for key in MIGRATION_KEYS),
           "GITHUB_TOKEN=changeme"]
    staging = ["# Shop API — staging", "PORT=8080", *(f"{key}={values['staging:' + key]}" for key in MIGRATION_STAGING_KEYS)]
    return "\n".join(env) + "\n", "\n".join(staging) + "\n"


def _create_audit_bucket(stack: DemoStack) -> None:
    """The S3 bucket CloudTrail writes to: it must exist before step 8 creates the trail."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.endpoints["aws"], region_name="us-east-1",
                      aws_access_key_id="demo", aws_secret_access_key="demo")
    try:
        s3.create_bucket(Bucket=AUDIT_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass  # a second workspace on the same servers


def _seed(stack: DemoStack, config: Config, values: dict[str, str], now: datetime) -> None:
    sources = {s.name: open_source(s) for s in config.sources}
    try:
        for seed in SEEDS:
            source = sources[seed.source]
            environment = source.config.environment
            known = values.get(seed.key if environment == "production" else f"staging:{seed.key}")
            value = known if seed.same_as_env and known else demo_value(seed.key)
            name = source.secret_name(seed.key)
            source.client.create_secret(name, value, source.tags_for(seed.key))
            if seed.rotation_days:
                source.client.configure_rotation(name, seed.rotation_days)
            _age(stack, source.config.kind, name, seed, now)
        bundle = sources["aws-db-bundle"]
        bundle.client.create_secret(
            "prod/shop-database",
            json.dumps({"DB_USER": "shop", "DB_PASSWORD": values["DB_PASSWORD"], "DB_HOST": "db.prod.internal"}),
            {"managed-by": "citadel"},
        )
    finally:
        for source in sources.values():
            source.close()


def _age(stack: DemoStack, kind: str, name: str, seed: Seed, now: datetime) -> None:
    """Make a freshly created secret look as old, scheduled and used as the scenario says."""
    changed = now - timedelta(days=seed.changed_days_ago)
    created = changed - timedelta(days=30)
    next_rotation = now + timedelta(days=seed.next_rotation_in_days) if seed.next_rotation_in_days is not None else None
    expires = now + timedelta(days=seed.expires_in_days) if seed.expires_in_days is not None else None
    if kind == "aws":
        from citadel_tui.emulators.moto_ext import set_dates

        accessed = now - timedelta(days=seed.accessed_days_ago) if seed.accessed_days_ago is not None else None
        set_dates(name, created=created, changed=changed, rotated=changed if seed.rotation_days else None,
                  next_rotation=next_rotation, accessed=accessed)
    elif kind == "gcp":
        stack.gcp.age_secret(name, created=created, changed=changed, next_rotation=next_rotation,
                             expires=expires, disabled=seed.disabled)
    elif kind == "azure":
        stack.azure.age_secret(name, created=created, changed=changed, expires=expires, disabled=seed.disabled)


@dataclass(frozen=True)
class Demo:
    config_path: Path
    environment: dict[str, str]
    """Credentials for the local stores; the caller puts them in os.environ while the demo runs."""


@contextmanager
def demo_workspace(root: Path | None = None, scenario: str = "dashboard") -> Iterator[Demo]:
    """Servers up, stores seeded, workspace written; everything stopped and removed afterwards."""
    with ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citadel-demo-")))
        servers = stack.enter_context(DemoStack())
        environment = servers.environment()
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            yield Demo(write_workspace(servers, root, scenario=scenario), environment)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
