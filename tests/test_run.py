"""`citadel run` and the runtime SecretReader, against moto on loopback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citadel_tui.run import Redactor
from citadel_tui.runtime import SecretReader
from tests.conftest import write_aws_project

CANARY = "canary-run-4d5e6f7a8b"


@pytest.fixture
def project(tmp_path: Path, sm, moto_url: str) -> Path:
    write_aws_project(tmp_path, moto_url, "DB_PASSWORD=old\nAPI_TOKEN=old\nPORT=8080\n")
    sm.create_secret(Name="prod/app/DB_PASSWORD", SecretString=CANARY)
    sm.create_secret(Name="prod/app/API_TOKEN", SecretString=CANARY + "-token")
    return tmp_path


def citadel(project: Path, *args: str, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "citadel_tui", "run", "--config", str(project / "citadel.toml"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


PRINT_SECRETS = "import os; print(os.environ['DB_PASSWORD'], os.environ['API_TOKEN'], sep='|')"


def test_child_gets_secrets_and_output_is_redacted(project: Path) -> None:
    out, err = citadel(project, "--", sys.executable, "-c", PRINT_SECRETS).communicate(timeout=60)
    assert out.strip() == "[citadel:DB_PASSWORD]|[citadel:API_TOKEN]"
    assert CANARY not in out + err


def test_no_redact_passes_values_through(project: Path) -> None:
    process = citadel(project, "--no-redact", "--", sys.executable, "-c", PRINT_SECRETS)
    out, _ = process.communicate(timeout=60)
    assert out.strip() == f"{CANARY}|{CANARY}-token"


def test_exit_code_passes_through(project: Path) -> None:
    process = citadel(project, "--", sys.executable, "-c", "import sys; sys.exit(7)")
    process.communicate(timeout=60)
    assert process.returncode == 7


def test_sigterm_is_forwarded_to_the_child(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "got-term"
    child = (
        "import signal, sys, time, pathlib\n"
        f"def bye(*_):\n    pathlib.Path({str(marker)!r}).write_text('x'); sys.exit(42)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    )
    process = citadel(project, "--", sys.executable, "-c", child)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert marker.exists() and process.returncode == 42


def test_killed_child_reports_128_plus_signal(project: Path) -> None:
    process = citadel(project, "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGKILL


def test_missing_keys_refuse_unless_allowed(project: Path, sm) -> None:
    sm.delete_secret(SecretId="prod/app/API_TOKEN", ForceDeleteWithoutRecovery=True)
    process = citadel(project, "--", sys.executable, "-c", "print('ran')")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "ran" not in out
    assert "not in any 'production' store: API_TOKEN" in err
    out, _ = citadel(project, "--allow-missing", "--", sys.executable, "-c", "print('ran')").communicate(timeout=60)
    assert out.strip() == "ran"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_redaction_holds_across_chunk_boundaries(chunk: int) -> None:
    stream = Redactor({"A": "hunter2-secret", "B": "hunter2"}).stream()
    text = b"x hunter2-secret y hunter2 z hunter2-secre"
    out = b"".join(stream.feed(text[i:i + chunk]) for i in range(0, len(text), chunk)) + stream.flush()
    assert out == b"x [citadel:A] y [citadel:B] z [citadel:B]-secre"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reader_caches_until_ttl(project: Path, sm) -> None:
    clock = Clock()
    reader = SecretReader.from_config(project / "citadel.toml", "aws-prod", ttl_seconds=300, clock=clock)
    assert reader.get("DB_PASSWORD") == CANARY
    sm.put_secret_value(SecretId="prod/app/DB_PASSWORD", SecretString="rotated")
    clock.now = 299
    assert reader.get("DB_PASSWORD") == CANARY
    clock.now = 300
    assert reader.get("DB_PASSWORD") == "rotated"


def test_reader_refreshes_once_after_an_authentication_failure(project: Path, sm) -> None:
    reader = SecretReader.from_config(project / "citadel.toml", "aws-prod")

    class AuthFailed(Exception):
        pass

    attempts: list[str] = []

    @reader.refresh_on(AuthFailed, key="DB_PASSWORD")
    def connect() -> str:
        password = reader.get("DB_PASSWORD")
        attempts.append(password)
        if password != "rotated":
            raise AuthFailed("database rejected the password")
        return "connected"

    assert reader.get("DB_PASSWORD") == CANARY  # cached before the rotation
    sm.put_secret_value(SecretId="prod/app/DB_PASSWORD", SecretString="rotated")
    assert connect() == "connected"
    assert attempts == [CANARY, "rotated"]


def test_reader_json_and_unknown_source(project: Path, sm) -> None:
    sm.create_secret(Name="prod/app/DATABASE", SecretString='{"host": "db", "port": 5432}')
    reader = SecretReader.from_config(project / "citadel.toml", "aws-prod")
    assert reader.get_json("DATABASE") == {"host": "db", "port": 5432}
    from citadel_tui.core.errors import ConfigError

    with pytest.raises(ConfigError, match="no source named 'nope'; configured: aws-prod"):
        SecretReader.from_config(project / "citadel.toml", "nope")


@settings(max_examples=200, deadline=None)
@given(
    secrets=st.lists(st.text(alphabet="ab-x", min_size=3, max_size=8), min_size=1, max_size=3, unique=True),
    pieces=st.lists(st.text(alphabet="ab-x ", max_size=6), max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=20),
)
def test_no_secret_survives_any_chunking(secrets: list[str], pieces: list[str], cuts: list[int]) -> None:
    text = "".join(p + secrets[i % len(secrets)] for i, p in enumerate(pieces)).encode()
    stream = Redactor({f"K{i}": s for i, s in enumerate(secrets)}).stream()
    out, pos, i = b"", 0, 0
    while pos < len(text):
        size = cuts[i % len(cuts)]
        out += stream.feed(text[pos:pos + size])
        pos, i = pos + size, i + 1
    out += stream.flush()
    plain = Redactor({f"K{i}": s for i, s in enumerate(secrets)}).stream()
    assert out == plain.feed(text) + plain.flush()
    assert not any(s.encode() in out for s in secrets)
