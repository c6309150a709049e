"""Quotes and contracts: create, render, send and record — one code path for the chat, the API and jobs.

Slow steps never run inside a database transaction: rendering reads what it needs, renders,
then writes the PDF in a short transaction (only if the document did not change meanwhile);
sending reads, asks the mailbox directory for a sender, sends, then records. The chat does not
call them itself: its handler sets a job on the document and the ``JobRunner`` does the work
after the handler's transaction committed, then tells the user through the outbox.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.outbox import send_to_user
from handlers.quotes.documents import (
    FILE_PREFIX,
    DocumentInput,
    DocumentTemplates,
    Formatter,
    TemplateProblem,
    compute_totals,
    document_lines,
)
from handlers.quotes.parsing import Invalid
from handlers.quotes.settings import DocumentSettings, SettingsProblem, load_settings
from integrations.mail import (
    AmbiguousSendError,
    MailAttachment,
    MailAuthError,
    MailboxNeedsRelink,
    MailError,
    MailRateLimited,
    MailSender,
    MailSenderDirectory,
    NoLinkedMailbox,
    OutgoingEmail,
    PermanentSendError,
    make_message_id,
)
from integrations.pdf import PdfRenderer, PdfRenderError
from integrations.whatsapp import Button, Buttons, Document, OutgoingMessage, Text
from storage import conversation
from storage.db import after_commit
from storage.models import Organization, User
from storage.quotes import Client, Quote, claim_job, due_jobs, next_number

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

FLOW = "quotes"
LEASE = timedelta(minutes=5)
MAX_JOB_ATTEMPTS = 5
QUOTE_FIELDS = ("mission_context", "workflow_steps", "budget", "deadline")
CONTRACT_FIELDS = ("mission_type", "complexity", "mission_context", "city")
TRANSITIONS = {"accepted": ("sent", "declined", "accepted"), "declined": ("sent", "accepted", "declined")}


@dataclass(frozen=True)
class RenderResult:
    """What rendering did: ok, failed with a reason, or found the document changed meanwhile."""

    ok: bool
    error: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class SendOutcome:
    """What a send attempt ended with, for the chat and the API to explain."""

    kind: str  # sent | no_email | no_mailbox | relink | refused | retry | not_configured | failed | not_draft
    #          | in_progress (API only)
    detail: str = ""
    address: str = ""
    recipient: str = ""
    retry_after: float | None = None


def shorten(text: str, limit: int = 60) -> str:
    """A text cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def client_snapshot(client: Client) -> dict[str, Any]:
    """The client's details as the document shows them (kept with the document)."""
    return {"id": client.id, "name": client.name, "company": client.company, "email": client.email,
            "city": client.city}


def missing_fields(kind: str, values: dict[str, Any]) -> list[str]:
    """The variables a document still needs, in the order the chat asks for them."""
    needed = QUOTE_FIELDS if kind == "quote" else CONTRACT_FIELDS
    missing = []
    for name in needed:
        if name == "budget" and values.get("lines"):
            continue
        value = values.get(name)
        if value is None or value == "" or value == []:
            missing.append(name)
    return missing


def fill_defaults(kind: str, values: dict[str, Any], client: Client, settings: DocumentSettings,
                  today: date) -> dict[str, Any]:
    """Missing variables taken from the client's record, then from the organization's defaults."""
    filled = dict(values)
    if not filled.get("mission_context") and client.mission_context:
        filled["mission_context"] = client.mission_context
    if not filled.get("project") and client.project_type:
        filled["project"] = client.project_type
    if kind == "contract":
        if not filled.get("city") and client.city:
            filled["city"] = client.city
        return filled
    if not filled.get("workflow_steps") and settings.default_workflow_steps:
        filled["workflow_steps"] = list(settings.default_workflow_steps)
    if filled.get("budget") is None and not filled.get("lines") and settings.default_budget is not None:
        filled["budget"] = str(settings.default_budget)
    if not filled.get("deadline") and settings.default_deadline_days:
        filled["deadline"] = (today + timedelta(days=settings.default_deadline_days)).isoformat()
    return filled


