"""The fault proxy in front of moto, driven by real boto3 through the AWS adapter.

These are also the AWS adapter's fault tests: throttling, denial, server errors, dropped and hung
connections and a refused connection, each surfacing as the specific Citadel error.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import (
    AuthenticationError,
    PermissionDeniedError,
    StoreTimeoutError,
    StoreUnavailableError,
    ThrottledError,
)
from citadel_tui.emulators.faults import Fault
from citadel_tui.emulators.proxy import FaultProxy, detect_dialect, error_body
from citadel_tui.providers import open_source
from citadel_tui.providers.base import Source

CANARY = "canary-proxy-7f3a9e21"


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as running:
        yield running


def aws_source(endpoint: str, **kwargs: object) -> Source:
    config = SourceConfig(
        name="aws-faults", kind="aws", prefix="app/", timeout_seconds=kwargs.pop("timeout_seconds", 2.0),
        max_retries=kwargs.pop("max_retries", 3),
        options={"region": "us-east-1", "endpoint_url": endpoint},
    )
    src = open_source(config)
    src.client.sleep = lambda seconds: None
    return src


def seed(sm, count: int = 3) -> None:
    for i in range(count):
        sm.create_secret(Name=f"app/KEY_{i}", SecretString=CANARY)


def test_forwards_unchanged_when_no_fault(sm, proxy: FaultProxy) -> None:
    seed(sm)
    src = aws_source(proxy.url)
    assert [s.key for s in src.inventory()] == ["KEY_0", "KEY_1", "KEY_2"]
    assert src.read_value("KEY_1") == CANARY
    assert proxy.forwarded == 2 and proxy.injector.faults_served == 0


def test_throttle_then_success_counts_retries(sm, proxy: FaultProxy) -> None:
    seed(sm)
    src = aws_source(proxy.url)
    proxy.injector.push(Fault.THROTTLE, times=2)
    assert len(src.inventory()) == 3
    assert src.client.requests == 3 and src.client.retries == 2
    assert proxy.injector.faults_served == 2 and proxy.forwarded == 1


def test_throttle_past_max_retries_raises_throttled(sm, proxy: FaultProxy) -> None:
    src = aws_source(proxy.url, max_retries=1)
    proxy.injector.push(Fault.THROTTLE, times=5)
    with pytest.raises(ThrottledError, match="ThrottlingException"):
        src.inventory()
    assert src.client.requests == 2


def test_forbidden_names_the_permission(sm, proxy: FaultProxy) -> None:
    src = aws_source(proxy.url)
    proxy.injector.push(Fault.FORBIDDEN)
    with pytest.raises(PermissionDeniedError, match="secretsmanager:ListSecrets") as info:
        src.inventory()
    assert src.client.requests == 1 and info.value.source == "aws-faults"


def test_unauthenticated_refreshes_once_then_succeeds(sm, proxy: FaultProxy) -> None:
    seed(sm, 1)
    src = aws_source(proxy.url)
    proxy.injector.push(Fault.UNAUTHENTICATED)
    assert len(src.inventory()) == 1 and src.client.requests == 2
    proxy.injector.push(Fault.UNAUTHENTICATED, times=2)
    with pytest.raises(AuthenticationError):
        src.inventory(refresh=True)


def test_server_errors_exhaust_retries(sm, proxy: FaultProxy) -> None:
    src = aws_source(proxy.url, max_retries=2)
    proxy.injector.push(Fault.SERVER_ERROR, times=3)
    with pytest.raises(StoreUnavailableError, match="ServiceUnavailable|503"):
        src.inventory()
    assert src.client.requests == 3 and src.client.retries == 2


def test_dropped_connection_is_unavailable(sm, proxy: FaultProxy) -> None:
    src = aws_source(proxy.url, max_retries=0)
    proxy.injector.push(Fault.DROP)
    with pytest.raises(StoreUnavailableError):
        src.inventory()
    seed(sm, 1)
    assert len(src.inventory()) == 1


def test_hang_past_timeout_is_store_timeout(sm, proxy: FaultProxy) -> None:
    src = aws_source(proxy.url, timeout_seconds=0.5, max_retries=0)
    proxy.injector.push(Fault.HANG)
    started = time.monotonic()
    with pytest.raises(StoreTimeoutError, match="0.5s"):
        src.inventory()
    assert time.monotonic() - started < 3
    proxy.injector.clear()


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    src = aws_source(f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(StoreUnavailableError, match="cannot reach"):
        src.inventory()
    assert src.client.requests == 2


def test_latency_is_added(sm, proxy: FaultProxy) -> None:
    src = aws_source(proxy.url)
    proxy.injector.latency = 0.2
    started = time.monotonic()
    src.inventory()
    assert time.monotonic() - started >= 0.2


def test_error_bodies_follow_the_client_dialect() -> None:
    assert detect_dialect({"X-Amz-Target": "secretsmanager.ListSecrets"}) == "aws"
    assert detect_dialect({"X-Vault-Token": "t"}) == "vault"
    assert error_body(Fault.THROTTLE, "aws")[1] == b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
    assert error_body(Fault.FORBIDDEN, "vault") == ("application/json", b'{"errors": ["permission denied"]}')


def test_canary_never_in_fault_errors(sm, proxy: FaultProxy) -> None:
    sm.create_secret(Name="app/DB_PASSWORD", SecretString=CANARY)
    src = aws_source(proxy.url, timeout_seconds=0.5, max_retries=0)
    for fault in (Fault.THROTTLE, Fault.FORBIDDEN, Fault.SERVER_ERROR, Fault.DROP, Fault.HANG):
        proxy.injector.push(fault, times=2)
        with pytest.raises(Exception) as info:
            src.read_value("DB_PASSWORD")
        proxy.injector.clear()
        assert CANARY not in str(info.value) and CANARY not in repr(info.value)
