"""Requests and wall time to inventory N secrets on the Secret Manager emulator.

One ListSecrets page (up to 25,000 secrets) plus one ListSecretVersions per secret, 16 at a time.
Run: python bench/inventory_gcp.py [N] [LATENCY_MS]   (default 2000 secrets, 0 ms added per request)
"""

from __future__ import annotations

import sys
import time

from citadel_tui.core.config import SourceConfig
from citadel_tui.emulators.gcp import GcpEmulator
from citadel_tui.providers import open_source


def main(count: int, latency_ms: float) -> None:
    with GcpEmulator() as emulator:
        for i in range(count):
            emulator.seed_secret("bench", f"prod-myapp-KEY_{i:05d}", "x")
        emulator.faults.latency = latency_ms / 1000
        config = SourceConfig(name="bench", kind="gcp", prefix="prod-myapp-",
                              options={"project": "bench", "endpoint": emulator.endpoint})
        src = open_source(config)
        started = time.monotonic()
        secrets = src.inventory()
        seconds = time.monotonic() - started
        assert len(secrets) == count, len(secrets)
        pages = emulator.calls.count("ListSecrets")
        print(f"{len(secrets)} secrets  {src.client.requests} counted requests ({pages} ListSecrets page(s) + "
              f"{emulator.calls.count('ListSecretVersions')} ListSecretVersions)  {seconds:.2f}s  "
              f"(+{latency_ms:g} ms per request)")
        src.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
