"""Requests and wall time to inventory N secrets on the Key Vault emulator (pages of 25).

Run: python bench/inventory_azure.py [N] [LATENCY_MS]   (default 2000 secrets, 0 ms added per request)
"""

from __future__ import annotations

import os
import sys
import time

from citadel_tui.core.config import SourceConfig
from citadel_tui.emulators.azure import AzureEmulator
from citadel_tui.providers import open_source


def main(count: int, latency_ms: float) -> None:
    with AzureEmulator() as emulator:
        for i in range(count):
            emulator.seed_secret(f"prod-myapp-KEY-{i:05d}", "x", tags={"env-key": f"KEY_{i:05d}"})
        os.environ.update(emulator.environment())
        emulator.faults.latency = latency_ms / 1000
        config = SourceConfig(name="bench", kind="azure", prefix="prod-myapp-", options={
            "vault_url": emulator.vault_url, "ca_bundle": emulator.ca_file, "authority_host": emulator.authority_host,
        })
        src = open_source(config)
        started = time.monotonic()
        secrets = src.inventory()
        seconds = time.monotonic() - started
        assert len(secrets) == count, len(secrets)
        print(f"{len(secrets)} secrets  {src.client.requests} counted requests  {seconds:.2f}s  "
              f"(+{latency_ms:g} ms per request; also on the wire and in the time: the unauthenticated "
              f"challenge probe, OpenID discovery and {emulator.tokens_issued} token request)")
        src.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
