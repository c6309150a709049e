"""Mail sending port: the email Courrier sends, the errors a sender raises, the sender protocol.

Every adapter (Gmail API, Microsoft Graph, SMTP) sends the same MIME message built here, with a
Message-ID chosen by Courrier, so that after an ambiguous failure the sent-mail folder can be
searched for that Message-ID before sending again (exactly once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol


@dataclass(frozen=True)
class MailAttachment:
    """A file attached to an email."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class OutgoingEmail:
    """An email to send from a linked mailbox."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    cc: tuple[str, ...] = ()
    attachments: tuple[MailAttachment, ...] = ()
    message_id: str = field(default_factory=lambda: make_message_id())
    reply_to: str | None = None
    from_name: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (To and Cc)."""
        return self.to + self.cc


@dataclass(frozen=True)
class SentReceipt:
    """What the provider said about a sent email."""

    message_id: str
    provider_id: str | None = None


def make_message_id(domain: str = "courrier.local") -> str:
    """A globally unique RFC 5322 Message-ID, angle brackets included."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def build_mime(email: OutgoingEmail, from_addr: str, *, date: datetime | None = None) -> EmailMessage:
    """The MIME message every adapter sends: text (+ HTML) alternative, attachments, UTF-8 headers."""
    message = EmailMessage()
    message["From"] = formataddr((email.from_name, from_addr)) if email.from_name else from_addr
    message["To"] = ", ".join(email.to)
    if email.cc:
        message["Cc"] = ", ".join(email.cc)
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    message.set_content(email.text, subtype="plain", charset="utf-8")
    if email.html:
        message.add_alternative(email.html, subtype="html", charset="utf-8")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.filename
        )
    return message


def domain_of(address: str) -> str:
    """The domain part of an address (lower-cased)."""
    try:
        return Address(addr_spec=address).domain.lower()
    except (ValueError, IndexError):
        return address.rpartition("@")[2].lower()


# ---- errors a sender raises (provider errors are translated at the adapter) ----


class MailError(Exception):
    """Sending or reading mail failed."""


class MailAuthError(MailError):
    """The grant was revoked or expired, or the password is wrong: the mailbox needs re-linking."""


class MailRateLimited(MailError):
    """The provider asks to slow down; ``retry_after`` seconds when it said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(MailError):
    """This email can never be sent as it is (invalid recipient, too large…)."""


class TransientMailError(MailError):
    """A server or network error before the provider accepted anything: retry later."""


class AmbiguousSendError(MailError):
    """The request may have reached the provider (timeout, reset after sending): check before resending."""


class NoLinkedMailbox(MailError):
    """The organization has no mailbox able to send."""


class MailboxNeedsRelink(MailError):
    """The organization's mailbox lost its authorization and must be linked again."""

    def __init__(self, message: str, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class MailSender(Protocol):
    """Sends from one linked mailbox."""

    @property
    def address(self) -> str:
        """The mailbox's own address (the From of what it sends)."""
        ...

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Send one email; raise one of the errors above on failure."""
        ...

    def find_sent(self, message_id: str) -> bool:
        """True when an email with this Message-ID is already in the mailbox's sent mail."""
        ...


class MailSenderDirectory(Protocol):
    """Finds the sender for an organization (its default linked mailbox, or a chosen one)."""

    def sender_for(self, org_id: int, mailbox_id: int | None = None) -> MailSender:
        """The sender; raises NoLinkedMailbox or MailboxNeedsRelink."""
        ...
