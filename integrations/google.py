"""Gmail through google-api-python-client: OAuth with PKCE, incremental reading, sending.

Every call goes through ``NoRetryHttp`` with ``num_retries=0``: googleapiclient's own retries
ignore Retry-After, and httplib2 re-sends requests silently, so retries belong to the caller (the
sync's backoff, the sending job's Message-ID check). Batches go to ``batch_uri`` built from
COURRIER_GMAIL_API_URL: ``new_batch_http_request()`` would post to Google's own URL whatever
``api_endpoint`` says.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError, MediaUploadSizeError
from googleapiclient.http import BatchHttpRequest, HttpRequest, MediaIoBaseUpload
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from integrations.http import DEFAULT_TIMEOUT, NoRetryHttp
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
from integrations.mailbox import KnownMessages, RemoteMessage, SyncPage, flags_from_labels

log = logging.getLogger(__name__)

SCOPE_READ = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPES = (SCOPE_READ, SCOPE_SEND, "https://www.googleapis.com/auth/userinfo.email", "openid")
UPLOAD_THRESHOLD = 5 * 1024 * 1024  # above this, messages.send goes through the media upload endpoint
BATCH_SIZE = 50
DEFAULT_LIMIT = 10_000


@dataclass(frozen=True)
class GoogleConfig:
    """Client credentials and endpoints (COURRIER_GOOGLE_*, COURRIER_GMAIL_API_URL)."""

    client_id: str | None
    client_secret: str | None = field(default=None, repr=False)
    auth_url: str = "https://accounts.google.com/o/oauth2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    api_url: str = "https://gmail.googleapis.com/"
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)

    @property
    def configured(self) -> bool:
        """True when a client id and secret are set."""
        return bool(self.client_id and self.client_secret)

    @property
    def api_base(self) -> str:
        """The API endpoint with a trailing slash."""
        return self.api_url if self.api_url.endswith("/") else self.api_url + "/"

    @property
    def batch_uri(self) -> str:
        """Gmail's batch endpoint on the configured API host."""
        return urllib.parse.urljoin(self.api_base, "batch/gmail/v1")

    def client_config(self) -> dict[str, Any]:
        """The client configuration google-auth-oauthlib expects."""
        return {"web": {"client_id": self.client_id, "client_secret": self.client_secret,
                        "auth_uri": self.auth_url, "token_uri": self.token_url}}

    def http(self) -> NoRetryHttp:
        """A one-attempt transport for this configuration."""
        client = httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=False)
        return NoRetryHttp(client, api_base=self.api_base, owns_client=True)


class OAuthRefused(Exception):
    """The authorization did not give what Courrier needs; ``kind`` names the reason for people."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reasons(content: bytes | str | None) -> tuple[str, str]:
    try:
        data = json.loads(content or b"{}")
        error = data.get("error", {})
        if isinstance(error, str):
            return error, str(data.get("error_description", ""))
        reasons = ",".join(str(e.get("reason", "")) for e in error.get("errors", []) if isinstance(e, dict))
        return reasons or str(error.get("status", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return "", ""


def translate_http_error(exc: HttpError, *, sending: bool = False) -> MailError:
    """The port's domain error for a Gmail API error answer."""
    status = int(exc.resp.status)
    reason, message = _reasons(exc.content)
    text = f"Gmail API {status} {reason}: {message}"[:400]
    retry_after = retry_after_seconds(exc.resp.get("retry-after"))
    if status == 401:
        return MailAuthError(text)
    if status == 429 or (status == 403 and "ratelimit" in reason.lower().replace("_", "")) or (
        status == 403 and "dailylimit" in reason.lower()
    ):
        return MailRateLimited(text, retry_after)
    if status == 403 and ("insufficientpermissions" in reason.lower() or "forbidden" in reason.lower()):
        return MailAuthError(text)
    if status == 503:
        return MailRateLimited(text, retry_after) if retry_after else TransientMailError(text)
    if status >= 500:
        return AmbiguousSendError(text) if sending else TransientMailError(text)
    if sending and status in (400, 403, 413):
        return PermanentSendError(text)
    return TransientMailError(text)


def translate_refresh_error(exc: RefreshError | TransportError) -> MailError:
    """invalid_grant (revoked or expired) means re-linking; anything else is transient."""
    text = str(exc)
    if isinstance(exc, RefreshError) and ("invalid_grant" in text or "unauthorized_client" in text):
        return MailAuthError(f"Google refused the refresh token: {text[:200]}")
    return TransientMailError(f"Google token refresh failed: {text[:200]}")


