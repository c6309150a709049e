"""Triage of new mail pushed to WhatsApp: verdicts, alerts, feedback, VIPs, digests, quiet hours, stats.

Every new synced message (``MailboxService`` new-mail event) is classified once in the
organization's context (known clients, VIPs, feedback) and gets one ``mail_triage`` row, unique on
the message. A critical message alerts every active user of the organization at once, with
"Not important" / "Important" buttons; an important message from a VIP alerts too, but waits for
the end of quiet hours. Each alert is one ``triage_alerts`` row, unique on (message, user), and
one outbox message keyed by that row, so nothing alerts twice.

First-sync backlog: messages found by a mailbox's first sync (``NewMail.initial``) alert only when
they are recent (received in the last ``INITIAL_ALERT_HOURS``) and at most ``INITIAL_ALERT_CAP``
per mailbox; the rest of the backlog is triaged and waits for the next digest.

Scheduled digests: ``tick`` (a scheduler job, every minute) sends each user's due slot once: a
``digests`` row is unique on (user, slot). Outside the 24-hour window a digest or an alert goes out
as the approved template with a teaser; a 131047 on a free-text send takes the same path (the
outbox's ``window_closed_hooks``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic as time_monotonic
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.outbox import enqueue_messages, send_to_user
from bot.services import Services
from handlers.digests import render
from handlers.digests.render import DigestItem, StatRow, Translate
from handlers.mailboxes.service import NewMail, NotDelivered
from integrations.triage import Classifier, Party, TriageContext, TriageResult
from integrations.triage.sender import registrable_domain
from integrations.whatsapp import Button, Buttons, OutgoingMessage, Recipient, Template, Text
from storage.accounts import users_of
from storage.inbound import insert_ignore_returning
from storage.mail import Mailbox, MailMessage
from storage.models import Organization, OutboxMessage, User
from storage.quotes import Client
from storage.triage import (
    Digest,
    DigestPrefs,
    TriageAlert,
    TriageFeedback,
    TriageRecord,
    TriageVip,
    insert_ignore_row,
    items_between,
    vips_of,
    votes_by,
)

log = logging.getLogger(__name__)

DEFAULT_SLOTS = ("08:00", "17:00")
INITIAL_ALERT_HOURS = 24
INITIAL_ALERT_CAP = 3
FLUSH_SECONDS = 5.0  # a page's verdicts are stored at least this often while it is classified
SLOT_GRACE = timedelta(hours=24)  # a slot held by quiet hours or a stopped server is still owed this long
WINDOW = timedelta(hours=24)
FIRST_DIGEST_SPAN = timedelta(hours=24)
MAX_DIGEST_SPAN = timedelta(days=7)
FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "yahoo.fr", "hotmail.com", "hotmail.fr", "outlook.com",
                       "outlook.fr", "live.com", "live.fr", "orange.fr", "free.fr", "icloud.com", "gmx.fr",
                       "laposte.net", "proton.me", "protonmail.com", "wanadoo.fr", "sfr.fr"})


def zone_of(name: str | None, fallback: str) -> ZoneInfo:
    """A time zone by name, the fallback when unknown."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def parse_hhmm(value: str) -> time:
    """'08:00' -> time(8, 0)."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_end(prefs: DigestPrefs | None, local: datetime) -> datetime | None:
    """When the current quiet hours end (a local instant), or None when not in quiet hours."""
    if prefs is None or not prefs.quiet_start or not prefs.quiet_end:
        return None
    start, end = parse_hhmm(prefs.quiet_start), parse_hhmm(prefs.quiet_end)
    now_t = local.time().replace(second=0, microsecond=0)
    if start == end:
        return None
    inside = start <= now_t < end if start < end else (now_t >= start or now_t < end)
    if not inside:
        return None
    day = local.date() if now_t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo)


@dataclass(frozen=True)
class Period:
    """A span of time a summary covers, with its title key."""

    start: datetime
    end: datetime
    title: str


class DigestService:
    """Triage, alerts, feedback, VIPs, digests and statistics for an organization's users."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # ------------------------------------------------------------ helpers

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    def lang(self, user: User) -> str:
        """The language to address a user in."""
        return user.language or user.last_language or self.services.settings.default_language

    def zone(self, user: User) -> ZoneInfo:
        """The user's time zone (the deployment's by default)."""
        return zone_of(user.timezone, self.services.settings.timezone)

    def translator(self, lang: str) -> Translate:
        """A catalog lookup bound to a language."""
        catalog = self.services.catalog

        def t(key: str, /, **params: object) -> str:
            return catalog.t(key, lang, **params)

        return t

    def prefs(self, session: Session, user_id: int) -> DigestPrefs:
        """The user's digest preferences, created with the defaults when missing."""
        prefs = session.get(DigestPrefs, user_id)
        if prefs is None:
            insert_ignore_row(session, DigestPrefs, {"user_id": user_id, "slots": list(DEFAULT_SLOTS),
                                                     "enabled": True, "more_ids": [], "created_at": self.now},
                              ["user_id"])
            prefs = session.get(DigestPrefs, user_id)
            assert prefs is not None
        return prefs

    # ------------------------------------------------------------ triage context

    def context_for(self, session: Session, org_id: int) -> TriageContext:
        """The organization's triage context: its mailboxes, known clients, VIPs and feedback."""
        settings = self.services.settings
        org = session.get(Organization, org_id)
        addresses = [a.lower() for a in session.scalars(select(Mailbox.address).where(Mailbox.org_id == org_id))]
        domains = {a.rpartition("@")[2] for a in addresses} - FREE_MAIL
        parties: list[Party] = []
        correspondents: set[str] = set()
        for client in session.scalars(select(Client).where(Client.org_id == org_id, Client.email.is_not(None))):
            email = (client.email or "").strip().lower()
            if "@" not in email:
                continue
            correspondents.add(email)
            domain = email.rpartition("@")[2]
            if domain not in FREE_MAIL:
                parties.append(Party(name=client.company or client.name, domain=domain, role="client"))
        return TriageContext(
            organization_name=org.name if org else "",
            organization_domains=tuple(sorted(domains)),
            manager_addresses=tuple(addresses),
            known_clients=tuple(parties),
            vips=tuple(vips_of(session, org_id)),
            correspondents=frozenset(correspondents),
            sender_feedback=votes_by(session, org_id, TriageFeedback.sender),
            domain_feedback=votes_by(session, org_id, TriageFeedback.sender_domain),
            language=settings.default_language,
            timezone=settings.timezone,
        )

    # ------------------------------------------------------------ new mail

    def on_new_mail(self, event: NewMail) -> None:
        """Triage one newly synced message (once) and alert when it deserves it."""
        self.on_new_mail_batch([event])

    def on_new_mail_batch(self, events: Sequence[NewMail]) -> None:
        """Triage a page of newly synced messages (each once) and alert those that deserve it.

        One read for what is already triaged and the context of each organization, the classifier
        outside any transaction, then one write for the page. When the classifier is slow (a remote
        model), what is classified is stored and alerted whenever ``FLUSH_SECONDS`` have passed, so
        a critical message waits for at most that and one more classification, not for its whole
        page. Failures cost only the messages at fault: one the classifier fails on is left out,
        verdicts that cannot be stored together are stored one by one, and a page whose first read
        fails is taken one message at a time. The messages left out are named in ``NotDelivered``
        at the end, so the mailbox sync delivers them again later instead of losing their triage.
        """
        if not events:
            return
        try:
            with self.services.db.session() as session:
                done = set(session.scalars(select(TriageRecord.message_id).where(
                    TriageRecord.message_id.in_([e.message.id for e in events]))))
                contexts = {org_id: self.context_for(session, org_id) for org_id in {e.org_id for e in events}}
        except Exception:
            if len(events) == 1:
                raise
            log.warning("triage: could not read the context of %d new message(s); taking them one by one",
                        len(events), exc_info=True)
            left: list[int] = []
            for event in events:
                try:
                    self.on_new_mail_batch([event])
                except Exception:
                    left.append(event.message.id)
                    log.exception("triage: message %s of mailbox %s not triaged", event.message.id, event.mailbox.id)
            if left:
                raise NotDelivered(left) from None
            return
        classifier = self.services.get(Classifier)  # type: ignore[type-abstract]
        todo: list[tuple[NewMail, TriageResult]] = []
        left = []
        since = time_monotonic()
        for event in events:
            if event.message.id in done:
                continue
            try:
                todo.append((event, classifier.classify(event.parsed, contexts[event.org_id])))
            except Exception:
                left.append(event.message.id)
                log.exception("triage: message %s of mailbox %s could not be classified",
                              event.message.id, event.mailbox.id)
            if todo and time_monotonic() - since >= FLUSH_SECONDS:
                left += self._store_verdicts(todo, contexts)
                todo, since = [], time_monotonic()
        left += self._store_verdicts(todo, contexts)
        if left:
            raise NotDelivered(left)

    def _store_verdicts(self, todo: Sequence[tuple[NewMail, TriageResult]],
                        contexts: dict[int, TriageContext]) -> list[int]:
        """Store verdicts together, else one by one; never raises. The messages whose verdict
        could not be stored (each failure is logged)."""
        if not todo:
            return []
        left: list[int] = []
        try:
            alerted = self._record(todo, contexts)
        except Exception:
            if len(todo) == 1:
                log.exception("triage: message %s of mailbox %s: verdict not stored",
                              todo[0][0].message.id, todo[0][0].mailbox.id)
                return [todo[0][0].message.id]
            log.warning("triage: could not store %d verdicts together; storing them one by one", len(todo))
            alerted = 0
            for item in todo:
                try:
                    alerted += self._record([item], contexts)
                except Exception:
                    left.append(item[0].message.id)
                    log.exception("triage: message %s of mailbox %s: verdict not stored",
                                  item[0].message.id, item[0].mailbox.id)
        if alerted:
            self.services.outbox_changed()
        return left

    def _record(self, todo: Sequence[tuple[NewMail, TriageResult]], contexts: dict[int, TriageContext]) -> int:
        """Store the verdicts of a page in one transaction (each once) and queue their alerts."""
        now = self.now
        rows = []
        for event, result in todo:
            sender = (event.message.from_addr or event.parsed.from_addr or "").lower()
            rows.append({
                "org_id": event.org_id, "mailbox_id": event.mailbox.id, "message_id": event.message.id,
                "sender": sender[:320], "sender_domain": sender.rpartition("@")[2][:255],
                "priority": result.priority.value, "summary": result.summary, "action": result.action.value,
                "deadline": result.deadline, "deadline_text": (result.deadline_text or "")[:255] or None,
                "amounts": [{"value": str(a.value), "currency": a.currency, "text": a.text} for a in result.amounts],
                "reasons": list(result.reasons), "auto_action": result.auto_action, "classifier": result.classifier,
                "initial": event.initial, "created_at": now,
            })
        alerted = 0
        counts: dict[str, int] = {}
        with self.services.db.write() as session:
            # Another process may have triaged some of these meanwhile: only the rows inserted here alert.
            inserted = set(insert_ignore_returning(session, TriageRecord.__table__, rows, ["message_id"],  # type: ignore[arg-type]
                                                   "message_id"))
            if not inserted:
                return 0
            records = {r.message_id: r for r in session.scalars(
                select(TriageRecord).where(TriageRecord.message_id.in_(sorted(inserted))))}
            for event, _ in todo:
                record = records.get(event.message.id)
                if record is None:
                    continue
                counts[record.priority] = counts.get(record.priority, 0) + 1
                if self._should_alert(session, record, event, contexts[event.org_id]):
                    alerted += self._alert(session, record, event.message, now)
        mailbox = todo[0][0].mailbox.id
        log.info("triage: mailbox %s: %s%s", mailbox, ", ".join(f"{n} {p}" for p, n in sorted(counts.items())),
                 f", {alerted} alert(s)" if alerted else "")
        return alerted

    def _should_alert(self, session: Session, record: TriageRecord, event: NewMail, context: TriageContext) -> bool:
        vip = record.priority == "important" and self._is_vip(context.vips, record)
        if record.priority != "critical" and not vip:
            return False
        if not event.initial:
            return True
        received = event.message.date or event.parsed.date
        if received is None or self.now - received > timedelta(hours=INITIAL_ALERT_HOURS):
            return False
        earlier = session.scalar(
            select(func.count(func.distinct(TriageAlert.triage_id)))
            .join(TriageRecord, TriageRecord.id == TriageAlert.triage_id)
            .where(TriageRecord.mailbox_id == record.mailbox_id, TriageRecord.initial.is_(True))
        )
        return int(earlier or 0) < INITIAL_ALERT_CAP

    @staticmethod
    def _is_vip(vips: Sequence[str], record: TriageRecord) -> bool:
        domain = record.sender_domain
        return record.sender in vips or domain in vips or registrable_domain(domain) in vips

    def item_of(self, record: TriageRecord, message: MailMessage) -> DigestItem:
        """What a digest or an alert shows of a triaged message."""
        sender = message.from_addr or record.sender
        if message.from_name and message.from_addr:
            sender = f"{message.from_name} <{message.from_addr}>"
        return DigestItem(record.id, record.priority, sender, message.subject or "", record.summary,
                          record.action, record.deadline, message.date or record.created_at)

    def _alert(self, session: Session, record: TriageRecord, message: MailMessage, now: datetime) -> int:
        """One alert per active user: now when critical or outside quiet hours, else held."""
        queued = 0
        item = self.item_of(record, message)
        for user in users_of(session, record.org_id):
            prefs = session.get(DigestPrefs, user.id)
            end = None if record.priority == "critical" else quiet_end(prefs, now.astimezone(self.zone(user)))
            t = self.translator(self.lang(user))
            teaser = render.teaser(t, {record.priority: 1})
            inserted = insert_ignore_row(session, TriageAlert, {
                "org_id": record.org_id, "triage_id": record.id, "user_id": user.id,
                "state": "held" if end else "queued", "due_at": end, "teaser": teaser, "created_at": now,
                "queued_at": None if end else now,
            }, ["triage_id", "user_id"])
            if not inserted or end:
                continue
            alert = session.scalars(select(TriageAlert).where(
                TriageAlert.triage_id == record.id, TriageAlert.user_id == user.id)).one()
            self._send_alert(session, user, alert, item, now)
            queued += 1
        return queued

    def alert_message(self, user: User, item: DigestItem, now: datetime) -> Buttons:
        """The alert with its two feedback buttons (language-neutral ids)."""
        lang = self.lang(user)
        t = self.translator(lang)
        body = render.alert_text(t, item, now, self.zone(user), lang)
        return Buttons(body, (Button(f"alert:not_important:{item.id}", t("digests.button_not_important")),
                              Button(f"alert:important:{item.id}", t("digests.button_important"))))

    def _send_alert(self, session: Session, user: User, alert: TriageAlert, item: DigestItem, now: datetime) -> None:
        message: OutgoingMessage = self.alert_message(user, item, now)
        send_to_user(session, user, [self._within_window(user, now, message, alert.teaser)],
                     key=f"alert:{alert.id}", now=now, purpose="alert")

    def _within_window(self, user: User, now: datetime, message: OutgoingMessage, teaser: str) -> OutgoingMessage:
        """The message itself inside the 24-hour window; the approved template with a teaser outside it."""
        template = self.services.settings.whatsapp_digest_template
        last = user.last_inbound_at
        if template and (last is None or now - last >= WINDOW):
            return Template(template, self.services.settings.whatsapp_template_language, (teaser,))
        return message

    def on_window_closed(self, session: Session, row: OutboxMessage) -> None:
        """A free-text alert or digest hit 131047: send the template with its teaser instead (once)."""
        template = self.services.settings.whatsapp_digest_template
        if row.purpose not in ("alert", "digest") or not template:
            return
        base = row.idempotency_key.rsplit(":", 1)[0]
        kind, _, ident = base.partition(":")
        if not ident.isdigit():
            return
        found = session.get(TriageAlert, int(ident)) if kind == "alert" else session.get(Digest, int(ident))
        teaser = found.teaser if found is not None else ""
        recipient = Recipient(row.recipient_phone, row.recipient_user_id)
        message = Template(template, self.services.settings.whatsapp_template_language, (teaser,))
        if enqueue_messages(session, messages=[message], recipient=recipient, key=f"{base}:template",
                            now=self.now, org_id=row.org_id, user_id=row.user_id, purpose="template"):
            self.services.outbox_changed()

    # ------------------------------------------------------------ feedback and VIPs

    def record_feedback(self, session: Session, user: User, triage_id: int, vote: int) -> TriageRecord | None:
        """Store (or change) a user's decision on a message; the next classifications use it."""
        record = session.get(TriageRecord, triage_id)
        if record is None or record.org_id != user.org_id:
            return None
        existing = session.scalars(select(TriageFeedback).where(
            TriageFeedback.triage_id == triage_id, TriageFeedback.user_id == user.id)).first()
        if existing is None:
            session.add(TriageFeedback(org_id=user.org_id, triage_id=triage_id, user_id=user.id, sender=record.sender,
                                       sender_domain=record.sender_domain, vote=vote, created_at=self.now))
        else:
            existing.vote = vote
        return record

    def last_alerted(self, session: Session, user: User) -> int | None:
        """The message of the user's latest alert."""
        return session.scalar(select(TriageAlert.triage_id).where(TriageAlert.user_id == user.id)
                              .order_by(TriageAlert.id.desc()).limit(1))

    @staticmethod
    def vips(session: Session, org_id: int) -> list[str]:
        """The organization's VIP addresses and domains."""
        return vips_of(session, org_id)

    @staticmethod
    def add_vip(session: Session, org_id: int, value: str, now: datetime) -> None:
        """Put an address or a domain on the VIP list."""
        insert_ignore_row(session, TriageVip, {"org_id": org_id, "value": value, "created_at": now},
                          ["org_id", "value"])

    @staticmethod
    def remove_vip(session: Session, org_id: int, value: str) -> bool:
        """Take an address or a domain off the VIP list; False when it was not there."""
        row = session.scalars(select(TriageVip).where(TriageVip.org_id == org_id, TriageVip.value == value)).first()
        if row is None:
            return False
        session.delete(row)
        return True

    # ------------------------------------------------------------ digests

    def items(self, session: Session, org_id: int, start: datetime, end: datetime,
              ids: Sequence[int] | None = None) -> list[DigestItem]:
        """Digest items of an organization in a period (or by ids)."""
        return [self.item_of(r, m) for r, m in items_between(session, org_id, start, end, ids)]

    def page(self, session: Session, user: User, title: str, items: Sequence[DigestItem], now: datetime,
             *, header: bool = True) -> str:
        """Render a digest page for a user and keep what did not fit for ``plus``."""
        lang = self.lang(user)
        page = render.build_page(self.translator(lang), title, items, now, self.zone(user), lang, header=header)
        prefs = self.prefs(session, user.id)
        prefs.more_ids = page.rest
        prefs.updated_at = now
        return page.text

    def period(self, user: User, word: str, now: datetime) -> Period:
        """The span ``résumé aujourd'hui / hier / semaine`` (or none: the last 24 hours) covers."""
        zone = self.zone(user)
        midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
        if word == "today":
            return Period(midnight, now, "digests.title_today")
        if word == "yesterday":
            return Period(midnight - timedelta(days=1), midnight, "digests.title_yesterday")
        if word == "week":
            return Period(now - timedelta(days=7), now, "digests.title_week")
        return Period(now - timedelta(hours=24), now, "digests.title_recent")

    def on_demand(self, session: Session, user: User, word: str, now: datetime) -> str:
        """The ``résumé`` answer for a period."""
        span = self.period(user, word, now)
        items = self.items(session, user.org_id, span.start, span.end)
        t = self.translator(self.lang(user))
        if not items:
            self.prefs(session, user.id).more_ids = []
            return t("digests.nothing")
        return self.page(session, user, t(span.title), items, now)

    def more(self, session: Session, user: User, now: datetime) -> str:
        """The next page of the last digest or summary."""
        prefs = self.prefs(session, user.id)
        t = self.translator(self.lang(user))
        ids = list(prefs.more_ids or [])
        if not ids:
            return t("digests.more_none")
        items = self.items(session, user.org_id, now, now, ids)
        return self.page(session, user, t("digests.more_title"), items, now, header=False)

    def due_slot(self, prefs: DigestPrefs, local: datetime) -> tuple[str, datetime] | None:
        """The latest slot at or before ``local`` within the grace period: (slot key, local instant).

        Slots before the preferences existed are not owed: a new user's first digest is the next slot.
        """
        best: tuple[str, datetime] | None = None
        for value in prefs.slots or []:
            at = parse_hhmm(value)
            for day in (local.date(), local.date() - timedelta(days=1)):
                instant = datetime.combine(day, at, tzinfo=local.tzinfo)
                if prefs.created_at is not None and instant < prefs.created_at:
                    continue
                if instant <= local and local - instant <= SLOT_GRACE and (best is None or instant > best[1]):
                    best = (f"{day.isoformat()}T{value}", instant)
        return best

    def tick(self) -> int:
        """The scheduler's minute: release held alerts, send due digests; returns messages queued."""
        now = self.now
        queued = self._release_held(now)
        with self.services.db.session() as session:
            user_ids = list(session.scalars(
                select(User.id).where(User.active.is_(True),
                                      User.org_id.in_(select(Mailbox.org_id).distinct())).order_by(User.id)))
        for user_id in user_ids:
            try:
                queued += self._digest_for(user_id, now)
            except Exception:
                log.exception("digest for user %s failed; retrying at the next tick", user_id)
        if queued:
            self.services.outbox_changed()
        return queued

    def _release_held(self, now: datetime) -> int:
        released = 0
        with self.services.db.write() as session:
            held = list(session.scalars(select(TriageAlert).where(
                TriageAlert.state == "held", TriageAlert.due_at <= now).order_by(TriageAlert.id)))
            for alert in held:
                # Claim it first: another process running the same tick then finds nothing to do.
                claimed = session.execute(update(TriageAlert).where(
                    TriageAlert.id == alert.id, TriageAlert.state == "held").values(state="queued", queued_at=now))
                if not getattr(claimed, "rowcount", 0):
                    continue
                user = session.get(User, alert.user_id)
                pair = items_between(session, alert.org_id, now, now, [alert.triage_id])
                if user is None or not user.active or not pair:
                    continue
                self._send_alert(session, user, alert, self.item_of(*pair[0]), now)
                released += 1
        return released

    def _digest_for(self, user_id: int, now: datetime) -> int:
        with self.services.db.write() as session:
            user = session.get(User, user_id)
            if user is None:
                return 0
            prefs = self.prefs(session, user_id)
            if not prefs.enabled:
                return 0
            local = now.astimezone(self.zone(user))
            slot = self.due_slot(prefs, local)
            if slot is None or quiet_end(prefs, local) is not None:
                return 0
            key, instant = slot
            if session.scalar(select(Digest.id).where(Digest.user_id == user_id, Digest.slot == key)):
                return 0
            previous = session.scalar(select(func.max(Digest.period_end)).where(Digest.user_id == user_id))
            start = previous or now - FIRST_DIGEST_SPAN
            start = max(start, now - MAX_DIGEST_SPAN)
            items = self.items(session, user.org_id, start, now)
            lang = self.lang(user)
            t = self.translator(lang)
            teaser = render.teaser(t, render.counts_of(items)) if items else ""
            if not insert_ignore_row(session, Digest, {
                "org_id": user.org_id, "user_id": user_id, "slot": key, "period_start": start, "period_end": now,
                "items": len(items), "state": "queued" if items else "empty", "teaser": teaser, "created_at": now,
            }, ["user_id", "slot"]):
                return 0
            if not items:
                return 0
            digest_id = session.scalar(select(Digest.id).where(Digest.user_id == user_id, Digest.slot == key))
            clock = instant.strftime("%H:%M") if lang == "en" else f"{instant.hour}h{instant.minute:02d}"
            text = self.page(session, user, t("digests.title_scheduled", time=clock), items, now)
            message = self._within_window(user, now, Text(text), teaser)
            send_to_user(session, user, [message], key=f"digest:{digest_id}", now=now, purpose="digest")
            log.info("digest %s queued for user %s (%d items)", digest_id, user_id, len(items))
            return 1

    # ------------------------------------------------------------ statistics

    def stats(self, session: Session, user: User, days: int, now: datetime) -> list[StatRow]:
        """Per day (the user's) and per mailbox: triaged by priority, alerts sent."""
        zone = self.zone(user)
        since = now - timedelta(days=days)
        boxes = {i: a for i, a in session.execute(select(Mailbox.id, Mailbox.address).where(Mailbox.org_id == user.org_id))}
        table: dict[tuple[date, int], StatRow] = {}

        def row(when: datetime, box: int) -> StatRow:
            day = when.astimezone(zone).date()
            key = (day, box)
            if key not in table:
                table[key] = StatRow(day.strftime("%d/%m/%Y"), boxes.get(box, "?"), dict.fromkeys(render.ORDER, 0), 0)
            return table[key]

        for created, box, priority in session.execute(
                select(TriageRecord.created_at, TriageRecord.mailbox_id, TriageRecord.priority)
                .where(TriageRecord.org_id == user.org_id, TriageRecord.created_at >= since)):
            found = row(created, box)
            found.counts[priority] = found.counts.get(priority, 0) + 1
        for queued, box in session.execute(
                select(TriageAlert.queued_at, TriageRecord.mailbox_id)
                .join(TriageRecord, TriageRecord.id == TriageAlert.triage_id)
                .where(TriageAlert.org_id == user.org_id, TriageAlert.queued_at.is_not(None),
                       TriageAlert.queued_at >= since)):
            if queued is None:
                continue
            found = row(queued, box)
            table[(queued.astimezone(zone).date(), box)] = StatRow(found.day, found.mailbox, found.counts,
                                                                   found.alerts + 1)
        return [table[k] for k in sorted(table, key=lambda k: (k[0], boxes.get(k[1], "")), reverse=False)]
