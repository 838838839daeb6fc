"""Citadel: compare .env files with secret stores and walk the migration checklist."""

__version__ = "0.1.0"
