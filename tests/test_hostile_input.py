"""Bad input never crashes: every hostile `.env` or `citadel.toml` ends in a result or a clear
error naming the file (and line where there is one), exit code 2, never a traceback or a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citadel_tui.cli import EXIT_USAGE, main
from citadel_tui.core.config import Config, load_config, parse_config
from citadel_tui.core.envfile import EnvFile, read_env_file
from citadel_tui.core.errors import ConfigError, EnvFileError
from citadel_tui.core.fingerprint import Fingerprinter
from tests.corpus import ENV_CASES, TOML_CASES, Case

TIMEOUT = 20.0
"""Seconds any single case may take before it counts as a hang."""
SPECIAL_ENV = ("directory", "fifo", "missing")
""".env paths that are not files with content: they are made by `make_env_target`."""


def make_env_target(folder: Path, name: str) -> tuple[Path, str | None]:
    """A .env path of a special kind and the error it must give."""
    path = folder / f"{name}.env"
    if name == "directory":
        path.mkdir()
        return path, "is a directory"
    if name == "fifo":
        os.mkfifo(path)  # a reader that opens it blocking would hang forever
        return path, "is not a regular file"
    return path, "no such file"


def env_case_config(folder: Path, case: Case | str) -> tuple[Path, Path, str | None]:
    """A citadel.toml reading one hostile .env file; returns (config, env path, expected)."""
    if isinstance(case, str):
        env, expected = make_env_target(folder, case)
    else:
        env, expected = folder / f"{case.name}.env", case.expected
        env.write_bytes(case.content)
    config = folder / f"{env.name}.toml"
    config.write_text(f"[[env]]\npath = {json.dumps(str(env))}\n")
    return config, env, expected


def run_bounded(argv: list[str]) -> int:
    """`main(argv)` in a thread, failing the test if it does not return within TIMEOUT."""
    result: list[int] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(main(argv))
        except BaseException as exc:  # noqa: BLE001 - reported below as the test failure
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), f"citadel {' '.join(argv)} hung for {TIMEOUT}s"
    assert not errors, f"citadel {' '.join(argv)} raised {errors[0]!r}"
    return result[0]


def assert_outcome(code: int, out: str, err: str, named: Path, expected: str | None) -> None:
    assert "Traceback" not in out + err
    if expected is None:
        assert code in (0, 1), err
        json.loads(out)
    else:
        assert code == EXIT_USAGE, (code, err)
        assert f"citadel: {named}" in err or f"citadel: {str(named)!r}" in err, err
        assert expected in err, err


@pytest.mark.parametrize("case", [*ENV_CASES, *SPECIAL_ENV], ids=lambda c: c if isinstance(c, str) else c.name)
def test_hostile_env_file_through_check(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case | str) -> None:
    config, env, expected = env_case_config(tmp_path, case)
    code = run_bounded(["check", "--config", str(config), "--format", "json"])
    out, err = capsys.readouterr()
    assert_outcome(code, out, err, env, expected)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_config_path_that_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    path, expected = make_env_target(tmp_path, kind)
    code = run_bounded(["check", "--config", str(path)])
    assert_outcome(code, *capsys.readouterr(), path, expected)


@pytest.mark.parametrize("case", TOML_CASES, ids=lambda c: c.name)
def test_hostile_config_through_check(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case) -> None:
    config = tmp_path / f"{case.name}.toml"
    config.write_bytes(case.content)
    code = run_bounded(["check", "--config", str(config), "--format", "json"])
    out, err = capsys.readouterr()
    assert_outcome(code, out, err, config, case.expected)


def test_a_hundred_thousand_keys_are_all_read(tmp_path: Path) -> None:
    case = next(c for c in ENV_CASES if c.name == "100k-keys")
    (tmp_path / ".env").write_bytes(case.content)
    env = read_env_file(tmp_path / ".env", "default", Fingerprinter())
    assert len(env.entries) == 100_000 and env.entry("KEY_99999").line == 100_000  # type: ignore[union-attr]


def test_interpolation_is_never_expanded(tmp_path: Path) -> None:
    """`A=${B}` / `B=${A}` must not loop: values are read literally, never interpolated."""
    (tmp_path / ".env").write_text("A=${B}\nB=${A}\n")
    fingerprint = Fingerprinter()
    env = read_env_file(tmp_path / ".env", "default", fingerprint)
    assert env.entry("A").fingerprint == fingerprint("${B}")  # type: ignore[union-attr]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="citadel-hostile-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_unreadable_env_file_is_a_clear_error(shared_dir: Path) -> None:
    """Root reads any file, so as root the CLI runs as `nobody` to meet a real EACCES."""
    env = shared_dir / "secret.env"
    env.write_text("A=1\n")
    env.chmod(0)
    config = shared_dir / "citadel.toml"
    config.write_text(f"[[env]]\npath = {json.dumps(str(env))}\n")
    config.chmod(0o644)
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*as_user, sys.executable, "-m", "citadel_tui", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=shared_dir,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"citadel: {env}: permission denied" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_hostile_input_through_a_real_process(tmp_path: Path) -> None:
    """The same corpus through `python -m citadel_tui check` in subprocesses, with timeouts."""
    runs: list[tuple[Path, Path, str | None]] = []
    for case in (*ENV_CASES, *SPECIAL_ENV):
        runs.append(env_case_config(tmp_path, case))
    for case in TOML_CASES:
        config = tmp_path / f"{case.name}.citadel.toml"
        config.write_bytes(case.content)
        runs.append((config, config, case.expected))

    def run(item: tuple[Path, Path, str | None]) -> tuple[subprocess.CompletedProcess[str], Path, str | None]:
        config, named, expected = item
        result = subprocess.run(
            [sys.executable, "-m", "citadel_tui", "check", "--config", str(config), "--format", "json"],
            capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
        )
        return result, named, expected

    with ThreadPoolExecutor(max_workers=8) as pool:
        for result, named, expected in pool.map(run, runs):
            assert_outcome(result.returncode, result.stdout, result.stderr, named, expected)


# -- fuzzing ------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALUE_MARK = "Vq7ZK"
ENV_TOKENS = st.sampled_from([*"AZaz_09=#'\"\\$ {}\t\n\r-:.", "export ", "\ufeff", "\x00", "é", "${A}"])
TOML_TOKENS = st.sampled_from([*"[]{}=.,'\"#\n \\ab_09+-", "nan", "inf", "true", "[[source]]", "[[env]]", "[policy]",
                               "name", "kind", "'aws'", "'vault'", "url", "path", "1979-05-27T07:32:00Z",
                               '"""', "'''", "0x7f", "1e999"])


