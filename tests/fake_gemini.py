"""A local stand-in for the Gemini API's generateContent endpoint, speaking Google's JSON shapes."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/(?P<version>v1(?:beta)?)/models/(?P<model>[^/:]+):generateContent$")


@dataclass
class Reply:
    """What the fake answers to the next request."""

    status: int = 200
    body: Any = None  # a dict sent as JSON, or bytes sent as they are
    hold: bool = False  # keep the client waiting until `release()` (to trip its timeout)


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    version: str
    model: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The user text sent in `contents`."""
        return "".join(p.get("text", "") for c in self.body.get("contents", []) for p in c.get("parts", []))


def answer(text: str, *, finish: str = "STOP") -> dict[str, Any]:
    """A generateContent response whose only candidate says `text`."""
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 812, "candidatesTokenCount": 96, "totalTokenCount": 908},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "fake-response",
    }


def verdict(**fields: Any) -> dict[str, Any]:
    """A generateContent response carrying a triage verdict as JSON text (fields override defaults)."""
    data: dict[str, Any] = {
        "priority": "important",
        "summary": "Le client demande un devis avant vendredi",
        "action": "reply",
        "deadline": None,
        "deadline_text": None,
        "amounts": [],
        "reasons": ["known client", "quote request"],
    }
    data.update(fields)
    return answer(json.dumps(data, ensure_ascii=False))


def error(code: int, status: str, message: str) -> dict[str, Any]:
    """Google's error envelope."""
    return {"error": {"code": code, "message": message, "status": status}}


class FakeGemini:
    """A threaded HTTP server on 127.0.0.1 answering queued replies and recording every request."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.match(self.path)
                if match is None:
                    self._send(404, error(404, "NOT_FOUND", f"no route {self.path}"))
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                fake.seen.append(
                    Seen(self.path, match["version"], match["model"], dict(self.headers.items()), raw, body)
                )
                reply = fake.replies.popleft() if fake.replies else Reply(500, error(500, "INTERNAL", "no reply"))
                if reply.hold:
                    fake._release.wait(30)
                    fake._release.clear()
                self._send(reply.status, reply.body)

            def _send(self, status: int, body: Any) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the SDK (COURRIER_GEMINI_API_URL)."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self.replies.extend(replies)

    def release(self) -> None:
        """Let a held request finish."""
        self._release.set()

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        self.replies.clear()
        self.seen.clear()
        self._release.clear()

    def __enter__(self) -> FakeGemini:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
