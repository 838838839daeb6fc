"""A loopback HTTP proxy that forwards to a real server (moto, OpenBao) and injects faults.

Tests point the real SDK at `proxy.url` and queue faults on `proxy.injector`; each request takes
the next fault. Error bodies are written in the dialect the client parses: AWS JSON
(`{"__type": "ThrottlingException", ...}`) for AWS JSON-protocol requests, Vault's
`{"errors": [...]}` otherwise, so the SDK raises the same exception a real server would cause.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from citadel_tui.emulators.faults import GARBAGE, MANGLING, Fault, FaultInjector, mangle

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}

STATUS = {
    Fault.THROTTLE: 429,
    Fault.FORBIDDEN: 403,
    Fault.UNAUTHENTICATED: 401,
    Fault.SERVER_ERROR: 503,
}
AWS_CODES = {
    Fault.THROTTLE: ("ThrottlingException", "Rate exceeded"),
    Fault.FORBIDDEN: ("AccessDeniedException", "User is not authorized to perform this action"),
    Fault.UNAUTHENTICATED: ("UnrecognizedClientException", "The security token included in the request is invalid"),
    Fault.SERVER_ERROR: ("ServiceUnavailable", "Service is unavailable"),
}
VAULT_MESSAGES = {
    Fault.THROTTLE: "request path \"/\": rate limit quota exceeded",
    Fault.FORBIDDEN: "permission denied",
    Fault.UNAUTHENTICATED: "missing client token",
    Fault.SERVER_ERROR: "Vault is sealed",
}


def detect_dialect(headers: Any) -> str:
    """"aws" for AWS JSON-protocol requests (X-Amz-Target), "vault" for everything else."""
    return "aws" if headers.get("X-Amz-Target") else "vault"


def error_body(fault: Fault, dialect: str) -> tuple[str, bytes]:
    """Content type and body of the error answer for a fault, as the client's SDK expects it."""
    if dialect == "aws":
        code, message = AWS_CODES[fault]
        return "application/x-amz-json-1.1", json.dumps({"__type": code, "message": message}).encode()
    return "application/json", json.dumps({"errors": [VAULT_MESSAGES[fault]]}).encode()


class FaultProxy:
    """Forwards every request on 127.0.0.1:<port> to `target_url`, serving queued faults first."""

    def __init__(self, target_url: str, injector: FaultInjector | None = None, dialect: str | None = None,
                 retry_after: int = 1) -> None:
        parsed = urllib.parse.urlsplit(target_url)
        self.target_host = parsed.hostname or "127.0.0.1"
        self.target_port = parsed.port or 80
        self.injector = injector or FaultInjector()
        self.dialect = dialect
        """Force "aws" or "vault" error bodies; None detects per request."""
        self.retry_after = retry_after
        self.forwarded = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung requests, stop serving and close the socket."""
        self.injector.clear()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request to the target and return its status, headers and body."""
        connection = http.client.HTTPConnection(self.target_host, self.target_port, timeout=60)
        try:
            connection.request(method, path, body=body or None,
                               headers={**headers, "Host": f"{self.target_host}:{self.target_port}"})
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            with self._lock:
                self.forwarded += 1
            return response.status, kept, payload
        finally:
            connection.close()


def _handler_for(proxy: FaultProxy) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle holds the body
        # until the client's delayed ACK (~40 ms), a delay real servers do not add.
        disable_nagle_algorithm = True

        def __getattr__(self, name: str) -> Callable[[], None]:
            # Every HTTP method (GET, POST, LIST, SCAN, PATCH...) is proxied the same way.
            if name.startswith("do_"):
                return self._proxy
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: tests read counts, not logs."""

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.injector.take()
            if fault is Fault.HANG:
                proxy.injector.hang()
                self.close_connection = True
                return
            if fault is Fault.DROP:
                self._drop()
                return
            if fault is Fault.MALFORMED:
                self._malformed()
                return
            if fault is not None and fault not in MANGLING:
                self._fault(fault)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                status, response_headers, payload = proxy.forward(self.command, self.path, headers, body)
            except OSError:
                self.send_error(502, "target unreachable")
                return
            if fault is not None:
                payload = mangle(fault, payload)
            self.send_response(status)
            for key, value in response_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _fault(self, fault: Fault) -> None:
            content_type, payload = error_body(fault, proxy.dialect or detect_dialect(self.headers))
            self.send_response(STATUS[fault])
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if fault is Fault.THROTTLE:
                self.send_header("Retry-After", str(proxy.retry_after))
            self.end_headers()
            self.wfile.write(payload)

        def _malformed(self) -> None:
            """A complete answer with a success status whose body is not the JSON it claims."""
            dialect = proxy.dialect or detect_dialect(self.headers)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1" if dialect == "aws" else "application/json")
            self.send_header("Content-Length", str(len(GARBAGE)))
            self.end_headers()
            self.wfile.write(GARBAGE)

        def _drop(self) -> None:
            """Start a chunked body, send one chunk, then close: a connection lost mid-response.

            Chunked framing makes the truncation certain for every client (urllib3 raises
            "Response ended prematurely"), where a short Content-Length body can pass unnoticed."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"c\r\n{\"partial\": \r\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler
