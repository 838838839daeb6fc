"""Fault injection shared by the emulators and the loopback fault proxy.

A test queues faults (`injector.push(Fault.THROTTLE, times=2)`); each incoming request takes the
next one. Each server maps a fault to its protocol: HTTP status codes or gRPC status codes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from enum import Enum
from typing import Any


class Fault(str, Enum):
    THROTTLE = "throttle"            # HTTP 429 / gRPC RESOURCE_EXHAUSTED
    FORBIDDEN = "forbidden"          # HTTP 403 / gRPC PERMISSION_DENIED
    UNAUTHENTICATED = "unauthenticated"  # HTTP 401 / gRPC UNAUTHENTICATED (token refresh then success)
    SERVER_ERROR = "server-error"    # HTTP 503 / gRPC UNAVAILABLE
    DROP = "drop"                    # connection closed mid-response
    HANG = "hang"                    # no answer for `hang_seconds` (past the client's timeout)
    MALFORMED = "malformed"          # a complete 200 answer whose body is truncated JSON / garbage
    WRONG_TYPES = "wrong-types"      # the real JSON answer with every leaf value of another type
    MISSING_FIELDS = "missing-fields"  # the real JSON answer with the fields of nested objects removed


MANGLING = (Fault.WRONG_TYPES, Fault.MISSING_FIELDS)
"""Faults served by rewriting the real answer rather than replacing it."""
GARBAGE = b'{"value": [{"id": "https://\x00\xff trunc'
"""The body of a MALFORMED answer: cut in the middle of a string, with bytes that are not UTF-8."""


def mangle(fault: Fault, body: bytes) -> bytes:
    """The real JSON body rewritten for a WRONG_TYPES or MISSING_FIELDS fault; a body that is
    not JSON is returned as is."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    rewritten = _swap_types(data) if fault is Fault.WRONG_TYPES else _drop_fields(data, depth=0)
    return json.dumps(rewritten).encode()


def _swap_types(value: Any) -> Any:
    """Strings become numbers, numbers and booleans strings, null an object; containers keep
    their shape so a client walks into the wrong types instead of failing at the top."""
    if isinstance(value, dict):
        return {key: _swap_types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_swap_types(item) for item in value]
    if isinstance(value, str):
        return len(value)
    if value is None:
        return {}
    return f"not-a-{type(value).__name__}"


def _drop_fields(value: Any, depth: int) -> Any:
    """Top-level keys stay (so the answer still looks like the right one); every object below
    them loses its fields."""
    if isinstance(value, dict):
        return {key: _drop_fields(item, depth + 1) for key, item in value.items()} if depth == 0 else {}
    if isinstance(value, list):
        return [_drop_fields(item, depth) for item in value]
    return value


class FaultInjector:
    """Thread-safe queue of faults for the next requests, plus a constant added latency."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.latency = 0.0
        self.hang_seconds = 30.0
        self.requests = 0
        self.faults_served = 0
        self._released = threading.Event()

    def push(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.latency = 0.0
        self._released.set()
        self._released = threading.Event()

    def take(self) -> Fault | None:
        """Called once per request by the server: applies latency, returns the fault to serve."""
        with self._lock:
            self.requests += 1
            fault = self._queue.popleft() if self._queue else None
            if fault is not None:
                self.faults_served += 1
            latency = self.latency
        if latency:
            time.sleep(latency)
        return fault

    def hang(self) -> None:
        """Block like a server that stopped answering; `clear()` releases every hung request."""
        self._released.wait(self.hang_seconds)
