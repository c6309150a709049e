"""A local Maildir as a linked mailbox (the demo's sample mailbox, or a server that delivers to Maildir).

Read-only: messages are listed in ``new/`` and ``cur/`` and never moved, renamed or flagged, so
the mail program that owns the Maildir sees nothing change. A message's provider id is its unique
file name without the ``:2,…`` info suffix, which stays the same when a mail program moves it from
``new/`` to ``cur/`` or changes its flags. This adapter cannot send.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.mail import MailError, NoLinkedMailbox, OutgoingEmail, SentReceipt
from integrations.mailbox import KnownMessages, MailboxUnreachable, RemoteMessage, SyncPage

PAGE_SIZE = 200


def unique_name(filename: str) -> str:
    """The Maildir unique name: the file name without its ``:2,FLAGS`` info."""
    return filename.split(":", 1)[0]


def _flags(filename: str) -> tuple[str, ...]:
    info = filename.split(":2,", 1)[1] if ":2," in filename else ""
    names = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered", "D": "\\Draft"}
    return tuple(names[c] for c in info if c in names)


class MaildirSource:
    """Reads new messages of a Maildir incrementally (what the store already knows is skipped)."""

    def __init__(self, address: str, path: Path, *, limit: int = 10_000) -> None:
        self._address = address
        self._path = path
        self._limit = limit

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def _files(self) -> list[Path]:
        if not (self._path / "cur").is_dir() and not (self._path / "new").is_dir():
            raise MailboxUnreachable(f"{self._path} is not a Maildir (no cur/ or new/)", "inbox")
        found: list[Path] = []
        for sub in ("cur", "new"):
            folder = self._path / sub
            if folder.is_dir():
                found.extend(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))

    def pages(self, cursor: Mapping[str, Any], since: datetime, known: KnownMessages) -> Iterator[SyncPage]:
        """New files since the last sync, oldest first; the first sync reads what arrived after ``since``."""
        first = not cursor.get("synced")
        files = self._files()
        if first:
            since_ts = since.timestamp()
            files = [p for p in files if p.stat().st_mtime >= since_ts]
        ids = [unique_name(p.name) for p in files]
        have = known.known_provider_ids(ids) if ids else set()
        fresh = [(i, p) for i, p in zip(ids, files, strict=True) if i not in have][: self._limit]
        for start in range(0, len(fresh), PAGE_SIZE):
            chunk = fresh[start:start + PAGE_SIZE]
            messages = []
            skipped = 0
            for provider_id, path in chunk:
                try:
                    raw = path.read_bytes()
                except FileNotFoundError:
                    skipped += 1  # moved by the mail program between listing and reading: next time
                    continue
                stat_time = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
                messages.append(RemoteMessage(provider_id, raw, folder="INBOX", flags=_flags(path.name),
                                              size=len(raw), internal_date=stat_time))
            yield SyncPage({"synced": True}, messages, initial=first, skipped=skipped)
        if not fresh and first:
            yield SyncPage({"synced": True}, [], initial=True)

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """Nothing to renew."""
        return None

    def close(self) -> None:
        """Nothing to release."""


class MaildirCannotSend:
    """A Maildir mailbox has no way to send: the organization needs another linked mailbox."""

    def __init__(self, address: str) -> None:
        self._address = address

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Always refused."""
        raise NoLinkedMailbox(f"{self._address} is a local Maildir and cannot send")

    def find_sent(self, message_id: str) -> bool:
        """Nothing is ever sent from here."""
        return False


__all__ = ["MailError", "MaildirCannotSend", "MaildirSource", "unique_name"]
