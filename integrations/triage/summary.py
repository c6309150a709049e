"""One-line French or English summaries built from what the classifier read."""

from __future__ import annotations

import re
from datetime import datetime

from integrations.triage.model import Amount

__all__ = ["TOPICS", "format_amount", "format_deadline", "summarize"]

MAX_LENGTH = 160

# topic key -> (French, English)
TOPICS: dict[str, tuple[str, str]] = {
    "phishing": ("Hameçonnage probable", "Likely phishing"),
    "scam": ("Arnaque probable", "Likely scam"),
    "marketing": ("Prospection non sollicitée", "Unsolicited marketing"),
    "formal_notice": ("Mise en demeure", "Formal notice"),
    "summons": ("Convocation officielle", "Official summons"),
    "outage": ("Incident de production", "Production incident"),
    "blocked": ("Compte ou carte bloqué", "Account or card blocked"),
    "churn": ("Client prêt à partir", "Client may leave"),
    "tender": ("Appel d'offres", "Tender"),
    "contract": ("Contrat à signer", "Contract to sign"),
    "sign": ("Document à signer", "Document to sign"),
    "invoice": ("Facture à régler", "Invoice to pay"),
    "pay": ("Paiement demandé", "Payment requested"),
    "call": ("Appel demandé", "Call requested"),
    "order": ("Commande à confirmer", "Order to confirm"),
    "quote": ("Demande de devis", "Quote request"),
    "application": ("Candidature", "Job application"),
    "meeting": ("Réunion à reprogrammer", "Meeting to reschedule"),
    "invitation": ("Invitation à une réunion", "Meeting invitation"),
    "price": ("Changement de tarifs", "Price change"),
    "documents": ("Documents demandés", "Documents requested"),
    "reply": ("Réponse attendue", "Reply expected"),
    "calendar_reply": ("Réponse à une invitation", "Calendar reply"),
    "auto_reply": ("Réponse automatique", "Automatic reply"),
    "newsletter": ("Lettre d'information", "Newsletter"),
    "payment_received": ("Paiement reçu", "Payment received"),
    "resolved": ("Incident résolu", "Issue resolved"),
    "info": ("Pour information", "For information"),
}

_WEEKDAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
_PREFIX = re.compile(r"^\s*(?:(?:re|tr|fwd?|aw|wg|rv|sv)\s*:\s*)+", re.IGNORECASE)


def format_deadline(deadline: datetime, now: datetime, language: str) -> str:
    """'avant 17h aujourd'hui' / 'by 17:00 today', or a weekday and date further out."""
    days = (deadline.date() - now.astimezone(deadline.tzinfo).date()).days
    fr = language == "fr"
    clock = f"{deadline.hour}h{deadline.minute:02d}" if fr else f"{deadline.hour:02d}:{deadline.minute:02d}"
    if fr and deadline.minute == 0:
        clock = f"{deadline.hour}h"
    if days == 0:
        return f"avant {clock} aujourd'hui" if fr else f"by {clock} today"
    if days == 1:
        return f"avant demain {clock}" if fr else f"by tomorrow {clock}"
    weekday = _WEEKDAYS["fr" if fr else "en"][deadline.weekday()]
    month = _MONTHS["fr" if fr else "en"][deadline.month - 1]
    if fr:
        return f"avant le {weekday} {deadline.day} {month}"
    return f"by {weekday} {deadline.day} {month}"


def format_amount(amount: Amount) -> str:
    """An amount as written in the message."""
    return " ".join(amount.text.split())


def summarize(
    topic: str,
    who: str,
    subject: str,
    language: str,
    *,
    deadline: str | None = None,
    amount: Amount | None = None,
) -> str:
    """'<topic> — <who>, <deadline> (<amount>) : <subject>' cut to 160 characters."""
    fr = language == "fr"
    label = TOPICS.get(topic, TOPICS["info"])[0 if fr else 1]
    line = f"{label} — {who}" if who else label
    if deadline:
        line += f", {deadline}"
    if amount is not None:
        line += f" ({format_amount(amount)})"
    clean_subject = " ".join(_PREFIX.sub("", subject).split())
    if clean_subject:
        line += (" : " if fr else ": ") + clean_subject
    if len(line) > MAX_LENGTH:
        line = line[: MAX_LENGTH - 1].rstrip(" ,:;—-") + "…"
    return line
