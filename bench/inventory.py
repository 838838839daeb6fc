"""Inventory benchmarks: Citadel vs the bare-SDK sequential floor vs the peer CLI, per store.

Every variant runs against the same server through the same counting proxy, so the request
counts are read on the server side. The floors are the plain calls an engineer would write with
the same SDK: the paginator loop, or LIST then one metadata read per key, one after the other.
Per-key loops that would take minutes (the `bao` CLI once per key, sequential reads at 20 ms) run
on a sample of keys and are scaled to N; the table marks those figures with "~".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.servers import (
    AWS_PREFIX, AZURE_PREFIX, GCP_PREFIX, GCP_PROJECT, VAULT_PATH, StoreServer, apply_environment,
)
from citadel_tui.core.config import Config
from citadel_tui.emulators.openbao import find_bao
from citadel_tui.providers import open_source
from citadel_tui.workspace import Workspace

AWSCLI_CANDIDATES = ("/tmp/awscli-venv/bin/aws",)
"""Where an awscli kept apart from the project's botocore may live, besides PATH."""


@dataclass(frozen=True)
class Timing:
    seconds: float
    requests: int
    extrapolated: bool = False
    """Measured on a sample of keys and scaled to N."""


@dataclass(frozen=True)
class InventoryResult:
    store: str
    count: int
    latency_ms: float
    minimum: int
    citadel: Timing
    floor: Timing
    peer: Timing | None
    peer_note: str = ""


def api_minimum(store: str, count: int) -> int:
    """The fewest requests the API allows for an inventory of `count` secrets."""
    if store == "aws":
        return max(1, math.ceil(count / 100))
    if store == "azure":
        return max(1, math.ceil(count / 25))
    if store == "gcp":
        return math.ceil(max(1, count) / 25000) + count  # ListSecrets pages + ListSecretVersions per secret
    if store == "vault":
        return 1  # one SCAN of detailed-metadata (OpenBao >= 2.2)
    return 1 + count  # vault-list: one LIST of the folder + one metadata read per secret


def measured(server: StoreServer, fn: Callable[[], int]) -> Timing:
    """Wall time and server-side requests of one run of `fn` (which returns the secrets seen)."""
    before = server.requests()
    started = time.perf_counter()
    seen = fn()
    seconds = time.perf_counter() - started
    if seen != server.count:
        raise AssertionError(f"{server.kind}: saw {seen} secrets, expected {server.count}")
    return Timing(seconds, server.requests() - before)


def median_timing(runs: list[Timing]) -> Timing:
    best = sorted(runs, key=lambda t: t.seconds)[len(runs) // 2]
    return Timing(statistics.median(t.seconds for t in runs), best.requests, best.extrapolated)


# -- Citadel ----------------------------------------------------------------------------------


def citadel(server: StoreServer, store: str) -> Callable[[], int]:
    """One `Source.inventory()` through `open_source`, with a fresh client as on start-up."""
    def run() -> int:
        source = open_source(server.source_config())
        if store == "vault-list":
            source.client.use_scan = False
        try:
            return len(source.inventory())
        finally:
            source.close()
    return run


# -- bare-SDK floors ----------------------------------------------------------------------------


def aws_floor(server: StoreServer) -> int:
    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=server.url)
    pages = client.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [AWS_PREFIX]}], IncludePlannedDeletion=True,
        PaginationConfig={"PageSize": 100},
    )
    seen = sum(len(page["SecretList"]) for page in pages)
    client.close()
    return seen


def azure_floor(server: StoreServer) -> int:
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    env, ca = server.environment(), server.info["ca_file"]
    credential = ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
                                        authority=server.url, disable_instance_discovery=True, connection_verify=ca)
    client = SecretClient(server.url, credential, verify_challenge_resource=False, connection_verify=ca)
    with client:
        return sum(1 for p in client.list_properties_of_secrets(max_page_size=25) if p.name.startswith(AZURE_PREFIX))


def gcp_floor(server: StoreServer, sample: int) -> tuple[int, float]:
    """ListSecrets then ListSecretVersions per secret, one by one; seconds scaled to every secret."""
    import grpc
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(server.url, options=[("grpc.use_local_subchannel_pool", 1)])
    client = SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))
    started = time.perf_counter()
    names = [s.name for s in client.list_secrets(request={"parent": f"projects/{GCP_PROJECT}", "page_size": 25000})
             if s.name.rsplit("/", 1)[-1].startswith(GCP_PREFIX)]
    listed = time.perf_counter() - started
    started = time.perf_counter()
    for name in names[:sample]:
        list(client.list_secret_versions(request={"parent": name, "page_size": 25000}))
    reads = time.perf_counter() - started
    channel.close()
    return len(names), listed + reads * len(names) / max(1, min(sample, len(names)))


def vault_floor(server: StoreServer, sample: int) -> tuple[int, float]:
    """LIST then metadata reads one by one; returns (secrets, seconds scaled to every key)."""
    import hvac

    client = hvac.Client(url=server.url, token=server.info["token"], timeout=30)
    started = time.perf_counter()
    keys = client.secrets.kv.v2.list_secrets(VAULT_PATH, mount_point="secret")["data"]["keys"]
    listed = time.perf_counter() - started
    started = time.perf_counter()
    for key in keys[:sample]:
        client.secrets.kv.v2.read_secret_metadata(f"{VAULT_PATH}/{key}", mount_point="secret")
    reads = time.perf_counter() - started
    client.adapter.close()
    return len(keys), listed + reads * len(keys) / max(1, min(sample, len(keys)))


# -- peer CLIs --------------------------------------------------------------------------------


