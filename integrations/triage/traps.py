"""Traps inside a message: links whose text names one site and lead to another, risky attachments."""

from __future__ import annotations

import re

from integrations.mime import ParsedEmail
from integrations.triage.sender import registrable_domain

__all__ = ["DANGEROUS_ATTACHMENT", "DECEPTIVE_LINK", "find_traps"]

DECEPTIVE_LINK = "deceptive link"
DANGEROUS_ATTACHMENT = "dangerous attachment"

# html_to_text writes a link as "shown text <href>" when the href is not already in the text.
_SHOWN_AND_TARGET = re.compile(
    r"((?:https?://|www\.)[^\s<>]+)[^<>\n]{0,3}<(https?://[^>\s]+)>", re.IGNORECASE
)
_HOST = re.compile(r"^(?:https?://)?([^/:?#\s]+)", re.IGNORECASE)
_RISKY_EXTENSIONS = re.compile(
    r"\.(?:html?|shtml|svg|exe|scr|com|bat|cmd|js|jse|vbs|vbe|wsf|hta|jar|msi|iso|img|lnk|ps1|docm|xlsm|pptm)$",
    re.IGNORECASE,
)


def _host(url: str) -> str:
    found = _HOST.match(url)
    return registrable_domain(found.group(1)) if found else ""


def find_traps(email: ParsedEmail, body: str) -> tuple[str, ...]:
    """Reason phrases for the traps found in the body and the attachments."""
    traps: list[str] = []
    for shown, target in _SHOWN_AND_TARGET.findall(body):
        if _host(shown) and _host(target) and _host(shown) != _host(target):
            traps.append(DECEPTIVE_LINK)
            break
    if any(a.filename and _RISKY_EXTENSIONS.search(a.filename.strip()) for a in email.attachments):
        traps.append(DANGEROUS_ATTACHMENT)
    return tuple(traps)
