"""IMAP mailboxes (imapclient) for reading, SMTP (smtplib) for sending, and provider presets.

Reading never marks anything as read: folders are opened with EXAMINE (read-only) and bodies are
fetched with ``BODY.PEEK[]``. Per folder the cursor keeps UIDVALIDITY and the last UID seen; an
unchanged UIDNEXT means nothing new, answered by LOGIN, STATUS, LOGOUT. Gmail over IMAP is
recognised by its ``X-GM-EXT-1`` capability and deduplicated on ``X-GM-MSGID``.
"""

from __future__ import annotations

import imaplib
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import CapabilityError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.imapclient import join_message_ids, seq_to_parenstr_upper
from imapclient.tls import IMAP4_TLS
from imapclient.util import to_ints

from integrations.imap_wire import parse_fetch
from integrations.mail import (
    AmbiguousSendError,
    MailAuthError,
    MailError,
    OutgoingEmail,
    PermanentSendError,
    SentReceipt,
    TransientMailError,
    build_mime,
)
from integrations.mailbox import KnownMessages, MailboxUnreachable, RemoteMessage, SyncPage, UnreachableKind
from integrations.mime import Attachment, decode_header_value

log = logging.getLogger(__name__)

SECURITIES = ("tls", "starttls", "plain")
PAGE_SIZE = 100
DEFAULT_LIMIT = 10_000
FULL_ITEMS = ("FLAGS", "RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[]")
GMAIL_ITEMS = (*FULL_ITEMS, "X-GM-MSGID", "X-GM-THRID")
MESSAGE_ID_ITEM = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
# A first sync's backlog is indexed from these alone (no body is downloaded); the bodies follow,
# newest first, through ``ImapSource.bodies`` when the backlog is delivered to the subscribers.
INDEX_HEADER_FIELDS = "FROM TO CC REPLY-TO SUBJECT DATE MESSAGE-ID REFERENCES IN-REPLY-TO"
INDEX_ITEMS = ("FLAGS", "RFC822.SIZE", "INTERNALDATE", f"BODY.PEEK[HEADER.FIELDS ({INDEX_HEADER_FIELDS})]",
               "BODYSTRUCTURE")
_MESSAGE_ID = re.compile(rb"^message-id:\s*(<[^>\r\n]*>|\S+)", re.IGNORECASE | re.MULTILINE)
SENT_NAMES = ("Sent", "INBOX.Sent", "INBOX/Sent", "Sent Items", "Sent Messages", "Éléments envoyés", "Envoyés",
              "[Gmail]/Sent Mail")


@dataclass(frozen=True)
class Preset:
    """A provider's IMAP and SMTP settings and where its app passwords are made."""

    key: str
    label: str
    imap_host: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    imap_port: int = 993
    imap_security: str = "tls"
    saves_sent: bool = False  # the SMTP server files a copy in Sent by itself
    help_url: str | None = None


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("gmail", "Gmail", "imap.gmail.com", "smtp.gmail.com", 465, "tls", saves_sent=True,
               help_url="https://myaccount.google.com/apppasswords"),
        Preset("orange", "Orange", "imap.orange.fr", "smtp.orange.fr", 465, "tls"),
        Preset("outlook", "Outlook / Hotmail", "outlook.office365.com", "smtp.office365.com", 587, "starttls",
               saves_sent=True, help_url="https://account.live.com/proofs/AppPassword"),
        Preset("yahoo", "Yahoo", "imap.mail.yahoo.com", "smtp.mail.yahoo.com", 465, "tls",
               help_url="https://login.yahoo.com/account/security"),
        Preset("ovh", "OVH Mail Pro", "ssl0.ovh.net", "ssl0.ovh.net", 465, "tls"),
        Preset("ionos", "Ionos", "imap.ionos.fr", "smtp.ionos.fr", 465, "tls"),
    )
}


