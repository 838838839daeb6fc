"""`citadel check` end to end against moto, and import hygiene of the CLI and core."""

from __future__ import annotations

import base64
import csv
import io
import json
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from citadel_tui.cli import main
from tests.conftest import write_aws_project

CANARY = "canary-cli-5e6f7a8b9c"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workspace(tmp_path: Path, sm, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_aws_project(tmp_path, moto_url, f"DB_PASSWORD={CANARY}\nAPI_TOKEN={CANARY}x\nPORT=8080\nBROKEN='x\n")
    sm.create_secret(Name="prod/app/DB_PASSWORD", SecretString=CANARY)
    sm.create_secret(Name="prod/app/ORPHANED_KEY", SecretString=CANARY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_canary(*texts: str) -> None:
    forms = {CANARY, base64.b64encode(CANARY.encode()).decode(), urllib.parse.quote(CANARY)}
    for text in texts:
        for form in forms:
            assert form not in text


def test_json_report_shape_and_exit_code(workspace: Path, capsys) -> None:
    code, out, err = run(capsys, "--format", "json", "--compare-values")
    assert code == 1  # API_TOKEN is missing
    report = json.loads(out)
    assert set(report) >= {"generated_at", "policy", "env_files", "sources", "rows"}
    assert report["env_files"][0]["problems"] == [
        {"line": 4, "kind": "parse-error", "message": "cannot parse line 4: BROKEN=…"}
    ]
    assert report["sources"][0] | {"requests": 0} == {
        "name": "aws-prod", "kind": "aws", "environment": "production", "ok": True, "error": None,
        "error_class": None, "secrets": 2, "requests": 0,
    }
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["DB_PASSWORD"]["statuses"] == ["present", "in-sync", "no-rotation"]
    assert rows["DB_PASSWORD"]["secret"] == "prod/app/DB_PASSWORD" and rows["DB_PASSWORD"]["line"] == 1
    assert rows["API_TOKEN"]["statuses"] == ["missing"]
    assert rows["ORPHANED_KEY"]["statuses"] == ["orphan", "no-rotation"]
    assert rows["PORT"]["class"] == "config"
    assert_no_canary(out, err)


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv"])
def test_other_formats_never_print_values(workspace: Path, capsys, fmt: str) -> None:
    code, out, err = run(capsys, "--format", fmt, "--compare-values")
    assert code == 1
    assert "DB_PASSWORD" in out and "ORPHANED_KEY" in out
    assert_no_canary(out, err)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {r["key"]: r["statuses"] for r in rows}["API_TOKEN"] == "missing"


def test_fail_on_controls_the_exit_code(workspace: Path, capsys) -> None:
    assert run(capsys, "--fail-on", "drift")[0] == 0
    assert run(capsys, "--fail-on", "orphan")[0] == 1
    code, _, err = run(capsys, "--fail-on", "nonsense")
    assert code == 2 and "unknown status nonsense" in err


def test_unreadable_source_exits_3_and_others_still_report(workspace: Path, capsys) -> None:
    config = workspace / "citadel.toml"
    config.write_text(config.read_text() + f"""
[[source]]
name = "aws-down"
kind = "aws"
environment = "production"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:{closed_port()}"
max_retries = 0
timeout_seconds = 1
""")
    code, out, err = run(capsys, "--format", "json")
    assert code == 3
    report = json.loads(out)
    down = next(s for s in report["sources"] if s["name"] == "aws-down")
    assert down["ok"] is False and down["error_class"] == "StoreUnavailableError"
    assert "cannot reach AWS endpoint" in down["error"]
    assert any(r["source"] == "aws-prod" for r in report["rows"])
    assert "'aws-down' could not be read" in err


def test_configuration_errors_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys)
    assert code == 2 and "citadel.toml: no such configuration file" in err
    (tmp_path / "citadel.toml").write_text("[[source]]\nname='x'\nkind='aws'\nregion=1\n")
    code, _, err = run(capsys)
    assert code == 2 and "source[0].region must be str" in err


def test_missing_env_file_exits_2_and_names_it(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "citadel.toml").write_text("[[env]]\npath = 'absent.env'\n")
    code, _, err = run(capsys, "--format", "json")
    assert code == 2 and f"{tmp_path / 'absent.env'}: no such file" in err


def test_help_and_core_load_no_cloud_sdk_and_no_textual() -> None:
    probe = (
        "import sys, runpy\n"
        "import citadel_tui.core.compare, citadel_tui.core.config, citadel_tui.core.envfile, citadel_tui.core.report\n"
        "import citadel_tui.workspace\n"
        "sys.argv = ['citadel', '--help']\n"
        "try:\n    runpy.run_module('citadel_tui', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'hvac', 'google', 'azure', 'textual', 'grpc'})\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_policy_command_covers_the_secret_keys(workspace: Path, capsys) -> None:
    code = main(["policy", "--format", "json", "--account-id", "111122223333"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "secretsmanager:GetSecretValue" in out
    assert "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/app/DB_PASSWORD-??????" in out
    assert "PORT" not in out  # config, not secret
    json.loads(out)
    assert_no_canary(out, err)
    code = main(["policy", "--source", "nope"])
    assert code == 2 and "no source named 'nope'" in capsys.readouterr().err


def test_code_command_lists_uses_and_generates_reading_code(workspace: Path, capsys) -> None:
    (workspace / "app.py").write_text("import os\n\npassword = os.environ['DB_PASSWORD']\nold = os.getenv('DB_PASSWORD_OLD')\n")
    code = main(["code", "--source", "aws-prod"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "DB_PASSWORD: 1 use(s)" in out and "app.py:3" in out
    assert "API_TOKEN: no use found" in out
    assert "SecretReader" in out
    header = next(line for line in out.splitlines() if line.startswith("# ") and line.endswith("for aws-prod"))
    compile(out.split(header, 1)[1], "generated.py", "exec")
    assert_no_canary(out, err)
