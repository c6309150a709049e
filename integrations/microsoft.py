"""Outlook / Microsoft 365 through MSAL and Microsoft Graph: linking, delta sync, sending.

MSAL keeps the tokens in a serializable cache that Courrier stores encrypted; every Graph call
gets its token from that cache (refreshing it when needed). Reading uses the delta query on the
inbox and stores the whole ``@odata.deltaLink``; a 410 (``syncStateNotFound``) starts a
resync. Sending posts the same MIME message every adapter sends to ``/me/sendMail``; above
3 MB it builds a draft and uploads large attachments through upload sessions.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from typing import TYPE_CHECKING, Any

import httpx
import requests

from integrations.google import OAuthRefused, retry_after_seconds
from integrations.http import DEFAULT_TIMEOUT
from integrations.mail import (
    AmbiguousSendError,
    MailAuthError,
    MailError,
    MailRateLimited,
    OutgoingEmail,
    PermanentSendError,
    SentReceipt,
    TransientMailError,
    build_mime,
)
from integrations.mailbox import KnownMessages, RemoteMessage, SyncPage

if TYPE_CHECKING:
    import msal

log = logging.getLogger(__name__)

SCOPES = ("Mail.Read", "Mail.Send", "User.Read")
MIME_LIMIT = 3 * 1024 * 1024  # sendMail takes base64 MIME up to 4 MB: keep the raw message under 3 MB
ATTACHMENT_INLINE_LIMIT = 3 * 1024 * 1024  # larger attachments go through an upload session
UPLOAD_CHUNK = 320 * 1024 * 10  # upload sessions want multiples of 320 KiB
PAGE_SIZE = 50
DELTA_SELECT = "id,internetMessageId,conversationId,isRead,flag,receivedDateTime"
RESYNC_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired"}
KNOWN_AUTHORITIES = {"login.microsoftonline.com", "login.microsoft.com", "login.windows.net",
                     "login.microsoftonline.us", "login.chinacloudapi.cn"}


class _Session(requests.Session):
    """A requests session whose own CA bundle wins over REQUESTS_CA_BUNDLE (requests lets the variable win)."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.verify is not True and verify in (None, True):
            settings["verify"] = self.verify
        return settings


@dataclass(frozen=True)
class MicrosoftConfig:
    """Client credentials and endpoints (COURRIER_MS_*, COURRIER_GRAPH_API_URL)."""

    client_id: str | None
    client_secret: str | None = field(default=None, repr=False)
    tenant: str = "common"
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    tls_verify: str | bool = True  # a CA bundle path for private gateways and local fakes
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)
    http_cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def configured(self) -> bool:
        """True when a client id and secret are set."""
        return bool(self.client_id and self.client_secret)

    @property
    def authority(self) -> str:
        """The MSAL authority URL (authority base and tenant)."""
        return f"{self.authority_url.rstrip('/')}/{self.tenant}"

    def session(self) -> requests.Session:
        """A requests session for MSAL with this configuration's CA bundle; close it after use."""
        session = _Session()
        session.verify = self.tls_verify
        return session

    def app(self, session: requests.Session,
            cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
        """An MSAL confidential client on this configuration, talking through ``session``."""
        if not self.configured:
            raise OAuthRefused("not_configured")
        host = urllib.parse.urlsplit(self.authority_url).hostname or ""
        import msal  # imported when an Outlook mailbox is used: keeps an idle server small

        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self.client_secret,
            authority=self.authority,
            token_cache=cache,
            http_client=session,
            timeout=self.timeout.read,
            instance_discovery=host in KNOWN_AUTHORITIES,
            http_cache=self.http_cache,
        )

    def client(self) -> httpx.Client:
        """An HTTP client for Graph (no automatic retries, redirects not followed)."""
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=self.tls_verify) if isinstance(self.tls_verify, str) else self.tls_verify
        )
        return httpx.Client(timeout=self.timeout, verify=verify, transport=self.transport, follow_redirects=False)


def _error_code(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict):
            return str(error.get("code", "")), str(error.get("message", ""))
        return str(error), ""
    except (ValueError, AttributeError):
        return "", response.text[:200]


