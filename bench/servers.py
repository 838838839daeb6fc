"""Test servers for the benchmarks, each in its own process, each behind a request counter.

A server and its loopback proxy run in a child process so that their CPU work does not share
the benchmark's GIL: the client side measured here is then the only Python in this process.
moto and OpenBao sit behind `FaultProxy` (HTTP), whose `FaultInjector` adds the round-trip delay
and counts every request; the Azure (HTTPS) and GCP (gRPC) emulators' own injectors do both.
The parent talks to the child over a pipe: set the latency, read the count, stop.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from citadel_tui.core.config import SourceConfig
from citadel_tui.emulators.faults import FaultInjector

AWS_PREFIX = "prod/app/"
AZURE_PREFIX = "prod-app-"
GCP_PREFIX = "prod-app-"
GCP_PROJECT = "bench"
VAULT_PATH = "bench/app"
SEED_THREADS = 8


def key_name(i: int) -> str:
    return f"KEY_{i:05d}"


@dataclass
class StoreServer:
    """The parent's handle on one store server running in a child process."""

    kind: str
    count: int
    info: dict[str, Any] = field(default_factory=dict)
    _conn: Connection | None = None
    _process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> StoreServer:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(self.kind, self.count, child), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        answer = parent.recv()
        if "error" in answer:
            self.stop()
            raise RuntimeError(f"{self.kind} server did not start: {answer['error']}")
        self.info = answer
        return self

    def _ask(self, *command: Any) -> Any:
        assert self._conn is not None, "server not started"
        self._conn.send(command)
        return self._conn.recv()

    def set_latency(self, seconds: float) -> None:
        self._ask("latency", seconds)

    def requests(self) -> int:
        """Requests the server side has seen so far (at the proxy, or the emulator's vault API)."""
        return int(self._ask("requests"))

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def environment(self) -> dict[str, str]:
        """Variables a client needs to authenticate against this server."""
        return dict(self.info.get("env", {}))

    def source_config(self, name: str | None = None, environment: str = "default") -> SourceConfig:
        """The citadel.toml source pointing at this server (through the proxy)."""
        name = name or self.kind
        if self.kind == "aws":
            return SourceConfig(name=name, kind="aws", environment=environment, prefix=AWS_PREFIX,
                                options={"region": "us-east-1", "endpoint_url": self.url})
        if self.kind == "vault":
            return SourceConfig(name=name, kind="vault", environment=environment,
                                options={"url": self.url, "path": VAULT_PATH})
        if self.kind == "gcp":
            return SourceConfig(name=name, kind="gcp", environment=environment, prefix=GCP_PREFIX,
                                options={"project": GCP_PROJECT, "endpoint": self.url})
        return SourceConfig(name=name, kind="azure", environment=environment, prefix=AZURE_PREFIX, options={
            "vault_url": self.url, "ca_bundle": self.info["ca_file"], "authority_host": self.url,
        })

    def stop(self) -> None:
        if self._conn is not None:
            try:
                self._ask("stop")
            except (EOFError, OSError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=15)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
            self._process = None

    def __enter__(self) -> StoreServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the child process ---------------------------------------------------------------------


def _serve(kind: str, count: int, conn: Connection) -> None:
    """Start the server, seed `count` secrets, report how to reach it, then obey the parent."""
    stoppers: list[Any] = []
    try:
        injector, info = _STARTERS[kind](count, stoppers)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        for stop in reversed(stoppers):
            stop()
        return
    conn.send(info)
    try:
        while True:
            command = conn.recv()
            if command[0] == "latency":
                injector.latency = float(command[1])
                conn.send(None)
            elif command[0] == "requests":
                conn.send(injector.requests)
            else:
                conn.send(None)
                break
    except EOFError:
        pass
    finally:
        for stop in reversed(stoppers):
            stop()


def _start_aws(count: int, stoppers: list[Any]) -> tuple[FaultInjector, dict[str, Any]]:
    import logging

    from moto.backends import get_backend
    from moto.server import ThreadedMotoServer

    from citadel_tui.emulators.moto_ext import DEFAULT_ACCOUNT
    from citadel_tui.emulators.proxy import FaultProxy

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the terminal
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stoppers.append(server.stop)
    host, port = server.get_host_and_port()
    # Seeded in moto's own model: 10,000 HTTP creates would take longer than the benchmark.
    backend = get_backend("secretsmanager")[DEFAULT_ACCOUNT]["us-east-1"]
    for i in range(count):
        backend.create_secret(name=AWS_PREFIX + key_name(i), secret_string="x", secret_binary=None,
                              description=None, tags=None, kms_key_id=None, client_request_token=None,
                              replica_regions=[], force_overwrite=False)
    backend.create_secret(name="staging/app/OTHER", secret_string="x", secret_binary=None, description=None,
                          tags=None, kms_key_id=None, client_request_token=None, replica_regions=[],
                          force_overwrite=False)
    proxy = FaultProxy(f"http://{host}:{port}", dialect="aws").start()
    stoppers.append(proxy.stop)
    return proxy.injector, {"url": proxy.url, "target": f"http://{host}:{port}", "env": {
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}}


def _start_vault(count: int, stoppers: list[Any]) -> tuple[FaultInjector, dict[str, Any]]:
    import hvac

    from citadel_tui.emulators.openbao import OpenBaoServer
    from citadel_tui.emulators.proxy import FaultProxy

    server = OpenBaoServer().start()
    stoppers.append(server.stop)
    root = hvac.Client(url=server.url, token=server.token, timeout=30)
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(lambda i: root.secrets.kv.v2.create_or_update_secret(
            f"{VAULT_PATH}/{key_name(i)}", {"value": "x"}, mount_point="secret"), range(count)))
    proxy = FaultProxy(server.url, dialect="vault").start()
    stoppers.append(proxy.stop)
    return proxy.injector, {"url": proxy.url, "target": server.url, "token": server.token,
                            "env": {"VAULT_TOKEN": server.token, "BAO_TOKEN": server.token, "BAO_ADDR": proxy.url}}


def _start_azure(count: int, stoppers: list[Any]) -> tuple[FaultInjector, dict[str, Any]]:
    from citadel_tui.emulators.azure import AzureEmulator

    emulator = AzureEmulator().start()
    stoppers.append(emulator.stop)
    for i in range(count):
        emulator.seed_secret(AZURE_PREFIX + key_name(i).replace("_", "-"), "x",
                             tags={"env-key": key_name(i)})
    return emulator.faults, {"url": emulator.vault_url, "ca_file": emulator.ca_file, "env": emulator.environment()}


def _start_gcp(count: int, stoppers: list[Any]) -> tuple[FaultInjector, dict[str, Any]]:
    from citadel_tui.emulators.gcp import GcpEmulator

    emulator = GcpEmulator().start()
    stoppers.append(emulator.stop)
    for i in range(count):
        emulator.seed_secret(GCP_PROJECT, GCP_PREFIX + key_name(i), "x")
    return emulator.faults, {"url": emulator.endpoint, "env": {}}


_STARTERS = {"aws": _start_aws, "vault": _start_vault, "azure": _start_azure, "gcp": _start_gcp}
KINDS = tuple(_STARTERS)


def apply_environment(server: StoreServer) -> None:
    """Put the server's credentials in this process's environment (SDKs read them there)."""
    os.environ.update(server.environment())
