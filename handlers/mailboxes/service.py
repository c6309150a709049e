"""Linked mailboxes: one-time link pages, OAuth and IMAP linking, incremental sync, the new-mail event.

Shared by the chat commands, the web pages and API, the CLI and the scheduler. Slow work (IMAP,
Gmail, Graph) never runs inside a chat handler's transaction: syncs run on a small thread pool,
each mailbox on its own, so one mailbox that fails or hangs never delays the others.

The new-mail event: ``MailboxService.subscribe(fn)`` registers ``fn(event: NewMail) -> None``.
It is called once per newly stored message, after the message's metadata row is committed, in
the syncing thread, outside any database transaction, with the row and the parsed email (body
text in memory only, never stored). ``event.initial`` is True for the backlog of a first sync or a
resync.

Delivery is at least once: the page's rows are marked delivered and the mailbox cursor moves past
the page only after the subscribers returned. If the process stops in between, the next sync
fetches those messages again (their bodies were never stored) and delivers them again, so
subscribers must be idempotent on the message (the triage is: one verdict, one alert). A
subscriber that raises does the same for the messages it failed on (all of its page, or those
named by ``NotDelivered``): the others are marked delivered, the cursor stays before the page, and
the sync ends as an error with the usual backoff, so the next attempt delivers them again. A
message whose delivery never finishes is given up after ``MAX_DELIVERY_ATTEMPTS`` deliveries.
An IMAP first sync or resync indexes its backlog from headers alone (``backlog`` rows, no body
downloaded); ``deliver_backlog`` then fetches their bodies newest first and delivers them with the
same guarantees. ``sync()`` does both; the scheduler's job answers after the first and then runs the
second, so a link confirmation does not wait for thousands of messages to be triaged.

``subscribe(fn, batch=True)`` calls ``fn(events)`` once per stored page instead (up to a page of
messages, all of one mailbox), so a subscriber can share its queries across the page.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.outbox import send_to_user
from bot.services import Services
from integrations.connectors import MailboxAccess, MailConnectors
from integrations.google import GmailApi, OAuthRefused, profile
from integrations.imap import PRESETS, SECURITIES, ImapSettings, is_loopback, preset_for_host
from integrations.mail import (
    MailAuthError,
    MailboxNeedsRelink,
    MailError,
    MailRateLimited,
    MailSender,
    NoLinkedMailbox,
    OutgoingEmail,
    SentReceipt,
)
from integrations.mailbox import MailboxUnreachable, SyncPage
from integrations.mime import ParsedEmail, parse_email, parse_headers
from integrations.whatsapp import Text
from storage import mail as repo
from storage.accounts import rate_hit, sha256_hex, users_of
from storage.mail import (
    CREDENTIALS_PURPOSE,
    OAUTH_FLOW_PURPOSE,
    Mailbox,
    MailboxLink,
    MailboxOAuthState,
    MailMessage,
)
from storage.models import Organization, User
from storage.secretbox import SecretBoxError

log = logging.getLogger(__name__)

# Deliveries of one new-mail event (the first and the replays after a stop) before it is given up.
MAX_DELIVERY_ATTEMPTS = 3
# Backlog messages whose bodies are fetched, parsed and delivered together.
BACKLOG_PAGE = 100

LINK_TTL = timedelta(minutes=15)
OAUTH_TTL = timedelta(minutes=15)
BACKOFF_BASE = 30.0
BACKOFF_CAP = 1800.0
LINK_ATTEMPTS = 10
CLAIM_LEASE = timedelta(minutes=15)
DEFAULT_INTERVAL = 5
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class MailboxInfo:
    """Which mailbox a message came from."""

    id: int
    org_id: int
    provider: str
    address: str
    name: str


@dataclass(frozen=True)
class NewMail:
    """A newly synced message: its stored metadata row (detached) and the parsed email, in memory."""

    org_id: int
    mailbox: MailboxInfo
    message: MailMessage
    parsed: ParsedEmail
    initial: bool


NewMailSubscriber = Callable[[NewMail], None]
NewMailBatchSubscriber = Callable[[Sequence[NewMail]], None]


class NotDelivered(Exception):
    """Raised by a batch subscriber for the messages (row ids) it could not handle this time, such as
    verdicts a database error kept from being stored: they are delivered again by the next sync."""

    def __init__(self, message_ids: Sequence[int]) -> None:
        super().__init__(f"{len(message_ids)} new message(s) not handled")
        self.message_ids = frozenset(message_ids)


class DeliveryIncomplete(Exception):
    """Some messages of a page were not handled by every subscriber: the sync stops before the page."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} new message(s) will be delivered again")


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync did: new messages, the resulting status and a readable error."""

    mailbox_id: int
    address: str
    status: str  # success | partial | error | needs_relink | skipped | running | missing
    new: int = 0
    error: str | None = None
    error_kind: str | None = None


@dataclass(frozen=True)
class LinkView:
    """A valid link page: who asked, for which organization, in which language."""

    id: int
    org_id: int
    user_id: int
    lang: str
    provider_hint: str | None


@dataclass(frozen=True)
class Linked:
    """A mailbox linked from a link page."""

    mailbox_id: int
    address: str
    provider: str
    lang: str
    relinked: bool


class LinkGone(Exception):
    """The link is unknown, used or expired (the page says so and reveals nothing more)."""


class LinkProblem(Exception):
    """Linking failed for a reason to show on the page: a catalog key and its parameters."""

    def __init__(self, key: str, lang: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.lang = lang
        self.params = params


@dataclass
class ImapForm:
    """What the IMAP form (or the API) gives; everything but the password is shown back on errors."""

    email: str = ""
    password: str = field(default="", repr=False)
    preset: str = "custom"
    host: str = ""
    port: str = ""
    security: str = "tls"
    username: str = ""
    smtp_host: str = ""
    smtp_port: str = ""
    smtp_security: str = ""
    name: str = ""


@dataclass(frozen=True)
class ImapTarget:
    """A validated IMAP (and SMTP) configuration."""

    address: str
    username: str
    password: str = field(repr=False)
    host: str = ""
    port: int = 993
    security: str = "tls"
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str | None = None
    preset: str | None = None
    name: str = ""


class FormError(Exception):
    """A problem with the IMAP form: a catalog key and parameters."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# ---------------------------------------------------------------- errors in plain words

ERROR_TEXT = {
    "auth": "The provider refused the saved credentials (revoked, expired or changed password): link the mailbox again.",
    "host": "Could not reach the mail server: check the server name and port.",
    "timeout": "The mail server did not answer in time.",
    "tls": "The secure connection failed: check the security setting (TLS on 993, STARTTLS on 143).",
    "certificate": "The mail server's certificate is not valid for this name.",
    "insecure": "Refusing to send the password without encryption.",
    "rate": "The provider asked Courrier to slow down.",
    "network": "The connection to the mail server was lost.",
    "protocol": "The mail server gave an unexpected answer.",
    "inbox": "The mail server has no INBOX folder.",
    "config": "This provider is not configured on this Courrier server.",
    "credentials": "The saved credentials cannot be decrypted (encryption key missing or changed).",
    "internal": "Unexpected error while syncing; the server logs have the details.",
    "delivery": "Some new messages could not be sorted; they will be sorted at the next attempt.",
}


