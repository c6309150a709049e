"""Hand-written fakes of the outside world that record what they were asked to do."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from integrations.mail import MailError, OutgoingEmail, SentReceipt
from integrations.whatsapp import (
    AmbiguousSend,
    OutgoingMessage,
    Recipient,
    Template,
    WhatsAppSendError,
    WindowClosed,
)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The fake current instant."""
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta given as keywords (minutes=5, hours=1…)."""
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to an instant."""
        self._now = when


@dataclass
class Sent:
    """One message the fake delivered."""

    to: Recipient
    message: OutgoingMessage
    id: str

    @property
    def text(self) -> str:
        """The visible text of the message (body, caption or template parameters)."""
        body = getattr(self.message, "body", None)
        if body is not None:
            return str(body)
        if isinstance(self.message, Template):
            return " ".join(self.message.body_params)
        return str(getattr(self.message, "caption", "") or getattr(self.message, "filename", ""))


@dataclass
class FakeWhatsApp:
    """Records sent messages; can be told to fail the next sends or to close the 24 h window."""

    outbox: list[Sent] = field(default_factory=list)
    failures: deque[WhatsAppSendError] = field(default_factory=deque)
    window_closed_for: set[str] = field(default_factory=set)
    attempts: int = 0
    trackers: list[str | None] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def send(self, to: Recipient, message: OutgoingMessage, tracker: str | None = None) -> str:
        """Deliver, or raise the next queued failure (an AmbiguousSend is delivered, then raised)."""
        self.attempts += 1
        self.trackers.append(tracker)
        if self.failures:
            failure = self.failures.popleft()
            if isinstance(failure, AmbiguousSend):
                self.outbox.append(Sent(to, message, f"wamid.fake.{next(self._ids)}"))
            raise failure
        if to.address in self.window_closed_for and not isinstance(message, Template):
            raise WindowClosed("WhatsApp error 131047: Re-engagement message", code=131047)
        wamid = f"wamid.fake.{next(self._ids)}"
        self.outbox.append(Sent(to, message, wamid))
        return wamid

    async def aclose(self) -> None:
        """Nothing to release."""

    def texts_to(self, address: str) -> list[str]:
        """Texts sent to one recipient (phone digits or user id)."""
        return [s.text for s in self.outbox if s.to.address == address]


@dataclass
class FakeMail:
    """A mail sender that records what it sent; queue failures to make the next sends fail."""

    address: str = "contact@atelier-demo.test"
    sent: list[OutgoingEmail] = field(default_factory=list)
    failures: deque[MailError] = field(default_factory=deque)

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Record the email, or raise the next queued failure."""
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(email)
        return SentReceipt(message_id=email.message_id, provider_id=f"fake-{len(self.sent)}")

    def find_sent(self, message_id: str) -> bool:
        """True when an email with this Message-ID was recorded."""
        return any(e.message_id == message_id for e in self.sent)


@dataclass
class FakeMailDirectory:
    """Gives each organization its FakeMail; set ``problem`` to simulate no mailbox or a revoked one."""

    mail: FakeMail = field(default_factory=FakeMail)
    problem: MailError | None = None

    def sender_for(self, org_id: int, mailbox_id: int | None = None) -> FakeMail:
        """The fake sender, or the configured problem."""
        if self.problem is not None:
            raise self.problem
        return self.mail
