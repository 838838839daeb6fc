"""The one small interface every secret store sits behind.

`StoreClient` is what an adapter implements: raw operations on one store, each SDK request made
through `call()`, which counts requests, applies bounded retries with backoff and jitter on
throttling and server errors, refreshes credentials once on an authentication failure, and turns
every SDK exception into a specific `SourceError` via the adapter's `translate()`.

`Source` adds what is the same for every store: the layout (per-key or one JSON bundle), name
mapping, fingerprints when values are compared, and a TTL cache of the inventory.
"""

from __future__ import annotations

import json
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from citadel_tui.core.cache import TTLCache
from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import (
    AuditNotSupportedError,
    AuthenticationError,
    CitadelError,
    MalformedResponseError,
    SecretNotFoundError,
    SourceError,
)
from citadel_tui.core.fingerprint import Fingerprinter
from citadel_tui.core.model import AuditChange, AuditStatus, SecretMeta
from citadel_tui.core.naming import ENV_KEY_TAG, RULES, NameRules

T = TypeVar("T")
U = TypeVar("U")

MAX_CONCURRENCY = 16
"""Bound on concurrent per-secret requests against one store."""
UNREADABLE = (KeyError, IndexError, TypeError, ValueError, AttributeError)
"""What an adapter's parsing of a store answer raises when the answer lacks fields or has the
wrong types: turned into MalformedResponseError at the Source boundary."""


class StoreClient(ABC):
    """Raw operations on one store. Adapters import their SDK lazily, inside their own module."""

    kind: ClassVar[str]

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.requests = 0
        """Requests sent to the store, retries included."""
        self.retries = 0
        """Requests that were retries after a retryable failure."""
        self.sleep: Callable[[float], None] = time.sleep
        self._lock = threading.Lock()

    # -- what an adapter implements -------------------------------------------------------

    @abstractmethod
    def list_secrets(self, prefix: str) -> Iterator[SecretMeta]:
        """Metadata of every secret whose name starts with `prefix`, with the fewest requests
        the API allows. Never reads a value. `SecretMeta.key` is left None."""

    @abstractmethod
    def read_value(self, name: str) -> str:
        """The current value of one secret. Only called when the operator asked for it."""

    @abstractmethod
    def create_secret(self, name: str, value: str, tags: Mapping[str, str]) -> None:
        """Create a new secret. Raises SecretExistsError if it exists: never overwrites."""

    @abstractmethod
    def add_version(self, name: str, value: str) -> None:
        """Store a new current value for an existing secret."""

    @abstractmethod
    def configure_rotation(self, name: str, period_days: int) -> None:
        """Set the store's rotation schedule for one secret."""

    @abstractmethod
    def audit_status(self) -> AuditStatus:
        """Whether access to this store's secrets is audit-logged: on, off, or unknown with why."""

    def audit_change(self) -> AuditChange | None:
        """What enable_audit() would write; None when this store's API cannot turn audit on (or a
        needed option is missing). Makes no request: the plan is shown before anything is asked."""
        return None

    def enable_audit(self) -> None:
        """Turn audit logging on as audit_change() described. Idempotent: running it twice writes
        nothing new. Every request goes through `call()`."""
        raise AuditNotSupportedError(
            f"source {self.config.name!r}: Citadel cannot turn audit logging on through the {self.kind} "
            "API; enable it by hand (see the checklist's audit step) and check it again"
        )

    @abstractmethod
    def translate(self, exc: Exception, action: str, resource: str) -> SourceError:
        """Turn an SDK exception into a specific SourceError. The message names the action and
        resource and says what the operator can do; it never includes a secret value."""

    def reset_credentials(self) -> None:
        """Forget cached credentials/tokens/clients so the next request authenticates afresh."""

    def close(self) -> None:
        """Release connections and threads."""

    # -- shared machinery ------------------------------------------------------------------

    def call(self, action: str, fn: Callable[[], T], resource: str = "") -> T:
        """Make one store request with retries; raise a translated SourceError on failure."""
        refreshed = False
        attempt = 0
        while True:
            with self._lock:
                self.requests += 1
            try:
                return fn()
            except CitadelError:
                raise
            except Exception as exc:  # noqa: BLE001 - every SDK error is translated here
                error = self.translate(exc, action, resource)
            error.source = error.source or self.config.name
            error.action = error.action or action
            if isinstance(error, AuthenticationError) and not refreshed:
                refreshed = True
                self.reset_credentials()
                continue
            if error.retryable and attempt < self.config.max_retries:
                attempt += 1
                with self._lock:
                    self.retries += 1
                self.sleep(backoff_delay(attempt))
                continue
            raise error from None

    def map_concurrent(self, fn: Callable[[T], U], items: Iterable[T]) -> list[U]:
        """Apply `fn` to every item with a bounded pool; order kept, first error raised."""
        items = list(items)
        if len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENCY, len(items))) as pool:
            return list(pool.map(fn, items))


