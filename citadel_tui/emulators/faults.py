"""Fault injection shared by the emulators and the loopback fault proxy.

A test queues faults (`injector.push(Fault.THROTTLE, times=2)`); each incoming request takes the
next one. Each server maps a fault to its protocol: HTTP status codes or gRPC status codes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from enum import Enum


class Fault(str, Enum):
    THROTTLE = "throttle"            # HTTP 429 / gRPC RESOURCE_EXHAUSTED
    FORBIDDEN = "forbidden"          # HTTP 403 / gRPC PERMISSION_DENIED
    UNAUTHENTICATED = "unauthenticated"  # HTTP 401 / gRPC UNAUTHENTICATED (token refresh then success)
    SERVER_ERROR = "server-error"    # HTTP 503 / gRPC UNAVAILABLE
    DROP = "drop"                    # connection closed mid-response
    HANG = "hang"                    # no answer for `hang_seconds` (past the client's timeout)


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
