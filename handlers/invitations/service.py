"""Invitations: contact messages, invitations and their emails, one-time signup, client sign-in.

Shared by the chat commands, the admin API and the public pages. The invitation email leaves
outside any long transaction: the chat queues it (``mail_state = queued``) and the mailer sends
it in a background thread once the chat's transaction is committed (and a scheduled sweep
retries what is left), then tells the manager on WhatsApp; the admin API sends inline. Each
send has a Message-ID kept across retries, so after an ambiguous failure the sent folder is
searched before sending again.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from bot.outbox import backoff, send_to_user
from bot.router import UserError
from bot.services import MissingServiceError
from handlers.invitations.emails import EmailRenderer, OriginalContact, short_date, when_in_words
from handlers.invitations.rules import (
    MESSAGE_MAX,
    NAME_MAX,
    SETTINGS_KEY,
    CommonPasswords,
    EmailRejected,
    InvitationSettings,
    Problem,
    check_invitation_email,
    name_problems,
    normalize_email,
    org_settings,
    password_problems,
)
from integrations.mail import (
    AmbiguousSendError,
    MailAuthError,
    MailboxNeedsRelink,
    MailError,
    MailSender,
    MailSenderDirectory,
    NoLinkedMailbox,
    OutgoingEmail,
    PermanentSendError,
    make_message_id,
)
from integrations.whatsapp import Button, Buttons, OutgoingMessage, Text
from storage import invitations as repo
from storage.accounts import org_by_slug, rate_hit, users_of
from storage.invitations import ClientAccount, ContactMessage, Invitation, SignedIn
from storage.models import Organization, User

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAIL_LEASE = timedelta(minutes=10)
MAIL_MAX_ATTEMPTS = 5
CONTACT_WINDOW = timedelta(hours=1)
CONTACT_NAME_MAX = NAME_MAX
CONTACT_SUBJECT_MAX = 200
CONTACT_MESSAGE_MAX = 5000
EXCERPT = 500
SIGNUP_PATH = "/api/accounts/client-signup/{token}/"


# ---------------------------------------------------------------- outcomes and errors


class FormInvalid(Exception):
    """A form broke rules; each problem names its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(", ".join(p.code for p in problems))
        self.problems = problems


