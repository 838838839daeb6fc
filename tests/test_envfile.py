from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citadel_tui.core.classify import classify
from citadel_tui.core.envfile import read_env_file
from citadel_tui.core.errors import EnvFileError
from citadel_tui.core.fingerprint import Fingerprinter

CANARY = "canary-7f3c9e1d-do-not-leak"


def write(tmp_path: Path, text: str | bytes, name: str = ".env") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def kinds(env) -> list[tuple[int, str]]:
    return [(p.line, p.kind) for p in env.problems]


def test_keys_lines_and_every_problem_kind(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "# comment\n"
        f"DB_PASSWORD={CANARY}\n"
        "\n"
        "export API_TOKEN='abc def'\n"
        "EMPTY=\n"
        "BROKEN='unterminated\n"
        "PORT=8080\n"
        "PORT=9090\n"
        "stripe_key=changeme\n"
        "9LIVES=<your key here>\n"
        "NOVALUE\n"
    ))
    env = read_env_file(path, "production", Fingerprinter())
    assert [(e.key, e.line) for e in env.entries] == [
        ("DB_PASSWORD", 2), ("API_TOKEN", 4), ("EMPTY", 5), ("PORT", 8),
        ("stripe_key", 9), ("9LIVES", 10), ("NOVALUE", 11),
    ]
    assert kinds(env) == [
        (5, "empty-value"), (6, "parse-error"), (8, "duplicate"), (9, "lowercase"),
        (9, "placeholder"), (10, "invalid-name"), (10, "placeholder"), (11, "empty-value"),
    ]
    duplicate = next(p for p in env.problems if p.kind == "duplicate")
    assert "line 7" in duplicate.message and "line 8" in duplicate.message
    assert CANARY not in repr(env)


def test_parse_error_message_never_shows_the_value(tmp_path: Path) -> None:
    env = read_env_file(write(tmp_path, f"TOKEN='{CANARY}\n"), "d", Fingerprinter())
    assert kinds(env) == [(1, "parse-error")]
    assert CANARY not in env.problems[0].message
    assert "TOKEN" in env.problems[0].message


def test_bom_and_crlf(tmp_path: Path) -> None:
    env = read_env_file(write(tmp_path, b"\xef\xbb\xbfA_KEY=1\r\nB=2\r\n"), "d", Fingerprinter())
    assert [(e.key, e.line) for e in env.entries] == [("A_KEY", 1), ("B", 2)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"A=1\x00\x01\x02", "binary"),
        (b"A=1\nB=\xff\xfe\n", "line 2 is not UTF-8"),
    ],
)
def test_unreadable_content_is_a_clear_error(tmp_path: Path, content: bytes, expected: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(EnvFileError, match=expected) as info:
        read_env_file(path, "d", Fingerprinter())
    assert str(path) in str(info.value)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="no such file"):
        read_env_file(tmp_path / "nope.env", "d", Fingerprinter())
    with pytest.raises(EnvFileError, match="is a directory"):
        read_env_file(tmp_path, "d", Fingerprinter())


def test_fingerprints_are_keyed_per_run(tmp_path: Path) -> None:
    path = write(tmp_path, "A_TOKEN=same\nB_TOKEN=same\nC_TOKEN=other\n")
    one, two = Fingerprinter(), Fingerprinter()
    first = read_env_file(path, "d", one)
    again = read_env_file(path, "d", one)
    other_run = read_env_file(path, "d", two)
    fps = [e.fingerprint for e in first.entries]
    assert fps[0] == fps[1] != fps[2]
    assert fps == [e.fingerprint for e in again.entries]
    assert fps != [e.fingerprint for e in other_run.entries]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("DB_PASSWORD", "x", "secret"),
        ("STRIPE_API_KEY", "x", "secret"),
        ("GITHUB_TOKEN", "x", "secret"),
        ("SENTRY_DSN", "x", "secret"),
        ("apiKey", "x", "secret"),
        ("DATABASE_URL", "postgres://app:s3cret@db:5432/app", "secret"),
        ("SOME_ID", "wJalrXUtnFEMI7K7MDENGbPxRfiCYEXAMPLEKEY", "secret"),
        ("PORT", "8080", "config"),
        ("LOG_LEVEL", "debug", "config"),
        ("DATABASE_HOST", "db.internal", "config"),
        ("KEYBOARD_LAYOUT", "us", "config"),
        ("PUBLIC_URL", "https://example.com/path/to/some/page", "config"),
    ],
)
def test_classification(key: str, value: str, expected: str) -> None:
    assert classify(key, value) == expected


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_result_never_a_crash(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / ".env"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\x00" not in text else path.write_bytes(b"\x00")
    try:
        env = read_env_file(path, "d", Fingerprinter())
    except EnvFileError as exc:
        assert str(path) in str(exc)
        return
    lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    assert all(1 <= e.line <= lines for e in env.entries)
    assert all(1 <= p.line <= lines for p in env.problems)


def test_valueless_keys_are_judged_by_the_binding_that_wins(tmp_path: Path) -> None:
    text = "API_TOKEN=changeme\nAPI_TOKEN=real-token-1\nDB_PASSWORD=s3cret\nDB_PASSWORD=\nGITHUB_TOKEN=<token>\n"
    env = read_env_file(write(tmp_path, text), "p", Fingerprinter())
    assert {key: (p.line, p.kind) for key, p in env.valueless().items()} == {
        "DB_PASSWORD": (4, "empty-value"), "GITHUB_TOKEN": (5, "placeholder")}