class QuoteService:
    """The business of quotes and contracts, shared by chat, API, CLI and the job runner."""

    def __init__(self, services: Services, renderer: PdfRenderer, templates: DocumentTemplates | None = None) -> None:
        self.services = services
        self.renderer = renderer
        self.templates = templates or DocumentTemplates(services.settings.templates_dir)
        self.jobs = JobRunner(self)

    # ------------------------------------------------------------ small helpers

    def t(self, key: str, lang: str, **params: Any) -> str:
        """A catalog message."""
        return self.services.catalog.t(key, lang, **params)

    def today(self, user: User | None = None) -> date:
        """Today in the user's time zone (or the deployment's)."""
        zone = ZoneInfo((user.timezone if user and user.timezone else None) or self.services.settings.timezone)
        return self.services.clock.now().astimezone(zone).date()

    def mail_directory(self) -> MailSenderDirectory:
        """The mailbox directory wired by the composition root (``services.get(MailSenderDirectory)``)."""
        return self.services.get(MailSenderDirectory)  # type: ignore[type-abstract]

    def labels(self, quote_kind: str, data: dict[str, Any], lang: str) -> dict[str, str]:
        """Localized labels of a document's choices (mission type, complexity) and its project name."""
        labels = {"service": self.t("quotes.doc.service", lang)}
        if data.get("mission_type"):
            labels["mission_type"] = self.t(f"quotes.mission.{data['mission_type']}", lang)
        if data.get("complexity"):
            labels["complexity"] = self.t(f"quotes.complexity.{data['complexity']}", lang)
        project = data.get("project") or ""
        if not project and quote_kind == "contract" and "mission_type" in labels:
            project = labels["mission_type"]
        labels["project"] = project or shorten(str(data.get("mission_context") or ""))
        return labels

    def document_input(self, quote: Quote, org: Organization, sender_address: str | None = None) -> DocumentInput:
        """What the templates need, copied out of the database objects."""
        settings = load_settings(org)
        return DocumentInput(
            kind=quote.kind, number=quote.number, language=quote.language, issue_date=quote.issue_date,
            valid_until=quote.valid_until, currency=quote.currency, org_name=org.name, settings=settings,
            data=dict(quote.data), sender_address=sender_address,
            labels=self.labels(quote.kind, quote.data, quote.language),
        )

    def totals_of(self, quote: Quote, settings: DocumentSettings) -> Decimal:
        """The document's total after tax."""
        lines = document_lines(quote.kind, quote.data, self.labels(quote.kind, quote.data, quote.language),
                               settings.vat_rate)
        return compute_totals(lines).gross

    def _refresh(self, quote: Quote, settings: DocumentSettings, today: date) -> None:
        quote.issue_date = today
        if quote.kind == "quote":
            explicit = quote.data.get("valid_until")
            days = int(quote.data.get("validity_days") or settings.validity_days)
            quote.valid_until = date.fromisoformat(explicit) if explicit else today + timedelta(days=days)
        else:
            quote.valid_until = None
        quote.total_cents = int(self.totals_of(quote, settings) * 100)

    # ------------------------------------------------------------ creating and changing documents

    def create_document(
        self, session: Session, org: Organization, *, kind: str, client: Client, values: dict[str, Any],
        lang: str, user_id: int | None, today: date,
    ) -> Quote:
        """A numbered draft from its variables (checked complete); the number is never reused."""
        missing = missing_fields(kind, values)
        if missing:
            raise Invalid("quotes.error.missing", fields=", ".join(missing))
        settings = load_settings(org)
        recipient = values.get("email") or client.email
        data: dict[str, Any] = {"client": {**client_snapshot(client), "email": recipient},
                                "vat_rate": str(settings.vat_rate),
                                "project": values.get("project") or client.project_type or ""}
        for name in ("mission_context", "workflow_steps", "budget", "deadline", "lines", "mission_type",
                     "complexity", "city", "validity_days", "valid_until"):
            if values.get(name) not in (None, "", []):
                data[name] = values[name]
        if kind == "contract":
            data["price"] = str(settings.complexity_prices[values["complexity"]])
        prefix = settings.quote_prefix if kind == "quote" else settings.contract_prefix
        sequence = next_number(session, org.id, kind, today.year)
        now = self.services.clock.now()
        quote = Quote(
            org_id=org.id, client_id=client.id, created_by=user_id, kind=kind,
            number=f"{prefix}-{today.year}-{sequence:04d}", status="draft", language=lang, data=data, revision=1,
            currency=settings.currency, issue_date=today, recipient_email=recipient, created_at=now,
            updated_at=now, job_attempts=0, send_uncertain=False, total_cents=0,
        )
        self._refresh(quote, settings, today)
        session.add(quote)
        session.flush()
        log.info("quotes: created %s %s for org %s", kind, quote.number, org.id)
        return quote

    def change(self, session: Session, quote: Quote, changes: dict[str, Any], today: date) -> None:
        """Change variables of a draft: a new revision whose PDF must be rendered again."""
        if quote.status != "draft":
            raise Invalid("quotes.error.not_draft", number=quote.number)
        if "lines" in changes and not changes["lines"] and quote.data.get("budget") is None:
            raise Invalid("quotes.invalid.lines_need_budget")
        org = session.get(Organization, quote.org_id)
        assert org is not None
        settings = load_settings(org)
        data = dict(quote.data)
        for name, value in changes.items():
            if name == "email":
                quote.recipient_email = value
                data["client"] = {**data.get("client", {}), "email": value}
            elif name == "language":
                quote.language = value
            elif value is None:
                data.pop(name, None)
            else:
                data[name] = value
        if "complexity" in changes and quote.kind == "contract":
            data["price"] = str(settings.complexity_prices[changes["complexity"]])
        if "budget" in changes:
            data.pop("lines", None)
        if changes.get("lines"):
            data.pop("budget", None)
        quote.data = data
        quote.revision += 1
        quote.updated_at = self.services.clock.now()
        self._refresh(quote, settings, today)

    def set_status(self, session: Session, quote: Quote, status: str) -> None:
        """Mark a sent document accepted or declined (or cancel a draft)."""
        if status == "cancelled":
            if quote.status != "draft":
                raise Invalid("quotes.error.not_draft", number=quote.number)
        elif quote.status not in TRANSITIONS[status]:
            key = "quotes.error.not_sent" if quote.status == "draft" else "quotes.error.cancelled"
            raise Invalid(key, number=quote.number)
        now = self.services.clock.now()
        quote.status, quote.status_changed_at, quote.updated_at = status, now, now
        if status == "cancelled":
            JobRunner.clear(quote)
        log.info("quotes: %s is now %s", quote.id, status)

    def sending_now(self, quote: Quote) -> bool:
        """True while a runner holds the document's send job (the email may be leaving right now)."""
        lease = quote.job_lease_until
        return quote.job == "send" and lease is not None and lease > self.services.clock.now()

    def send_now(self, quote_id: int) -> SendOutcome:
        """Render and send at once (the API), holding the document's job lease so nothing else sends it."""
        now = self.services.clock.now()
        token = uuid.uuid4().hex
        with self.services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is None:
                return SendOutcome("not_draft", detail="unknown")
            if self.sending_now(quote):
                return SendOutcome("in_progress")
            quote.job, quote.job_token, quote.job_user_id = "send", token, None
            quote.job_not_before, quote.job_lease_until = None, now + LEASE
        try:
            rendered = self.render(quote_id)
            if not rendered.ok:
                return SendOutcome("failed", detail=rendered.error or "the document changed meanwhile")
            return self.deliver(quote_id)
        finally:
            with self.services.db.write() as session:
                quote = session.get(Quote, quote_id)
                if quote is not None and quote.job_token == token:
                    JobRunner.clear(quote)

    def request_job(self, session: Session, quote: Quote, job: str, *, user_id: int | None, lang: str) -> None:
        """Ask the runner to render or send this document once the transaction commits."""
        quote.job, quote.job_token = job, uuid.uuid4().hex
        quote.job_user_id, quote.job_language = user_id, lang
        quote.job_not_before = quote.job_lease_until = None
        quote.job_attempts = 0
        after_commit(session, self.jobs.kick)

    # ------------------------------------------------------------ rendering

    def render(self, quote_id: int) -> RenderResult:
        """Render the current revision's PDF and store it (read, render, then write)."""
        with self.services.db.session() as session:
            quote = session.get(Quote, quote_id)
            if quote is None:
                return RenderResult(False, "unknown document")
            if quote.pdf_fresh:
                return RenderResult(True)
            org = session.get(Organization, quote.org_id)
            assert org is not None
            revision = quote.revision
            try:
                doc = self.document_input(quote, org)
            except SettingsProblem as exc:
                return RenderResult(False, str(exc))
        try:
            pdf = self.templates.pdf(doc, self.renderer)
        except (TemplateProblem, PdfRenderError) as exc:
            log.error("quotes: rendering document %s failed: %s", quote_id, exc)
            return RenderResult(False, str(exc))
        with self.services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is None or quote.revision != revision:
                return RenderResult(False, stale=True)
            quote.pdf, quote.pdf_revision = pdf, revision
        return RenderResult(True)

    def pdf_of(self, quote_id: int) -> bytes | None:
        """The stored PDF of the current revision, rendering it first if needed."""
        result = self.render(quote_id)
        if not result.ok:
            return None
        with self.services.db.session() as session:
            quote = session.get(Quote, quote_id)
            return quote.pdf if quote is not None else None

    # ------------------------------------------------------------ sending

    def deliver(self, quote_id: int) -> SendOutcome:
        """Email the document from the organization's linked mailbox and record it as sent."""
        with self.services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is None or quote.status != "draft":
                return SendOutcome("not_draft", detail=quote.status if quote else "unknown")
            recipient = quote.recipient_email or quote.data.get("client", {}).get("email")
            if not recipient:
                return SendOutcome("no_email")
            if not quote.pdf_fresh:
                return SendOutcome("failed", detail="the PDF of the current revision is not rendered")
            if not quote.email_message_id:
                quote.email_message_id = make_message_id()
            org = session.get(Organization, quote.org_id)
            assert org is not None
            org_id, message_id, uncertain = org.id, quote.email_message_id, quote.send_uncertain
            pdf = quote.pdf or b""
            creator = session.get(User, quote.created_by) if quote.created_by else None
            signer = creator.name if creator else ""
            try:
                doc = self.document_input(quote, org)
            except SettingsProblem as exc:
                return SendOutcome("failed", detail=str(exc))
        if not self.services.has(MailSenderDirectory):
            return SendOutcome("not_configured", detail="no mailbox directory is wired", recipient=recipient)
        try:
            sender = self.mail_directory().sender_for(org_id)
        except NoLinkedMailbox as exc:
            return SendOutcome("no_mailbox", detail=str(exc), recipient=recipient)
        except (MailboxNeedsRelink, MailAuthError) as exc:
            address = exc.address if isinstance(exc, MailboxNeedsRelink) else ""
            return SendOutcome("relink", detail=str(exc), address=address, recipient=recipient)
        try:
            email = self.compose(doc, recipient, pdf, message_id, signer, sender.address)
        except TemplateProblem as exc:
            return SendOutcome("failed", detail=str(exc), recipient=recipient)
        outcome = self._send(quote_id, sender, email, uncertain)
        if outcome.kind != "sent":
            log.warning("quotes: sending document %s: %s", quote_id, outcome.kind)
        return outcome

    def compose(self, doc: DocumentInput, recipient: str, pdf: bytes, message_id: str, signer: str,
                sender_address: str) -> OutgoingEmail:
        """The email carrying the document: subject and bodies from the templates, the PDF attached."""
        org_name = doc.settings.party_name_for(doc.org_name)
        signature = f"{signer}\n{org_name}" if signer else org_name
        doc = replace(doc, sender_address=sender_address)
        subject, text, html = self.templates.email(doc, signature)
        return OutgoingEmail(
            to=(recipient,), subject=subject, text=text, html=html,
            attachments=(MailAttachment(doc.filename, "application/pdf", pdf),),
            message_id=message_id, from_name=org_name,
        )

    def _send(self, quote_id: int, sender: MailSender, email: OutgoingEmail, uncertain: bool) -> SendOutcome:
        recipient = email.to[0]
        address = sender.address
        try:
            if uncertain and sender.find_sent(email.message_id):
                log.info("quotes: document %s was already sent (found by Message-ID)", quote_id)
                provider_id = None
            else:
                self._mark_uncertain(quote_id, True)
                provider_id = sender.send(email).provider_id
        except (MailboxNeedsRelink, MailAuthError) as exc:
            self._mark_uncertain(quote_id, False, str(exc))
            return SendOutcome("relink", detail=str(exc), address=address, recipient=recipient)
        except PermanentSendError as exc:
            self._mark_uncertain(quote_id, False, str(exc))
            return SendOutcome("refused", detail=str(exc), address=address, recipient=recipient)
        except NoLinkedMailbox as exc:
            self._mark_uncertain(quote_id, False, str(exc))
            return SendOutcome("no_mailbox", detail=str(exc), recipient=recipient)
        except MailRateLimited as exc:
            self._mark_uncertain(quote_id, False, str(exc))
            return SendOutcome("retry", detail=str(exc), address=address, recipient=recipient,
                               retry_after=exc.retry_after)
        except AmbiguousSendError as exc:
            self._mark_uncertain(quote_id, True, str(exc))
            return SendOutcome("retry", detail=str(exc), address=address, recipient=recipient)
        except MailError as exc:  # TransientMailError and anything else the adapter raised
            self._mark_uncertain(quote_id, False, str(exc))
            return SendOutcome("retry", detail=str(exc), address=address, recipient=recipient)
        now = self.services.clock.now()
        with self.services.db.write() as session:
            quote = session.get(Quote, quote_id)
            assert quote is not None
            quote.status, quote.status_changed_at, quote.updated_at = "sent", now, now
            quote.sent_at, quote.sent_to, quote.sent_from, quote.provider_id = now, recipient, address, provider_id
            quote.send_uncertain, quote.last_error = False, None
        log.info("quotes: document %s sent", quote_id)
        return SendOutcome("sent", address=address, recipient=recipient)

    def _mark_uncertain(self, quote_id: int, uncertain: bool, error: str | None = None) -> None:
        with self.services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is not None:
                quote.send_uncertain = uncertain
                if error is not None:
                    quote.last_error = error[:2000]

    # ------------------------------------------------------------ chat messages

    def preview_messages(self, quote: Quote, pdf: bytes, lang: str, note: str | None = None) -> list[OutgoingMessage]:
        """The preview: the PDF as a document, then Send / Edit / Cancel buttons."""
        fmt = Formatter(quote.language, quote.currency)
        client = quote.data.get("client", {}).get("name", "")
        kind = self.t(f"quotes.kind.{quote.kind}", lang)
        filename = f"{FILE_PREFIX[(quote.kind, quote.language)]}-{quote.number}.pdf"
        caption = self.t("quotes.preview.caption", lang, kind=kind, number=quote.number, client=client)
        to = quote.recipient_email or self.t("quotes.preview.no_email", lang)
        body = self.t("quotes.preview.body", lang, kind=kind, number=quote.number, client=client, to=to,
                      total=fmt.money(Decimal(quote.total_cents) / 100))
        return [
            *([Text(note)] if note else []),
            Document(filename, pdf, caption=caption),
            Buttons(body, (
                Button(f"quote:send:{quote.id}:{quote.revision}", self.t("quotes.button.send", lang)),
                Button(f"quote:edit:{quote.id}:{quote.revision}", self.t("quotes.button.edit", lang)),
                Button(f"quote:cancel:{quote.id}", self.t("quotes.button.cancel", lang)),
            )),
        ]

    def outcome_messages(self, quote: Quote, outcome: SendOutcome, lang: str) -> list[OutgoingMessage]:
        """What to tell the user after a send attempt."""
        kind = self.t(f"quotes.kind.{quote.kind}", lang)
        params = {"kind": kind, "number": quote.number, "to": outcome.recipient, "address": outcome.address,
                  "reason": shorten(outcome.detail, 300) or "?"}
        retry = Button(f"quote:retry:{quote.id}", self.t("quotes.button.retry", lang))
        edit = Button(f"quote:edit:{quote.id}:{quote.revision}", self.t("quotes.button.edit", lang))
        cancel = Button(f"quote:cancel:{quote.id}", self.t("quotes.button.cancel", lang))
        if outcome.kind == "sent":
            return [Text(self.t("quotes.sent", lang, **params))]
        if outcome.kind == "no_mailbox":
            return [Buttons(self.t("quotes.problem.no_mailbox", lang, **params), (retry, cancel))]
        if outcome.kind == "relink":
            key = "quotes.problem.relink" if outcome.address else "quotes.problem.relink_unknown"
            return [Buttons(self.t(key, lang, **params), (retry, cancel))]
        if outcome.kind == "refused":
            return [Buttons(self.t("quotes.problem.refused", lang, **params), (retry, edit, cancel))]
        if outcome.kind == "retry":
            return [Buttons(self.t("quotes.problem.gave_up", lang, **params), (retry, edit, cancel))]
        if outcome.kind == "not_configured":
            return [Text(self.t("quotes.problem.not_configured", lang, **params))]
        if outcome.kind == "no_email":
            return [Text(self.t("quotes.ask.email_for_send", lang, client=quote.data.get("client", {}).get("name", "")))]
        if outcome.kind == "not_draft":
            return [Text(self.t("quotes.error.not_draft", lang, number=quote.number))]
        return [Buttons(self.t("quotes.problem.failed", lang, **params), (retry, cancel))]