def preset_for_host(host: str) -> Preset | None:
    """The preset whose IMAP host is ``host``, if any."""
    host = host.strip().lower()
    return next((p for p in PRESETS.values() if p.imap_host == host), None)


@dataclass(frozen=True)
class ImapSettings:
    """How to reach and log in to one IMAP mailbox."""

    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    folders: tuple[str, ...] = ("INBOX",)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    timeout: float = 60.0
    connect_timeout: float = 15.0


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach and log in to the SMTP server that sends for an IMAP mailbox."""

    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    saves_sent: bool = False
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    timeout: float = 60.0


def is_loopback(host: str) -> bool:
    """True for this machine's own addresses (the only place plain-text IMAP/SMTP is allowed)."""
    if host in ("localhost",) or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- connection


class _Capable:
    """Counts IMAP commands and reuses the greeting's CAPABILITY instead of asking again."""

    commands = 0
    untagged_responses: dict[str, list[Any]]
    capabilities: tuple[str, ...]

    def _command(self, name: str, *args: Any) -> Any:
        self.commands += 1
        return super()._command(name, *args)  # type: ignore[misc]

    def _get_capabilities(self) -> None:
        # The greeting's "[CAPABILITY ...]" code is kept as an untagged response; after STARTTLS
        # it is gone and the real command runs, as RFC 2595 requires.
        found = self.untagged_responses.pop("CAPABILITY", None)
        if found and found[-1]:
            self.capabilities = tuple(str(found[-1], "ascii", "replace").upper().split())
            return
        super()._get_capabilities()  # type: ignore[misc]


class _TLS(_Capable, IMAP4_TLS):  # type: ignore[misc]
    pass


class _Plain(_Capable, IMAP4WithTimeout):  # type: ignore[misc]
    pass


class ImapClient(IMAPClient):  # type: ignore[misc]
    """IMAPClient that saves a CAPABILITY round trip, counts the commands it sends and reads FETCH
    responses with ``imap_wire.parse_fetch`` (imapclient's results, several times faster)."""

    def fetch(self, messages: Sequence[int], data: Sequence[str], modifiers: Sequence[str] | None = None
              ) -> dict[int, dict[bytes, Any]]:
        """``IMAPClient.fetch``, as imapclient 3 writes it, with the faster response reader."""
        if not messages:
            return {}
        args = ["FETCH", join_message_ids(messages), seq_to_parenstr_upper(data),
                seq_to_parenstr_upper(modifiers) if modifiers else None]
        if self.use_uid:
            args.insert(0, "UID")
        tag = self._imap._command(*args)
        typ, response = self._imap._command_complete("FETCH", tag)
        self._checkok("fetch", typ, response)
        typ, response = self._imap._untagged_response(typ, response, "FETCH")
        parsed = parse_fetch(response, self.normalise_times, self.use_uid)
        # unsolicited FETCH responses for other messages are dropped, as imapclient does
        return {uid: parsed[uid] for uid in to_ints(messages) if uid in parsed}

    def _create_IMAP4(self) -> imaplib.IMAP4:
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TLS(self.host, self.port, self.ssl_context, connect_timeout)
        return _Plain(self.host, self.port, connect_timeout)

    @property
    def command_count(self) -> int:
        """IMAP commands sent on this connection so far."""
        return int(getattr(self._imap, "commands", 0))


def _translate(exc: BaseException, host: str, port: int, during: str = "connect") -> MailError:
    """A domain error for what went wrong talking to an IMAP or SMTP server."""
    where = f"{host}:{port}"
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, LoginError | smtplib.SMTPAuthenticationError):
        text = str(exc)
        if "[UNAVAILABLE]" in text or "[SERVERBUG]" in text:
            return MailboxUnreachable(f"{where} cannot log in right now: {text[:200]}", "protocol")
        return MailAuthError(f"{where} refused the login: {text[:200]}")
    kind: UnreachableKind
    if isinstance(exc, socket.gaierror | ConnectionRefusedError):
        kind = "host"
    elif isinstance(exc, TimeoutError | socket.timeout):
        kind = "timeout"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        kind = "certificate"
    elif isinstance(exc, ssl.SSLError | CapabilityError):
        kind = "tls"
    elif isinstance(exc, imaplib.IMAP4.abort | smtplib.SMTPServerDisconnected):
        kind = "network"
    elif isinstance(exc, imaplib.IMAP4.error | smtplib.SMTPException):
        kind = "inbox" if during == "select" else "protocol"
    elif isinstance(exc, OSError):
        kind = "network"
    else:
        kind = "protocol"
    return MailboxUnreachable(f"{where} ({during}): {type(exc).__name__}: {str(exc)[:200]}", kind)


