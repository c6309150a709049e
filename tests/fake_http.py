"""A tiny threaded HTTP(S) server for fake SaaS APIs: routes, a request log and fault injection.

Fakes (Gmail, Graph) subclass ``FakeServer`` and register routes with ``route``. Tests can queue
faults that answer a matching request with a chosen status, or drop the connection after reading
the request (what an ambiguous network failure looks like to a client).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.tls import LoopbackCert


@dataclass
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The body as a form."""
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body.decode()).items()}

    @property
    def bearer(self) -> str | None:
        """The bearer token of the Authorization header."""
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Response:
    """What a route answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON answer."""
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json; charset=UTF-8", **(headers or {})})

    @classmethod
    def redirect(cls, location: str) -> Response:
        """A 302 redirect."""
        return cls(302, b"", {"Location": location})


@dataclass
class Fault:
    """A queued failure for requests matching ``method`` and ``pattern`` (a regex searched in the path)."""

    method: str
    pattern: str
    response: Response | None = None  # None with disconnect=True: read the request, then hang up
    times: int = 1
    disconnect: bool = False
    after: bool = False  # run the real handler first (the provider accepted it), then fail


Handler = Callable[[Request], Response]


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 (TLS when given a certificate), started and stopped by tests."""

    def __init__(self, cert: LoopbackCert | None = None) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._cert = cert
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> FakeServer:
        """Listen on a free port in a background thread."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        if self._cert is not None:
            context = self._cert.server_context()
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """The server's root URL, without a trailing slash."""
        assert self._server is not None, "server not started"
        scheme = "https" if self._cert is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    # -------------------------------------------------------------- routing

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose whole path matches ``pattern`` with ``handler``."""
        self._routes.append((method, re.compile(pattern), handler))

    def fail(self, method: str, pattern: str, status: int = 500, body: Any = None, *, headers: dict[str, str] | None = None,
             times: int = 1, disconnect: bool = False, after: bool = False) -> Fault:
        """Queue a fault for the next ``times`` matching requests."""
        response = None
        if not disconnect:
            response = Response.of_json(body if body is not None else {"error": {"code": status, "message": "injected"}},
                                        status, headers)
        fault = Fault(method, pattern, response, times, disconnect, after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def dispatch(self, request: Request) -> Response:
        """Run the route for a request (also used for parts of batch requests)."""
        for method, pattern, handler in self._routes:
            if method == request.method:
                match = pattern.fullmatch(request.path)
                if match:
                    request.match = match
                    return handler(request)
        return Response.of_json({"error": {"code": 404, "message": f"no route {request.method} {request.path}"}}, 404)

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == request.method and re.search(fault.pattern, request.path):
                    fault.times -= 1
                    return fault
        return None

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        request = Request(
            method=http.command,
            path=urllib.parse.unquote(parsed.path),
            query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
        )
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault is not None and fault.after:
            self.dispatch(request)
        if fault is not None and fault.disconnect:
            http.close_connection = True
            http.connection.shutdown(2)
            return
        response = fault.response if fault is not None and fault.response is not None else self.dispatch(request)
        http.send_response(response.status)
        for key, value in response.headers.items():
            http.send_header(key, value)
        http.send_header("Content-Length", str(len(response.body)))
        http.end_headers()
        if response.body:
            http.wfile.write(response.body)

    def requests_to(self, pattern: str, method: str | None = None) -> list[Request]:
        """Logged requests whose path matches ``pattern`` (searched)."""
        with self.lock:
            return [r for r in self.requests if re.search(pattern, r.path) and (method is None or r.method == method)]
