"""Is an env key a secret or plain configuration?

The operator migrates secrets and may leave config (PORT=8080) where it is. The name decides
first; a value decides when it carries credentials (a URL with a password) or looks random.
"""

from __future__ import annotations

import math
import re
from collections import Counter

SECRET = "secret"
CONFIG = "config"
VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What an environment variable name may be (POSIX shells accept nothing else)."""

_SECRET_WORDS = {
    "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "KEY", "APIKEY", "DSN",
    "CREDENTIAL", "CREDENTIALS", "CREDS", "PRIVATE", "AUTH", "SALT", "SIGNATURE", "SIGNING",
    "CERT", "PEM", "PASSPHRASE", "COOKIE", "SESSION", "JWT", "OTP", "WEBHOOK", "BEARER",
}
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@", re.IGNORECASE)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")


def classify(key: str, value: str | None) -> str:
    """`secret` when the name or the value says so, else `config`."""
    words = {w.upper() for w in _SPLIT.split(key) if w}
    if words & _SECRET_WORDS or key.upper().endswith(("KEY", "TOKEN", "SECRET", "PASSWORD")):
        return SECRET
    if value and (_URL_WITH_PASSWORD.match(value) or looks_random(value)):
        return SECRET
    return CONFIG


def looks_random(value: str) -> bool:
    """High-entropy strings of some length: API keys, hex digests, base64 blobs."""
    if len(value) < 20 or any(ch.isspace() for ch in value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return entropy >= 3.5 and classes >= 2