class JobRunner:
    """Runs documents' render and send jobs one at a time in a background thread.

    ``kick`` is called after a handler's transaction committed (and by a periodic sweep that
    picks up retries and jobs a stopped process left behind); leases keep two processes from
    doing the same job.
    """

    def __init__(self, service: QuoteService) -> None:
        self.service = service
        self._lock = threading.Condition()
        self._running = False
        self._again = False

    def kick(self) -> None:
        """Start a pass in the background, or ask the running one to look again."""
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        threading.Thread(target=self._drain, name="courrier-quotes", daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                self.run_due()
            except Exception:
                log.exception("quotes: job pass failed")
            with self._lock:
                if self._again:
                    self._again = False
                    continue
                self._running = False
                self._lock.notify_all()
                return

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no pass is running (tests, the terminal chat)."""
        with self._lock:
            if not self._lock.wait_for(lambda: not self._running, timeout):
                raise TimeoutError("the quote jobs did not finish in time")

    def run_due(self) -> int:
        """Run every job due now; returns how many were taken."""
        services = self.service.services
        with services.db.session() as session:
            ids = due_jobs(session, services.clock.now())
        taken = 0
        for quote_id in ids:
            taken += self.run_one(quote_id)
        return taken

    def run_one(self, quote_id: int) -> int:
        """Claim and run one document's job; 0 when another runner has it."""
        services = self.service.services
        with services.db.write() as session:
            if not claim_job(session, quote_id, services.clock.now(), LEASE):
                return 0
            quote = session.get(Quote, quote_id)
            assert quote is not None
            job, token = quote.job, quote.job_token
        try:
            render = self.service.render(quote_id)
            if render.stale:
                self._release(quote_id, token)
            elif not render.ok:
                self._finish(quote_id, token, render_error=render.error or "?")
            elif job == "render":
                self._finish(quote_id, token)
            else:
                self._finish(quote_id, token, outcome=self.service.deliver(quote_id))
        except Exception as exc:
            log.exception("quotes: job %s on document %s crashed", job, quote_id)
            self._crashed(quote_id, token, exc)
        return 1

    def _release(self, quote_id: int, token: str | None) -> None:
        with self.service.services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is not None and quote.job_token == token:
                quote.job_lease_until = None

    def _crashed(self, quote_id: int, token: str | None, exc: Exception) -> None:
        services = self.service.services
        now = services.clock.now()
        with services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is None or quote.job_token != token:
                return
            quote.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if quote.job_attempts < MAX_JOB_ATTEMPTS:
                quote.job_lease_until = None
                quote.job_not_before = now + timedelta(seconds=15 * 2 ** quote.job_attempts)
                return
            self._notify(session, quote, self.service.outcome_messages(
                quote, SendOutcome("failed", detail=self.service.t("quotes.problem.internal", self._lang(quote))),
                self._lang(quote)))
            self.clear(quote)
        services.outbox_changed()

    def _lang(self, quote: Quote) -> str:
        return quote.job_language or quote.language

    @staticmethod
    def clear(quote: Quote) -> None:
        """Forget the document's job."""
        quote.job = quote.job_token = quote.job_not_before = quote.job_lease_until = None
        quote.job_attempts = 0

    def _notify(self, session: Session, quote: Quote, messages: list[OutgoingMessage]) -> None:
        user = session.get(User, quote.job_user_id) if quote.job_user_id else None
        if user is None or not user.active or not messages:
            return
        send_to_user(session, user, messages, key=f"quotes:{quote.id}:{quote.job_token}:{quote.job_attempts}",
                     now=self.service.services.clock.now(), purpose="reply")

    def _finish(self, quote_id: int, token: str | None, *, outcome: SendOutcome | None = None,
                render_error: str | None = None) -> None:
        services = self.service.services
        now = services.clock.now()
        notify = True
        with services.db.write() as session:
            quote = session.get(Quote, quote_id)
            if quote is None or quote.job_token != token:
                return  # asked again meanwhile (an edit): the new job will run
            lang = self._lang(quote)
            user_id = quote.job_user_id
            messages: list[OutgoingMessage]
            if render_error is not None:
                quote.last_error = render_error[:2000]
                messages = self.service.outcome_messages(quote, SendOutcome("failed", detail=render_error), lang)
            elif outcome is None:
                messages = self.service.preview_messages(quote, quote.pdf or b"", lang)
            elif outcome.kind == "retry" and quote.job_attempts < MAX_JOB_ATTEMPTS:
                delay = outcome.retry_after or 30 * 2 ** (quote.job_attempts - 1)
                quote.job_not_before, quote.job_lease_until = now + timedelta(seconds=delay), None
                if quote.job_attempts == 1:
                    self._notify(session, quote, [Text(self.service.t("quotes.problem.retrying", lang,
                                                                      number=quote.number))])
                notify = False
            else:
                messages = self.service.outcome_messages(quote, outcome, lang)
                if outcome.kind == "no_email" and user_id is not None:
                    conversation.save(session, user_id, flow=FLOW, step="email",
                                      data={"quote_id": quote.id, "then": "send"}, language=lang,
                                      ttl=timedelta(hours=services.settings.quote_draft_hours), now=now)
                elif outcome.kind in ("sent", "not_draft") and user_id is not None:
                    state = conversation.load(session, user_id, now)
                    if state is not None and state.flow == FLOW and state.data.get("quote_id") == quote.id:
                        conversation.clear(session, user_id)
            if notify:
                self._notify(session, quote, messages)
                self.clear(quote)
        services.outbox_changed()