def connect(settings: ImapSettings) -> ImapClient:
    """A logged-in connection; raises MailAuthError or MailboxUnreachable."""
    if settings.security not in SECURITIES:
        raise ValueError(f"unknown IMAP security {settings.security!r}")
    if settings.security == "plain" and not is_loopback(settings.host):
        raise MailboxUnreachable(f"{settings.host}: refusing to send a password without encryption", "insecure")
    context = settings.ssl_context or ssl.create_default_context()
    try:
        client = ImapClient(
            settings.host, settings.port, ssl=settings.security == "tls", ssl_context=context,
            timeout=SocketTimeout(connect=settings.connect_timeout, read=settings.timeout),
        )
    except Exception as exc:
        raise _translate(exc, settings.host, settings.port) from exc
    try:
        client.normalise_times = False
        if settings.security == "starttls":
            client.starttls(context)
        client.login(settings.username, settings.password)
    except Exception as exc:
        _close(client)
        raise _translate(exc, settings.host, settings.port, "login") from exc
    return client


def _close(client: ImapClient) -> None:
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            log.debug("IMAP connection already closed")


def check_login(settings: ImapSettings) -> None:
    """Log in and open INBOX read-only, then log out: what the link form tests before saving."""
    client = connect(settings)
    try:
        client.select_folder("INBOX", readonly=True)
    except Exception as exc:
        raise _translate(exc, settings.host, settings.port, "select") from exc
    finally:
        _close(client)


# ---------------------------------------------------------------- reading


def _decode_flags(values: Sequence[bytes | str]) -> tuple[str, ...]:
    flags = (v.decode("utf-7", "replace") if isinstance(v, bytes) else v for v in values)
    return tuple(f for f in flags if f.lower() != "\\recent")


def _message_id(header: bytes) -> str | None:
    found = _MESSAGE_ID.search(header.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" "))
    return found.group(1).decode("ascii", "replace").strip() if found else None


