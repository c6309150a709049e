"""Builds the reading source and the sender of one linked mailbox, whatever its provider.

The composition root makes one ``MailConnectors`` from the settings (tests give loopback fakes'
endpoints and certificates); the mailbox service describes a mailbox with ``MailboxAccess`` and
asks for what it needs.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.google import GmailApi, GmailMail, GmailSource, GoogleConfig, GoogleOAuth
from integrations.imap import ImapMail, ImapSettings, ImapSource, SmtpSettings, check_login
from integrations.mail import MailSender
from integrations.mailbox import MailSource
from integrations.maildir import MaildirCannotSend, MaildirSource
from integrations.microsoft import GraphApi, GraphMail, GraphSource, MicrosoftConfig, MicrosoftOAuth

CredentialsCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class MailboxAccess:
    """Everything needed to reach one mailbox (built by the service from the stored row)."""

    provider: str  # gmail | outlook | imap | maildir
    address: str
    credentials: Mapping[str, Any] = field(repr=False)
    username: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str | None = None
    smtp_saves_sent: bool = False
    folders: tuple[str, ...] = ("INBOX",)


class MailConnectors:
    """Adapters for Gmail, Microsoft Graph and IMAP/SMTP on one configuration."""

    def __init__(
        self,
        google: GoogleConfig,
        microsoft: MicrosoftConfig,
        *,
        imap_ssl_context: ssl.SSLContext | None = None,
        smtp_ssl_context: ssl.SSLContext | None = None,
        imap_timeout: float = 60.0,
        sync_limit: int = 10_000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.google = google
        self.microsoft = microsoft
        self.imap_ssl_context = imap_ssl_context
        self.smtp_ssl_context = smtp_ssl_context
        self.imap_timeout = imap_timeout
        self.sync_limit = sync_limit
        self.clock = clock or (lambda: datetime.now(UTC))

    def google_oauth(self) -> GoogleOAuth:
        """Google's authorization-code flow."""
        return GoogleOAuth(self.google)

    def microsoft_oauth(self) -> MicrosoftOAuth:
        """Microsoft's authorization-code flow."""
        return MicrosoftOAuth(self.microsoft)

    def imap_settings(self, access: MailboxAccess) -> ImapSettings:
        """IMAP connection settings of a mailbox."""
        if not access.imap_host or not access.imap_port or not access.imap_security:
            raise ValueError("IMAP mailbox without a server")
        return ImapSettings(
            host=access.imap_host, port=access.imap_port, security=access.imap_security,
            username=access.username or access.address, password=str(access.credentials.get("password", "")),
            folders=access.folders, ssl_context=self.imap_ssl_context, timeout=self.imap_timeout,
            connect_timeout=min(15.0, self.imap_timeout),
        )

    def smtp_settings(self, access: MailboxAccess) -> SmtpSettings:
        """SMTP settings of an IMAP mailbox."""
        if not access.smtp_host or not access.smtp_port or not access.smtp_security:
            raise ValueError("IMAP mailbox without an SMTP server")
        return SmtpSettings(
            host=access.smtp_host, port=access.smtp_port, security=access.smtp_security,
            username=access.username or access.address, password=str(access.credentials.get("password", "")),
            saves_sent=access.smtp_saves_sent, ssl_context=self.smtp_ssl_context, timeout=self.imap_timeout,
        )

    def check_imap(self, settings: ImapSettings) -> None:
        """Log in and open INBOX (raises MailAuthError or MailboxUnreachable)."""
        check_login(settings)

    def source(self, access: MailboxAccess) -> MailSource:
        """The incremental reader of a mailbox."""
        if access.provider == "gmail":
            return GmailSource(access.address, GmailApi(self.google, access.credentials), limit=self.sync_limit)
        if access.provider == "outlook":
            return GraphSource(access.address, GraphApi(self.microsoft, access.credentials), self.microsoft.graph_url)
        if access.provider == "imap":
            return ImapSource(access.address, self.imap_settings(access), limit=self.sync_limit)
        if access.provider == "maildir":
            return MaildirSource(access.address, Path(str(access.credentials.get("path", ""))), limit=self.sync_limit)
        raise ValueError(f"unknown provider {access.provider!r}")

    def sender(self, access: MailboxAccess, on_refresh: CredentialsCallback | None = None) -> MailSender:
        """The sender of a mailbox."""
        if access.provider == "gmail":
            return GmailMail(access.address, lambda: GmailApi(self.google, access.credentials), self.clock, on_refresh)
        if access.provider == "outlook":
            return GraphMail(access.address, lambda: GraphApi(self.microsoft, access.credentials),
                             self.microsoft.graph_url, self.clock, on_refresh)
        if access.provider == "imap":
            return ImapMail(access.address, self.smtp_settings(access), self.imap_settings(access), self.clock)
        if access.provider == "maildir":
            return MaildirCannotSend(access.address)
        raise ValueError(f"unknown provider {access.provider!r}")
