"""`citadel demo`: four real local stores, seeded so that every status and problem appears."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citadel_tui.cli import main
from citadel_tui.core.compare import STATUSES
from citadel_tui.core.envfile import PROBLEM_KINDS
from citadel_tui.demo import CANARY, demo_workspace


@pytest.fixture(scope="module")
def demo_servers(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("demo")
    with demo_workspace(root) as running:
        yield running


@pytest.fixture
def demo(demo_servers, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in demo_servers.environment.items():
        monkeypatch.setenv(name, value)
    return demo_servers.config_path


def check_json(config: Path, capsys) -> tuple[int, dict]:
    code = main(["check", "--config", str(config), "--format", "json", "--compare-values"])
    out, err = capsys.readouterr()
    assert CANARY not in out and CANARY not in err and CANARY.lower() not in out
    return code, json.loads(out)


def test_every_status_and_problem_appears(demo: Path, capsys) -> None:
    code, report = check_json(demo, capsys)
    assert code == 1
    assert {s["name"]: (s["ok"], s["secrets"]) for s in report["sources"]} == {
        "aws-prod": (True, 8), "aws-db-bundle": (True, 3), "azure-prod": (True, 4),
        "vault-prod": (True, 3), "gcp-staging": (True, 3),
    }
    seen = {status for row in report["rows"] for status in row["statuses"]}
    assert seen == set(STATUSES)
    problems = {p["kind"] for env in report["env_files"] for p in env["problems"]}
    assert {"parse-error", "duplicate", "placeholder"} <= problems <= set(PROBLEM_KINDS)


@pytest.mark.parametrize(
    ("source", "key", "statuses"),
    [
        ("aws-prod", "DB_PASSWORD", ["present", "in-sync"]),
        ("aws-prod", "STRIPE_SECRET_KEY", ["present", "drift"]),
        ("aws-prod", "JWT_SIGNING_KEY", ["present", "in-sync", "rotation-overdue"]),
        ("aws-prod", "SENDGRID_API_KEY", ["present", "in-sync", "rotation-due"]),
        ("aws-prod", "API_TOKEN", ["present", "in-sync", "stale", "no-rotation"]),
        ("aws-prod", "ANALYTICS_KEY", ["present", "in-sync", "no-rotation", "unused"]),
        ("aws-prod", "OAUTH_CLIENT_SECRET", ["missing"]),
        ("aws-prod", "LEGACY_FTP_PASSWORD", ["orphan", "stale", "no-rotation"]),
        ("aws-db-bundle", "DB_PASSWORD", ["present", "in-sync", "no-rotation"]),
        ("azure-prod", "SESSION_SECRET", ["present", "in-sync", "expiring"]),
        ("azure-prod", "REDIS_PASSWORD", ["present", "in-sync", "stale", "no-rotation", "expired"]),
        ("azure-prod", "SLACK_WEBHOOK_TOKEN", ["present", "no-rotation", "disabled"]),
        ("vault-prod", "DB_PASSWORD", ["present", "in-sync", "rotation-due"]),
        ("vault-prod", "OLD_SMTP_PASSWORD", ["orphan", "no-rotation"]),
        ("gcp-staging", "STRIPE_SECRET_KEY", ["present", "in-sync", "stale", "rotation-due"]),
        ("gcp-staging", "SESSION_SECRET", ["present", "no-rotation", "disabled"]),
    ],
)
def test_seeded_secrets_have_their_statuses(demo: Path, capsys, source: str, key: str, statuses: list[str]) -> None:
    _, report = check_json(demo, capsys)
    row = next(r for r in report["rows"] if r["source"] == source and r["key"] == key)
    assert row["statuses"] == statuses


def test_demo_workspace_files_are_private_and_hold_canaries(demo: Path) -> None:
    env = (demo.parent / ".env").read_text()
    assert CANARY in env and "GITHUB_TOKEN=changeme" in env
    assert oct((demo.parent / ".env").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_a_closed_terminal_stops_the_demo_servers(tmp_path: Path, sig: signal.Signals) -> None:
    """The dashboard runs on a pseudo-terminal; hanging it up (or SIGTERM) must not leave the
    OpenBao server process or the demo workspace behind."""
    primary, secondary = pty.openpty()
    workspace = tmp_path / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "citadel_tui", "demo", "--workspace", str(workspace)],
                            stdin=secondary, stdout=secondary, stderr=subprocess.PIPE, start_new_session=True)
    os.close(secondary)
    try:
        bao = _wait_for_child(demo.pid, "bao", timeout=60)
        _wait_for(lambda: (workspace / "citadel.toml").is_file(), timeout=60)
        time.sleep(1)  # the dashboard is up
        demo.send_signal(sig)
        assert demo.wait(timeout=30) == 128 + sig
        _wait_for(lambda: not Path(f"/proc/{bao}").exists() or "zombie" in _status(bao), timeout=10)
    finally:
        if demo.poll() is None:
            demo.kill()
        os.close(primary)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return ""


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _wait_for_child(parent: int, name: str, timeout: float) -> int:
    found: list[int] = []

    def child() -> bool:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and f"ppid:\t{parent}\n" in _status(int(entry.name)) \
                    and f"name:\t{name}\n" in _status(int(entry.name)):
                found.append(int(entry.name))
                return True
        return False

    _wait_for(child, timeout)
    return found[0]
