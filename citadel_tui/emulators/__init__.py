"""Loopback servers that speak the stores' wire APIs, for tests and `citadel demo`.

GCP and Azure have no official local server, so Citadel keeps emulators of the documented API
subset it uses; AWS (moto) and Vault (OpenBao) run for real and are reached through a fault proxy.
"""
