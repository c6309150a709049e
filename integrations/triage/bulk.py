"""Mass mailing and machine-generated mail: list headers, no-reply senders, auto-replies, calendar replies."""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.mime import ParsedEmail
from integrations.triage.lexicon import notification as notices
from integrations.triage.lexicon import request
from integrations.triage.text import compile_terms

__all__ = ["BulkProfile", "analyze_bulk"]

_MASS_MAILERS = re.compile(
    r"mailblast|mailchimp|sendgrid|sendinblue|brevo|mailjet|campaign|hubspot|marketo|klaviyo|mailerlite|"
    r"constant ?contact|salesforce marketing|emarsys|mailgun|sparkpost|getresponse|acumbamail",
    re.IGNORECASE,
)
_CAMPAIGN_HEADERS = (
    "x-campaign-id",
    "x-campaign",
    "x-mailchimp-id",
    "x-mc-user",
    "x-sfmc-stack",
    "x-newsletter",
    "feedback-id",
)
_NO_REPLY_LOCAL = re.compile(
    r"^(?:no-?reply|do-?not-?reply|ne-?pas-?repondre|notifications?|notify|alerts?|mailer-daemon|bounces?|automated|system)\b"
)
_AUTO_REPLY_SUBJECT = re.compile(r"^\s*(?:" + "|".join(notices.AUTO_REPLY_SUBJECTS) + r")\b", re.IGNORECASE)
_AUTO_REPLY_BODY = compile_terms(notices.AUTO_REPLY_BODIES)
_CALENDAR_REPLY = re.compile(r"^\s*(?:" + "|".join(notices.CALENDAR_REPLY_SUBJECTS) + r")\s*:", re.IGNORECASE)
_CALENDAR_REPLY_BODY = re.compile(
    r"a (?:accepte|refuse|decline)\b[^.\n]{0,20}invitation|has (?:accepted|declined|tentatively accepted)\b"
)
_CALENDAR_INVITE = re.compile(
    r"^\s*(?:" + "|".join(notices.CALENDAR_INVITE_SUBJECTS) + r")\s*:", re.IGNORECASE
)
_NO_REPLY_TEXT = compile_terms(request.NO_REPLY)


@dataclass(frozen=True)
class BulkProfile:
    """Whether a message went to a list or came from a machine, and of which kind."""

    bulk: bool
    automated: bool
    auto_reply: bool
    calendar_reply: bool
    calendar_invite: bool
    reasons: tuple[str, ...]


def analyze_bulk(email: ParsedEmail, folded_subject: str, folded_text: str) -> BulkProfile:
    """Read list, precedence and automation headers plus the telltale subjects and phrases."""
    headers = email.headers
    reasons: list[str] = []
    bulk = False
    precedence = headers.get("precedence", "").lower()
    if "list-unsubscribe" in headers or "list-id" in headers or precedence in ("bulk", "list", "junk"):
        bulk = True
        reasons.append("bulk mail")
    elif any(h in headers for h in _CAMPAIGN_HEADERS) or _MASS_MAILERS.search(headers.get("x-mailer", "")):
        bulk = True
        reasons.append("mass-mailing software")
    auto_submitted = headers.get("auto-submitted", "").lower()
    auto_reply = (
        auto_submitted.startswith("auto-replied")
        or "x-autoreply" in headers
        or "x-autorespond" in headers
        or bool(_AUTO_REPLY_SUBJECT.match(folded_subject))
        or (
            headers.get("x-auto-response-suppress", "") != ""
            and bool(_AUTO_REPLY_BODY.pattern.search(folded_text))
        )
    )
    if auto_reply:
        reasons.append("automatic reply")
    local = email.from_addr.partition("@")[0]
    automated = (
        auto_reply
        or (auto_submitted not in ("", "no"))
        or bool(_NO_REPLY_LOCAL.match(local))
        or bool(_NO_REPLY_TEXT.pattern.search(folded_text))
    )
    if automated and not auto_reply:
        reasons.append("automated message")
    has_calendar = any(a.content_type == "text/calendar" for a in email.attachments)
    calendar_reply = bool(_CALENDAR_REPLY.match(folded_subject)) or (
        has_calendar and bool(_CALENDAR_REPLY_BODY.search(folded_text))
    )
    calendar_invite = not calendar_reply and (bool(_CALENDAR_INVITE.match(folded_subject)) or has_calendar)
    if calendar_reply:
        reasons.append("calendar reply")
    elif calendar_invite:
        reasons.append("calendar invitation")
    return BulkProfile(bulk, automated, auto_reply, calendar_reply, calendar_invite, tuple(reasons))
