"""A real distributed Courrier on this machine: web processes, Celery workers, scheduler candidates,
PostgreSQL, a broker (Redis or RabbitMQ) and a fake WhatsApp Graph API that records every send."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.browser import free_port

APP_SECRET = "cluster-secret"
PHONE_NUMBER_ID = "106540352242922"


class FakeGraph:
    """Records sends in arrival order; can post a signed 'sent' status back carrying the tracker."""

    def __init__(self) -> None:
        self.sends: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.counter = 0
        self.webhook_port: int | None = None
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with graph.lock:
                    graph.counter += 1
                    wamid = f"wamid.cluster.{graph.counter}"
                    data = json.loads(body) if body.startswith(b"{") else {}
                    data["_wamid"] = wamid
                    graph.sends.append(data)
                recipient = data.get("to") or data.get("recipient")
                payload = json.dumps({"messaging_product": "whatsapp",
                                      "contacts": [{"input": recipient, "wa_id": recipient}],
                                      "messages": [{"id": wamid}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                tracker = data.get("biz_opaque_callback_data")
                if graph.webhook_port and tracker:
                    threading.Thread(target=graph.post_status, args=(wamid, recipient, tracker), daemon=True).start()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post_status(self, wamid: str, recipient: str | None, tracker: str) -> None:
        """Tell the webhook the message was sent, echoing the tracker, as Meta's status webhook does."""
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID},
                "statuses": [{"id": wamid, "status": "sent", "timestamp": str(int(time.time())),
                              "recipient_id": recipient, "biz_opaque_callback_data": tracker}]}}]}]}).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        conn = http.client.HTTPConnection("127.0.0.1", self.webhook_port, timeout=10)
        try:
            conn.request("POST", "/webhooks/whatsapp", body=body,
                         headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
            conn.getresponse().read()
        except OSError:
            pass  # the web processes may be restarting; Meta would retry, the test does not need it
        finally:
            conn.close()

    def count(self, recipients: set[str] | None = None) -> int:
        """Sends so far, to anyone or to the given recipients only."""
        with self.lock:
            if recipients is None:
                return len(self.sends)
            return sum(1 for send in self.sends if (send.get("to") or send.get("recipient")) in recipients)

    def texts_by_recipient(self) -> dict[str, list[str]]:
        """Visible texts in arrival order, per recipient (phone digits or user id)."""
        out: dict[str, list[str]] = defaultdict(list)
        with self.lock:
            for send in self.sends:
                recipient = send.get("to") or send.get("recipient") or "?"
                text = (send.get("text") or {}).get("body") or json.dumps(send.get("template") or {})
                out[recipient].append(text)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Cluster:
    """The processes of one distributed deployment and how to talk to it."""

    env: dict[str, str]
    db_url: str
    web_port: int
    graph: FakeGraph
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)
    digest_slot: datetime | None = None  # when the test organization's digests fall due (UTC)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 — closed in stop_all
        self.logs.append(log)
        process = subprocess.Popen([sys.executable, "-m", "bot", *args], env=self.env, cwd=self.workdir,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL, group: bool = True) -> None:
        process = self.processes[name]
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        for log in self.logs:
            log.close()

    def post(self, conn: http.client.HTTPConnection, body: dict[str, Any]) -> int:
        raw = json.dumps(body).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        conn.request("POST", "/webhooks/whatsapp", body=raw,
                     headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
        response = conn.getresponse()
        response.read()
        return response.status

    def get(self, path: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data.startswith(b"{") else data.decode()
        finally:
            conn.close()


def text_body(phone: str, text: str) -> dict[str, Any]:
    """A one-message webhook body."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Cluster"}, "wa_id": phone}],
        "messages": [{"from": phone, "id": f"wamid.in.{uuid.uuid4().hex}", "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}]}}]}]}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll until ``predicate`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def new_cluster_env(db_url: str, broker_url: str, graph: FakeGraph, web_port: int) -> dict[str, str]:
    """The environment every process of the cluster shares."""
    from storage.secretbox import generate_key

    env = {k: v for k, v in os.environ.items() if not k.startswith("COURRIER_")}
    env.update({
        "COURRIER_DATABASE_URL": db_url,
        "COURRIER_BROKER_URL": broker_url,
        "COURRIER_SECRET_KEYS": generate_key(),
        "COURRIER_WHATSAPP_TOKEN": "cluster-token",
        "COURRIER_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "COURRIER_WHATSAPP_APP_SECRET": APP_SECRET,
        "COURRIER_WHATSAPP_VERIFY_TOKEN": "cluster",
        "COURRIER_WHATSAPP_API_URL": f"http://127.0.0.1:{graph.port}",
        "COURRIER_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "COURRIER_LEASE_SECONDS": "10",
        "COURRIER_LOG_LEVEL": "INFO",
    })
    return env


__all__ = ["Cluster", "FakeGraph", "free_port", "new_cluster_env", "text_body", "wait_until"]
