"""A fake Microsoft identity platform and Microsoft Graph (mail), over HTTPS on loopback.

MSAL only accepts an https authority, so this server uses a test certificate; give its CA file
to the adapter (``MicrosoftConfig.tls_verify``). It serves OpenID discovery, the authorize
endpoint (PKCE checked), the token endpoint (codes and refresh tokens), ``/me``, the inbox delta
query (pages sized by ``Prefer: odata.maxpagesize``, ``@removed`` entries, ``@odata.deltaLink``,
410 ``SyncStateNotFound`` once tokens are expired), ``/$value``, ``sendMail`` (MIME), drafts,
attachments, upload sessions, ``/send`` and the Sent Items ``internetMessageId`` filter.
"""

from __future__ import annotations

import base64
import email
import hashlib
import html
import itertools
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from typing import Any

from tests.fake_http import FakeServer, Request, Response
from tests.tls import LoopbackCert

TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a form_post answer page (what the browser would post)."""
    action = re.search(r'action="([^"]*)"', page)
    fields = {html.unescape(k): html.unescape(v) for k, v in re.findall(r'name="([^"]*)" value="([^"]*)"', page)}
    return html.unescape(action.group(1)) if action else "", fields


def graph_error(status: int, code: str, message: str) -> Response:
    """An error in Graph's shape."""
    return Response.of_json({"error": {"code": code, "message": message}}, status)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass
class GraphMessage:
    """One message in a fake mailbox folder."""

    id: str
    raw: bytes
    folder: str
    received: datetime
    internet_message_id: str
    conversation_id: str
    is_read: bool = False
    seq: int = 0  # change sequence when last created or updated
    removed_seq: int | None = None
    subject: str = ""


@dataclass
class GraphAccount:
    """A fake Microsoft 365 mailbox."""

    email: str
    oid: str = field(default_factory=lambda: secrets.token_hex(8))
    messages: dict[str, GraphMessage] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[GraphMessage] = field(default_factory=list)