# ---------------------------------------------------------------- OAuth


class GoogleOAuth:
    """The authorization-code flow with PKCE; the verifier and the state stay on the server."""

    def __init__(self, config: GoogleConfig) -> None:
        self._config = config

    @property
    def configured(self) -> bool:
        """True when Google linking can be offered."""
        return self._config.configured

    def start(self, redirect_uri: str, state: str) -> tuple[str, str]:
        """The URL to send the browser to, and the PKCE code verifier to keep."""
        if not self.configured:
            raise OAuthRefused("not_configured")
        from google_auth_oauthlib.flow import Flow  # imported when used: keeps an idle server small

        flow = Flow.from_client_config(self._config.client_config(), scopes=list(SCOPES), redirect_uri=redirect_uri,
                                       state=state, autogenerate_code_verifier=True)
        url, _ = flow.authorization_url(access_type="offline", prompt="consent", include_granted_scopes="true")
        assert flow.code_verifier is not None
        return url, flow.code_verifier

    def finish(self, redirect_uri: str, state: str, code_verifier: str, code: str) -> dict[str, Any]:
        """Exchange the code (with the verifier) for tokens; the stored credentials, or OAuthRefused."""
        from google_auth_oauthlib.flow import Flow

        flow = Flow.from_client_config(self._config.client_config(), scopes=list(SCOPES), redirect_uri=redirect_uri,
                                       state=state, code_verifier=code_verifier)
        try:
            token = flow.fetch_token(code=code, timeout=self._config.timeout.read)
        except Warning as changed:  # oauthlib raises Warning when fewer scopes were granted
            token = getattr(changed, "token", None) or {}
        except OAuth2Error as exc:
            raise OAuthRefused("exchange", exc.error) from exc
        except Exception as exc:
            raise OAuthRefused("exchange", type(exc).__name__) from exc
        granted = set(str(token.get("scope", "")).split()) if isinstance(token.get("scope"), str) else set(
            token.get("scope") or ()
        )
        if not {SCOPE_READ, SCOPE_SEND} <= granted:
            raise OAuthRefused("scopes", " ".join(sorted(granted)))
        if not token.get("refresh_token"):
            raise OAuthRefused("no_refresh_token")
        expires_at = token.get("expires_at")
        return {
            "refresh_token": token["refresh_token"],
            "token": token.get("access_token"),
            "expiry": datetime.fromtimestamp(float(expires_at), UTC).isoformat() if expires_at else None,
            "scopes": sorted(granted),
        }


# ---------------------------------------------------------------- API access


class GmailApi:
    """One Gmail account's API: credentials that refresh themselves over a one-attempt transport."""

    def __init__(self, config: GoogleConfig, stored: Mapping[str, Any]) -> None:
        if not config.configured:
            raise TransientMailError("Google is not configured on this server (COURRIER_GOOGLE_CLIENT_ID)")
        # google-auth's credentials module weighs about 11 MB: imported when a Gmail mailbox is used.
        import google.oauth2.credentials
        import google_auth_httplib2
        from googleapiclient.discovery import build

        self._config = config
        self._stored = dict(stored)
        expiry = stored.get("expiry")
        self.credentials = google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
            token=stored.get("token"),
            refresh_token=stored.get("refresh_token"),
            token_uri=config.token_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            scopes=stored.get("scopes") or None,
            expiry=datetime.fromisoformat(expiry).astimezone(UTC).replace(tzinfo=None) if expiry else None,
        )
        self.transport = config.http()
        self.http = google_auth_httplib2.AuthorizedHttp(self.credentials, http=self.transport)
        self.service: Any = build("gmail", "v1", http=self.http, client_options={"api_endpoint": config.api_base},
                                  static_discovery=True, cache_discovery=False)

    def execute(self, request: HttpRequest, *, sending: bool = False,
                on_not_found: type[Exception] | None = None) -> Any:
        """Run one request once; provider errors become domain errors (or ``on_not_found`` for a 404)."""
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:  # ResumableUploadError included
            if on_not_found is not None and int(exc.resp.status) == 404:
                raise on_not_found(str(exc)) from exc
            raise translate_http_error(exc, sending=sending) from exc
        except (RefreshError, TransportError) as exc:
            raise translate_refresh_error(exc) from exc

    def batch_get(self, ids: Sequence[str], **params: Any) -> tuple[dict[str, Any], list[str]]:
        """``messages.get`` for many ids in one batch: results by id, and the ids gone meanwhile."""
        results: dict[str, Any] = {}
        missing: list[str] = []
        errors: list[MailError] = []

        def collect(request_id: str, response: Any, exception: Exception | None) -> None:
            if exception is None:
                results[request_id] = response
            elif isinstance(exception, HttpError) and int(exception.resp.status) == 404:
                missing.append(request_id)
            elif isinstance(exception, HttpError):
                errors.append(translate_http_error(exception))
            else:
                errors.append(TransientMailError(f"batch item failed: {type(exception).__name__}"))

        batch = BatchHttpRequest(callback=collect, batch_uri=self._config.batch_uri)
        messages = self.service.users().messages()
        for message_id in ids:
            batch.add(messages.get(userId="me", id=message_id, **params), request_id=message_id)
        try:
            batch.execute(http=self.http)
        except HttpError as exc:
            raise translate_http_error(exc) from exc
        except (RefreshError, TransportError) as exc:
            raise translate_refresh_error(exc) from exc
        if errors:
            # Rate limits first: they carry the wait the provider asked for.
            raise next((e for e in errors if isinstance(e, MailRateLimited | MailAuthError)), errors[0])
        return results, missing

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """The stored credentials with a renewed access token, when it changed."""
        creds = self.credentials
        if not creds.token or creds.token == self._stored.get("token"):
            return None
        fresh = dict(self._stored)
        fresh["token"] = creds.token
        fresh["expiry"] = creds.expiry.replace(tzinfo=UTC).isoformat() if creds.expiry else None
        if creds.refresh_token:
            fresh["refresh_token"] = creds.refresh_token
        self._stored = fresh
        return fresh

    def close(self) -> None:
        """Release the HTTP client."""
        self.transport.close()


