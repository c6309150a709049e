"""A fake Google: OAuth 2.0 (authorization with PKCE, token, refresh) and the Gmail API v1.

It speaks the real JSON shapes of ``users.getProfile``, ``messages.list`` (``q`` with ``after:``,
``newer_than:``, ``in:sent``, ``rfc822msgid:``), ``messages.get`` (``raw``, ``metadata``,
``minimal``), ``history.list`` (with a 404 for a history id that is too old),
``messages.send`` (JSON ``raw``, and the media upload endpoint: ``uploadType=media`` and
``resumable``), and the batch endpoint (``multipart/mixed``). Point COURRIER_GMAIL_API_URL,
COURRIER_GOOGLE_AUTH_URL and COURRIER_GOOGLE_TOKEN_URL at ``base + "/"``, ``auth_url`` and
``token_url``. Fault injection and the request log come from ``FakeServer``.
"""

from __future__ import annotations

import base64
import email
import functools
import hashlib
import itertools
import random
import re
import secrets
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from tests.fake_http import FakeServer, Fault, Request, Response

SCOPE_READ = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_SEND = "https://www.googleapis.com/auth/gmail.send"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def google_error(status: int, message: str, reason: str, state: str) -> Response:
    """An error in the shape Google APIs use."""
    return Response.of_json({"error": {"code": status, "message": message, "errors": [
        {"message": message, "domain": "global", "reason": reason}], "status": state}}, status)


@dataclass
class StoredMessage:
    """One message in a fake mailbox."""

    id: str
    thread_id: str
    raw: bytes
    labels: list[str]
    internal_date: int  # milliseconds since the epoch
    history_id: int

    @functools.cached_property
    def message_id(self) -> str:
        """The Message-ID header (parsed once: lookups scan every message)."""
        parsed = BytesParser(policy=policy.compat32).parsebytes(self.raw, headersonly=True)
        return str(parsed.get("Message-ID", "")).strip()


@dataclass
class GmailAccount:
    """A fake Gmail account: messages, history records and the history id counter."""

    email: str
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    history_id: int = 1000
    history_floor: int = 0  # history.list with an older startHistoryId answers 404
    sent: list[StoredMessage] = field(default_factory=list)


