"""Citadel's benchmarks: inventory against bare SDKs and peer CLIs, engine, start-up, dashboard."""