def profile(api: GmailApi) -> dict[str, Any]:
    """``users.getProfile``: the address and the current historyId."""
    result: dict[str, Any] = api.execute(api.service.users().getProfile(userId="me"))
    return result


def _remote(data: Mapping[str, Any]) -> RemoteMessage:
    raw = base64.urlsafe_b64decode(str(data["raw"]) + "=" * (-len(str(data["raw"])) % 4))
    labels = list(data.get("labelIds") or ())
    millis = data.get("internalDate")
    return RemoteMessage(
        provider_id=str(data["id"]),
        raw=raw,
        folder="INBOX" if "INBOX" in labels else (labels[0] if labels else None),
        thread_id=str(data["threadId"]) if data.get("threadId") else None,
        flags=flags_from_labels(labels),
        size=int(data.get("sizeEstimate") or len(raw)),
        internal_date=datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None,
    )


class _HistoryExpired(Exception):
    pass


class GmailSource:
    """Reads a Gmail inbox: a window of recent mail first, then ``users.history.list`` from the historyId."""

    def __init__(self, address: str, api: GmailApi, *, limit: int = DEFAULT_LIMIT, batch_size: int = BATCH_SIZE) -> None:
        self._address = address
        self._api = api
        self._limit = limit
        self._batch = batch_size

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """Renewed access token to store, if any."""
        return self._api.refreshed_credentials()

    def close(self) -> None:
        """Release the HTTP client."""
        self._api.close()

    def pages(self, cursor: Mapping[str, Any], since: datetime, known: KnownMessages) -> Iterator[SyncPage]:
        """History since the stored historyId; a first sync or an expired history reads the recent window."""
        history_id = cursor.get("history_id")
        if history_id:
            try:
                yield from self._history(str(history_id), known)
                return
            except _HistoryExpired:
                log.info("Gmail history id too old (404): bounded resync of the recent window")
                yield from self._window(since, known, resync=True)
                return
        yield from self._window(since, known, resync=False)

    def _window(self, since: datetime, known: KnownMessages, *, resync: bool) -> Iterator[SyncPage]:
        # Take the historyId before listing: mail arriving meanwhile shows up in the next history.
        start = str(profile(self._api)["historyId"])
        ids: list[str] = []
        token: str | None = None
        messages = self._api.service.users().messages()
        while len(ids) < self._limit:
            response = self._api.execute(messages.list(
                userId="me", q=f"after:{int(since.timestamp())}", labelIds=["INBOX"], maxResults=500,
                pageToken=token, includeSpamTrash=False,
            ))
            ids.extend(str(m["id"]) for m in response.get("messages") or ())
            token = response.get("nextPageToken")
            if not token:
                break
        ids = list(dict.fromkeys(ids[: self._limit]))[::-1]  # oldest first
        yield from self._fetch_pages(ids, known, final={"history_id": start}, pending={}, initial=True, resync=resync)

    def _history(self, history_id: str, known: KnownMessages) -> Iterator[SyncPage]:
        ids: list[str] = []
        latest = history_id
        token: str | None = None
        history = self._api.service.users().history()
        while True:
            response = self._api.execute(history.list(
                userId="me", startHistoryId=history_id, historyTypes=["messageAdded"], labelId="INBOX",
                maxResults=500, pageToken=token,
            ), on_not_found=_HistoryExpired)
            for record in response.get("history") or ():
                for added in record.get("messagesAdded") or ():
                    message = added.get("message") or {}
                    if "INBOX" in (message.get("labelIds") or ()) and message.get("id"):
                        ids.append(str(message["id"]))
            latest = str(response.get("historyId") or latest)
            token = response.get("nextPageToken")
            if not token:
                break
        ids = list(dict.fromkeys(ids))
        yield from self._fetch_pages(ids, known, final={"history_id": latest}, pending={"history_id": history_id},
                                     initial=False, resync=False)

    def _fetch_pages(self, ids: list[str], known: KnownMessages, *, final: dict[str, Any], pending: dict[str, Any],
                     initial: bool, resync: bool) -> Iterator[SyncPage]:
        have = known.known_provider_ids(ids) if ids else set()
        wanted = [i for i in ids if i not in have]
        if not wanted:
            yield SyncPage(cursor=final, initial=initial, resync=resync)
            return
        for start in range(0, len(wanted), self._batch):
            chunk = wanted[start : start + self._batch]
            # Ids missing from the results were deleted before they could be read: nothing to keep.
            results, _missing = self._api.batch_get(chunk, format="raw")
            last = start + self._batch >= len(wanted)
            yield SyncPage(
                cursor=final if last else pending,
                messages=[_remote(results[i]) for i in chunk if i in results],
                initial=initial,
                resync=resync,
            )


