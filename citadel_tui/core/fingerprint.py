"""Keyed fingerprints of secret values.

A fingerprint lets Citadel say "these two values are equal" without keeping either value.
It is an HMAC with a random key made once per run, so a leaked report cannot be brute-forced
against a dictionary of likely passwords the way a plain hash could.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fingerprinter:
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __call__(self, value: str) -> str:
        digest = hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:16]