def translate_response(response: httpx.Response, *, sending: bool = False) -> MailError:
    """The port's domain error for a Graph error answer."""
    status = response.status_code
    code, message = _error_code(response)
    text = f"Graph {status} {code}: {message}"[:400]
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if status == 401:
        return MailAuthError(text)
    if status == 403 and code.lower() in ("erroraccessdenied", "accessdenied", "authorization_requestdenied"):
        return MailAuthError(text)
    if status == 429:
        return MailRateLimited(text, retry_after)
    if status == 503:
        return MailRateLimited(text, retry_after) if retry_after else TransientMailError(text)
    if status >= 500:
        return AmbiguousSendError(text) if sending else TransientMailError(text)
    if sending and 400 <= status < 500:
        return PermanentSendError(text)
    return TransientMailError(text)


# ---------------------------------------------------------------- OAuth


class MicrosoftOAuth:
    """MSAL's auth-code flow (with PKCE); the flow dict is kept server-side, sealed."""

    def __init__(self, config: MicrosoftConfig) -> None:
        self._config = config

    @property
    def configured(self) -> bool:
        """True when Microsoft linking can be offered."""
        return self._config.configured

    def start(self, redirect_uri: str, state: str) -> dict[str, Any]:
        """The flow to keep; its ``auth_uri`` is where to send the browser."""
        try:
            with self._config.session() as session:
                flow: dict[str, Any] = self._config.app(session).initiate_auth_code_flow(
                    list(SCOPES), redirect_uri=redirect_uri, state=state, prompt="select_account",
                    response_mode="form_post",
                )
        except (requests.RequestException, ValueError) as exc:
            raise OAuthRefused("unreachable", type(exc).__name__) from exc
        return flow

    def finish(self, flow: Mapping[str, Any], query: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """Redeem the code: the mailbox address and the credentials to store (the MSAL cache)."""
        import msal

        cache = msal.SerializableTokenCache()
        try:
            with self._config.session() as session:
                app = self._config.app(session, cache)
                result = app.acquire_token_by_auth_code_flow(dict(flow), dict(query), scopes=list(SCOPES))
                accounts = app.get_accounts()
        except (requests.RequestException, ValueError) as exc:
            raise OAuthRefused("exchange", type(exc).__name__) from exc
        if "error" in result:
            kind = "denied" if result.get("error") in ("access_denied", "consent_required") else "exchange"
            raise OAuthRefused(kind, str(result.get("error")))
        granted = {s.lower() for s in str(result.get("scope", "")).split()}
        if granted and not {"mail.read", "mail.send"} <= {s.rsplit("/", 1)[-1] for s in granted}:
            raise OAuthRefused("scopes", " ".join(sorted(granted)))
        claims = result.get("id_token_claims") or {}
        home = accounts[0].get("home_account_id") if accounts else None
        credentials = {"cache": cache.serialize(), "home_account_id": home}
        api = GraphApi(self._config, credentials)
        try:
            me = api.get_json(f"{self._config.graph_url}/me?$select=mail,userPrincipalName")
        finally:
            api.close()
        address = str(me.get("mail") or me.get("userPrincipalName") or claims.get("preferred_username") or "")
        if not address:
            raise OAuthRefused("exchange", "no address")
        return address.lower(), api.stored_credentials()


# ---------------------------------------------------------------- API access


class GraphApi:
    """One Microsoft account's Graph API: tokens from the MSAL cache, errors translated."""

    def __init__(self, config: MicrosoftConfig, stored: Mapping[str, Any]) -> None:
        import msal

        self._config = config
        self._cache = msal.SerializableTokenCache()
        if stored.get("cache"):
            self._cache.deserialize(str(stored["cache"]))
        self._home = stored.get("home_account_id")
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: requests.Session | None = None
        self._token: str | None = None
        self.http = config.client()

    def _msal(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            try:
                self._session = self._session or self._config.session()
                self._app = self._config.app(self._session, self._cache)
            except OAuthRefused as exc:
                raise TransientMailError("Microsoft is not configured on this server (COURRIER_MS_CLIENT_ID)") from exc
            except (requests.RequestException, ValueError) as exc:
                raise TransientMailError(f"Microsoft sign-in unreachable: {type(exc).__name__}") from exc
        return self._app

    def token(self, *, force: bool = False) -> str:
        """An access token from the cache, refreshed when needed; MailAuthError when the grant is gone."""
        if self._token and not force:
            return self._token
        app = self._msal()
        accounts = [a for a in app.get_accounts() if not self._home or a.get("home_account_id") == self._home]
        if not accounts:
            raise MailAuthError("no Microsoft account in the stored token cache")
        try:
            result = app.acquire_token_silent_with_error(list(SCOPES), account=accounts[0], force_refresh=force)
        except requests.RequestException as exc:
            raise TransientMailError(f"Microsoft token refresh failed: {type(exc).__name__}") from exc
        if not result:
            raise MailAuthError("the Microsoft token cache holds no usable refresh token")
        if "access_token" not in result:
            error = str(result.get("error", ""))
            if error in ("invalid_grant", "interaction_required", "invalid_client", "unauthorized_client"):
                raise MailAuthError(f"Microsoft refused the refresh token: {error}")
            raise TransientMailError(f"Microsoft token refresh failed: {error}")
        self._token = str(result["access_token"])
        return self._token

    def request(self, method: str, url: str, *, sending: bool = False, auth: bool = True,
                **kwargs: Any) -> httpx.Response:
        """One Graph request; on 401 the token is refreshed once, a second 401 means re-linking."""
        base_headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (0, 1):
            headers = dict(base_headers)
            if auth:
                headers["Authorization"] = f"Bearer {self.token(force=attempt == 1)}"
            try:
                response = self.http.request(method, url, headers=headers, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise TransientMailError(f"Graph unreachable: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                if sending:
                    raise AmbiguousSendError(f"no answer from Graph after sending: {type(exc).__name__}") from exc
                raise TransientMailError(f"Graph connection failed: {type(exc).__name__}") from exc
            if response.status_code == 401 and auth and attempt == 0:
                continue  # a 401 means nothing was accepted: refresh the token and ask once more
            return response
        return response

    def get_json(self, url: str) -> dict[str, Any]:
        """GET a JSON resource or raise the translated error."""
        response = self.request("GET", url)
        if response.status_code != 200:
            raise translate_response(response)
        data: dict[str, Any] = response.json()
        return data

    def stored_credentials(self) -> dict[str, Any]:
        """The credentials to store: the serialized MSAL cache and the account."""
        return {"cache": self._cache.serialize(), "home_account_id": self._home}

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """The credentials when MSAL changed its cache (a refresh happened), else None."""
        if self._cache.has_state_changed:
            self._cache.has_state_changed = False
            return self.stored_credentials()
        return None

    def close(self) -> None:
        """Release the HTTP clients."""
        self.http.close()
        if self._session is not None:
            self._session.close()


def _flags(item: Mapping[str, Any]) -> tuple[str, ...]:
    flags = []
    if item.get("isRead"):
        flags.append("\\Seen")
    if (item.get("flag") or {}).get("flagStatus") == "flagged":
        flags.append("\\Flagged")
    return tuple(flags)


class _SyncStateGone(Exception):
    pass


class GraphSource:
    """Reads an Outlook inbox with the delta query, resuming from the stored links."""

    def __init__(self, address: str, api: GraphApi, graph_url: str) -> None:
        self._address = address
        self._api = api
        self._graph = graph_url.rstrip("/")

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """The MSAL cache when it changed."""
        return self._api.refreshed_credentials()

    def close(self) -> None:
        """Release the HTTP client."""
        self._api.close()

    def _delta_page(self, url: str) -> dict[str, Any]:
        response = self._api.request("GET", url, headers={"Prefer": f"odata.maxpagesize={PAGE_SIZE}"})
        if response.status_code == 410 or (
            response.status_code in (400, 404) and _error_code(response)[0].lower() in RESYNC_CODES
        ):
            raise _SyncStateGone(_error_code(response)[0])
        if response.status_code != 200:
            raise translate_response(response)
        data: dict[str, Any] = response.json()
        return data

    def pages(self, cursor: Mapping[str, Any], since: datetime, known: KnownMessages) -> Iterator[SyncPage]:
        """Delta pages from the stored link; an expired link (410) restarts with a resync of the window."""
        link = cursor.get("next_link") or cursor.get("delta_link")
        if link:
            try:
                yield from self._round(str(link), cursor, known, initial=False, resync=False)
                return
            except _SyncStateGone as gone:
                log.info("Graph delta state expired (%s): resync of the recent window", gone)
                resync = True
        else:
            resync = False
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = urllib.parse.urlencode({"$select": DELTA_SELECT, "$filter": f"receivedDateTime ge {start}"},
                                       quote_via=urllib.parse.quote)
        url = f"{self._graph}/me/mailFolders/inbox/messages/delta?{query}"
        try:
            yield from self._round(url, {}, known, initial=True, resync=resync)
        except _SyncStateGone as gone:
            raise TransientMailError(f"Graph refused a fresh delta query: {gone}") from gone

    def _round(self, url: str, cursor: Mapping[str, Any], known: KnownMessages, *, initial: bool,
               resync: bool) -> Iterator[SyncPage]:
        previous = cursor.get("delta_link")
        while True:
            data = self._delta_page(url)
            page = self._page(data.get("value") or [], known, resync=resync)
            page.initial = initial
            delta = data.get("@odata.deltaLink")
            following = data.get("@odata.nextLink")
            if delta:
                page.cursor = {"delta_link": delta}
            else:
                page.cursor = {"next_link": following, "delta_link": previous}
            yield page
            if delta or not following:
                return
            url = str(following)

    def _page(self, items: list[dict[str, Any]], known: KnownMessages, *, resync: bool) -> SyncPage:
        page = SyncPage(cursor={}, resync=resync)
        present = [i for i in items if "@removed" not in i and i.get("id")]
        page.removed = [str(i["id"]) for i in items if "@removed" in i and i.get("id")]
        have = known.known_provider_ids([str(i["id"]) for i in present])
        fresh = []
        for item in present:
            if item["id"] in have:
                page.flag_updates[str(item["id"])] = _flags(item)
            else:
                fresh.append(item)
        if resync and fresh:
            mids = [str(i["internetMessageId"]) for i in fresh if i.get("internetMessageId")]
            known_mids = known.known_message_ids(mids)
            for item in list(fresh):
                mid = item.get("internetMessageId")
                if mid and mid in known_mids:
                    page.rebind[str(mid)] = str(item["id"])
                    fresh.remove(item)
        for item in fresh:
            response = self._api.request("GET", f"{self._graph}/me/messages/{urllib.parse.quote(str(item['id']))}/$value")
            if response.status_code == 404:
                continue  # deleted before we could read it
            if response.status_code != 200:
                raise translate_response(response)
            received = item.get("receivedDateTime")
            page.messages.append(RemoteMessage(
                provider_id=str(item["id"]),
                raw=response.content,
                folder="inbox",
                thread_id=str(item["conversationId"]) if item.get("conversationId") else None,
                flags=_flags(item),
                size=len(response.content),
                internal_date=datetime.fromisoformat(str(received).replace("Z", "+00:00")) if received else None,
            ))
        return page


# ---------------------------------------------------------------- sending


def _step_error(response: httpx.Response) -> MailError:
    """A failed step before the final send: a 4xx is this email's fault, a 5xx sent nothing yet."""
    return translate_response(response, sending=response.status_code < 500)


def _recipients(addresses: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a}} for a in addresses]


class GraphMail:
    """Sends with ``/me/sendMail`` (MIME), or a draft with upload sessions above 3 MB.

    Each call opens its own Graph client and closes it; a renewed MSAL cache goes to ``on_refresh``.
    """

    def __init__(self, address: str, api: Callable[[], GraphApi], graph_url: str,
                 clock: Callable[[], datetime] | None = None,
                 on_refresh: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._address = address
        self._api = api
        self._graph = graph_url.rstrip("/")
        self._now = clock or (lambda: datetime.now(UTC))
        self._on_refresh = on_refresh

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def _call(self, work: Callable[[GraphApi], Any]) -> Any:
        api = self._api()
        try:
            return work(api)
        finally:
            fresh = api.refreshed_credentials()
            if fresh is not None and self._on_refresh is not None:
                self._on_refresh(fresh)
            api.close()

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Send one email; errors become the port's domain errors."""
        raw = build_mime(email, self._address, date=self._now()).as_bytes(policy=policy.SMTP)
        if len(raw) > MIME_LIMIT:
            large: SentReceipt = self._call(lambda api: self._send_large(api, email))
            return large

        def work(api: GraphApi) -> SentReceipt:
            response = api.request(
                "POST", f"{self._graph}/me/sendMail", sending=True, content=base64.b64encode(raw),
                headers={"Content-Type": "text/plain"},
            )
            if response.status_code != 202:
                raise translate_response(response, sending=True)
            return SentReceipt(message_id=email.message_id)

        receipt: SentReceipt = self._call(work)
        return receipt

    def _send_large(self, api: GraphApi, email: OutgoingEmail) -> SentReceipt:
        body: dict[str, Any] = {
            "subject": email.subject,
            "body": {"contentType": "HTML", "content": email.html} if email.html else
                    {"contentType": "Text", "content": email.text},
            "toRecipients": _recipients(email.to),
            "ccRecipients": _recipients(email.cc),
            "internetMessageId": email.message_id,
        }
        if email.reply_to:
            body["replyTo"] = _recipients((email.reply_to,))
        created = api.request("POST", f"{self._graph}/me/messages", json=body)
        if created.status_code != 201:
            raise _step_error(created)
        draft = str(created.json()["id"])
        base = f"{self._graph}/me/messages/{urllib.parse.quote(draft)}"
        try:
            for attachment in email.attachments:
                if len(attachment.data) < ATTACHMENT_INLINE_LIMIT:
                    added = api.request("POST", f"{base}/attachments", json={
                        "@odata.type": "#microsoft.graph.fileAttachment", "name": attachment.filename,
                        "contentType": attachment.content_type,
                        "contentBytes": base64.b64encode(attachment.data).decode(),
                    })
                    if added.status_code != 201:
                        raise _step_error(added)
                else:
                    self._upload(api, base, attachment.filename, attachment.content_type, attachment.data)
        except MailError:
            api.request("DELETE", base)  # nothing was sent: do not leave a half-built draft behind
            raise
        sent = api.request("POST", f"{base}/send", sending=True)
        if sent.status_code != 202:
            raise translate_response(sent, sending=True)
        return SentReceipt(message_id=email.message_id, provider_id=draft)

    def _upload(self, api: GraphApi, base: str, name: str, content_type: str, data: bytes) -> None:
        session = api.request("POST", f"{base}/attachments/createUploadSession", json={
            "AttachmentItem": {"attachmentType": "file", "name": name, "size": len(data), "contentType": content_type},
        })
        if session.status_code not in (200, 201):
            raise _step_error(session)
        upload_url = str(session.json()["uploadUrl"])
        total = len(data)
        for start in range(0, total, UPLOAD_CHUNK):
            chunk = data[start : start + UPLOAD_CHUNK]
            end = start + len(chunk) - 1
            # The upload URL carries its own authorization: no bearer token on these requests.
            response = api.request("PUT", upload_url, auth=False, content=chunk, headers={
                "Content-Range": f"bytes {start}-{end}/{total}", "Content-Type": "application/octet-stream",
            })
            if response.status_code not in (200, 201, 202):
                raise _step_error(response)

    def find_sent(self, message_id: str) -> bool:
        """True when Sent Items holds a message with this internetMessageId."""
        quoted = message_id.replace("'", "''")
        query = urllib.parse.urlencode({"$filter": f"internetMessageId eq '{quoted}'", "$select": "id"},
                                       quote_via=urllib.parse.quote)
        found: bool = self._call(
            lambda api: bool(api.get_json(f"{self._graph}/me/mailFolders/sentitems/messages?{query}").get("value"))
        )
        return found


def dumps_flow(flow: Mapping[str, Any]) -> str:
    """The MSAL flow as text to seal."""
    return json.dumps(dict(flow))
