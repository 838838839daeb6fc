"""`citadel demo`: the whole product on an embedded default, no cloud account needed.

Starts real servers on 127.0.0.1 — moto for AWS, a real OpenBao dev server for Vault, and the
project's GCP and Azure emulators — seeds them through Citadel's own adapters with a scenario in
which every status appears, writes a throw-away workspace (`.env`, `.env.staging`,
`citadel.toml`) and opens the dashboard on it. Every seeded value contains `CANARY`, so tests can
prove no value ever reaches a screen, a report or a log.
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
        self.bao = self._stack.enter_context(OpenBaoServer(token=VAULT_TOKEN))
        self.gcp = self._stack.enter_context(GcpEmulator())
        self.azure = self._stack.enter_context(AzureEmulator())

    def environment(self) -> dict[str, str]:
        """The credentials the SDKs find in the environment, as they would on an operator's machine."""
        return {
            "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1",
            "VAULT_TOKEN": VAULT_TOKEN, **self.azure.environment(),
        }

    def config_text(self, root: Path) -> str:
        return f"""# Written by `citadel demo`: four local stores on 127.0.0.1.
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

[[source]]
name = "aws-db-bundle"
kind = "aws"
environment = "production"
layout = "bundle"
secret = "prod/shop-database"
region = "us-east-1"
endpoint_url = "{self.endpoints['aws']}"

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


def write_workspace(stack: DemoStack, root: Path, now: datetime | None = None) -> Path:
    """Seed the stores and write `.env`, `.env.staging` and `citadel.toml` under `root`."""
    now = now or datetime.now(timezone.utc)
    values = {key: demo_value(key) for key in PRODUCTION_KEYS}
    values.update({f"staging:{key}": demo_value(key) for key in STAGING_KEYS})
    (root / ".env").write_text(env_text(values), encoding="utf-8")
    (root / ".env.staging").write_text(staging_text(values), encoding="utf-8")
    config_path = root / "citadel.toml"
    config_path.write_text(stack.config_text(root), encoding="utf-8")
    config = load_config(config_path)
    _seed(stack, config, values, now)
    for path in (root / ".env", root / ".env.staging", config_path):
        path.chmod(0o600)
    return config_path


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
def demo_workspace(root: Path | None = None) -> Iterator[Demo]:
    """Servers up, stores seeded, workspace written; everything stopped and removed afterwards."""
    with ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citadel-demo-")))
        servers = stack.enter_context(DemoStack())
        environment = servers.environment()
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            yield Demo(write_workspace(servers, root), environment)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
