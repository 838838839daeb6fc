"""Files Citadel writes (state, journal, exports, runbook) live in a private `.citadel/` folder.

The folder is created 0700 and files 0600; a folder others can write to is refused, because
whoever can write there can forge the journal or swap the state.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from citadel_tui.core.errors import CitadelError

DIR_MODE = 0o700
FILE_MODE = 0o600


class UnsafeDirectoryError(CitadelError):
    """The .citadel folder is writable by other users."""


def private_dir(path: Path) -> Path:
    """Create `path` 0700 if needed; refuse it if group or others may write to it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectoryError(
            f"{path} is writable by other users (mode {stat.S_IMODE(mode):o}); "
            f"fix it with: chmod 700 {path}"
        )
    return path


def write_private(path: Path, text: str) -> None:
    """Write atomically (temp file + fsync + rename), mode 0600: a crash leaves old or new, never half."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def append_private(path: Path, line: str) -> None:
    """Append one line and fsync it before returning: a journal entry survives a crash."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