# ---------------------------------------------------------------- sending


class GmailMail:
    """Sends with ``users.messages.send`` (raw; media upload above 5 MB) and finds sent mail by Message-ID.

    Each call opens its own API client and closes it, so a sender can be kept or dropped freely;
    renewed tokens are handed to ``on_refresh`` to be stored.
    """

    def __init__(self, address: str, api: Callable[[], GmailApi], clock: Callable[[], datetime] | None = None,
                 on_refresh: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._address = address
        self._api = api
        self._now = clock or (lambda: datetime.now(UTC))
        self._on_refresh = on_refresh
        self._keep = False
        self._kept: GmailApi | None = None

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def keep_open(self) -> None:
        """Reuse one API client (and its access token) across calls until ``close`` (bulk sending)."""
        self._keep = True

    def close(self) -> None:
        """Release a kept API client."""
        self._keep = False
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def _call(self, work: Callable[[GmailApi], Any]) -> Any:
        api = self._kept if self._kept is not None else self._api()
        try:
            return work(api)
        finally:
            fresh = api.refreshed_credentials()
            if fresh is not None and self._on_refresh is not None:
                self._on_refresh(fresh)
            if self._keep:
                self._kept = api
            else:
                api.close()

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Send one email; errors become the port's domain errors."""
        raw = build_mime(email, self._address, date=self._now()).as_bytes(policy=policy.SMTP)

        def work(api: GmailApi) -> SentReceipt:
            messages = api.service.users().messages()
            try:
                if len(raw) > UPLOAD_THRESHOLD:
                    media = MediaIoBaseUpload(io.BytesIO(raw), mimetype="message/rfc822", resumable=True)
                    request = messages.send(userId="me", body={}, media_body=media)
                else:
                    request = messages.send(userId="me", body={"raw": base64.urlsafe_b64encode(raw).decode()})
            except MediaUploadSizeError as exc:
                raise PermanentSendError(f"message too large for Gmail ({len(raw)} bytes)") from exc
            result = api.execute(request, sending=True)
            return SentReceipt(message_id=email.message_id, provider_id=str(result.get("id")) if result else None)

        receipt: SentReceipt = self._call(work)
        return receipt

    def find_sent(self, message_id: str) -> bool:
        """True when Gmail finds a message with this Message-ID (``q=rfc822msgid:``)."""
        bare = message_id.strip().strip("<>")

        def work(api: GmailApi) -> bool:
            response = api.execute(api.service.users().messages().list(
                userId="me", q=f"rfc822msgid:{bare}", includeSpamTrash=True, maxResults=10,
            ))
            return bool(response.get("messages"))

        found: bool = self._call(work)
        return found
