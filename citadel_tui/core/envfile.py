"""Reading .env files with python-dotenv's own parser, keeping line numbers and problems.

Values are looked at once, to classify the key and to take a keyed fingerprint and a length,
then dropped: an `EnvFile` never holds a value.
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream

from citadel_tui.core.classify import VALID_NAME, classify
from citadel_tui.core.errors import EnvFileError
from citadel_tui.core.fingerprint import Fingerprinter

PROBLEM_KINDS = ("parse-error", "duplicate", "empty-value", "placeholder", "invalid-name", "lowercase")
PLACEHOLDER = re.compile(
    r"""^(?:change[-_ ]?me|changeit|replace[-_ ]?me|todo|tbd|fixme|xxx+|\*{3,}|\.\.\.+|
        placeholder|dummy|example|sample|secret|password|your[-_ ].*|<[^>]*>|\{\{.*\}\}|
        insert[-_ ].*|put[-_ ].*[-_ ]here|.*[-_]here)$""",
    re.IGNORECASE | re.VERBOSE,
)
VALUELESS = ("empty-value", "placeholder")
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EnvEntry:
    key: str
    line: int
    klass: str
    fingerprint: str | None
    length: int


@dataclass(frozen=True)
class EnvProblem:
    line: int
    kind: str
    message: str
    key: str | None = None


@dataclass(frozen=True)
class EnvFile:
    path: Path
    environment: str
    entries: tuple[EnvEntry, ...]
    """One entry per key: the binding that wins (the last, as python-dotenv does)."""
    problems: tuple[EnvProblem, ...]

    def entry(self, key: str) -> EnvEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    def problems_for(self, key: str) -> tuple[EnvProblem, ...]:
        return tuple(p for p in self.problems if p.key == key)

    def valueless(self) -> dict[str, EnvProblem]:
        """Keys whose winning binding is empty or a placeholder: there is no value to migrate."""
        lines = {e.key: e.line for e in self.entries}
        return {p.key: p for p in self.problems
                if p.kind in VALUELESS and p.key is not None and lines.get(p.key) == p.line}


def read_env_file(path: Path, environment: str, fingerprint: Fingerprinter) -> EnvFile:
    """Parse one .env file; a file that cannot be read at all is an EnvFileError naming it."""
    text = read_env_text(path)
    seen: dict[str, int] = {}
    entries: dict[str, EnvEntry] = {}
    problems: list[EnvProblem] = []
    for binding in parse_stream(io.StringIO(text)):
        raw = binding.original.string
        line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
        if binding.error:
            shown = raw.strip().splitlines()[0][:60] if raw.strip() else ""
            problems.append(EnvProblem(line, "parse-error", f"cannot parse line {line}: {_safe(shown)}"))
            continue
        key, value = binding.key, binding.value
        if key is None:
            continue
        if key in seen:
            problems.append(EnvProblem(
                line, "duplicate",
                f"{key} is also set on line {seen[key]}; the last one (line {line}) wins", key,
            ))
        seen[key] = line
        problems.extend(_value_problems(key, value, line))
        entries[key] = EnvEntry(
            key=key,
            line=line,
            klass=classify(key, value),
            fingerprint=fingerprint(value) if value else None,
            length=len(value or ""),
        )
    return EnvFile(path, environment, tuple(entries.values()), tuple(sorted(problems, key=lambda p: p.line)))


def _value_problems(key: str, value: str | None, line: int) -> list[EnvProblem]:
    problems = []
    if not VALID_NAME.fullmatch(key):
        problems.append(EnvProblem(
            line, "invalid-name", f"{_safe(key)!s} is not a valid name ([A-Za-z_][A-Za-z0-9_]*)", key,
        ))
    elif key != key.upper():
        problems.append(EnvProblem(line, "lowercase", f"{key} has lowercase letters; env keys are usually UPPER_CASE", key))
    if not value:
        problems.append(EnvProblem(line, "empty-value", f"{_safe(key)} has no value", key))
    elif PLACEHOLDER.match(value.strip()):
        problems.append(EnvProblem(line, "placeholder", f"{_safe(key)} holds a placeholder, not a real value", key))
    return problems


def _safe(text: str) -> str:
    """Printable form of a key or a parse-error line; a parse error may hold part of a value,
    so only the text up to the first `=` is shown."""
    head = text.split("=", 1)[0]
    suffix = "=…" if "=" in text else ""
    return "".join(ch if ch.isprintable() else "?" for ch in head) + suffix


def read_env_text(path: Path) -> str:
    data = _read_regular_file(path)
    if b"\x00" in data:
        raise EnvFileError(f"{path}: contains NUL bytes; this looks like a binary file, not a .env file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EnvFileError(f"{path}: line {line} is not UTF-8 text; convert the file to UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. Opened non-blocking and checked with fstat before reading,
    so a FIFO, socket or device named as a .env file is refused instead of hanging the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise EnvFileError(f"{path}: no such file") from None
    except PermissionError:
        raise EnvFileError(f"{path}: permission denied; check the file's owner and mode") from None
    except ValueError:  # a NUL byte in the path
        raise EnvFileError(f"{str(path)!r}: not a valid file name (it holds a NUL byte)") from None
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise EnvFileError(f"{path}: is a directory, not a .env file")
        if not stat.S_ISREG(info.st_mode):
            raise EnvFileError(f"{path}: is not a regular file (a FIFO, socket or device); point env.path at a .env file")
        if info.st_size > MAX_FILE_BYTES:
            raise EnvFileError(f"{path}: {info.st_size} bytes is too large for a .env file (limit {MAX_FILE_BYTES})")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise EnvFileError(f"{path}: too large for a .env file (limit {MAX_FILE_BYTES} bytes)")
    return data