class ImapSource:
    """Reads the configured folders of an IMAP mailbox incrementally."""

    def __init__(self, address: str, settings: ImapSettings, *, limit: int = DEFAULT_LIMIT,
                 page_size: int = PAGE_SIZE) -> None:
        self._address = address
        self._settings = settings
        self._limit = limit
        self._page_size = page_size
        self._client: ImapClient | None = None
        self.commands = 0

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def refreshed_credentials(self) -> dict[str, Any] | None:
        """IMAP passwords never change on their own."""
        return None

    def _conn(self) -> ImapClient:
        if self._client is None:
            self._client = connect(self._settings)
        return self._client

    def close(self) -> None:
        """Log out."""
        if self._client is not None:
            client, self._client = self._client, None
            _close(client)
            self.commands = client.command_count

    def pages(self, cursor: Mapping[str, Any], since: datetime, known: KnownMessages) -> Iterator[SyncPage]:
        """New messages of each folder after its last UID, or since ``since`` on a first sync or resync."""
        state: dict[str, dict[str, int]] = {
            str(k): dict(v) for k, v in dict(cursor.get("folders") or {}).items() if isinstance(v, Mapping)
        }
        with self._reading():
            client = self._conn()
            gmail = client.has_capability("X-GM-EXT-1")
            for folder in self._settings.folders:
                yield from self._folder(client, folder, state, since, known, gmail)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Server and network errors as domain errors, and the command count kept up to date."""
        try:
            yield
        except (MailError, GeneratorExit):
            raise
        except Exception as exc:
            raise _translate(exc, self._settings.host, self._settings.port, "sync") from exc
        finally:
            if self._client is not None:
                self.commands = self._client.command_count

    def _folder(self, client: ImapClient, folder: str, state: dict[str, dict[str, int]], since: datetime,
                known: KnownMessages, gmail: bool) -> Iterator[SyncPage]:
        status = client.folder_status(folder, ["UIDVALIDITY", "UIDNEXT"])
        uidvalidity = int(status[b"UIDVALIDITY"])
        uidnext = int(status.get(b"UIDNEXT") or 0)
        seen = state.get(folder)
        if seen and seen.get("uidvalidity") == uidvalidity:
            last = int(seen.get("last_uid", 0))
            if uidnext and uidnext <= last + 1:
                return  # nothing arrived: no SELECT, no SEARCH
            client.select_folder(folder, readonly=True)
            # "N:*" always matches the newest message, even when its UID is below N: drop it.
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
            resync = initial = False
        else:
            resync, initial, last = seen is not None, True, 0
            if resync:
                log.info("IMAP folder UIDVALIDITY changed; resyncing by Message-ID")
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search(["SINCE", since.date()]))[-self._limit:]
        end = max([last, uidnext - 1, *uids[-1:]])
        if not uids:
            state[folder] = {"uidvalidity": uidvalidity, "last_uid": end}
            yield SyncPage(cursor={"folders": {k: dict(v) for k, v in state.items()}}, initial=initial)
            return
        for start in range(0, len(uids), self._page_size):
            chunk = uids[start : start + self._page_size]
            page = self._fetch(client, folder, uidvalidity, chunk, known, gmail=gmail, resync=resync,
                               initial=initial)
            is_last = start + self._page_size >= len(uids)
            state[folder] = {"uidvalidity": uidvalidity, "last_uid": end if is_last else chunk[-1]}
            page.cursor = {"folders": {k: dict(v) for k, v in state.items()}}
            page.initial = initial
            yield page

    def _fetch(self, client: ImapClient, folder: str, uidvalidity: int, uids: list[int], known: KnownMessages,
               *, gmail: bool, resync: bool, initial: bool = False) -> SyncPage:
        page = SyncPage(cursor={}, resync=resync)
        wanted = list(uids)
        ids: dict[int, str] = {}
        if gmail:
            found = client.fetch(wanted, ["X-GM-MSGID"])
            ids = {uid: f"gm:{data[b'X-GM-MSGID']}" for uid, data in found.items() if b"X-GM-MSGID" in data}
            have = known.known_provider_ids(list(ids.values()))
            wanted = [uid for uid in wanted if uid in ids and ids[uid] not in have]
        elif resync:
            found = client.fetch(wanted, [MESSAGE_ID_ITEM])
            mids = {uid: _message_id(next(iter(v for k, v in data.items() if k.startswith(b"BODY[")), b""))
                    for uid, data in found.items()}
            have = known.known_message_ids([m for m in mids.values() if m])
            for uid, mid in mids.items():
                if mid and mid in have:
                    page.rebind[mid] = f"{folder}/{uidvalidity}/{uid}"
            wanted = [uid for uid in wanted if uid in mids and not (mids[uid] and mids[uid] in have)]
        if not wanted:
            return page
        index = initial and not gmail
        fetched = client.fetch(wanted, list(INDEX_ITEMS if index else GMAIL_ITEMS if gmail else FULL_ITEMS))
        for uid in wanted:
            data = fetched.get(uid)
            raw = _section(data, b"BODY[HEADER") if index and data else data.get(b"BODY[]") if data else None
            if data is None or raw is None:
                page.skipped += 1  # expunged meanwhile
                continue
            when = data.get(b"INTERNALDATE")
            if isinstance(when, datetime) and when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            thread = f"gm:{data[b'X-GM-THRID']}" if gmail and b"X-GM-THRID" in data else None
            page.messages.append(RemoteMessage(
                provider_id=ids.get(uid) or f"{folder}/{uidvalidity}/{uid}",
                raw=bytes(raw),
                folder=folder,
                thread_id=thread,
                flags=_decode_flags(data.get(b"FLAGS", ())),
                size=int(data.get(b"RFC822.SIZE") or len(raw)),
                internal_date=when.astimezone(UTC) if isinstance(when, datetime) else None,
                headers_only=index,
                attachments=_attachments(data.get(b"BODYSTRUCTURE")) if index else None,
            ))
        return page

    def bodies(self, provider_ids: Sequence[str]) -> dict[str, bytes | None]:
        """Whole messages by provider id, for delivering an indexed backlog. A message the server no
        longer has maps to None; one whose folder cannot be read as it was indexed (its UIDVALIDITY
        changed, the folder is gone) is left out, to be found again by the next sync's resync."""
        wanted: dict[tuple[str, int], dict[int, str]] = {}
        for provider_id in provider_ids:
            folder, _, rest = provider_id.rpartition("/")
            folder, _, validity = folder.rpartition("/")
            if folder and validity.isdigit() and rest.isdigit():
                wanted.setdefault((folder, int(validity)), {})[int(rest)] = provider_id
        found: dict[str, bytes | None] = {}
        with self._reading():
            client = self._conn()
            for (folder, uidvalidity), uids in wanted.items():
                try:
                    selected = client.select_folder(folder, readonly=True)
                except imaplib.IMAP4.error:
                    log.info("IMAP folder of indexed messages cannot be opened; left for the next sync")
                    continue
                if int(selected.get(b"UIDVALIDITY") or 0) != uidvalidity:
                    continue
                order = sorted(uids)
                for start in range(0, len(order), self._page_size):
                    chunk = order[start : start + self._page_size]
                    fetched = client.fetch(chunk, ["BODY.PEEK[]"])
                    for uid in chunk:
                        raw = fetched.get(uid, {}).get(b"BODY[]")
                        found[uids[uid]] = bytes(raw) if raw is not None else None
        return found


