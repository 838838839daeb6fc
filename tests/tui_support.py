"""The dashboard's test scenario on moto: two environments, two AWS sources, one store down.

Every date is set relative to a fixed clock, so what the screen says is the same on every run.
A canary value is seeded in every .env and every secret; no rendered screen may contain it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from textual.widgets import Static

from citadel_tui.core.config import Config, load_config
from citadel_tui.tui.app import CitadelApp
from citadel_tui.tui.screenshots import settle  # noqa: F401  (the tests' wait, shared with the screenshots)
from citadel_tui.workspace import Workspace

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
CANARY = "canary-tui-7c1d2e3f4a9b"
SIZE = (140, 40)

PROD_ENV = f"""\
ANALYTICS_TOKEN={CANARY}
DB_PASSWORD={CANARY}
API_TOKEN={CANARY}
SESSION_SECRET=changeme
PORT=8080
LOG_LEVEL=info
STRIPE_KEY={CANARY}
STRIPE_KEY={CANARY}2
"""
STAGING_ENV = f"""\
DB_PASSWORD={CANARY}
REDIS_URL=redis://:{CANARY}@cache:6379
"""
# name -> (days since change, rotation: None or (period days, days until next rotation), days since access)
PROD_SECRETS = {
    "DB_PASSWORD": (200, None, 1),
    "API_TOKEN": (40, (30, -10), 2),
    "SESSION_SECRET": (25, (30, 5), 0),
    "STRIPE_KEY": (10, (90, 40), 3),
    "LEGACY_KEY": (500, None, 120),
}
STAGING_SECRETS = {
    "DB_PASSWORD": (3, (30, 27), 0),
    "OLD_WEBHOOK_SECRET": (95, None, 100),
}
DOWN_ENDPOINT = "http://127.0.0.1:9"
"""The discard port: nothing listens, so the connection is refused at once, with a fixed message."""


def seed(sm) -> None:
    """Create every secret with the canary value and backdate it from NOW."""
    from citadel_tui.emulators.moto_ext import set_dates

    for prefix, secrets in (("prod/app/", PROD_SECRETS), ("staging/app/", STAGING_SECRETS)):
        for key, (changed, rotation, accessed) in secrets.items():
            name = prefix + key
            sm.create_secret(Name=name, SecretString=CANARY, Tags=[{"Key": "team", "Value": "payments"}])
            next_rotation = None
            if rotation is not None:
                sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": rotation[0]}, RotateImmediately=False)
                next_rotation = NOW + timedelta(days=rotation[1])
            set_dates(name, created=NOW - timedelta(days=changed + 30), changed=NOW - timedelta(days=changed),
                      next_rotation=next_rotation, accessed=NOW - timedelta(days=accessed, hours=1))


def source_toml(name: str, environment: str, prefix: str, endpoint: str, timeout: float = 5) -> str:
    return f"""
[[source]]
name = "{name}"
kind = "aws"
environment = "{environment}"
prefix = "{prefix}"
region = "us-east-1"
endpoint_url = "{endpoint}"
max_retries = 0
timeout_seconds = {timeout}
"""


def write_scenario(root: Path, moto_url: str, *, down: str | None = DOWN_ENDPOINT) -> Config:
    """citadel.toml, .env and .env.staging under `root`; `down` adds a source that cannot be read."""
    (root / ".env").write_text(PROD_ENV)
    (root / ".env.staging").write_text(STAGING_ENV)
    toml = '[[env]]\npath = ".env"\nenvironment = "production"\n\n[[env]]\npath = ".env.staging"\nenvironment = "staging"\n'
    toml += source_toml("aws-prod", "production", "prod/app/", moto_url)
    toml += source_toml("aws-staging", "staging", "staging/app/", moto_url)
    if down is not None:
        toml += source_toml("aws-down", "production", "prod/app/", down)
    (root / "citadel.toml").write_text(toml)
    return load_config(root / "citadel.toml")


def make_app(config: Config) -> CitadelApp:
    return CitadelApp(Workspace(config, clock=lambda: NOW))


@contextmanager
def hanging_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers, until the block ends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


async def until(pilot, condition, timeout: float = 30) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition never held")


def shown(app: CitadelApp, selector: str) -> str:
    """What a Static of the active screen shows."""
    return str(app.screen.query_one(selector, Static).render())


def logged(app: CitadelApp) -> str:
    """The checklist's log, unwrapped, as the screen wrote it."""
    return "\n".join(app.screen.log_lines)


def idle(app: CitadelApp) -> bool:
    """No checklist worker is running."""
    return not any(w.group == "checklist" and not w.is_finished for w in app.workers)