def bundle_object(raw: str, name: str, store: str) -> dict[str, Any]:
    """The JSON object a bundle secret holds, with its fields' own types."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"bundle secret {name!r} does not hold a JSON object; "
            "use layout = \"per-key\" or store a JSON object of KEY: value",
            source=store, action="bundle",
        )
    return data


def backoff_delay(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff: a random delay in [0, min(cap, base * 2**attempt))."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


class Source:
    """One configured store as the rest of Citadel sees it: env keys in, metadata out."""

    def __init__(self, config: SourceConfig, client: StoreClient) -> None:
        self.config = config
        self.client = client
        self.rules: NameRules = RULES[config.kind]
        self.cache: TTLCache[tuple[SecretMeta, ...]] = TTLCache(config.cache_ttl_seconds)
        """Inventories, keyed by whether they carry value fingerprints."""

    @property
    def name(self) -> str:
        return self.config.name

    def secret_name(self, key: str) -> str:
        """The exact store name for an env key (the bundle secret for the bundle layout)."""
        if self.config.layout == "bundle":
            return self.config.secret or ""
        return self.rules.name_for(self.config.prefix, key)

    def invalidate(self) -> None:
        self.cache.clear()

    def inventory(self, *, fingerprint: Fingerprinter | None = None, refresh: bool = False) -> tuple[SecretMeta, ...]:
        """Every secret in this source's scope with its env key; fingerprints when asked.

        Cached for `cache_ttl_seconds`; an authentication failure clears the cache."""
        want_values = fingerprint is not None
        cached = None
        if not refresh:
            cached = self.cache.get(want_values)
            if cached is None and not want_values:
                cached = self.cache.get(True)  # an inventory with fingerprints also serves one without
        if cached is not None:
            return cached
        try:
            with self._parsing("list secrets"):
                if self.config.layout == "bundle":
                    secrets = self._bundle_inventory(fingerprint)
                else:
                    secrets = self._per_key_inventory(fingerprint)
        except AuthenticationError:
            self.invalidate()
            raise
        self.cache.set(want_values, secrets)
        return secrets

    @contextmanager
    def _parsing(self, action: str) -> Iterator[None]:
        """Adapters read store answers field by field; an answer with missing fields or wrong
        types must give the operator a per-store error, not a traceback. Only the exception's
        class is named: its text may quote the answer, and an answer may hold a value."""
        try:
            yield
        except UNREADABLE as exc:
            raise MalformedResponseError(
                f"{self.config.kind} store answered {action} with data Citadel cannot read "
                f"({type(exc).__name__}: missing fields or wrong types); check that the configured "
                "endpoint is the store itself and not a proxy, and that its API version is supported",
                source=self.name, action=action,
            ) from None

    def _per_key_inventory(self, fingerprint: Fingerprinter | None) -> tuple[SecretMeta, ...]:
        prefix = self.config.prefix
        metas = [
            meta.with_key(self.rules.key_for(prefix, meta.name, meta.tags))
            for meta in self.client.list_secrets(prefix)
        ]
        metas = [m for m in metas if m.key is not None]
        if fingerprint is not None:
            metas = self.client.map_concurrent(lambda m: self._with_fingerprint(m, fingerprint), metas)
        return tuple(sorted(metas, key=lambda m: m.name))

    def _with_fingerprint(self, meta: SecretMeta, fingerprint: Fingerprinter) -> SecretMeta:
        if not meta.enabled or meta.deletion_date is not None:
            return meta
        value = self.client.read_value(meta.name)
        return meta.with_key(meta.key, fingerprint=fingerprint(value), length=len(value))

    def _bundle_inventory(self, fingerprint: Fingerprinter | None) -> tuple[SecretMeta, ...]:
        name = self.config.secret or ""
        bundle = next((m for m in self.client.list_secrets(name) if self.rules.same(m.name, name)), None)
        if bundle is None:
            return ()
        fields = self.read_bundle(name)
        return tuple(
            bundle.with_key(
                key,
                name=f"{bundle.name}#{key}",
                fingerprint=fingerprint(value) if fingerprint else None,
                length=len(value) if fingerprint else None,
            )
            for key, value in sorted(fields.items())
        )

    def read_bundle(self, name: str) -> dict[str, str]:
        """The bundle secret's fields; values as strings (numbers and booleans as JSON text)."""
        data = bundle_object(self.client.read_value(name), name, self.name)
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}

    def read_value(self, key: str) -> str:
        """The store's current value for an env key (one field of the bundle, if bundled)."""
        with self._parsing("read"):
            return self._read_value(key)

    def _read_value(self, key: str) -> str:
        if self.config.layout == "bundle":
            fields = self.read_bundle(self.secret_name(key))
            if key not in fields:
                raise SecretNotFoundError(
                    f"bundle secret {self.secret_name(key)!r} has no field {key!r}",
                    source=self.name, action="read",
                )
            return fields[key]
        return self.client.read_value(self.secret_name(key))

    def read_values(self, keys: Iterable[str]) -> dict[str, str]:
        """Current values for several env keys: one read for a bundle, concurrent reads otherwise."""
        keys = list(keys)
        with self._parsing("read"):
            if self.config.layout == "bundle":
                fields = self.read_bundle(self.config.secret or "")
                return {k: fields[k] for k in keys if k in fields}
            values = self.client.map_concurrent(lambda k: self.client.read_value(self.secret_name(k)), keys)
            return dict(zip(keys, values))

    def tags_for(self, key: str) -> dict[str, str]:
        return {ENV_KEY_TAG: key, "managed-by": "citadel"}

    def close(self) -> None:
        self.client.close()
