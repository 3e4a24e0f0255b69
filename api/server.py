"""HTTP on 127.0.0.1: routes ``POST /`` by ``X-Amz-Target`` to ArchiveService.call, and
``GET /download/...`` (GetArchiveMessage's signed links, api/links.py) to the message's bytes.

One thread per connection (ThreadingHTTPServer), HTTP/1.1 keep-alive so SDK connection pools
reuse sockets. Every answer carries ``x-amzn-RequestId``; every failure is an error body from
wire.encode_error, including the server's own bugs (500, logged to stderr, never a traceback
to the client). SigV4 ``Authorization`` headers are accepted and not checked.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from api import wire
from api.links import DOWNLOAD_PREFIX
from api.operations import ArchiveService
from engine.errors import MMArchiveError, ThrottlingException

# A refused body up to this size is read and dropped so the error answer arrives intact.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
MESSAGE_CONTENT_TYPE = "message/rfc822"
# A Host header a download link may be built on: a name or address, and a port. Anything else
# (the header is the client's to write) falls back to the address the server is bound to.
_FILE_NAME_RE = re.compile(r"[A-Za-z0-9._=~-]{1,200}", re.ASCII)
_HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?", re.ASCII)


class RateLimiter:
    """A token bucket: at most ``rate`` requests per second on average, bursts of ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class ArchiveHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Sixteen clients with keep-alive pools, plus headroom, without refused connections.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        service: ArchiveService,
        *,
        rate_limit: float | None = None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.service = service
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        super().__init__(address, ArchiveRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"


class ArchiveRequestHandler(BaseHTTPRequestHandler):
    server: ArchiveHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (40 ms) on every keep-alive request.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "mmarchive"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the "Serving on" line users read

    def _send(
        self,
        status: int,
        body: bytes,
        error_code: str | None = None,
        *,
        content_type: str = wire.JSON_CONTENT_TYPE,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", wire.new_request_id())
        if error_code is not None:
            self.send_header("x-amzn-ErrorType", error_code)
        for name, value in extra_headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, exc: MMArchiveError) -> None:
        status, body = wire.encode_error(exc)
        self._send(status, body, exc.code)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own failures (bad request line, headers too long) as error bodies."""
        self.close_connection = True
        error = (
            wire.malformed_http(message or "malformed HTTP request")
            if code < 500
            else wire.InternalFailure(message or "internal failure")
        )
        error.http_status = code
        if not getattr(self, "command", None):
            self.command = "POST"
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            # An unparsable request line leaves HTTP/0.9, which would suppress status and headers.
            self.request_version = self.protocol_version
        self._send_error(error)

    def _refuse(self) -> None:
        self.close_connection = True
        self._send_error(wire.method_not_allowed(self.command))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def do_GET(self) -> None:
        if not self.path.startswith(DOWNLOAD_PREFIX):
            self._refuse()
            return
        self._discard_body()
        service = self.server.service
        try:
            archive_id, message_id = service.links.verify(self.path)
            data = service.read_download(archive_id, message_id)
        except MMArchiveError as exc:
            self._send_error(exc)
            return
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self._send_error(wire.InternalFailure("internal failure; see the server's log"))
            return
        # Ids are plain names (SEMANTICS §1); anything else is not put in a header.
        name = message_id if _FILE_NAME_RE.fullmatch(message_id) else "message"
        headers = (
            ("Content-Disposition", f'attachment; filename="{name}.eml"'),
            ("Cache-Control", "no-store"),  # evidence: no copy in a cache along the way
        )
        self._send(200, data, content_type=MESSAGE_CONTENT_TYPE, extra_headers=headers)

    do_HEAD = do_GET

    def _link_base(self) -> str:
        """The URL the client reached us at, so a download link leads back the same way."""
        host = self.headers.get("Host")
        if host and _HOST_RE.fullmatch(host):
            return f"http://{host}"
        return self.server.url

    def do_POST(self) -> None:
        try:
            body = self._read_request()
            operation = wire.parse_target(self.headers.get("X-Amz-Target"))
            params = wire.decode_body(body)
            limiter = self.server.limiter
            if limiter is not None and not limiter.take():
                raise ThrottlingException(
                    f"{operation}: more than {limiter.rate:g} requests per second; retry later"
                )
            result = self.server.service.call(operation, params, link_base=self._link_base())
        except MMArchiveError as exc:
            self._send_error(exc)
            return
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self._send_error(wire.InternalFailure("internal failure; see the server's log"))
            return
        self._send(200, wire.encode_response(result))

    def _read_request(self) -> bytes:
        try:
            wire.detect_other_protocol(self.path, self.headers)
            length = wire.check_length(
                self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding")
            )
        except MMArchiveError:
            self._discard_body()
            raise
        return self.rfile.read(length) if length else b""

    def _discard_body(self) -> None:
        """Read and drop a refused request's body before answering.

        Closing a socket with unread data makes the kernel send a reset, which can destroy the
        error answer before the client reads it; a body too large to drain closes anyway.
        """
        try:
            left = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            left = -1
        if self.headers.get("Transfer-Encoding") or not 0 <= left <= MAX_DRAIN_BYTES:
            self.close_connection = True
            return
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)


def make_server(
    service: ArchiveService,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    rate_limit: float | None = None,
) -> ArchiveHTTPServer:
    """A bound, listening server (``port`` 0 picks a free one); call ``serve_forever``."""
    return ArchiveHTTPServer((host, port), service, rate_limit=rate_limit)
