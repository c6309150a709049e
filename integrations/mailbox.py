"""Reading linked mailboxes: the port every provider adapter implements, with our own data types.

A ``MailSource`` turns a stored cursor into pages of new messages. Each page carries the cursor to
store once the page is saved, so a sync interrupted half-way resumes where it stopped and never
reads again what is known. Raw messages are handed over in memory only; the caller parses them,
keeps metadata and drops the bytes.

Errors are the mail port's domain errors: ``MailAuthError`` (the grant or password no longer
works), ``MailRateLimited``, ``TransientMailError`` (and ``MailboxUnreachable`` with a ``kind``
for connection problems shown to people).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from integrations.mail import TransientMailError
from integrations.mime import Attachment

UnreachableKind = Literal["host", "timeout", "tls", "certificate", "protocol", "inbox", "network", "insecure"]


class MailboxUnreachable(TransientMailError):
    """The server could not be reached or talked to; ``kind`` says what went wrong, for people."""

    def __init__(self, message: str, kind: UnreachableKind) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RemoteMessage:
    """One message as the provider gave it: its id there, the raw RFC 5322 bytes and a few facts.

    With ``headers_only`` (a first sync's backlog, indexed), ``raw`` is the header section alone and
    ``attachments`` what the server said of the structure; the body comes later from the source's
    ``bodies``.
    """

    provider_id: str
    raw: bytes = field(repr=False)
    folder: str | None = None
    thread_id: str | None = None
    flags: tuple[str, ...] = ()
    size: int | None = None
    internal_date: datetime | None = None
    headers_only: bool = False
    attachments: tuple[Attachment, ...] | None = None


@dataclass
class SyncPage:
    """New messages and changes; ``cursor`` is what to store once this page is saved."""

    cursor: dict[str, Any]
    messages: list[RemoteMessage] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    flag_updates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rebind: dict[str, str] = field(default_factory=dict)  # Message-ID -> new provider id
    resync: bool = False  # messages come from a resync: skip those whose Message-ID is known
    initial: bool = False  # backlog of a first sync or a resync, not freshly arrived mail
    skipped: int = 0  # items that could not be fetched this time (the sync is "partial")


class KnownMessages(Protocol):
    """What the store already has, so sources never download a known message again."""

    def known_provider_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of provider ids already stored for this mailbox and handed to the new-mail
        subscribers (one stored by a sync that stopped before that is fetched again)."""
        ...

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        """The subset of Message-IDs already stored for this mailbox."""
        ...


class MailSource(Protocol):
    """Reads one linked mailbox incrementally."""

    @property
    def address(self) -> str:
        """The mailbox's address."""
        ...

    def pages(self, cursor: Mapping[str, Any], since: datetime, known: KnownMessages) -> Iterator[SyncPage]:
        """New messages after ``cursor`` (or since ``since`` on a first sync or a resync), page by page."""
        ...

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """Credentials to store again when the provider renewed them (tokens, MSAL cache), else None."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class BodySource(Protocol):
    """A source that indexes a backlog from headers (``RemoteMessage.headers_only``) reads bodies later."""

    def bodies(self, provider_ids: Sequence[str]) -> dict[str, bytes | None]:
        """Whole messages by provider id; None for one the provider no longer has; an id left out could
        not be read now (try again later)."""
        ...


def flags_from_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """IMAP-style flags from Gmail labels (\\Seen unless UNREAD, \\Flagged when STARRED)."""
    flags = []
    if "UNREAD" not in labels:
        flags.append("\\Seen")
    if "STARRED" in labels:
        flags.append("\\Flagged")
    if "DRAFT" in labels:
        flags.append("\\Draft")
    return tuple(flags)