class FakeGmail(FakeServer):
    """Google's OAuth endpoints and the Gmail API on one loopback server."""

    client_id = "fake-google-client.apps.googleusercontent.com"
    client_secret = "fake-google-secret"

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, GmailAccount] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (email, expires at)
        self.refresh_tokens: dict[str, str] = {}  # token -> email
        self.codes: dict[str, dict[str, Any]] = {}
        self.consent_email: str | None = None  # who "signs in" at the authorization page
        self.consent: str = "allow"  # allow | deny | read_only (unticks gmail.send)
        self.uploads: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(0x18C0000000000)
        # Sending quota, as Gmail enforces it: (units, window seconds) per user, 100 units per send.
        self.send_quota: tuple[float, float] | None = None
        self.quota_rejections = 0
        self._send_log: dict[str, deque[float]] = {}
        # Random faults on messages.send: half 5xx before accepting, half a dropped connection after.
        self.chaos = 0.0
        self.chaos_rng = random.Random(0)
        self.chaos_injected = 0
        self.log_requests = True
        self._register()

    # -------------------------------------------------------------- test helpers

    @property
    def api_url(self) -> str:
        """What COURRIER_GMAIL_API_URL should be."""
        return self.base + "/"

    @property
    def auth_url(self) -> str:
        """What COURRIER_GOOGLE_AUTH_URL should be."""
        return self.base + "/o/oauth2/auth"

    @property
    def token_url(self) -> str:
        """What COURRIER_GOOGLE_TOKEN_URL should be."""
        return self.base + "/token"

    def account(self, address: str) -> GmailAccount:
        """The account for an address, created on first use."""
        with self.lock:
            return self.accounts.setdefault(address, GmailAccount(address))

    def grant(self, address: str) -> str:
        """A refresh token for an account, as if the user had consented."""
        self.account(address)
        token = f"1//fake-refresh-{secrets.token_urlsafe(12)}"
        with self.lock:
            self.refresh_tokens[token] = address
        return token

    def revoke(self, address: str) -> None:
        """Revoke every token of an account (refreshes answer invalid_grant, API calls 401)."""
        with self.lock:
            self.refresh_tokens = {t: a for t, a in self.refresh_tokens.items() if a != address}
            self.access_tokens = {t: v for t, v in self.access_tokens.items() if v[0] != address}

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid (clients must refresh)."""
        with self.lock:
            self.access_tokens.clear()

    def deliver(self, address: str, raw: bytes, *, labels: tuple[str, ...] = ("INBOX", "UNREAD"),
                internal_date: float | None = None, thread_id: str | None = None) -> str:
        """Put a message in an account (recorded as a messageAdded history record)."""
        account = self.account(address)
        with self.lock:
            account.history_id += 1
            message_id = format(next(self._ids), "x")
            stored = StoredMessage(
                id=message_id, thread_id=thread_id or message_id, raw=raw, labels=list(labels),
                internal_date=int((internal_date if internal_date is not None else time.time()) * 1000),
                history_id=account.history_id,
            )
            account.messages[message_id] = stored
            ref = {"id": message_id, "threadId": stored.thread_id, "labelIds": list(labels)}
            account.history.append({"id": str(account.history_id), "messages": [ref], "messagesAdded": [{"message": ref}]})
            return message_id

    def expire_history(self, address: str) -> None:
        """Make every history id handed out so far too old (history.list answers 404)."""
        account = self.account(address)
        with self.lock:
            account.history_id += 10
            account.history_floor = account.history_id

    # -------------------------------------------------------------- routes

    def _register(self) -> None:
        self.route("GET", r"/o/oauth2/auth", self._authorize)
        self.route("POST", r"/token", self._token)
        users = r"/gmail/v1/users/(?P<user>[^/]+)"
        self.route("GET", users + r"/profile", self._profile)
        self.route("GET", users + r"/messages", self._list)
        self.route("GET", users + r"/messages/(?P<id>[^/]+)", self._get)
        self.route("GET", users + r"/history", self._history)
        self.route("POST", users + r"/messages/send", self._send)
        self.route("POST", r"/upload/gmail/v1/users/(?P<user>[^/]+)/messages/send", self._upload_start)
        self.route("PUT", r"/upload/gmail/v1/users/(?P<user>[^/]+)/messages/send", self._upload_put)
        self.route("POST", r"/batch(?:/gmail/v1)?", self._batch)

    def _authorize(self, request: Request) -> Response:
        redirect = request.arg("redirect_uri") or ""
        state = request.arg("state") or ""
        if request.arg("client_id") != self.client_id:
            return Response(400, b"invalid_client")
        if self.consent == "deny":
            return Response.redirect(f"{redirect}?{urllib.parse.urlencode({'error': 'access_denied', 'state': state})}")
        scopes = (request.arg("scope") or "").split()
        if self.consent == "read_only":
            scopes = [s for s in scopes if s != SCOPE_SEND]
        code = f"4/fake-code-{secrets.token_urlsafe(16)}"
        with self.lock:
            self.codes[code] = {
                "email": self.consent_email or "someone@gmail.test", "redirect_uri": redirect, "scopes": scopes,
                "challenge": request.arg("code_challenge"), "method": request.arg("code_challenge_method"),
                "offline": request.arg("access_type") == "offline" and request.arg("prompt") == "consent",
            }
        query = urllib.parse.urlencode({"state": state, "code": code, "scope": " ".join(scopes)})
        return Response.redirect(f"{redirect}?{query}")

    def _issue(self, address: str) -> str:
        token = f"ya29.fake-{secrets.token_urlsafe(16)}"
        with self.lock:
            self.access_tokens[token] = (address, time.time() + 3599)
        return token

    def _token(self, request: Request) -> Response:
        form = request.form()
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):  # client_secret_basic, as requests-oauthlib sends it
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", urllib.parse.unquote_plus(client_id))
            form.setdefault("client_secret", urllib.parse.unquote_plus(secret))
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response.of_json({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self.lock:
                entry = self.codes.pop(form.get("code", ""), None)
            if entry is None or entry["redirect_uri"] != form.get("redirect_uri"):
                return Response.of_json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if entry["method"] != "S256" or digest != entry["challenge"]:
                return Response.of_json({"error": "invalid_grant", "error_description": "Missing code verifier."}, 400)
            body: dict[str, Any] = {"access_token": self._issue(entry["email"]), "expires_in": 3599,
                                    "scope": " ".join(entry["scopes"]), "token_type": "Bearer"}
            if entry["offline"]:
                body["refresh_token"] = self.grant(entry["email"])
            return Response.of_json(body)
        if grant == "refresh_token":
            with self.lock:
                address = self.refresh_tokens.get(form.get("refresh_token", ""))
            if address is None:
                return Response.of_json({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400)
            return Response.of_json({"access_token": self._issue(address), "expires_in": 3599,
                                     "scope": f"{SCOPE_READ} {SCOPE_SEND}", "token_type": "Bearer"})
        return Response.of_json({"error": "unsupported_grant_type"}, 400)

    def _account_for(self, request: Request) -> GmailAccount | Response:
        with self.lock:
            entry = self.access_tokens.get(request.bearer or "")
        if entry is None or entry[1] < time.time():
            return google_error(401, "Request had invalid authentication credentials.", "authError", "UNAUTHENTICATED")
        return self.account(entry[0])

    def _profile(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        return Response.of_json({"emailAddress": account.email, "messagesTotal": len(account.messages),
                                 "threadsTotal": len({m.thread_id for m in account.messages.values()}),
                                 "historyId": str(account.history_id)})

    def _matches(self, message: StoredMessage, query: str, labels: list[str]) -> bool:
        if any(label not in message.labels for label in labels):
            return False
        for term in query.split():
            key, _, value = term.partition(":")
            if key == "after" and message.internal_date < int(value) * 1000:
                return False
            if key == "newer_than" and message.internal_date < (time.time() - int(value.rstrip("d")) * 86400) * 1000:
                return False
            if key == "in" and value.upper() not in message.labels:
                return False
            if key == "rfc822msgid" and message.message_id.strip("<>") != value.strip("<>"):
                return False
        return True

    def _list(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        labels = request.query.get("labelIds", [])
        with self.lock:
            found = sorted((m for m in account.messages.values() if self._matches(m, request.arg("q") or "", labels)),
                           key=lambda m: (m.internal_date, m.id), reverse=True)
        size = min(int(request.arg("maxResults") or 100), 500)
        start = int(request.arg("pageToken") or 0)
        chunk = found[start : start + size]
        body: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if chunk:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in chunk]
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return Response.of_json(body)

    def _get(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        assert request.match is not None
        with self.lock:
            message = account.messages.get(request.match["id"])
        if message is None:
            return google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")
        body: dict[str, Any] = {"id": message.id, "threadId": message.thread_id, "labelIds": message.labels,
                                "snippet": "", "sizeEstimate": len(message.raw), "historyId": str(message.history_id),
                                "internalDate": str(message.internal_date)}
        form = request.arg("format") or "full"
        if form == "raw":
            body["raw"] = _b64url(message.raw)
        elif form in ("metadata", "full"):
            parsed = BytesParser(policy=policy.compat32).parsebytes(message.raw, headersonly=True)
            wanted = {h.lower() for h in request.query.get("metadataHeaders", [])}
            headers = [{"name": k, "value": str(v)} for k, v in parsed.items() if not wanted or k.lower() in wanted]
            body["payload"] = {"partId": "", "mimeType": parsed.get_content_type(), "filename": "",
                               "headers": headers, "body": {"size": 0}}
        return Response.of_json(body)

    def _history(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        start = int(request.arg("startHistoryId") or 0)
        if start < account.history_floor or start <= 0:
            return google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")
        label = request.arg("labelId")
        types = set(request.query.get("historyTypes", []))
        with self.lock:
            records = []
            for record in account.history:
                if int(record["id"]) <= start:
                    continue
                if label and not any(label in m.get("labelIds", []) for m in record["messages"]):
                    continue
                if types and "messageAdded" not in types:
                    continue
                records.append(record)
            current = account.history_id
        size = min(int(request.arg("maxResults") or 100), 500)
        offset = int(request.arg("pageToken") or 0)
        body: dict[str, Any] = {"historyId": str(current)}
        if records[offset : offset + size]:
            body["history"] = records[offset : offset + size]
        if offset + size < len(records):
            body["nextPageToken"] = str(offset + size)
        return Response.of_json(body)

    def _store_sent(self, account: GmailAccount, raw: bytes) -> Response:
        parsed = email.message_from_bytes(raw, policy=policy.compat32)
        if not parsed.get("To") and not parsed.get("Cc") and not parsed.get("Bcc"):
            return google_error(400, "Invalid To header", "invalidArgument", "INVALID_ARGUMENT")
        message_id = self.deliver(account.email, raw, labels=("SENT",))
        with self.lock:
            stored = account.messages[message_id]
            account.sent.append(stored)
        return Response.of_json({"id": stored.id, "threadId": stored.thread_id, "labelIds": ["SENT"]})

    def _take_fault(self, request: Request) -> Fault | None:
        fault = super()._take_fault(request)
        if not self.log_requests:
            with self.lock:
                self.requests.clear()
        if fault is not None or not self.chaos or request.method != "POST" or not request.path.endswith("/messages/send"):
            return fault
        with self.lock:
            draw = self.chaos_rng.random()
            if draw >= self.chaos:
                return None
            self.chaos_injected += 1
            if draw < self.chaos / 2:
                status = self.chaos_rng.choice((500, 502, 503))
                return Fault("POST", "", google_error(status, "Backend Error", "backendError", "UNAVAILABLE"))
            return Fault("POST", "", None, disconnect=True, after=True)

    def _over_quota(self, account: GmailAccount) -> Response | None:
        """429 rateLimitExceeded when this send would exceed the per-user quota window."""
        if self.send_quota is None:
            return None
        units, window = self.send_quota
        now = time.monotonic()
        with self.lock:
            log = self._send_log.setdefault(account.email, deque())
            while log and log[0] <= now - window:
                log.popleft()
            if (len(log) + 1) * 100 > units:
                self.quota_rejections += 1
                retry = max(1, int(log[0] + window - now + 0.999))
                answer = google_error(429, "User-rate limit exceeded.", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
                answer.headers["Retry-After"] = str(retry)
                return answer
            log.append(now)
        return None

    def _send(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        over = self._over_quota(account)
        if over is not None:
            return over
        raw_text = (request.json() or {}).get("raw")
        if not raw_text:
            return google_error(400, "Recipient address required", "invalidArgument", "INVALID_ARGUMENT")
        raw = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
        return self._store_sent(account, raw)

    def _upload_start(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        kind = request.arg("uploadType")
        if kind == "media":
            return self._store_sent(account, request.body)
        if kind == "resumable":
            upload_id = secrets.token_urlsafe(12)
            with self.lock:
                self.uploads[upload_id] = {"account": account.email,
                                           "length": int(request.headers.get("x-upload-content-length") or 0)}
            location = f"{self.base}/upload/gmail/v1/users/me/messages/send?uploadType=resumable&upload_id={upload_id}"
            return Response(200, b"", {"Location": location})
        return google_error(400, f"unsupported uploadType {kind}", "invalidArgument", "INVALID_ARGUMENT")

    def _upload_put(self, request: Request) -> Response:
        with self.lock:
            upload = self.uploads.pop(request.arg("upload_id") or "", None)
        if upload is None:
            return google_error(404, "upload session not found", "notFound", "NOT_FOUND")
        return self._store_sent(self.account(upload["account"]), request.body)

    def _batch(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "")
        boundary = re.search(r'boundary="?([^";]+)"?', ctype)
        if not ctype.startswith("multipart/mixed") or boundary is None:
            return google_error(400, "batch needs multipart/mixed", "invalidArgument", "INVALID_ARGUMENT")
        parts = email.message_from_bytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + request.body,
                                         policy=policy.compat32)
        out_boundary = f"batch_{secrets.token_hex(8)}"
        chunks: list[bytes] = []
        for part in parts.get_payload():
            content_id = str(part.get("Content-ID", "<x+0>")).strip()
            payload = part.get_payload(decode=False)
            text = payload if isinstance(payload, str) else ""
            head, _, body = text.replace("\r\n", "\n").partition("\n\n")
            lines = head.split("\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            parsed = urllib.parse.urlsplit(target)
            sub = Request(method, urllib.parse.unquote(parsed.path),
                          urllib.parse.parse_qs(parsed.query, keep_blank_values=True), headers, body.encode())
            answer = self.dispatch(sub)
            reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                      429: "Too Many Requests"}.get(answer.status, "Error")
            inner = f"HTTP/1.1 {answer.status} {reason}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in answer.headers.items()) + "\r\n"
            chunks.append(
                f"--{out_boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{content_id.strip('<>')}>\r\n\r\n".encode()
                + inner.encode() + answer.body + b"\r\n"
            )
        body_bytes = b"".join(chunks) + f"--{out_boundary}--\r\n".encode()
        return Response(200, body_bytes, {"Content-Type": f"multipart/mixed; boundary={out_boundary}"})
