"""`citadel run -- COMMAND`: start a command with its secrets from the stores, never on disk.

The child gets the environment's keys (mapped back from store names) in its environment. Its
output passes through a redactor that replaces every secret value with a marker; when Citadel's
own stdout/stderr is a terminal the child writes to a pseudo-terminal, so it behaves as if run
directly (colours, line buffering). Signals are forwarded; the exit code is the child's
(128 + N when a signal N ended it, as a shell reports it).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIN_REDACTED_LENGTH = 3
"""Shorter values (e.g. "1", "on") would turn ordinary output into markers."""
FLUSH_AFTER_SECONDS = 0.05
"""A partial line held back (it may end in the start of a secret) is flushed after this pause."""


@dataclass(frozen=True)
class Redactor:
    """Replaces secret values in a byte stream, also when a value is split across reads."""

    values: Mapping[str, str]

    def stream(self) -> RedactingStream:
        secrets = {v.encode(): f"[citadel:{k}]".encode() for k, v in self.values.items()
                   if len(v) >= MIN_REDACTED_LENGTH}
        return RedactingStream(secrets)


class RedactingStream:
    def __init__(self, secrets: Mapping[bytes, bytes]) -> None:
        self.secrets = dict(secrets)
        longest_first = sorted(self.secrets, key=len, reverse=True)
        self.pattern = re.compile(b"|".join(re.escape(s) for s in longest_first)) if longest_first else None
        self.buffer = b""

    def feed(self, data: bytes) -> bytes:
        """Redacted output that is safe to write now. The longest tail that could be the start
        of a secret is held back until more data (or `flush`) says what it is."""
        self.buffer += data
        held = max((_partial(self.buffer, secret) for secret in self.secrets), default=0)
        return self._emit(len(self.buffer) - held)

    def flush(self) -> bytes:
        return self._emit(len(self.buffer))

    def _emit(self, safe_end: int) -> bytes:
        out, end = [], 0
        if self.pattern is not None:
            for match in self.pattern.finditer(self.buffer):
                if match.start() >= safe_end:
                    break
                out += [self.buffer[end:match.start()], self.secrets[match.group()]]
                end = match.end()
        end_of_output = max(end, safe_end)
        out.append(self.buffer[end:end_of_output])
        self.buffer = self.buffer[end_of_output:]
        return b"".join(out)


def _partial(data: bytes, secret: bytes) -> int:
    """Length of the longest end of `data` that is the start of `secret` (shorter than it)."""
    for size in range(min(len(secret) - 1, len(data)), 0, -1):
        if data.endswith(secret[:size]):
            return size
    return 0


def run_command(command: Sequence[str], secrets: Mapping[str, str], *, redact: bool = True) -> int:
    """Run `command` with `secrets` added to its environment; return its exit status."""
    env = {**os.environ, **secrets}
    if not redact:
        return _wait_forwarding(subprocess.Popen(list(command), env=env))
    outputs = []
    child_ends = []
    for target in (sys.stdout, sys.stderr):
        if target.isatty():
            import pty

            parent, child = pty.openpty()
        else:
            parent, child = os.pipe()
        outputs.append((parent, target.buffer if hasattr(target, "buffer") else target))
        child_ends.append(child)
    process = subprocess.Popen(list(command), env=env, stdout=child_ends[0], stderr=child_ends[1])
    for fd in child_ends:
        os.close(fd)
    redactor = Redactor(secrets)
    with _forward_signals(process):
        _pump(outputs, redactor)
        return _status(process.wait())


def _pump(outputs: list[tuple[int, object]], redactor: Redactor) -> None:
    streams = {fd: (out, redactor.stream()) for fd, out in outputs}
    while streams:
        ready, _, _ = select.select(list(streams), [], [], FLUSH_AFTER_SECONDS)
        if not ready:
            for out, stream in streams.values():
                _write(out, stream.flush())
            continue
        for fd in ready:
            out, stream = streams[fd]
            try:
                data = os.read(fd, 65536)
            except OSError:  # a pty reports EIO when the child side is closed
                data = b""
            if data:
                _write(out, stream.feed(data))
            else:
                _write(out, stream.flush())
                os.close(fd)
                del streams[fd]


def _write(out: object, data: bytes) -> None:
    if data:
        out.write(data)  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]


class _forward_signals:
    """Pass SIGINT, SIGTERM and SIGHUP on to the child while it runs."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.previous: dict[int, object] = {}

    def __enter__(self) -> None:
        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, lambda signum, _frame: self.process.send_signal(signum))

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _wait_forwarding(process: subprocess.Popen[bytes]) -> int:
    with _forward_signals(process):
        return _status(process.wait())


def _status(code: int) -> int:
    return 128 - code if code < 0 else code