def find_awscli() -> str | None:
    found = shutil.which("aws")
    if found:
        return found
    return next((c for c in AWSCLI_CANDIDATES if Path(c).is_file() and os.access(c, os.X_OK)), None)


def aws_peer(server: StoreServer, aws: str) -> int:
    output = subprocess.run(
        [aws, "secretsmanager", "list-secrets", "--endpoint-url", server.url, "--region", "us-east-1",
         "--filters", f"Key=name,Values={AWS_PREFIX}", "--include-planned-deletion", "--output", "json"],
        check=True, capture_output=True, env={**os.environ, **server.environment()}, timeout=600,
    ).stdout
    return len(json.loads(output)["SecretList"])


def bao_peer(server: StoreServer, bao: str, sample: int) -> tuple[int, float]:
    """`bao kv list` then `bao kv metadata get` per key, as an operator scripts it."""
    env = {**os.environ, **server.environment()}

    def bao_run(*args: str) -> bytes:
        return subprocess.run([bao, *args], check=True, capture_output=True, env=env, timeout=60).stdout

    started = time.perf_counter()
    keys = json.loads(bao_run("kv", "list", "-format=json", "-mount=secret", VAULT_PATH))
    listed = time.perf_counter() - started
    started = time.perf_counter()
    for key in keys[:sample]:
        bao_run("kv", "metadata", "get", "-format=json", "-mount=secret", f"{VAULT_PATH}/{key}")
    reads = time.perf_counter() - started
    return len(keys), listed + reads * len(keys) / max(1, min(sample, len(keys)))


# -- one store, one latency -------------------------------------------------------------------


def bench_store(server: StoreServer, store: str, latency_ms: float, repeats: int, sample: int) -> InventoryResult:
    """Citadel, floor and peer on one server at one added latency; medians of `repeats` runs."""
    apply_environment(server)
    server.set_latency(latency_ms / 1000)
    count = server.count
    measured(server, citadel(server, store))  # warm-up: imports, models, TLS session, server caches
    citadel_runs = [measured(server, citadel(server, store)) for _ in range(repeats)]
    peer: Timing | None = None
    note = ""
    if store == "aws":
        aws_floor(server)  # warm-up
        floor = median_timing([measured(server, lambda: aws_floor(server)) for _ in range(repeats)])
        aws = find_awscli()
        if aws is None:
            note = "awscli not installed (pip install awscli in a separate venv)"
        else:
            peer = median_timing([measured(server, lambda: aws_peer(server, aws)) for _ in range(repeats)])
    elif store == "azure":
        azure_floor(server)  # warm-up
        floor = median_timing([measured(server, lambda: azure_floor(server)) for _ in range(repeats)])
        note = "no peer: `az keyvault secret list` (Azure CLI) is not installed here"
    elif store == "gcp":
        floor_sample = count if latency_ms == 0 else min(count, sample)
        floor = sampled(server, lambda: gcp_floor(server, floor_sample), floor_sample < count)
        note = "no peer: `gcloud secrets list` (Google Cloud CLI) is not installed here"
    else:
        # Sequential per-key loops: full at 0 ms, a sample when each read pays the delay.
        floor_sample = count if latency_ms == 0 else min(count, sample)
        floor = sampled(server, lambda: vault_floor(server, floor_sample), floor_sample < count)
        bao = find_bao()
        if bao is None:
            note = "the bao CLI is not installed"
        else:
            peer = sampled(server, lambda: bao_peer(server, bao, min(count, sample)), sample < count)
            note = f"bao kv list + bao kv metadata get per key ({min(count, sample)} timed, scaled to N)"
    return InventoryResult(store, count, latency_ms, api_minimum(store, count),
                           median_timing(citadel_runs), floor, peer, note)


def sampled(server: StoreServer, fn: Callable[[], tuple[int, float]], extrapolated: bool) -> Timing:
    before = server.requests()
    seen, seconds = fn()
    if seen != server.count:
        raise AssertionError(f"{server.kind}: saw {seen} secrets, expected {server.count}")
    requests = server.requests() - before
    if extrapolated:
        requests = 1 + server.count  # what the full loop sends: one LIST + one read per key
    return Timing(seconds, requests, extrapolated)


# -- all stores at once -------------------------------------------------------------------------


@dataclass(frozen=True)
class AllStoresResult:
    latency_ms: float
    together: float
    alone: dict[str, float]

    @property
    def slowest(self) -> tuple[str, float]:
        return max(self.alone.items(), key=lambda item: item[1])


def bench_all_stores(servers: list[StoreServer], latency_ms: float, repeats: int) -> AllStoresResult:
    """`Workspace.load_all` over every store vs each store alone (median of `repeats`)."""
    for server in servers:
        apply_environment(server)
        server.set_latency(latency_ms / 1000)
    config = Config(path=None, sources=tuple(s.source_config() for s in servers))

    def load(names: set[str]) -> float:
        workspace = Workspace(Config(path=None, sources=tuple(c for c in config.sources if c.name in names)))
        started = time.perf_counter()
        inventories = workspace.load_all()
        seconds = time.perf_counter() - started
        workspace.close()
        for inventory, server in zip(inventories, (s for s in servers if s.kind in names)):
            if not inventory.ok or len(inventory.secrets) != server.count:
                raise AssertionError(f"{inventory.source}: {inventory.error or len(inventory.secrets)}")
        return seconds

    alone = {s.kind: statistics.median(load({s.kind}) for _ in range(repeats)) for s in servers}
    together = statistics.median(load({s.kind for s in servers}) for _ in range(repeats))
    return AllStoresResult(latency_ms, together, alone)