def tokens(alphabet: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """Strings made of whole tokens (keywords and single characters) of a format."""
    return st.lists(alphabet, max_size=max_size).map("".join)


keys = st.text(st.sampled_from(list("ABCxyz_09- .$")), min_size=0, max_size=8)
quotes = st.sampled_from(["", "'", '"'])
values = tokens(ENV_TOKENS, 12).map(lambda tail: VALUE_MARK + tail.replace("\x00", ""))


def fuzz_read(text: bytes) -> EnvFile | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ".env"
        path.write_bytes(text)
        try:
            return read_env_file(path, "default", Fingerprinter())
        except EnvFileError as exc:
            assert str(path) in str(exc)
            return None


@FUZZ
@given(st.binary(max_size=600) | tokens(ENV_TOKENS, 300).map(lambda t: t.encode("utf-8")))
def test_fuzz_env_parser_never_crashes(data: bytes) -> None:
    env = fuzz_read(data)
    if env is not None:
        lines = data.count(b"\n") + data.count(b"\r") + 1
        assert all(1 <= p.line <= lines for p in env.problems)
        assert len({e.key for e in env.entries}) == len(env.entries)


@FUZZ
@given(st.lists(st.tuples(keys, quotes, values, st.sampled_from(["", "export "]), st.booleans()), max_size=8))
def test_fuzz_env_problems_never_show_a_value(lines: list[tuple[str, str, str, str, bool]]) -> None:
    """Parse errors and other problems name keys and lines, never the value after `=`."""
    text = "".join(f"{export}{key}={quote}{value}{quote if closed else ''}\n"
                   for key, quote, value, export, closed in lines)
    env = fuzz_read(text.encode("utf-8"))
    assert env is not None
    for problem in env.problems:
        assert VALUE_MARK not in problem.message


toml_scalars = (st.none().map(lambda _: "x") | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=20) | st.sampled_from(["aws", "gcp", "azure", "vault", "http://h", "per-key", "bundle"]))
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=10)
source_keys = st.sampled_from(["name", "kind", "region", "project", "url", "vault_url", "endpoint_url", "prefix",
                               "layout", "secret", "timeout_seconds", "max_retries", "kv_version", "path", "bogus"])
sources = st.dictionaries(source_keys, toml_values, max_size=6)
configs = st.fixed_dictionaries({}, optional={
    "source": st.lists(sources, max_size=3) | toml_values,
    "env": st.lists(st.dictionaries(st.sampled_from(["path", "environment", "x"]), toml_values, max_size=2),
                    max_size=2) | toml_values,
    "policy": st.dictionaries(st.sampled_from(["stale_after_days", "rotation_window_days", "y"]), toml_values,
                              max_size=2) | toml_values,
    "read_only": toml_values,
})


@FUZZ
@given(configs)
def test_fuzz_config_schema_never_crashes(raw: dict[str, object]) -> None:
    try:
        assert isinstance(parse_config(raw, Path("/fuzz/citadel.toml")), Config)
    except ConfigError as exc:
        assert str(exc).startswith("/fuzz/citadel.toml: ")


@FUZZ
@given(st.binary(max_size=400) | tokens(TOML_TOKENS, 200).map(str.encode))
def test_fuzz_config_file_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "citadel.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: ")