class FakeGraph(FakeServer):
    """Identity platform and Graph on one HTTPS server; ``authority_url`` and ``graph_url`` are the settings."""

    client_id = "00000000-fake-4000-8000-000000000001"
    client_secret = "fake-ms-secret"

    def __init__(self, cert: LoopbackCert) -> None:
        super().__init__(cert)
        self.accounts: dict[str, GraphAccount] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.consent_email: str | None = None
        self.consent = "allow"  # allow | deny
        self.seq = itertools.count(1)
        self.current_seq = 0
        self.token_floor = 0  # delta/skip tokens issued before this sequence answer 410
        self.skip_states: dict[str, dict[str, Any]] = {}
        self.upload_sessions: dict[str, dict[str, Any]] = {}
        self.api_rejects_tokens = False  # every Graph call answers 401 (token revoked server-side)
        self._ids = itertools.count(1)
        self._register()

    # -------------------------------------------------------------- test helpers

    @property
    def authority_url(self) -> str:
        """What COURRIER_MS_AUTHORITY_URL should be."""
        return self.base

    @property
    def graph_url(self) -> str:
        """What COURRIER_GRAPH_API_URL should be."""
        return self.base + "/v1.0"

    def account(self, address: str) -> GraphAccount:
        """The account for an address, created on first use."""
        with self.lock:
            return self.accounts.setdefault(address, GraphAccount(address))

    def _next_seq(self) -> int:
        self.current_seq = next(self.seq)
        return self.current_seq

    def deliver(self, address: str, raw: bytes, *, folder: str = "inbox", received: datetime | None = None,
                is_read: bool = False) -> str:
        """Put a message in a folder of an account."""
        parsed = email.message_from_bytes(raw, policy=policy.compat32)
        account = self.account(address)
        with self.lock:
            message_id = f"AAMkAD{next(self._ids):06d}{secrets.token_hex(4)}="
            account.messages[message_id] = GraphMessage(
                id=message_id, raw=raw, folder=folder, received=received or datetime.now(UTC),
                internet_message_id=str(parsed.get("Message-ID", f"<{message_id}@fake>")).strip(),
                conversation_id=f"conv-{message_id[:10]}", is_read=is_read, seq=self._next_seq(),
                subject=str(parsed.get("Subject", "")),
            )
            return message_id

    def mark_read(self, address: str, message_id: str) -> None:
        """Change a message (shows up in delta as an update)."""
        with self.lock:
            message = self.account(address).messages[message_id]
            message.is_read, message.seq = True, self._next_seq()

    def remove(self, address: str, message_id: str) -> None:
        """Delete a message (shows up in delta as ``@removed``)."""
        with self.lock:
            self.account(address).messages[message_id].removed_seq = self._next_seq()

    def expire_delta_tokens(self) -> None:
        """Every delta or skip token issued so far answers 410 SyncStateNotFound."""
        with self.lock:
            self.token_floor = self._next_seq()

    def grant(self, address: str) -> str:
        """A refresh token, as if the user had consented."""
        self.account(address)
        token = f"0.fake-refresh-{secrets.token_urlsafe(12)}"
        with self.lock:
            self.refresh_tokens[token] = address
        return token

    def revoke(self, address: str) -> None:
        """Revoke the account's tokens (refresh answers invalid_grant)."""
        with self.lock:
            self.refresh_tokens = {t: a for t, a in self.refresh_tokens.items() if a != address}
            self.access_tokens = {t: v for t, v in self.access_tokens.items() if v[0] != address}

    # -------------------------------------------------------------- routes

    def _register(self) -> None:
        tenant = r"/(?P<tenant>[^/]+)"
        self.route("GET", tenant + r"/v2\.0/\.well-known/openid-configuration", self._discovery)
        self.route("GET", tenant + r"/oauth2/v2\.0/authorize", self._authorize)
        self.route("POST", tenant + r"/oauth2/v2\.0/token", self._token)
        self.route("GET", r"/v1\.0/me", self._me)
        self.route("GET", r"/v1\.0/me/mailFolders/(?P<folder>[^/]+)/messages/delta", self._delta)
        self.route("GET", r"/v1\.0/me/mailFolders/(?P<folder>[^/]+)/messages", self._folder_messages)
        self.route("GET", r"/v1\.0/me/messages/(?P<id>[^/]+)/\$value", self._value)
        self.route("POST", r"/v1\.0/me/sendMail", self._send_mail)
        self.route("POST", r"/v1\.0/me/messages", self._create_draft)
        self.route("DELETE", r"/v1\.0/me/messages/(?P<id>[^/]+)", self._delete_draft)
        self.route("POST", r"/v1\.0/me/messages/(?P<id>[^/]+)/attachments", self._add_attachment)
        self.route("POST", r"/v1\.0/me/messages/(?P<id>[^/]+)/attachments/createUploadSession", self._upload_session)
        self.route("PUT", r"/upload/(?P<session>[^/]+)", self._upload_chunk)
        self.route("POST", r"/v1\.0/me/messages/(?P<id>[^/]+)/send", self._send_draft)

    def _discovery(self, request: Request) -> Response:
        assert request.match is not None
        tenant = request.match["tenant"]
        return Response.of_json({
            "authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/token",
            "issuer": f"{self.base}/{TENANT_ID}/v2.0",
            "jwks_uri": f"{self.base}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        })

    def _answer(self, request: Request, redirect: str, fields: dict[str, str]) -> Response:
        if request.arg("response_mode") == "form_post":
            inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
                             for k, v in fields.items())
            page = (f'<html><body onload="document.forms[0].submit()"><form method="POST" '
                    f'action="{html.escape(redirect)}">{inputs}</form></body></html>')
            return Response(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        return Response.redirect(f"{redirect}?{urllib.parse.urlencode(fields)}")

    def _authorize(self, request: Request) -> Response:
        redirect = request.arg("redirect_uri") or ""
        state = request.arg("state") or ""
        if request.arg("client_id") != self.client_id:
            return Response(400, b"AADSTS700016: unknown application")
        if self.consent == "deny":
            return self._answer(request, redirect, {"error": "access_denied", "state": state,
                                                    "error_description": "AADSTS65004: User declined to consent."})
        code = f"0.fake-code-{secrets.token_urlsafe(16)}"
        with self.lock:
            self.codes[code] = {"email": self.consent_email or "someone@outlook.test", "redirect_uri": redirect,
                                "challenge": request.arg("code_challenge"), "method": request.arg("code_challenge_method"),
                                "nonce": request.arg("nonce"), "scope": request.arg("scope") or ""}
        return self._answer(request, redirect, {"code": code, "state": state, "session_state": "x"})

    def _tokens_for(self, address: str, nonce: str | None, scope: str) -> dict[str, Any]:
        account = self.account(address)
        access = f"eyJ0eXAiOiJKV1QifQ.fake-access-{secrets.token_urlsafe(16)}"
        refresh = self.grant(address)
        now = int(time.time())
        claims = {"aud": self.client_id, "iss": f"{self.base}/{TENANT_ID}/v2.0", "iat": now, "nbf": now,
                  "exp": now + 3600, "oid": account.oid, "tid": TENANT_ID, "sub": account.oid,
                  "preferred_username": address, "name": address.split("@")[0], "ver": "2.0"}
        if nonce:
            claims["nonce"] = nonce
        id_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.sig"
        with self.lock:
            self.access_tokens[access] = (address, time.time() + 3600)
        return {"token_type": "Bearer", "scope": scope or "Mail.Read Mail.Send User.Read", "expires_in": 3599,
                "ext_expires_in": 3599, "access_token": access, "refresh_token": refresh, "id_token": id_token,
                "client_info": _b64({"uid": account.oid, "utid": TENANT_ID})}

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response.of_json({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}, 401)
        if form.get("grant_type") == "authorization_code":
            with self.lock:
                entry = self.codes.pop(form.get("code", ""), None)
            if entry is None or entry["redirect_uri"] != form.get("redirect_uri"):
                return Response.of_json({"error": "invalid_grant", "error_description": "AADSTS70000: code invalid"}, 400)
            digest = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest()).decode().rstrip("=")
            if entry["method"] != "S256" or digest != entry["challenge"]:
                return Response.of_json({"error": "invalid_grant", "error_description": "AADSTS501481: code verifier mismatch"}, 400)
            scope = " ".join(s for s in entry["scope"].split() if s not in ("openid", "profile", "offline_access"))
            return Response.of_json(self._tokens_for(entry["email"], entry["nonce"], scope))
        if form.get("grant_type") == "refresh_token":
            with self.lock:
                address = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if address is None:
                return Response.of_json({"error": "invalid_grant", "error_codes": [700082],
                                         "error_description": "AADSTS700082: The refresh token has expired due to inactivity."}, 400)
            scope = " ".join(s for s in form.get("scope", "").split() if s not in ("openid", "profile", "offline_access"))
            return Response.of_json(self._tokens_for(address, None, scope))
        return Response.of_json({"error": "unsupported_grant_type"}, 400)

    def _account_for(self, request: Request) -> GraphAccount | Response:
        with self.lock:
            entry = self.access_tokens.get(request.bearer or "")
        if entry is None or entry[1] < time.time() or self.api_rejects_tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        return self.account(entry[0])

    def _me(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        return Response.of_json({"@odata.context": f"{self.graph_url}/$metadata#users/$entity", "id": account.oid,
                                 "mail": account.email, "userPrincipalName": account.email})

    @staticmethod
    def _item(message: GraphMessage, select: list[str] | None) -> dict[str, Any]:
        full = {"@odata.type": "#microsoft.graph.message", "@odata.etag": f'W/"{message.seq}"', "id": message.id,
                "internetMessageId": message.internet_message_id, "conversationId": message.conversation_id,
                "isRead": message.is_read, "flag": {"flagStatus": "notFlagged"}, "subject": message.subject,
                "receivedDateTime": message.received.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if select:
            return {k: v for k, v in full.items() if k.startswith("@") or k in select or k == "id"}
        return full

    def _delta(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        assert request.match is not None
        folder = request.match["folder"].lower()
        size = 10
        prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
        if prefer:
            size = int(prefer.group(1))
        skip, delta = request.arg("$skiptoken"), request.arg("$deltatoken")
        with self.lock:
            if skip is not None:
                state = self.skip_states.get(skip)
                if state is None or state["issued"] < self.token_floor:
                    return graph_error(410, "SyncStateNotFound", "The sync state generation is not found.")
            else:
                since_seq = 0
                select = (request.arg("$select") or "").split(",") if request.arg("$select") else None
                received_ge: datetime | None = None
                if delta is not None:
                    token = json.loads(base64.urlsafe_b64decode(delta + "=" * (-len(delta) % 4)))
                    if token["issued"] < self.token_floor:
                        return graph_error(410, "SyncStateNotFound", "The sync state generation is not found.")
                    since_seq, select, ge = token["seq"], token["select"], token.get("ge")
                    received_ge = datetime.fromisoformat(ge) if ge else None
                else:
                    found = re.search(r"receivedDateTime ge (\S+)", request.arg("$filter") or "")
                    received_ge = datetime.fromisoformat(found.group(1).replace("Z", "+00:00")) if found else None
                items = []
                for message in sorted(account.messages.values(), key=lambda m: m.seq):
                    if message.folder != folder.replace("inbox", "inbox"):
                        continue
                    if received_ge and message.received < received_ge:
                        continue
                    if message.removed_seq is not None:
                        if since_seq and message.removed_seq > since_seq and message.seq <= since_seq:
                            items.append({"@odata.type": "#microsoft.graph.message", "id": message.id,
                                          "@removed": {"reason": "deleted"}})
                        continue
                    if message.seq > since_seq:
                        items.append(self._item(message, select))
                state = {"items": items, "issued": self.current_seq, "end": self.current_seq, "select": select,
                         "ge": received_ge.isoformat() if received_ge else None}
            page, rest = state["items"][:size], state["items"][size:]
            body: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#Collection(message)", "value": page}
            if rest:
                token = secrets.token_urlsafe(12)
                self.skip_states[token] = {**state, "items": rest}
                body["@odata.nextLink"] = f"{self.graph_url}/me/mailFolders/{folder}/messages/delta?$skiptoken={token}"
            else:
                token = base64.urlsafe_b64encode(json.dumps({"seq": state["end"], "issued": self.current_seq,
                                                             "select": state["select"], "ge": state["ge"]}).encode()).decode().rstrip("=")
                body["@odata.deltaLink"] = f"{self.graph_url}/me/mailFolders/{folder}/messages/delta?$deltatoken={token}"
        return Response.of_json(body)

    def _folder_messages(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        assert request.match is not None
        folder = request.match["folder"].lower()
        wanted = re.fullmatch(r"internetMessageId eq '(.*)'", request.arg("$filter") or "")
        with self.lock:
            found = [m for m in account.messages.values() if m.folder == folder and m.removed_seq is None]
        if wanted:
            value = wanted.group(1).replace("''", "'")
            found = [m for m in found if m.internet_message_id == value]
        return Response.of_json({"value": [self._item(m, ["id", "internetMessageId"]) for m in found]})

    def _value(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        assert request.match is not None
        message = account.messages.get(request.match["id"])
        if message is None or message.removed_seq is not None:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return Response(200, message.raw, {"Content-Type": "text/plain"})

    def _file_sent(self, account: GraphAccount, raw: bytes) -> GraphMessage:
        message_id = self.deliver(account.email, raw, folder="sentitems", is_read=True)
        message = account.messages[message_id]
        account.sent.append(message)
        return message

    def _send_mail(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        if not request.headers.get("content-type", "").startswith("text/plain"):
            return graph_error(400, "ErrorInvalidRequest", "JSON sendMail not supported by this fake")
        try:
            raw = base64.b64decode(request.body, validate=True)
        except ValueError:
            return graph_error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
        if len(request.body) > 4 * 1024 * 1024:
            return graph_error(413, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
        parsed = email.message_from_bytes(raw, policy=policy.compat32)
        if not parsed.get("To"):
            return graph_error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        self._file_sent(account, raw)
        return Response(202)

    def _create_draft(self, request: Request) -> Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        body = request.json()
        draft_id = f"AAMkDRAFT{next(self._ids):06d}="
        with self.lock:
            account.drafts[draft_id] = {**body, "attachments": []}
        return Response.of_json({"id": draft_id, "isDraft": True, "internetMessageId": body.get("internetMessageId")}, 201)

    def _draft(self, request: Request) -> tuple[GraphAccount, dict[str, Any]] | Response:
        account = self._account_for(request)
        if isinstance(account, Response):
            return account
        assert request.match is not None
        draft = account.drafts.get(request.match["id"])
        if draft is None:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return account, draft

    def _delete_draft(self, request: Request) -> Response:
        found = self._draft(request)
        if isinstance(found, Response):
            return found
        assert request.match is not None
        found[0].drafts.pop(request.match["id"], None)
        return Response(204)

    def _add_attachment(self, request: Request) -> Response:
        found = self._draft(request)
        if isinstance(found, Response):
            return found
        body = request.json()
        data = base64.b64decode(body["contentBytes"])
        if len(data) > 3 * 1024 * 1024:
            return graph_error(413, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "Use an upload session above 3 MB.")
        found[1]["attachments"].append({"name": body["name"], "contentType": body.get("contentType"), "data": data})
        return Response.of_json({"id": secrets.token_hex(6), "name": body["name"]}, 201)

    def _upload_session(self, request: Request) -> Response:
        found = self._draft(request)
        if isinstance(found, Response):
            return found
        item = request.json()["AttachmentItem"]
        token = secrets.token_urlsafe(12)
        with self.lock:
            self.upload_sessions[token] = {"draft": found[1], "item": item, "data": bytearray()}
        return Response.of_json({"uploadUrl": f"{self.base}/upload/{token}",
                                 "expirationDateTime": "2030-01-01T00:00:00Z", "nextExpectedRanges": ["0-"]}, 201)

    def _upload_chunk(self, request: Request) -> Response:
        if request.bearer:
            return graph_error(401, "InvalidAuthenticationToken", "Upload URLs must not carry an Authorization header.")
        assert request.match is not None
        session = self.upload_sessions.get(request.match["session"])
        if session is None:
            return graph_error(404, "ErrorItemNotFound", "upload session not found")
        found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("content-range", ""))
        if not found or int(found.group(1)) != len(session["data"]):
            return graph_error(416, "InvalidRange", "bad Content-Range")
        session["data"].extend(request.body)
        total = int(found.group(3))
        if len(session["data"]) < total:
            return Response.of_json({"nextExpectedRanges": [f"{len(session['data'])}-"]}, 200)
        session["draft"]["attachments"].append({"name": session["item"]["name"],
                                                "contentType": session["item"].get("contentType"),
                                                "data": bytes(session["data"])})
        return Response.of_json({"id": secrets.token_hex(6)}, 201)

    def _send_draft(self, request: Request) -> Response:
        found = self._draft(request)
        if isinstance(found, Response):
            return found
        account, draft = found
        message = email.message.EmailMessage()
        message["To"] = ", ".join(r["emailAddress"]["address"] for r in draft.get("toRecipients", []))
        if draft.get("ccRecipients"):
            message["Cc"] = ", ".join(r["emailAddress"]["address"] for r in draft["ccRecipients"])
        message["Subject"] = draft.get("subject", "")
        message["Message-ID"] = draft.get("internetMessageId") or f"<{secrets.token_hex(8)}@fake>"
        message.set_content(draft.get("body", {}).get("content", ""))
        for attachment in draft["attachments"]:
            maintype, _, subtype = (attachment["contentType"] or "application/octet-stream").partition("/")
            message.add_attachment(attachment["data"], maintype=maintype, subtype=subtype, filename=attachment["name"])
        assert request.match is not None
        account.drafts.pop(request.match["id"], None)
        self._file_sent(account, bytes(message))
        return Response(202)
