"""Helpers to build messages and contexts for the triage tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from integrations.mime import ParsedEmail, parse_email
from integrations.triage import Party, TriageContext

CONTEXT = TriageContext(
    organization_name="Mbaye Conseil",
    organization_domains=("mbaye-conseil.test",),
    manager_addresses=("khady@mbaye-conseil.test",),
    manager_name="Khady Mbaye",
    known_clients=(
        Party("Société Générale de Transit", "sgt-transit.test"),
        Party("Hôtel Les Almadies", "almadies-hotel.test"),
        Party("Northwind Traders", "northwind.test"),
    ),
    suppliers=(
        Party("CloudOuest", "cloudouest.test", "hosting"),
        Party("Banque du Fleuve", "banquedufleuve.test", "the company's bank"),
        Party("Fiduciaire Sarr", "fiduciaire-sarr.test", "accountant"),
    ),
    timezone="Africa/Dakar",
    language="fr",
)

MONDAY_9 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")


def message(
    sender: str,
    subject: str,
    body: str,
    *,
    date: datetime = MONDAY_9,
    to: str = "Khady Mbaye <khady@mbaye-conseil.test>",
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
    calendar: str | None = None,
    **more: str,
) -> ParsedEmail:
    """A parsed message built with the standard library, headers given as keyword arguments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{abs(hash((sender, subject)))}@test>"
    for name, value in {**(headers or {}), **more}.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if calendar is not None:  # an agenda file attached (text/calendar)
        msg.add_attachment(calendar, subtype="calendar", filename="agenda.ics")
    return parse_email(msg.as_bytes())