def _section(data: Mapping[bytes, Any], prefix: bytes) -> bytes | None:
    """The fetched body section whose name starts with ``prefix`` (servers echo the name in their own way)."""
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix) and isinstance(value, bytes):
            return value
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _params(values: Any) -> dict[str, str]:
    """A BODYSTRUCTURE parameter list (name, value, name, value...) as a lower-cased dict."""
    if not isinstance(values, (list, tuple)):
        return {}
    items = list(values)
    return {_text(items[i]).lower(): _text(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def _filename(params: Mapping[str, str]) -> str | None:
    """A part's declared name: RFC 2231 (``filename*``), then RFC 2047 or plain."""
    for key in ("filename*", "name*"):
        value = params.get(key)
        if value and value.count("'") >= 2:
            charset, _, encoded = value.split("'", 2)
            from urllib.parse import unquote
            try:
                return unquote(encoded, encoding=charset or "utf-8", errors="replace")
            except LookupError:
                return unquote(encoded, errors="replace")
    for key in ("filename", "name"):
        if params.get(key):
            return decode_header_value(params[key])
    return None


def _attachments(structure: Any, depth: int = 0) -> tuple[Attachment, ...]:
    """Attachment names, types and (approximate, decoded) sizes from an IMAP BODYSTRUCTURE, by the
    rules ``parse_email`` applies to the body itself, which replaces them once the body is read."""
    if not isinstance(structure, (list, tuple)) or depth > 30 or not structure:
        return ()
    if isinstance(structure[0], (list, tuple)):  # multipart: the parts, then the subtype
        found: list[Attachment] = []
        for part in structure:
            if isinstance(part, (list, tuple)) and part and not isinstance(part, (bytes, str)):
                found.extend(_attachments(part, depth + 1))
            else:
                break
        return tuple(found)
    if len(structure) < 7:
        return ()
    maintype, subtype = _text(structure[0]).lower(), _text(structure[1]).lower()
    params = _params(structure[2])
    octets = int(structure[6]) if str(structure[6]).isdigit() else 0
    encoding = _text(structure[5]).lower()
    size = int(octets * 0.74) if encoding == "base64" else octets
    extension = 8 if maintype == "text" else 10 if (maintype, subtype) in (("message", "rfc822"),
                                                                          ("message", "global")) else 7
    disposition_value = structure[extension + 1] if len(structure) > extension + 1 else None
    disposition, dparams = "", {}
    if isinstance(disposition_value, (list, tuple)) and disposition_value:
        disposition = _text(disposition_value[0]).lower()
        dparams = _params(disposition_value[1] if len(disposition_value) > 1 else None)
    name = _filename({**params, **dparams})
    ctype = f"{maintype}/{subtype}"
    if (maintype, subtype) in (("message", "rfc822"), ("message", "global")):
        if disposition == "attachment":
            return (Attachment(name, ctype, octets),)
        return _attachments(structure[8], depth + 1) if len(structure) > 8 else ()
    if ctype == "text/calendar":
        return (Attachment(name, ctype, size),)
    if disposition == "attachment":
        return (Attachment(name, ctype, size),)
    if maintype in ("text", "multipart", "message"):
        if name and disposition != "inline" and subtype not in ("plain", "html"):
            return (Attachment(name, ctype, size),)
        return ()
    return (Attachment(name, ctype, size),)


# ---------------------------------------------------------------- sending


def _smtp_connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "plain" and not is_loopback(settings.host):
        raise MailboxUnreachable(f"{settings.host}: refusing to send a password without encryption", "insecure")
    context = settings.ssl_context or ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.security == "tls":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        smtp.login(settings.username, settings.password)
    except Exception:
        _quit(smtp)
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except Exception:
        smtp.close()


def _refusal(code: int, text: bytes | str, what: str) -> MailError:
    message = f"{what}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"[:300]
    return PermanentSendError(message) if code >= 500 else TransientMailError(message)


class _StaleConnection(Exception):
    """A reused SMTP connection was closed by the server before this message's data went out."""


class ImapMail:
    """Sends through the mailbox's SMTP server, files a copy in Sent, finds sent mail by Message-ID."""

    def __init__(self, address: str, smtp: SmtpSettings, imap: ImapSettings,
                 clock: Any = None, from_name: str | None = None) -> None:
        self._address = address
        self._smtp = smtp
        self._imap = imap
        self._now = clock or (lambda: datetime.now(UTC))
        self._from_name = from_name
        self._keep = False
        self._conn: smtplib.SMTP | None = None
        self._imap_conn: ImapClient | None = None

    @property
    def address(self) -> str:
        """The mailbox's address."""
        return self._address

    def keep_open(self) -> None:
        """Reuse one SMTP connection (and one IMAP connection for Sent copies) until ``close``."""
        self._keep = True

    def close(self) -> None:
        """Close kept connections."""
        self._keep = False
        if self._conn is not None:
            _quit(self._conn)
            self._conn = None
        if self._imap_conn is not None:
            _close(self._imap_conn)
            self._imap_conn = None

    def _open_smtp(self) -> tuple[smtplib.SMTP, bool]:
        """A connection, and whether it was reused (a reused one may have been closed by the server)."""
        if self._keep and self._conn is not None:
            return self._conn, True
        settings = self._smtp
        try:
            smtp = _smtp_connect(settings)
        except Exception as exc:
            raise _translate(exc, settings.host, settings.port, "smtp") from exc
        if self._keep:
            self._conn = smtp
        return smtp, False

    def send(self, email: OutgoingEmail) -> SentReceipt:
        """Send one email over SMTP; failures become the port's domain errors.

        With ``keep_open`` the connection is reused; one the server closed meanwhile is replaced
        once, when the failure came before the message data (nothing was sent yet).
        """
        try:
            raw = self._transaction(email)
        except _StaleConnection:
            raw = self._transaction(email)
        if not self._smtp.saves_sent:
            self._file_in_sent(email.message_id, raw)
        return SentReceipt(message_id=email.message_id, provider_id=None)

    def _transaction(self, email: OutgoingEmail) -> bytes:
        message = build_mime(email, self._address, date=self._now())
        smtp, reused = self._open_smtp()
        keep = False
        try:
            recipients = list(email.recipients)
            utf8 = any(not a.isascii() for a in [self._address, *recipients])
            options: list[str] = []
            if smtp.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            if utf8:
                if not smtp.has_extn("smtputf8"):
                    raise PermanentSendError("the SMTP server does not accept non-ASCII addresses (SMTPUTF8)")
                options.append("SMTPUTF8")
            raw = message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
            try:
                code, text = smtp.mail(self._address, options)
                if code != 250:
                    raise _refusal(code, text, "sender refused")
                refused = {}
                for rcpt in recipients:
                    code, text = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        refused[rcpt] = (code, text)
                if len(refused) == len(recipients):
                    code, text = max(refused.values(), key=lambda v: v[0])
                    raise _refusal(code, text, "every recipient refused")
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                if reused:
                    raise _StaleConnection from exc
                raise TransientMailError(f"SMTP connection lost before sending: {type(exc).__name__}") from exc
            try:
                code, text = smtp.data(raw)
            except smtplib.SMTPDataError as exc:
                raise _refusal(exc.smtp_code, exc.smtp_error, "message refused") from exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise AmbiguousSendError(
                    f"SMTP connection lost while sending the message: {type(exc).__name__}"
                ) from exc
            if code != 250:
                raise _refusal(code, text, "message refused")
            if refused:
                log.warning("SMTP refused %d of %d recipients", len(refused), len(recipients))
            keep = self._keep
        finally:
            if keep:
                pass
            elif self._keep and self._conn is smtp:
                # Any failure drops a kept connection: the next message starts a fresh session.
                self._conn = None
                _quit(smtp)
            else:
                _quit(smtp)
        return raw

    def _file_in_sent(self, message_id: str, raw: bytes) -> None:
        if self._keep and self._imap_conn is not None:
            client = self._imap_conn
        else:
            try:
                client = connect(self._imap)
            except MailError as exc:
                log.warning("sent, but could not file a copy in Sent: %s", exc)
                return
        failed = False
        try:
            folder = self._sent_folder(client)
            if folder is None:
                log.warning("sent, but the mailbox has no Sent folder to file a copy in")
                return
            client.select_folder(folder, readonly=True)
            if not client.search(["HEADER", "Message-ID", message_id]):
                client.append(folder, raw, flags=("\\Seen",))
        except Exception as exc:
            failed = True
            log.warning("sent, but filing a copy in Sent failed: %s", type(exc).__name__)
        finally:
            if self._keep and not failed:
                self._imap_conn = client
            else:
                if self._imap_conn is client:
                    self._imap_conn = None
                _close(client)

    @staticmethod
    def _sent_folder(client: ImapClient) -> str | None:
        special = client.find_special_folder(b"\\Sent")
        if special:
            return str(special)
        names = {str(name) for _, _, name in client.list_folders()}
        return next((n for n in SENT_NAMES if n in names), None)

    def find_sent(self, message_id: str) -> bool:
        """True when the Sent folder holds a message with this Message-ID (IMAP SEARCH HEADER)."""
        client = connect(self._imap)
        try:
            folder = self._sent_folder(client)
            if folder is None:
                return False
            client.select_folder(folder, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", message_id]))
        except MailError:
            raise
        except Exception as exc:
            raise _translate(exc, self._imap.host, self._imap.port, "search") from exc
        finally:
            _close(client)