class ContactRefused(Exception):
    """A contact message that is refused as a whole (honeypot, rate limit, unknown organization)."""

    def __init__(self, code: str, status: int, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.params = params


class LinkGone(Exception):
    """The link is unknown, revoked, expired, used or cancelled (callers reveal nothing more)."""


class AccountExists(Exception):
    """A client account already exists for the invited address."""

    def __init__(self, lang: str) -> None:
        super().__init__("account exists")
        self.lang = lang


@dataclass(frozen=True)
class SignupView:
    """What the signup page shows for a live link."""

    invitation_id: int
    org_name: str
    email: str
    name: str
    language: str
    settings: InvitationSettings


@dataclass(frozen=True)
class Redeemed:
    """A successful signup: the new account and its first session cookie."""

    account_id: int
    session_token: str
    language: str


@dataclass(frozen=True)
class Delivery:
    """What became of one send of an invitation email."""

    invitation_id: int
    state: str  # sent | no_mailbox | unavailable | relink | failed | retry | skipped
    sender: str | None = None
    detail: str | None = None
    link: str | None = None


@dataclass
class _Claim:
    invitation_id: int
    org_id: int
    seq: int
    token: str
    message_id: str
    check_sent_first: bool
    email: OutgoingEmail | None
    lang: str
    to: str
    expires: str


def _lang_of(user: User, default: str) -> str:
    return user.language or user.last_language or default


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class InvitationService:
    """The business rules of invitations, contact messages, signup and client sign-in."""

    def __init__(self, services: Services, *, hasher: PasswordHasher, common: CommonPasswords,
                 hash_concurrency: int = 4) -> None:
        self._services = services
        self.hasher = hasher
        self.common = common
        self.renderer = EmailRenderer(services.settings.templates_dir, services.catalog)
        # Argon2id takes tens of MiB per hash: bound how many run at once.
        self._hash_slots = threading.BoundedSemaphore(hash_concurrency)
        self._dummy_hash: str | None = None
        self._mailer_lock = threading.Condition()
        self._mailer_pending = False
        self._mailer_running = False

    # ------------------------------------------------------------ basics

    @property
    def services(self) -> Services:
        """The services this feature runs with."""
        return self._services

    def now(self) -> datetime:
        """The current instant from the services' clock."""
        return self._services.clock.now()

    def link(self, token: str) -> str:
        """The signup URL of a token."""
        return self._services.settings.public_url + SIGNUP_PATH.format(token=token)

    def settings_for(self, org: Organization) -> InvitationSettings:
        """The organization's invitation settings (defaults where unset)."""
        return org_settings(org.settings)

    def save_settings(self, session: Session, org: Organization, new: InvitationSettings) -> None:
        """Store new invitation settings on the organization."""
        org.settings = {**(org.settings or {}), SETTINGS_KEY: new.model_dump()}

    def in_words(self, when: datetime, lang: str, tz: str | None = None) -> str:
        """A date in words in ``tz`` (default: the configured time zone)."""
        return when_in_words(when, lang, tz or self._services.settings.timezone)

    def short(self, when: datetime, lang: str) -> str:
        """A compact date in the configured time zone."""
        return short_date(when, lang, self._services.settings.timezone)

    def hash_password(self, password: str) -> str:
        """An Argon2id hash (bounded concurrency)."""
        with self._hash_slots:
            return self.hasher.hash(password)

    # ------------------------------------------------------------ contact messages

    def contact_problems(self, name: str, email: str, subject: str, message: str) -> list[Problem]:
        """Every problem of a contact form (sizes, required fields, the address's syntax)."""
        problems: list[Problem] = []
        if not name.strip():
            problems.append(Problem("name", "name_required"))
        elif len(name.strip()) > CONTACT_NAME_MAX:
            problems.append(Problem("name", "name_too_long", {"max": CONTACT_NAME_MAX}))
        try:
            normalize_email(email)
        except EmailRejected as exc:
            problems.append(exc.problem)
        if len(subject.strip()) > CONTACT_SUBJECT_MAX:
            problems.append(Problem("subject", "subject_too_long", {"max": CONTACT_SUBJECT_MAX}))
        if not message.strip():
            problems.append(Problem("message", "message_required"))
        elif len(message.strip()) > CONTACT_MESSAGE_MAX:
            problems.append(Problem("message", "message_too_long", {"max": CONTACT_MESSAGE_MAX}))
        return problems

    def submit_contact(
        self, *, org_slug: str | None, name: str, email: str, subject: str, message: str, honeypot: str,
        language: str, ip: str, user_agent: str | None, source: str = "form",
    ) -> int:
        """Store a contact message and tell the admins on WhatsApp; returns its id.

        Raises FormInvalid for fields to fix, ContactRefused for a refusal of the whole message.
        """
        if honeypot.strip():
            raise ContactRefused("honeypot", 422)
        message = message.replace("\r\n", "\n").replace("\r", "\n")  # browsers post textareas with CRLF
        problems = self.contact_problems(name, email, subject, message)
        if problems:
            raise FormInvalid(problems)
        services = self._services
        now = self.now()
        from storage.accounts import AccountError

        with services.db.write() as session:
            try:
                org = org_by_slug(session, org_slug)
            except AccountError:
                raise ContactRefused("unknown_org", 404) from None
            limit = services.settings.contact_rate_limit
            if not rate_hit(session, f"contact:{ip}", limit=limit, window=CONTACT_WINDOW, now=now):
                raise ContactRefused("rate_limited", 429, limit=limit)
            contact = ContactMessage(
                org_id=org.id, name=name.strip(), email=normalize_email(email).address, subject=subject.strip(),
                message=message.strip(), language=language, source=source, ip=ip,
                user_agent=(user_agent or "")[:300] or None, created_at=now,
            )
            session.add(contact)
            session.flush()
            self._notify_admins_of_contact(session, org, contact, now)
            contact_id = contact.id
        services.outbox_changed()
        log.info("contact message %s stored for org %s", contact_id, org_slug or "default")
        return contact_id

    def _notify_admins_of_contact(self, session: Session, org: Organization, contact: ContactMessage,
                                  now: datetime) -> None:
        catalog = self._services.catalog
        default = self._services.settings.default_language
        for admin in users_of(session, org.id, admins_only=True):
            lang = _lang_of(admin, default)
            body = catalog.t(
                "invitations.contact.new", lang, id=contact.id, name=contact.name, email=contact.email,
                subject=contact.subject or "—", excerpt=_excerpt(contact.message, 600),
            )
            button = Button(f"invite:contact:{contact.id}", catalog.t("invitations.contact.invite_button", lang))
            send_to_user(session, admin, [Buttons(body, (button,))], key=f"contact:{contact.id}:admin:{admin.id}",
                         now=now, purpose="contact")

    # ------------------------------------------------------------ creating and sending

    def create(
        self, session: Session, org: Organization, *, email: str, name: str | None = None, language: str,
        personal_message: str | None = None, contact: ContactMessage | None = None,
        created_by: User | None = None, via: str = "chat", field_name: str = "email",
    ) -> Invitation:
        """A new pending invitation after the organization's email rules; raises UserError."""
        now = self.now()
        settings = self.settings_for(org)
        try:
            checked = check_invitation_email(email, settings.email, field_name=field_name)
        except EmailRejected as exc:
            raise UserError(f"invitations.rule.{exc.problem.code}", **exc.problem.params) from None
        if personal_message and len(personal_message.strip()) > MESSAGE_MAX:
            raise UserError("invitations.rule.personal_too_long", max=MESSAGE_MAX)
        if name and len(name.strip()) > NAME_MAX:
            raise UserError("invitations.rule.name_too_long", max=NAME_MAX)
        if repo.account_for(session, org.id, checked.address) is not None:
            raise UserError("invitations.error.has_account", email=checked.address)
        live = repo.live_invitation_for(session, org.id, checked.address, now)
        if live is not None:
            raise UserError("invitations.error.already_pending", email=checked.address, id=live.id)
        invitation = Invitation(
            org_id=org.id, email=checked.address, name=(name or "").strip() or None, language=language,
            personal_message=(personal_message or "").strip() or None,
            contact_message_id=contact.id if contact else None, status="pending",
            expires_at=now + timedelta(days=settings.ttl_days), created_at=now, created_via=via,
            created_by_user_id=created_by.id if created_by else None,
        )
        session.add(invitation)
        session.flush()
        log.info("invitation %s created (%s)", invitation.id, via)
        log.debug("invitation %s is for %s", invitation.id, checked.address)
        return invitation

    def queue_send(
        self, session: Session, org: Organization, invitation: Invitation, *, requested_by: User | None,
        personal_message: str | None = None,
    ) -> None:
        """Make the invitation ready to (re)send: old links stop working, expiry restarts, email queued."""
        now = self.now()
        status = invitation.effective_status(now)
        if status == "used":
            raise UserError("invitations.error.used", id=invitation.id)
        if status == "cancelled":
            raise UserError("invitations.error.cancelled", id=invitation.id)
        if personal_message is not None:
            if len(personal_message.strip()) > MESSAGE_MAX:
                raise UserError("invitations.rule.personal_too_long", max=MESSAGE_MAX)
            invitation.personal_message = personal_message.strip() or None
        if repo.account_for(session, org.id, invitation.email) is not None:
            raise UserError("invitations.error.has_account", email=invitation.email)
        repo.revoke_tokens(session, invitation.id, now)
        settings = self.settings_for(org)
        invitation.status = "pending"
        invitation.expires_at = now + timedelta(days=settings.ttl_days)
        invitation.mail_state = "queued"
        invitation.mail_send_seq += 1
        invitation.mail_attempts = 0
        invitation.mail_next_at = now
        invitation.mail_claimed_at = None
        invitation.mail_message_id = None
        invitation.mail_error = None
        invitation.mail_requested_by_user_id = requested_by.id if requested_by else None
        session.flush()

    def send_after_commit(self, session: Session) -> None:
        """Start the mailer once the caller's outermost transaction has ended (committed or not)."""

        def ended(_session: Session, transaction: SessionTransaction) -> None:
            # "after_commit" also fires for savepoints (the dispatcher runs handlers in one): wait for the root.
            if transaction.parent is None and not transaction.nested:
                self.kick()

        event.listen(session, "after_transaction_end", ended)

    def issue_chat_link(self, session: Session, org_id: int, invitation_id: int) -> tuple[Invitation, str]:
        """A new link for a pending invitation, to hand over by hand (the emailed one keeps working)."""
        now = self.now()
        invitation = repo.org_invitation(session, org_id, invitation_id)
        if invitation is None:
            raise UserError("invitations.error.not_found", id=invitation_id)
        status = invitation.effective_status(now)
        if status != "pending":
            raise UserError(f"invitations.error.{status}", id=invitation_id)
        token = repo.issue_token(session, invitation, "link", now)
        return invitation, self.link(token)

    def cancel(self, session: Session, org_id: int, invitation_id: int, by: User | None) -> Invitation:
        """Cancel an invitation: every link stops working; raises UserError when it cannot be."""
        now = self.now()
        invitation = repo.org_invitation(session, org_id, invitation_id, lock=True)
        if invitation is None:
            raise UserError("invitations.error.not_found", id=invitation_id)
        if invitation.status == "used":
            raise UserError("invitations.error.used", id=invitation_id)
        if invitation.status == "cancelled":
            raise UserError("invitations.error.cancelled", id=invitation_id)
        invitation.status = "cancelled"
        invitation.cancelled_at = now
        invitation.cancelled_by_user_id = by.id if by else None
        if invitation.mail_state in ("queued", "sending"):
            invitation.mail_state = "none"
        repo.revoke_tokens(session, invitation.id, now)
        session.flush()
        return invitation

    # ------------------------------------------------------------ the mailer

    def kick(self) -> None:
        """Send queued invitation emails in a background thread (one at a time)."""
        with self._mailer_lock:
            self._mailer_pending = True
            if self._mailer_running:
                return
            self._mailer_running = True
        threading.Thread(target=self._mailer_loop, name="courrier-invitation-mailer", daemon=True).start()

    def _mailer_loop(self) -> None:
        while True:
            with self._mailer_lock:
                if not self._mailer_pending:
                    self._mailer_running = False
                    self._mailer_lock.notify_all()
                    return
                self._mailer_pending = False
            try:
                self.deliver_due()
            except Exception:
                log.exception("invitation mailer pass failed; the sweep will retry")

    def wait_mailer(self, timeout: float = 30.0) -> None:
        """Block until the background mailer is idle (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._mailer_lock:
            while self._mailer_running or self._mailer_pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the invitation mailer did not become idle in time")
                self._mailer_lock.wait(remaining)

    def deliver_due(self) -> list[Delivery]:
        """Send every queued invitation email that is due."""
        now = self.now()
        with self._services.db.session() as session:
            ids = list(session.scalars(
                select(Invitation.id).where(Invitation.mail_state == "queued", Invitation.mail_next_at <= now)
                .order_by(Invitation.id).limit(100)
            ))
        return [self.deliver(invitation_id) for invitation_id in ids]

    def sweep(self) -> None:
        """Scheduled: expire old invitations, take back interrupted sends, send what is due."""
        now = self.now()
        with self._services.db.write() as session:
            repo.expire_due(session, now)
            stale = session.scalars(
                select(Invitation).where(Invitation.mail_state == "sending",
                                         Invitation.mail_claimed_at < now - MAIL_LEASE)
            ).all()
            for invitation in stale:
                invitation.mail_state, invitation.mail_next_at = "queued", now
                invitation.mail_error = "interrupted"
        self.deliver_due()

    def deliver(self, invitation_id: int, *, keep_link: bool = False) -> Delivery:
        """Claim one queued invitation email, send it from the organization's mailbox, record the outcome."""
        with self._services.db.write() as session:
            # The row lock keeps the mailer thread and the scheduled sweep from sending the same email twice.
            invitation = session.scalars(
                select(Invitation).where(Invitation.id == invitation_id).with_for_update()
            ).first()
            if invitation is None or invitation.mail_state != "queued":
                return Delivery(invitation_id, "skipped")
            claim = self._claim(session, invitation)
        if claim is None:
            return Delivery(invitation_id, "skipped")
        return self._send(claim, keep_link=keep_link)

    def send_now(self, org_id: int, invitation_id: int, *, personal_message: str | None) -> Delivery:
        """The admin API's send: queue and claim in one transaction, then send inline."""
        with self._services.db.write() as session:
            org = session.get(Organization, org_id)
            invitation = repo.org_invitation(session, org_id, invitation_id, lock=True)
            if org is None or invitation is None:
                raise UserError("invitations.error.not_found", id=invitation_id)
            self.queue_send(session, org, invitation, requested_by=None, personal_message=personal_message)
            claim = self._claim(session, invitation)
        if claim is None:
            return Delivery(invitation_id, "skipped")
        return self._send(claim, keep_link=True)

    def _claim(self, session: Session, invitation: Invitation) -> _Claim | None:
        now = self.now()
        if invitation.effective_status(now) != "pending":
            invitation.mail_state = "none"
            return None
        org = session.get(Organization, invitation.org_id)
        assert org is not None
        check_first = invitation.mail_message_id is not None and invitation.mail_error == "interrupted"
        invitation.mail_state = "sending"
        invitation.mail_claimed_at = now
        invitation.mail_attempts += 1
        invitation.mail_message_id = invitation.mail_message_id or make_message_id()
        token = repo.issue_token(session, invitation, "email", now)
        lang = invitation.language if invitation.language in ("fr", "en") else "fr"
        contact = session.get(ContactMessage, invitation.contact_message_id) if invitation.contact_message_id else None
        inviter = session.get(User, invitation.created_by_user_id) if invitation.created_by_user_id else None
        expires = self.in_words(invitation.expires_at, lang)
        rendered = self.renderer.invitation(
            lang=lang, org_name=org.name, name=invitation.name, inviter=inviter.name if inviter else None,
            personal_message=invitation.personal_message,
            contact=OriginalContact(contact.subject, contact.message, self.in_words(contact.created_at, lang))
            if contact else None,
            link=self.link(token), expires_in_words=expires,
        )
        email = OutgoingEmail(
            to=(invitation.email,), subject=rendered.subject, text=rendered.text, html=rendered.html,
            message_id=invitation.mail_message_id, from_name=org.name,
        )
        return _Claim(invitation.id, org.id, invitation.mail_send_seq, token, invitation.mail_message_id,
                      check_first, email, lang, invitation.email, expires)

    def _sender(self, org_id: int) -> MailSender:
        directory = self._services.get(MailSenderDirectory)  # type: ignore[type-abstract]
        return directory.sender_for(org_id)

    def _send(self, claim: _Claim, *, keep_link: bool) -> Delivery:
        sender_address: str | None = None
        try:
            sender = self._sender(claim.org_id)
            sender_address = sender.address
            assert claim.email is not None
            if claim.check_sent_first and sender.find_sent(claim.message_id):
                state, detail = "sent_earlier", None
            else:
                try:
                    sender.send(claim.email)
                    state, detail = "sent", None
                except AmbiguousSendError as exc:
                    state, detail = ("sent", None) if sender.find_sent(claim.message_id) else ("retry", str(exc))
        except MissingServiceError:
            state, detail = "unavailable", None
        except NoLinkedMailbox:
            state, detail = "no_mailbox", None
        except MailboxNeedsRelink as exc:
            state, detail = "relink", exc.address or sender_address
        except MailAuthError:
            state, detail = "relink", sender_address
        except PermanentSendError as exc:
            state, detail = "failed", str(exc)[:300]
        except MailError as exc:
            state, detail = "retry", str(exc)[:300]
        return self._record(claim, state, detail, sender_address, keep_link=keep_link)

    def _record(self, claim: _Claim, state: str, detail: str | None, sender_address: str | None, *,
                keep_link: bool) -> Delivery:
        services = self._services
        now = self.now()
        notified = False
        link: str | None = None
        with services.db.write() as session:
            invitation = session.get(Invitation, claim.invitation_id)
            if invitation is None or invitation.mail_send_seq != claim.seq:
                return Delivery(claim.invitation_id, "skipped")  # cancelled, or a newer send replaced this one
            sent = state in ("sent", "sent_earlier")
            if state == "sent_earlier":
                repo.revoke_token(session, claim.token, now)  # the email that left carries an earlier link
            if state == "retry" and invitation.mail_attempts < MAIL_MAX_ATTEMPTS:
                invitation.mail_state = "queued"
                invitation.mail_next_at = now + backoff(invitation.mail_attempts, 30.0, 1800.0)
                invitation.mail_error = detail
                repo.revoke_token(session, claim.token, now)
                log.warning("invitation %s: sending failed, will retry", invitation.id)
                log.debug("invitation %s: %s", invitation.id, detail)
                return Delivery(claim.invitation_id, "retry", sender_address, detail)
            if state == "retry":
                state = "failed"
            if sent:
                invitation.mail_state, invitation.mail_error = "sent", None
                invitation.last_sent_at, invitation.mail_from = now, sender_address
                link = self.link(claim.token) if keep_link and state == "sent" else None
            else:
                invitation.mail_state = "no_mailbox" if state == "unavailable" else state
                invitation.mail_error = detail
                if keep_link:
                    link = self.link(claim.token)
                else:
                    repo.revoke_token(session, claim.token, now)
            if invitation.mail_requested_by_user_id:
                user = session.get(User, invitation.mail_requested_by_user_id)
                if user is not None and user.active:
                    lang = _lang_of(user, services.settings.default_language)
                    messages = self._mail_outcome_messages(invitation, "sent" if sent else state, lang,
                                                           sender_address, detail, user.timezone)
                    send_to_user(session, user, messages, key=f"invitation:{invitation.id}:mail:{claim.seq}",
                                 now=now, purpose="invitation")
                    notified = True
            log.info("invitation %s: email %s", invitation.id, invitation.mail_state)
        if notified:
            services.outbox_changed()
        return Delivery(claim.invitation_id, "sent" if state == "sent_earlier" else state, sender_address, detail, link)

    def _mail_outcome_messages(self, invitation: Invitation, state: str, lang: str, sender: str | None,
                               detail: str | None, tz: str | None) -> list[OutgoingMessage]:
        catalog = self._services.catalog
        expires = self.in_words(invitation.expires_at, lang, tz)
        params = {"id": invitation.id, "email": invitation.email, "expires": expires}
        if state == "sent":
            body = catalog.t("invitations.chat.sent", lang, sender=sender or "?", **params)
        elif state == "relink":
            body = catalog.t("invitations.chat.relink", lang, address=detail or sender or "?", **params)
        elif state == "failed":
            body = catalog.t("invitations.chat.failed", lang, reason=detail or "?", **params)
        elif state == "unavailable":
            body = catalog.t("invitations.chat.mail_unavailable", lang, **params)
        else:
            body = catalog.t("invitations.chat.no_mailbox", lang, **params)
        button = Button(f"invite:copy:{invitation.id}", catalog.t("invitations.chat.copy_button", lang))
        return [Buttons(body, (button,))]

    # ------------------------------------------------------------ signup

    def signup_view(self, token: str) -> SignupView:
        """What the signup page shows for a live link; LinkGone otherwise."""
        now = self.now()
        with self._services.db.session() as session:
            invitation = repo.invitation_by_token(session, token)
            if invitation is None or invitation.effective_status(now) != "pending":
                raise LinkGone()
            org = session.get(Organization, invitation.org_id)
            assert org is not None
            if repo.account_for(session, org.id, invitation.email) is not None:
                # The account may come from this very link, redeemed since the first read (READ COMMITTED).
                again = repo.invitation_by_token(session, token)
                if again is None or again.status != "pending":
                    raise LinkGone()
                raise AccountExists(invitation.language)
            return SignupView(invitation.id, org.name, invitation.email, invitation.name or "",
                              invitation.language, self.settings_for(org))

    def signup_problems(self, view: SignupView, name: str, password: str, confirmation: str) -> list[Problem]:
        """Every rule the signup form breaks."""
        return name_problems(name) + password_problems(
            password, confirmation, email=view.email, policy=view.settings.password, common=self.common)

    def redeem(self, token: str, *, name: str, password: str, confirmation: str, ip: str,
               user_agent: str | None) -> Redeemed:
        """Claim the link and create the account in one transaction; LinkGone, AccountExists or FormInvalid."""
        view = self.signup_view(token)
        problems = self.signup_problems(view, name, password, confirmation)
        if problems:
            raise FormInvalid(problems)
        with self._hash_slots:
            # Waiting for a slot may have taken a while: a link redeemed meanwhile costs no hash.
            self.signup_view(token)
            password_hash = self.hasher.hash(password)
        services = self._services
        now = self.now()
        ua = (user_agent or "")[:300] or None
        try:
            with services.db.write() as session:
                invitation = repo.invitation_by_token(session, token)
                if invitation is None or invitation.id != view.invitation_id:
                    raise LinkGone()
                # Claim first: whoever loses the race sees a used link (410), like any later visitor.
                if not repo.claim_invitation(session, invitation.id, now=now, ip=ip, user_agent=ua):
                    raise LinkGone()
                if repo.account_for(session, invitation.org_id, invitation.email) is not None:
                    raise AccountExists(invitation.language)  # rolls the claim back
                account = ClientAccount(org_id=invitation.org_id, email=invitation.email, name=name.strip(),
                                        password_hash=password_hash, language=invitation.language, created_at=now)
                session.add(account)
                session.flush()
                session.refresh(invitation)
                invitation.account_id = account.id
                cookie = repo.open_session(session, account, now=now, ttl=self.session_ttl, ip=ip, user_agent=ua)
                self._notify_signup(session, invitation, account, now)
                result = Redeemed(account.id, cookie, account.language)
        except IntegrityError:
            raise AccountExists(view.language) from None
        services.outbox_changed()
        log.info("invitation %s used: client account %s created", view.invitation_id, result.account_id)
        return result

    def _notify_signup(self, session: Session, invitation: Invitation, account: ClientAccount, now: datetime) -> None:
        recipients: list[User] = []
        if invitation.created_by_user_id:
            creator = session.get(User, invitation.created_by_user_id)
            if creator is not None and creator.active:
                recipients = [creator]
        if not recipients:
            recipients = users_of(session, invitation.org_id, admins_only=True)
        default = self._services.settings.default_language
        for user in recipients:
            lang = _lang_of(user, default)
            text = self._services.catalog.t("invitations.chat.signed_up", lang, id=invitation.id, name=account.name,
                                            email=account.email)
            send_to_user(session, user, [Text(text)], key=f"invitation:{invitation.id}:signup:{user.id}", now=now,
                         purpose="invitation")

    # ------------------------------------------------------------ sign-in

    @property
    def session_ttl(self) -> timedelta:
        """How long a client stays signed in."""
        return timedelta(days=self._services.settings.client_session_days)

    def authenticate(self, email: str, password: str, *, ip: str, user_agent: str | None) -> tuple[str, str] | None:
        """A new session cookie and the account's language for a right email and password, else None."""
        try:
            address = normalize_email(email).address
        except EmailRejected:
            address = ""
        now = self.now()
        with self._services.db.session() as session:
            accounts = list(session.scalars(
                select(ClientAccount).where(ClientAccount.email == address, ClientAccount.active.is_(True))
                .order_by(ClientAccount.id)
            )) if address else []
            candidates = [(a.id, a.password_hash) for a in accounts]
        matched: int | None = None
        with self._hash_slots:
            if not candidates:
                if self._dummy_hash is None:
                    self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
                self._verify(self._dummy_hash, password)  # same work whether or not the address exists
            for account_id, stored in candidates:
                if self._verify(stored, password):
                    matched = account_id
                    break
        if matched is None:
            return None
        with self._services.db.write() as session:
            account = session.get(ClientAccount, matched)
            assert account is not None
            if self.hasher.check_needs_rehash(account.password_hash):
                account.password_hash = self.hasher.hash(password)
            cookie = repo.open_session(session, account, now=now, ttl=self.session_ttl, ip=ip,
                                       user_agent=(user_agent or "")[:300] or None)
            return cookie, account.language

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def signed_in(self, cookie: str | None) -> SignedIn | None:
        """The account behind a session cookie."""
        if not cookie:
            return None
        with self._services.db.session() as session:
            return repo.session_account(session, cookie, self.now())

    def sign_out(self, cookie: str | None) -> None:
        """End a session."""
        if cookie:
            with self._services.db.write() as session:
                repo.close_session(session, cookie, self.now())

    # ------------------------------------------------------------ status

    def status_lines(self, session: Session, org: Organization, lang: str) -> list[str]:
        """The ``statut`` line: pending invitations and client accounts."""
        now = self.now()
        pending = session.scalar(select(func.count()).select_from(Invitation).where(
            Invitation.org_id == org.id, Invitation.status == "pending", Invitation.expires_at > now)) or 0
        accounts = session.scalar(select(func.count()).select_from(ClientAccount).where(
            ClientAccount.org_id == org.id)) or 0
        return [self._services.catalog.t("invitations.status_line", lang, pending=pending, accounts=accounts)]