def error_kind(exc: BaseException) -> str:
    """A short stable name for what went wrong (used for the chat's plain-language sentences)."""
    if isinstance(exc, MailAuthError):
        return "auth"
    if isinstance(exc, MailRateLimited):
        return "rate"
    if isinstance(exc, MailboxUnreachable):
        return exc.kind
    if isinstance(exc, SecretBoxError):
        return "credentials"
    if isinstance(exc, DeliveryIncomplete):
        return "delivery"
    if isinstance(exc, MailError):
        return "config" if "not configured" in str(exc) else "network"
    return "internal"


def backoff_delay(failures: int, rng: random.Random) -> float:
    """Seconds before the next attempt: exponential from 30 s to 30 min, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(failures - 1, 0))
    return rng.uniform(max(BACKOFF_BASE, ceiling / 2), ceiling)


# ---------------------------------------------------------------- the service


class _Known:
    """What the store already has for one mailbox (read in short sessions)."""

    def __init__(self, services: Services, mailbox_id: int) -> None:
        self._services = services
        self._mailbox_id = mailbox_id

    def known_provider_ids(self, ids: Sequence[str]) -> set[str]:
        # Only delivered rows count as known: one stored by a sync that stopped before handing it
        # to the subscribers is fetched again, so its event is not lost.
        with self._services.db.session() as session:
            return repo.known_provider_ids(session, self._mailbox_id, ids, delivered_only=True)

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        # Likewise on a resync: a message stored but never delivered is downloaded again (and
        # rebound to its new id by ``_store_parsed``) rather than rebound unread.
        with self._services.db.session() as session:
            return repo.known_message_ids(session, self._mailbox_id, message_ids, delivered_only=True)


class MailboxService:
    """Linking, syncing and sending for an organization's mailboxes."""

    def __init__(self, services: Services, connectors: MailConnectors, *, workers: int = 4,
                 rng: random.Random | None = None) -> None:
        self.services = services
        self.connectors = connectors
        self._subscribers: list[tuple[Callable[[Any], None], bool]] = []
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._draining: set[int] = set()  # mailboxes whose backlog is being delivered
        self._queued: set[int] = set()
        self._futures: set[Future[None]] = set()
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ new-mail event

    def subscribe(self, fn: NewMailSubscriber | NewMailBatchSubscriber, *, batch: bool = False) -> Callable[[], None]:
        """Call ``fn(NewMail)`` for every newly synced message (``fn([NewMail, ...])`` per page when
        ``batch``); returns a function that unsubscribes."""
        entry = (fn, batch)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    # ------------------------------------------------------------ helpers

    @property
    def _now(self) -> datetime:
        return self.services.clock.now()

    def _seal(self, credentials: Mapping[str, Any]) -> str:
        return self.services.require_secrets().seal(json.dumps(dict(credentials)), CREDENTIALS_PURPOSE)

    def _open(self, sealed: str | None) -> dict[str, Any]:
        if not sealed:
            return {}
        data: dict[str, Any] = json.loads(self.services.require_secrets().open(sealed, CREDENTIALS_PURPOSE))
        return data

    def access(self, box: Mailbox) -> MailboxAccess:
        """How to reach a mailbox, credentials decrypted (in memory only)."""
        preset = PRESETS.get(box.preset or "")
        return MailboxAccess(
            provider=box.provider, address=box.address, credentials=self._open(box.credentials),
            username=box.username, imap_host=box.imap_host, imap_port=box.imap_port,
            imap_security=box.imap_security, smtp_host=box.smtp_host, smtp_port=box.smtp_port,
            smtp_security=box.smtp_security, smtp_saves_sent=bool(preset and preset.saves_sent),
            folders=tuple(box.folders or ("INBOX",)),
        )

    def store_credentials(self, mailbox_id: int, credentials: Mapping[str, Any]) -> None:
        """Seal and store renewed credentials (refreshed tokens, MSAL cache)."""
        sealed = self._seal(credentials)
        with self.services.db.write() as session:
            box = session.get(Mailbox, mailbox_id)
            if box is not None:
                box.credentials = sealed

    def user_lang(self, user: User) -> str:
        """The language to address a user in."""
        return user.language or user.last_language or self.services.settings.default_language

    def link_url(self, token: str) -> str:
        """The public URL of a link page."""
        return f"{self.services.settings.public_url}/link/{token}"

    def redirect_uri(self, provider: str) -> str:
        """Where the OAuth provider sends the browser back."""
        return f"{self.services.settings.public_url}/link/oauth/{provider}"

    # ------------------------------------------------------------ link pages

    def create_link(self, session: Session, org_id: int, user_id: int, provider_hint: str | None, now: datetime,
                    relink_mailbox_id: int | None = None) -> str:
        """A one-time link (256-bit token, only its hash stored, 15 minutes); returns its URL."""
        return self._new_link(session, org_id, user_id, provider_hint, now, relink_mailbox_id)[1]

    def _new_link(self, session: Session, org_id: int, user_id: int, provider_hint: str | None, now: datetime,
                  relink_mailbox_id: int | None = None) -> tuple[MailboxLink, str]:
        token = secrets.token_urlsafe(32)
        link = MailboxLink(token_hash=sha256_hex(token), org_id=org_id, user_id=user_id, provider_hint=provider_hint,
                           relink_mailbox_id=relink_mailbox_id, expires_at=now + LINK_TTL)
        session.add(link)
        session.flush()
        return link, self.link_url(token)

    def _live_link(self, session: Session, token: str, now: datetime, *, lock: bool = False) -> MailboxLink | None:
        stmt = select(MailboxLink).where(MailboxLink.token_hash == sha256_hex(token))
        if lock:
            stmt = stmt.with_for_update()
        link = session.scalars(stmt).first()
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        return link

    def _view(self, session: Session, link: MailboxLink) -> LinkView:
        user = session.get(User, link.user_id)
        lang = self.user_lang(user) if user is not None else self.services.settings.default_language
        return LinkView(link.id, link.org_id, link.user_id, lang, link.provider_hint)

    def open_link(self, token: str) -> LinkView:
        """The link page's facts; LinkGone when unknown, used or expired."""
        with self.services.db.session() as session:
            link = self._live_link(session, token, self._now)
            if link is None:
                raise LinkGone
            return self._view(session, link)

    def start_oauth(self, token: str, provider: str) -> str:
        """Begin Google or Microsoft consent: keep the state (hashed) and the PKCE/MSAL flow (sealed)."""
        view = self.open_link(token)
        state = secrets.token_urlsafe(32)
        try:
            if provider == "google":
                url, verifier = self.connectors.google_oauth().start(self.redirect_uri("google"), state)
                flow: dict[str, Any] = {"code_verifier": verifier}
            elif provider == "microsoft":
                flow = self.connectors.microsoft_oauth().start(self.redirect_uri("microsoft"), state)
                url = str(flow["auth_uri"])
            else:
                raise LinkGone
        except OAuthRefused as refused:
            raise LinkProblem(f"link.oauth.{refused.kind}", view.lang) from refused
        sealed = self.services.require_secrets().seal(json.dumps(flow), OAUTH_FLOW_PURPOSE)
        now = self._now
        with self.services.db.write() as session:
            link = self._live_link(session, token, now, lock=True)
            if link is None:
                raise LinkGone
            session.add(MailboxOAuthState(state_hash=sha256_hex(state), link_id=link.id, provider=provider,
                                          flow=sealed, expires_at=now + OAUTH_TTL))
        return url

    def _claim_state(self, provider: str, state: str) -> tuple[LinkView, dict[str, Any]]:
        """Mark an OAuth state used (single use, before any exchange) and return its link and flow."""
        now = self._now
        with self.services.db.write() as session:
            row = session.scalars(
                select(MailboxOAuthState).where(MailboxOAuthState.state_hash == sha256_hex(state or "-"))
                .with_for_update()
            ).first()
            if row is None or row.provider != provider or row.used_at is not None:
                raise LinkGone
            row.used_at = now
            link = session.get(MailboxLink, row.link_id)
            if link is None or link.used_at is not None:
                raise LinkGone
            view = self._view(session, link)
            if row.expires_at <= now:
                raise LinkProblem("link.expired", view.lang)
            flow: dict[str, Any] = json.loads(self.services.require_secrets().open(row.flow, OAUTH_FLOW_PURPOSE))
        return view, flow

    def finish_google(self, state: str, code: str | None, error: str | None) -> Linked:
        """The Google callback: check the state, exchange the code with the verifier, save the mailbox."""
        view, flow = self._claim_state("google", state)
        if error or not code:
            raise LinkProblem("link.oauth.denied", view.lang)
        try:
            credentials = self.connectors.google_oauth().finish(self.redirect_uri("google"), state,
                                                                 str(flow["code_verifier"]), code)
        except OAuthRefused as refused:
            raise LinkProblem(f"link.oauth.{refused.kind}", view.lang) from refused
        api = GmailApi(self.connectors.google, credentials)
        try:
            address = str(profile(api)["emailAddress"]).lower()
            credentials = api.refreshed_credentials() or credentials
        except MailError as exc:
            raise LinkProblem("link.oauth.exchange", view.lang) from exc
        finally:
            api.close()
        return self._save(view, provider="gmail", address=address, credentials=credentials)

    def finish_microsoft(self, form: Mapping[str, str]) -> Linked:
        """The Microsoft callback (form_post): MSAL checks the state against the kept flow."""
        view, flow = self._claim_state("microsoft", form.get("state", ""))
        if form.get("error"):
            raise LinkProblem("link.oauth.denied", view.lang)
        try:
            address, credentials = self.connectors.microsoft_oauth().finish(flow, form)
        except OAuthRefused as refused:
            raise LinkProblem(f"link.oauth.{refused.kind}", view.lang) from refused
        except MailError as exc:
            raise LinkProblem("link.oauth.exchange", view.lang) from exc
        return self._save(view, provider="outlook", address=address, credentials=credentials)

    def link_imap(self, token: str, form: ImapForm) -> Linked:
        """The IMAP form: validate, test the connection (login, INBOX), then save."""
        view = self.open_link(token)
        with self.services.db.write() as session:
            allowed = rate_hit(session, f"mailbox-link:{view.id}", limit=LINK_ATTEMPTS, window=LINK_TTL, now=self._now)
        if not allowed:
            raise LinkProblem("link.imap.too_many", view.lang)
        try:
            target = validate_imap(form)
            self.test_imap(target)
        except FormError as problem:
            raise LinkProblem(problem.key, view.lang, **problem.params) from problem
        return self._save(view, provider="imap", address=target.address, credentials={"password": target.password},
                          imap=target)

    def test_imap(self, target: ImapTarget) -> None:
        """Log in and open INBOX; FormError with a plain-language reason on failure."""
        settings = ImapSettings(host=target.host, port=target.port, security=target.security,
                                username=target.username, password=target.password,
                                ssl_context=self.connectors.imap_ssl_context, timeout=30.0, connect_timeout=15.0)
        try:
            self.connectors.check_imap(settings)
        except MailAuthError as exc:
            preset = PRESETS.get(target.preset or "")
            raise FormError("link.imap.error.auth_app" if preset and preset.help_url else "link.imap.error.auth",
                            host=target.host) from exc
        except MailboxUnreachable as exc:
            raise FormError(f"link.imap.error.{exc.kind}", host=target.host, port=target.port) from exc
        except MailError as exc:
            raise FormError("link.imap.error.network", host=target.host, port=target.port) from exc

    def _save(self, view: LinkView, *, provider: str, address: str, credentials: Mapping[str, Any],
              imap: ImapTarget | None = None) -> Linked:
        sealed = self._seal(credentials)
        now = self._now
        with self.services.db.write() as session:
            link = session.get(MailboxLink, view.id)
            if link is None or link.used_at is not None:
                raise LinkGone
            box = session.scalars(select(Mailbox).where(
                Mailbox.org_id == view.org_id, Mailbox.provider == provider, Mailbox.address == address)).first()
            relinked = box is not None
            if box is None:
                box = self._new_mailbox(session, view.org_id, provider, address, imap, view.user_id)
            elif imap is not None:
                _apply_imap(box, imap)
            box.credentials = sealed
            box.enabled = True
            box.status = "active"
            box.failures = 0
            box.next_sync_at = now
            box.last_sync_error = box.last_error_kind = None
            box.relink_requested_at = None
            box.updated_at = now
            session.flush()
            link.used_at = now
            link.mailbox_id = box.id
            mailbox_id = box.id
        log.info("mailbox %s linked (%s) for organization %s", mailbox_id, provider, view.org_id)
        key = f"mailbox:{mailbox_id}:linked:{view.id}"
        self.submit(mailbox_id, after=lambda outcome: self._confirm(view.user_id, outcome, relinked, key))
        return Linked(mailbox_id, address, provider, view.lang, relinked)

    def _new_mailbox(self, session: Session, org_id: int, provider: str, address: str, imap: ImapTarget | None,
                     user_id: int | None, interval: int = DEFAULT_INTERVAL) -> Mailbox:
        has_default = session.scalars(
            select(Mailbox.id).where(Mailbox.org_id == org_id, Mailbox.is_default.is_(True))
        ).first()
        box = Mailbox(org_id=org_id, provider=provider, name=(imap.name if imap and imap.name else address),
                      address=address, enabled=True, is_default=has_default is None, status="active",
                      folders=["INBOX"], cursor={}, sync_interval_minutes=interval, failures=0,
                      initial_sync_done=False, created_by_user_id=user_id, created_at=self._now)
        if imap is not None:
            _apply_imap(box, imap)
        session.add(box)
        session.flush()
        return box

    def _confirm(self, user_id: int, outcome: SyncOutcome, relinked: bool, key: str) -> None:
        now = self._now
        with self.services.db.write() as session:
            user = session.get(User, user_id)
            if user is None or not user.active:
                return
            lang = self.user_lang(user)
            catalog = self.services.catalog
            days = self.services.settings.sync_initial_days
            if outcome.status in ("success", "partial"):
                key = "mailboxes.relinked" if relinked else "mailboxes.linked"
                text = catalog.t(key, lang, address=outcome.address, count=outcome.new, days=days)
            else:
                text = catalog.t("mailboxes.linked_sync_failed", lang, address=outcome.address,
                                 reason=catalog.t(f"mailboxes.error.{outcome.error_kind or 'internal'}", lang))
            send_to_user(session, user, [Text(text)], key=key, now=now, purpose="mailbox")
        self.services.outbox_changed()

    # ------------------------------------------------------------ API and listing

    def create_imap(self, org_id: int, target: ImapTarget, interval: int = DEFAULT_INTERVAL) -> Mailbox:
        """Create an IMAP mailbox after testing the connection (the seed API)."""
        self.test_imap(target)
        sealed = self._seal({"password": target.password})
        with self.services.db.write() as session:
            exists = session.scalars(select(Mailbox.id).where(
                Mailbox.org_id == org_id, Mailbox.provider == "imap", Mailbox.address == target.address)).first()
            if exists is not None:
                raise FormError("api.duplicate", address=target.address)
            box = self._new_mailbox(session, org_id, "imap", target.address, target, None, interval)
            box.credentials = sealed
            box.next_sync_at = self._now
            session.flush()
            session.expunge(box)
        self.submit(box.id)
        return box

    def mailboxes(self, org_id: int) -> list[Mailbox]:
        """An organization's mailboxes (detached)."""
        with self.services.db.session() as session:
            boxes = repo.mailboxes_of(session, org_id)
            for box in boxes:
                session.expunge(box)
            return boxes

    def get(self, org_id: int, mailbox_id: int) -> Mailbox | None:
        """One mailbox of an organization (detached), or None."""
        with self.services.db.session() as session:
            box = session.get(Mailbox, mailbox_id)
            if box is None or box.org_id != org_id:
                return None
            session.expunge(box)
            return box

    def delete(self, org_id: int, mailbox_id: int) -> bool:
        """Unlink a mailbox: its credentials and message metadata go with it."""
        with self.services.db.write() as session:
            box = session.get(Mailbox, mailbox_id)
            if box is None or box.org_id != org_id:
                return False
            was_default = box.is_default
            session.query(MailMessage).filter(MailMessage.mailbox_id == mailbox_id).delete()
            session.delete(box)
            session.flush()
            if was_default:
                heir = session.scalars(select(Mailbox).where(Mailbox.org_id == org_id).order_by(Mailbox.id)).first()
                if heir is not None:
                    heir.is_default = True
        log.info("mailbox %s unlinked", mailbox_id)
        return True

    # ------------------------------------------------------------ syncing

    def sync(self, mailbox_id: int, *, backlog: bool = True) -> SyncOutcome:
        """Sync one mailbox now, in this thread (never twice at once).

        A first sync (or a resync) of an IMAP mailbox indexes its backlog from headers alone; with
        ``backlog`` the backlog is then delivered to the subscribers before returning, otherwise it
        is left to ``deliver_backlog`` (the scheduler's jobs answer first and deliver it after).
        """
        with self._lock:
            if mailbox_id in self._running:
                return SyncOutcome(mailbox_id, "", "running")
            self._running.add(mailbox_id)
        try:
            outcome = self._sync(mailbox_id)
        finally:
            with self._lock:
                self._running.discard(mailbox_id)
        if backlog and outcome.status in ("success", "partial"):
            return self.deliver_backlog(mailbox_id, outcome) or outcome
        return outcome

    def deliver_backlog(self, mailbox_id: int, synced: SyncOutcome | None = None) -> SyncOutcome | None:
        """Fetch the bodies of a mailbox's indexed backlog, newest first, a page at a time, and hand
        them to the new-mail subscribers (``initial``). Returns None when all went well; otherwise the
        mailbox is marked as failed like a sync (a subscriber that failed: kind ``delivery``; the
        server: its own kind), with the usual backoff, and that outcome is returned. ``synced`` is
        the sync just done, whose count of new messages the status keeps.

        Each row's ``delivery_attempts`` grows before its delivery, so one that never completes (it
        stops the process, a subscriber keeps failing on it) is given up after
        ``MAX_DELIVERY_ATTEMPTS``. A message the server no longer has is given up at once; one that
        cannot be read now (its folder changed) waits for the next sync. Never runs twice at once
        for one mailbox; a sync of new mail may run meanwhile.
        """
        with self._lock:
            if mailbox_id in self._draining:
                return None
            self._draining.add(mailbox_id)
        source = None
        delivered = 0
        failures = 0
        box: Mailbox | None = None
        try:
            with self.services.db.session() as session:
                box = session.get(Mailbox, mailbox_id)
                if box is None or not box.enabled or box.status == "needs_relink" \
                        or not repo.has_backlog(session, mailbox_id):
                    return None
                session.expunge(box)
            info = MailboxInfo(box.id, box.org_id, box.provider, box.address, box.name)
            source = self.connectors.source(self.access(box))
            if not hasattr(source, "bodies"):
                log.warning("mailbox %s: backlog rows but the %s source cannot read bodies", box.id, box.provider)
                return None
            later: set[int] = set()  # rows to try again at the next sync, not in this run
            while True:
                rows = self._claim_backlog(box.id, later)
                if not rows:
                    break
                found = source.bodies([row.provider_id for row in rows])
                ready: list[tuple[MailMessage, ParsedEmail]] = []
                gone: list[int] = []
                for row in rows:
                    if row.provider_id not in found:
                        later.add(row.id)
                    elif found[row.provider_id] is None:
                        gone.append(row.id)
                    else:
                        ready.append((row, parse_email(found[row.provider_id] or b"")))
                failed = self._emit(info, ready, initial=True) if ready else set()
                later |= failed
                failures += len(failed)
                self._backlog_done(box.id, [(row, email) for row, email in ready if row.id not in failed], gone)
                delivered += len(ready) - len(failed)
            if failures:
                raise DeliveryIncomplete(failures)
        except MailAuthError as exc:
            return self.mark_needs_relink(mailbox_id, exc)
        except (MailError, SecretBoxError, DeliveryIncomplete) as exc:
            return self._failed(box, exc, synced.new if synced else 0) if box is not None else None
        except Exception as exc:
            log.exception("mailbox %s: backlog delivery failed unexpectedly", mailbox_id)
            return self._failed(box, exc, synced.new if synced else 0) if box is not None else None
        finally:
            if source is not None:
                self._finish_source(mailbox_id, source)
            with self._lock:
                self._draining.discard(mailbox_id)
            if delivered:
                log.info("mailbox %s: %d backlog message(s) delivered", mailbox_id, delivered)
        return None

    def _claim_backlog(self, mailbox_id: int, skip: set[int]) -> list[MailMessage]:
        """The next page of backlog rows, each with one more delivery attempt counted; rows past
        ``MAX_DELIVERY_ATTEMPTS`` are given up instead."""
        now = self._now
        with self.services.db.write() as session:
            while True:
                rows = repo.backlog_rows(session, mailbox_id, BACKLOG_PAGE, exclude=sorted(skip))
                if not rows:
                    return []
                live = []
                for row in rows:
                    if (row.delivery_attempts or 0) >= MAX_DELIVERY_ATTEMPTS:
                        row.delivered_at = now
                        log.warning("mailbox %s: message %s given up after %d unfinished deliveries",
                                    mailbox_id, row.id, row.delivery_attempts)
                    else:
                        row.delivery_attempts = (row.delivery_attempts or 0) + 1
                        live.append(row)
                if live:
                    session.flush()
                    for row in live:
                        session.expunge(row)
                    return live

    def _backlog_done(self, mailbox_id: int, done: list[tuple[MailMessage, ParsedEmail]], gone: list[int]) -> None:
        """Mark delivered backlog rows, with what only the body tells (attachments, parse warnings),
        and give up rows whose message the server no longer has."""
        now = self._now
        with self.services.db.write() as session:
            for row, email in done:
                values = _parsed_values(email, None, None, None)
                session.execute(update(MailMessage).where(MailMessage.id == row.id).values(
                    delivered_at=now, attachments=values["attachments"], parse_warnings=values["parse_warnings"]))
            if gone:
                session.execute(update(MailMessage).where(MailMessage.id.in_(gone)).values(
                    delivered_at=now, removed_at=now))
                log.info("mailbox %s: %d backlog message(s) deleted on the server before delivery", mailbox_id, len(gone))

    def _sync(self, mailbox_id: int) -> SyncOutcome:
        started = self._now
        with self.services.db.session() as session:
            box = session.get(Mailbox, mailbox_id)
            if box is None:
                return SyncOutcome(mailbox_id, "", "missing")
            session.expunge(box)
        if not box.enabled:
            return SyncOutcome(mailbox_id, box.address, "skipped")
        if box.status == "needs_relink":
            return SyncOutcome(mailbox_id, box.address, "needs_relink", error=ERROR_TEXT["auth"], error_kind="auth")
        info = MailboxInfo(box.id, box.org_id, box.provider, box.address, box.name)
        since = started - timedelta(days=self.services.settings.sync_initial_days)
        new = 0
        skipped = 0
        source = None
        clock = time.monotonic()
        try:
            source = self.connectors.source(self.access(box))
            first = not box.initial_sync_done
            for page in source.pages(dict(box.cursor or {}), since, _Known(self.services, box.id)):
                stored, indexed = self._store(box, page)
                new += indexed + sum(1 for row, _ in stored if not row.delivery_attempts)  # not the replays
                skipped += page.skipped
                if stored:
                    failed = self._emit(info, stored, initial=page.initial or first)
                    self._delivered(box.id, [row.id for row, _ in stored if row.id not in failed],
                                    None if failed else page.cursor)
                    if failed:
                        raise DeliveryIncomplete(len(failed))
        except MailAuthError as exc:
            return self.mark_needs_relink(box.id, exc)
        except (MailError, SecretBoxError, DeliveryIncomplete) as exc:
            return self._failed(box, exc, new)
        except Exception as exc:
            log.exception("mailbox %s: sync failed unexpectedly", box.id)
            return self._failed(box, exc, new)
        finally:
            if source is not None:
                self._finish_source(box.id, source)
        status = "partial" if skipped else "success"
        now = self._now
        with self.services.db.write() as session:
            row = session.get(Mailbox, box.id)
            if row is not None:
                row.status, row.failures = "active", 0
                row.last_sync_at, row.last_sync_status, row.last_sync_count = now, status, new
                row.last_sync_error = f"{skipped} message(s) could not be read; retrying next time." if skipped else None
                row.last_error_kind = None
                row.initial_sync_done = True
                row.next_sync_at = now + timedelta(minutes=row.sync_interval_minutes or DEFAULT_INTERVAL)
                row.updated_at = now
        log.info("mailbox %s: synced, %d new message(s) in %.1f s", box.id, new, time.monotonic() - clock)
        return SyncOutcome(box.id, box.address, status, new)

    def _finish_source(self, mailbox_id: int, source: Any) -> None:
        try:
            fresh = source.refreshed_credentials()
            if fresh:
                self.store_credentials(mailbox_id, fresh)
        except Exception:
            log.exception("mailbox %s: could not store renewed credentials", mailbox_id)
        try:
            source.close()
        except Exception:
            log.debug("mailbox %s: closing the source failed", mailbox_id)

    def _store(self, box: Mailbox, page: SyncPage) -> tuple[list[tuple[MailMessage, ParsedEmail]], int]:
        """Parse (outside the transaction), then store metadata and changes in one transaction.

        Returns the messages to deliver: the new rows, and rows a sync cut short stored without
        delivering; and how many backlog rows were indexed from headers alone. When there are none the page's cursor is stored in the same transaction;
        otherwise ``_delivered`` stores it once the subscribers have had the events.
        """
        parsed = [(remote, parse_headers(remote.raw, size=remote.size, attachments=remote.attachments or ())
                   if remote.headers_only else parse_email(remote.raw)) for remote in page.messages]
        try:
            return self._store_parsed(box, page, parsed)
        except IntegrityError:
            # Another process (a manual sync through the API, another worker) stored some of these
            # meanwhile: read what is known again and store the rest.
            log.info("mailbox %s: messages stored concurrently; retrying the page", box.id)
            return self._store_parsed(box, page, parsed)

    def _store_parsed(self, box: Mailbox, page: SyncPage,
                      parsed: list[tuple[Any, ParsedEmail]]) -> tuple[list[tuple[MailMessage, ParsedEmail]], int]:
        """Store the page. Whole messages are returned for delivery now; headers-only ones (an indexed
        backlog) are stored as ``backlog`` rows, only counted, and delivered later by
        ``deliver_backlog``."""
        now = self._now
        stored: list[tuple[MailMessage, ParsedEmail]] = []
        indexed = 0
        with self.services.db.write() as session:
            ids = [remote.provider_id for remote, _ in parsed]
            have = repo.known_provider_ids(session, box.id, ids) if ids else set()
            pending = repo.undelivered(session, box.id, list(have)) if have else {}
            mids = [p.message_id for _, p in parsed if p.message_id]
            known_mids = repo.known_message_ids(session, box.id, mids) if page.resync and mids else set()
            seen: set[str] = set()
            indexed_rows: list[dict[str, Any]] = []
            for remote, email in parsed:
                if remote.provider_id in seen:
                    continue
                seen.add(remote.provider_id)
                if remote.provider_id in have:
                    again = pending.get(remote.provider_id)
                    if again is not None and remote.headers_only:
                        again.backlog = True  # its body comes with the backlog's delivery
                    elif again is not None and self._redeliver(box.id, again, now):
                        stored.append((again, email))
                    continue
                if page.resync and email.message_id and email.message_id in known_mids:
                    rebound = self._rebind(session, box.id, email.message_id, remote.provider_id)
                    if rebound is not None and rebound.delivered_at is None:
                        if remote.headers_only:
                            rebound.backlog = True
                        elif self._redeliver(box.id, rebound, now):
                            stored.append((rebound, email))
                    continue
                if remote.headers_only:
                    indexed_rows.append({**_row_values(box, remote, email, now), "backlog": True})
                    continue
                row = MailMessage(**_row_values(box, remote, email, now))
                session.add(row)
                stored.append((row, email))
            if indexed_rows:  # one Core INSERT for the page: no ORM objects or bulk bookkeeping
                session.connection().execute(insert(MailMessage.__table__), indexed_rows)  # type: ignore[arg-type]
                indexed = len(indexed_rows)
            for message_id, provider_id in page.rebind.items():
                self._rebind(session, box.id, message_id, provider_id)
            for provider_id, flags in page.flag_updates.items():
                session.execute(update(MailMessage).where(
                    MailMessage.mailbox_id == box.id, MailMessage.provider_id == provider_id).values(flags=list(flags)))
            if page.removed:
                session.execute(update(MailMessage).where(
                    MailMessage.mailbox_id == box.id, MailMessage.provider_id.in_(page.removed),
                    MailMessage.removed_at.is_(None)).values(removed_at=now))
            if stored:
                _check_exists(session, box.id)
            else:
                _move_cursor(session, box.id, page.cursor)
            session.flush()
        return stored, indexed

    @staticmethod
    def _redeliver(mailbox_id: int, row: MailMessage, now: datetime) -> bool:
        """A row stored by a sync that stopped before delivering it: whether to deliver it again. It is
        given up (marked delivered) after ``MAX_DELIVERY_ATTEMPTS`` deliveries that never finished, as
        it would hold the mailbox back forever if its delivery is what stops the process."""
        row.delivery_attempts = (row.delivery_attempts or 0) + 1
        if row.delivery_attempts < MAX_DELIVERY_ATTEMPTS:
            return True
        row.delivered_at = now
        log.warning("mailbox %s: message %s given up after %d unfinished deliveries",
                    mailbox_id, row.id, row.delivery_attempts)
        return False

    def _delivered(self, mailbox_id: int, ids: Sequence[int], cursor: Mapping[str, Any] | None) -> None:
        """After the subscribers had a page: mark the rows they handled delivered and, when they
        handled all of it, move the cursor past the page."""
        with self.services.db.write() as session:
            repo.mark_delivered(session, ids, self._now)
            if cursor is not None:
                _move_cursor(session, mailbox_id, cursor)

    @staticmethod
    def _rebind(session: Session, mailbox_id: int, message_id: str, provider_id: str) -> MailMessage | None:
        """Point the row stored under ``message_id`` at its new provider id; the row, if any."""
        if session.scalars(select(MailMessage.id).where(
                MailMessage.mailbox_id == mailbox_id, MailMessage.provider_id == provider_id)).first() is not None:
            return None
        row = session.scalars(select(MailMessage).where(
            MailMessage.mailbox_id == mailbox_id, MailMessage.message_id == message_id).order_by(MailMessage.id)).first()
        if row is not None:
            row.provider_id = provider_id
        return row

    def _emit(self, info: MailboxInfo, stored: list[tuple[MailMessage, ParsedEmail]], *, initial: bool) -> set[int]:
        """Hand the page to every subscriber; the row ids that some subscriber failed on."""
        events = [NewMail(org_id=info.org_id, mailbox=info, message=row, parsed=email, initial=initial)
                  for row, email in stored]
        failed: set[int] = set()
        if not events:
            return failed
        ids = {event.message.id for event in events}
        for subscriber, batch in list(self._subscribers):
            if batch:
                try:
                    subscriber(events)
                except NotDelivered as exc:
                    left = exc.message_ids & ids
                    failed |= left
                    log.warning("mailbox %s: a new-mail subscriber could not handle %d of %d message(s); "
                                "they will be delivered again", info.id, len(left), len(events))
                except Exception:
                    failed |= ids
                    log.exception("mailbox %s: a new-mail subscriber failed on a page of %d message(s)",
                                  info.id, len(events))
                continue
            for event in events:
                try:
                    subscriber(event)
                except Exception:
                    failed.add(event.message.id)
                    log.exception("mailbox %s: a new-mail subscriber failed on message %s", info.id, event.message.id)
        return failed

    def _failed(self, box: Mailbox, exc: BaseException, new: int) -> SyncOutcome:
        kind = error_kind(exc)
        now = self._now
        with self.services.db.write() as session:
            row = session.get(Mailbox, box.id)
            if row is None:
                return SyncOutcome(box.id, box.address, "missing")
            row.failures = (row.failures or 0) + 1
            delay = backoff_delay(row.failures, self._rng)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                delay = max(delay, min(float(retry_after), 24 * 3600.0))
            row.status = "error"
            row.last_sync_at, row.last_sync_status, row.last_sync_count = now, "error", new
            row.next_sync_at = now + timedelta(seconds=delay)
            row.last_error_kind = kind
            row.last_sync_error = f"{ERROR_TEXT.get(kind, ERROR_TEXT['internal'])} Next attempt at {row.next_sync_at:%H:%M} UTC."
            row.updated_at = now
            text = row.last_sync_error
        log.warning("mailbox %s: sync failed (%s: %s); next attempt in %.0f s", box.id, kind, type(exc).__name__, delay)
        log.debug("mailbox %s: sync failure detail: %s", box.id, exc)
        return SyncOutcome(box.id, box.address, "error", new, text, kind)

    def mark_needs_relink(self, mailbox_id: int, exc: BaseException) -> SyncOutcome:
        """The grant or password no longer works: stop syncing and send the admins one fresh link."""
        now = self._now
        notified = False
        with self.services.db.write() as session:
            box = session.get(Mailbox, mailbox_id)
            if box is None:
                return SyncOutcome(mailbox_id, "", "missing")
            address = box.address
            first_time = box.status != "needs_relink"
            box.status = "needs_relink"
            box.last_sync_at, box.last_sync_status = now, "error"
            box.last_error_kind, box.last_sync_error = "auth", ERROR_TEXT["auth"]
            box.next_sync_at = None
            box.updated_at = now
            if first_time:
                box.relink_requested_at = now
                hint = {"gmail": "gmail", "outlook": "outlook"}.get(box.provider, "imap")
                for admin in users_of(session, box.org_id, admins_only=True):
                    link, url = self._new_link(session, box.org_id, admin.id, hint, now, relink_mailbox_id=box.id)
                    text = self.services.catalog.t("mailboxes.relink_needed", self.user_lang(admin), address=address,
                                                   url=url, provider=hint)
                    send_to_user(session, admin, [Text(text)], key=f"mailbox:{box.id}:relink:{link.id}",
                                 now=now, purpose="mailbox")
                    notified = True
        if notified:
            self.services.outbox_changed()
        log.warning("mailbox %s: authorization refused (%s); waiting for a re-link", mailbox_id, type(exc).__name__)
        return SyncOutcome(mailbox_id, address, "needs_relink", error=ERROR_TEXT["auth"], error_kind="auth")

    # ------------------------------------------------------------ background work

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="mailbox-sync")
            return self._executor

    def submit(self, mailbox_id: int, after: Callable[[SyncOutcome], None] | None = None) -> bool:
        """Sync a mailbox in the background (once, even when asked twice); ``after`` gets the outcome."""
        with self._lock:
            if mailbox_id in self._queued:
                return False
            self._queued.add(mailbox_id)
        future = self._pool().submit(self._job, mailbox_id, after)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)
        return True

    def later(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the pool: senders are called from other features' code, possibly inside
        a transaction that holds SQLite's write lock, so their bookkeeping writes must not wait for it."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("mailbox bookkeeping after a send failed")

        future = self._pool().submit(run)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _job(self, mailbox_id: int, after: Callable[[SyncOutcome], None] | None) -> None:
        try:
            outcome = self.sync(mailbox_id, backlog=False)
        except Exception:  # the pool must never lose a worker to a bug
            log.exception("mailbox %s: background sync crashed", mailbox_id)
            outcome = SyncOutcome(mailbox_id, "", "error", error=ERROR_TEXT["internal"], error_kind="internal")
        finally:
            with self._lock:
                self._queued.discard(mailbox_id)
        if after is not None:
            try:
                after(outcome)
            except Exception:
                log.exception("mailbox %s: follow-up after sync failed", mailbox_id)
        if outcome.status in ("success", "partial"):
            self.deliver_backlog(mailbox_id, outcome)  # after the answer: the link confirmation does not wait

    def run_due(self) -> int:
        """The scheduler's tick: claim every mailbox whose time has come and sync each in the background.

        Claiming moves ``next_sync_at`` a lease ahead in one UPDATE, so two processes (distributed
        mode, a restart) never start the same mailbox; the sync's outcome sets the real next time,
        and a process that dies mid-sync leaves the mailbox to be picked up when the lease ends.
        """
        now = self._now
        with self.services.db.session() as session:
            due = repo.due_mailboxes(session, now)
        with self._lock:
            due = [mailbox_id for mailbox_id in due if mailbox_id not in self._queued]
        if not due:
            return 0
        claimed = []
        with self.services.db.write() as session:
            for mailbox_id in due:
                result = session.execute(
                    update(Mailbox)
                    .where(Mailbox.id == mailbox_id, or_(Mailbox.next_sync_at.is_(None), Mailbox.next_sync_at <= now))
                    .values(next_sync_at=now + CLAIM_LEASE)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(mailbox_id)
        return sum(1 for mailbox_id in claimed if self.submit(mailbox_id))

    def sync_for_user(self, org_id: int, user_id: int, mailbox_ids: Sequence[int], key: str) -> None:
        """Sync several mailboxes in the background, then send the user one summary message."""
        results: list[SyncOutcome] = []
        remaining = len(mailbox_ids)
        lock = threading.Lock()

        def collect(outcome: SyncOutcome) -> None:
            nonlocal remaining
            with lock:
                results.append(outcome)
                remaining -= 1
                last = remaining == 0
            if last:
                self._summarize(user_id, results, key)

        for mailbox_id in mailbox_ids:
            if not self.submit(mailbox_id, after=collect):
                collect(SyncOutcome(mailbox_id, self._address_of(mailbox_id), "running"))

    def _address_of(self, mailbox_id: int) -> str:
        with self.services.db.session() as session:
            box = session.get(Mailbox, mailbox_id)
            return box.address if box is not None else ""

    def _summarize(self, user_id: int, results: list[SyncOutcome], key: str) -> None:
        now = self._now
        with self.services.db.write() as session:
            user = session.get(User, user_id)
            if user is None:
                return
            lang = self.user_lang(user)
            t = self.services.catalog.t
            lines = [t("mailboxes.sync_done", lang)]
            for outcome in sorted(results, key=lambda o: o.mailbox_id):
                address = outcome.address or self._address_of(outcome.mailbox_id)
                if outcome.status in ("success", "partial"):
                    lines.append(t("mailboxes.sync_line_ok", lang, address=address, count=outcome.new))
                elif outcome.status == "running":
                    lines.append(t("mailboxes.sync_line_running", lang, address=address))
                else:
                    reason = t(f"mailboxes.error.{outcome.error_kind or 'internal'}", lang)
                    lines.append(t("mailboxes.sync_line_error", lang, address=address, reason=reason))
            send_to_user(session, user, [Text("\n".join(lines))], key=key, now=now, purpose="mailbox")
        self.services.outbox_changed()

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no background sync is queued or running (tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("mailbox syncs still running")
            wait(pending, timeout=left)

    def shutdown(self, grace: float = 10.0) -> None:
        """Let running syncs finish for up to ``grace`` seconds, then stop the pool."""
        try:
            self.wait_idle(grace)
        except TimeoutError:
            log.warning("stopping with mailbox syncs still running; they end at their socket timeouts")
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ status line

    def status_lines(self, session: Session, org: Organization, lang: str) -> list[str]:
        """The ``statut`` reply's mailbox line."""
        boxes = repo.mailboxes_of(session, org.id)
        t = self.services.catalog.t
        if not boxes:
            return [t("mailboxes.status_none", lang)]
        problems = sum(1 for b in boxes if b.status in ("error", "needs_relink"))
        return [t("mailboxes.status_line", lang, count=len(boxes), problems=problems)]


# ---------------------------------------------------------------- rows and forms


def _check_exists(session: Session, mailbox_id: int) -> Mailbox:
    current = session.get(Mailbox, mailbox_id)
    if current is None:
        raise LookupError("mailbox deleted during its sync")
    return current


def _move_cursor(session: Session, mailbox_id: int, cursor: Mapping[str, Any]) -> None:
    _check_exists(session, mailbox_id).cursor = dict(cursor)


def _row_values(box: Mailbox, remote: Any, email: ParsedEmail, now: datetime) -> dict[str, Any]:
    """The metadata row of a message, as column values."""
    return {
        "mailbox_id": box.id, "org_id": box.org_id, "provider_id": remote.provider_id[:255], "folder": remote.folder,
        "flags": list(remote.flags), "synced_at": now, "delivered_at": None, "delivery_attempts": 0,
        "backlog": False, **_parsed_values(email, remote.thread_id, remote.internal_date, remote.size),
    }


def _parsed_values(email: ParsedEmail, thread_id: str | None, internal_date: datetime | None,
                   size: int | None) -> dict[str, Any]:
    """The columns of a message row that come from reading the message itself."""
    thread = thread_id or (email.references[0] if email.references else None) or email.in_reply_to \
        or email.message_id
    return {
        "message_id": (email.message_id or None) and email.message_id[:512],
        "thread_id": thread[:512] if thread else None,
        "from_name": email.from_name[:320] or None, "from_addr": email.from_addr[:320] or None,
        "to_addrs": list(email.to), "cc_addrs": list(email.cc), "subject": email.subject,
        "date": email.date or internal_date, "size": size or email.size,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                        for a in email.attachments],
        "parse_warnings": [w[:200] for w in email.warnings[:20]],
    }


def _apply_imap(box: Mailbox, target: ImapTarget) -> None:
    box.username = target.username
    box.imap_host, box.imap_port, box.imap_security = target.host, target.port, target.security
    box.smtp_host, box.smtp_port, box.smtp_security = target.smtp_host, target.smtp_port, target.smtp_security
    box.preset = target.preset
    if target.name:
        box.name = target.name


def _port(value: str, key: str) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise FormError(key) from None
    if not 0 < port < 65536:
        raise FormError(key)
    return port


def validate_imap(form: ImapForm) -> ImapTarget:
    """Check the IMAP form and fill the preset's settings; FormError names the first problem."""
    address = form.email.strip().lower()
    if not _EMAIL.match(address):
        raise FormError("link.imap.error.email")
    if not form.password:
        raise FormError("link.imap.error.password")
    preset = PRESETS.get(form.preset)
    if preset is not None:
        host, port, security = preset.imap_host, preset.imap_port, preset.imap_security
    else:
        host = form.host.strip().lower()
        if not host or " " in host or "/" in host:
            raise FormError("link.imap.error.host_missing")
        port = _port(form.port or "993", "link.imap.error.port")
        security = form.security if form.security in SECURITIES else ""
        if not security:
            raise FormError("link.imap.error.security")
        if security == "plain" and not is_loopback(host):
            raise FormError("link.imap.error.insecure", host=host)
        preset = preset_for_host(host)
    smtp_host = form.smtp_host.strip().lower() or (preset.smtp_host if preset else _guess_smtp(host))
    smtp_port = _port(form.smtp_port, "link.imap.error.smtp_port") if form.smtp_port else (
        preset.smtp_port if preset else (465 if smtp_host else None))
    smtp_security = form.smtp_security if form.smtp_security in SECURITIES else (
        preset.smtp_security if preset else ("tls" if smtp_host else None))
    if smtp_security == "plain" and smtp_host and not is_loopback(smtp_host):
        raise FormError("link.imap.error.insecure", host=smtp_host)
    return ImapTarget(
        address=address, username=form.username.strip() or address, password=form.password, host=host, port=port,
        security=security, smtp_host=smtp_host or None, smtp_port=smtp_port, smtp_security=smtp_security,
        preset=preset.key if preset else None, name=form.name.strip()[:200],
    )


def _guess_smtp(host: str) -> str | None:
    return "smtp." + host[5:] if host.startswith("imap.") else None


# ---------------------------------------------------------------- sending


class _GuardedSender:
    """A mailbox's sender that marks the mailbox for re-linking when the provider refuses the grant."""

    def __init__(self, sender: MailSender, on_auth_error: Callable[[MailAuthError], Any]) -> None:
        self._sender = sender
        self._on_auth_error = on_auth_error

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._sender.address

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Send; a MailAuthError also marks the mailbox ``needs_relink``."""
        try:
            return self._sender.send(email)
        except MailAuthError as exc:
            self._on_auth_error(exc)
            raise

    def keep_open(self) -> None:
        """Reuse connections across sends when the adapter can (SMTP), until ``close``."""
        opener = getattr(self._sender, "keep_open", None)
        if callable(opener):
            opener()

    def close(self) -> None:
        """Close connections kept open."""
        closer = getattr(self._sender, "close", None)
        if callable(closer):
            closer()

    def find_sent(self, message_id: str) -> bool:
        """Search the sent mail; a MailAuthError also marks the mailbox ``needs_relink``."""
        try:
            return self._sender.find_sent(message_id)
        except MailAuthError as exc:
            self._on_auth_error(exc)
            raise


class MailboxDirectory:
    """The MailSenderDirectory port: an organization's default (or chosen) linked mailbox sends."""

    def __init__(self, service: MailboxService) -> None:
        self._service = service

    def sender_for(self, org_id: int, mailbox_id: int | None = None) -> MailSender:
        """The sender; NoLinkedMailbox or MailboxNeedsRelink when it cannot send."""
        with self._service.services.db.session() as session:
            if mailbox_id is not None:
                box = session.get(Mailbox, mailbox_id)
                if box is None or box.org_id != org_id:
                    raise NoLinkedMailbox(f"mailbox {mailbox_id} is not linked to this organization")
            else:
                box = session.scalars(select(Mailbox).where(Mailbox.org_id == org_id, Mailbox.enabled.is_(True))
                                      .order_by(Mailbox.is_default.desc(), Mailbox.id)).first()
                if box is None:
                    raise NoLinkedMailbox("no mailbox is linked to this organization")
            session.expunge(box)
        if not box.enabled:
            raise NoLinkedMailbox(f"mailbox {box.address} is disabled")
        if box.status == "needs_relink":
            raise MailboxNeedsRelink(f"mailbox {box.address} must be linked again", box.address)
        if box.provider == "imap" and not box.smtp_host:
            raise NoLinkedMailbox(f"mailbox {box.address} has no SMTP server for sending")
        service = self._service
        box_id = box.id
        sender = service.connectors.sender(service.access(box),
                                           on_refresh=lambda creds: service.later(service.store_credentials,
                                                                                  box_id, creds))
        return _GuardedSender(sender, lambda exc: service.later(service.mark_needs_relink, box_id, exc))


# ---------------------------------------------------------------- wiring


def _tick(services: Services) -> None:
    services.get(MailboxService).run_due()


SYNC_TICK_SECONDS = 30


def install(services: Services, connectors: MailConnectors) -> MailboxService:
    """Register the service, the sender directory, the scheduler tick and the ``statut`` line."""
    from bot.services import JobSpec
    from integrations.mail import MailSenderDirectory

    service = MailboxService(services, connectors)
    services.provide(service)
    services.provide(MailboxDirectory(service), as_type=MailSenderDirectory)
    services.jobs.append(JobSpec("mailboxes:sync", "interval", _tick, {"seconds": SYNC_TICK_SECONDS}))
    services.status_providers.append(service.status_lines)
    services.shutdown_hooks.append(service.shutdown)
    return service
