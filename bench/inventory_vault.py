"""Requests and wall time to inventory N secrets on a local OpenBao: SCAN vs LIST + metadata reads.

Run: python bench/inventory_vault.py [N]   (default 2000; needs the `bao` executable)
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import hvac

from citadel_tui.core.config import SourceConfig
from citadel_tui.emulators.openbao import OpenBaoServer
from citadel_tui.providers import open_source


def main(count: int) -> None:
    with OpenBaoServer() as server:
        root = hvac.Client(url=server.url, token=server.token, timeout=10)
        names = [f"team{i % 10}/KEY_{i:05d}" for i in range(count)]
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: root.secrets.kv.v2.create_or_update_secret(
                f"bench/{n}", {"value": "x"}, mount_point="secret"), names))
        print(f"seeded {count} secrets in 10 sub-folders in {time.monotonic() - started:.1f}s")
        os.environ["VAULT_TOKEN"] = server.token
        for label, use_scan in (("SCAN detailed-metadata", None), ("LIST + metadata reads", False)):
            config = SourceConfig(name="bench", kind="vault", options={"url": server.url, "path": "bench"})
            src = open_source(config)
            src.client.use_scan = use_scan
            started = time.monotonic()
            secrets = src.inventory()
            seconds = time.monotonic() - started
            assert len(secrets) == count, len(secrets)
            print(f"{label:24s} {len(secrets)} secrets  {src.client.requests:5d} requests  {seconds:6.2f}s")
            src.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
