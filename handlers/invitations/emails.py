"""The invitation email (HTML and plain text, French and English) and dates in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_name
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.i18n import Catalog

_LONG = {"fr": "EEEE d MMMM y 'à' HH:mm", "en": "EEEE, MMMM d, y 'at' h:mm a"}
_SHORT = {"fr": "d MMM y", "en": "MMM d, y"}
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def when_in_words(when: datetime, lang: str, tz: str) -> str:
    """A date and time in words in the reader's language and time zone, e.g. "vendredi 27 novembre 2026 à 10:00"."""
    zone = ZoneInfo(tz)
    locale = _LOCALES.get(lang, "fr_FR")
    text = format_datetime(when, _LONG.get(lang, _LONG["fr"]), tzinfo=zone, locale=locale)
    return f"{text} ({get_timezone_name(zone, locale=locale)})"


def short_date(when: datetime, lang: str, tz: str) -> str:
    """A compact date for chat lists, e.g. "27 nov. 2026"."""
    return format_datetime(when, _SHORT.get(lang, _SHORT["fr"]), tzinfo=ZoneInfo(tz),
                           locale=_LOCALES.get(lang, "fr_FR"))


@dataclass(frozen=True)
class OriginalContact:
    """The contact message an invitation answers, as quoted in the email."""

    subject: str
    message: str
    sent_on: str  # already in words


@dataclass(frozen=True)
class RenderedEmail:
    """Subject, plain text and HTML of an email."""

    subject: str
    text: str
    html: str


class EmailRenderer:
    """Renders the invitation email from ``templates/email/invitation.<lang>.{txt,html}``."""

    def __init__(self, templates_dir: Path, catalog: Catalog) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates_dir / "email"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._catalog = catalog

    def invitation(
        self,
        *,
        lang: str,
        org_name: str,
        name: str | None,
        inviter: str | None,
        personal_message: str | None,
        contact: OriginalContact | None,
        link: str,
        expires_in_words: str,
    ) -> RenderedEmail:
        """The invitation email with the link, the expiry in words and a short security note."""
        lang = lang if lang in _LOCALES else "fr"
        params = {
            "org_name": org_name, "name": (name or "").strip(), "inviter": inviter,
            "personal_message": (personal_message or "").strip() or None, "contact": contact, "link": link,
            "expires": expires_in_words,
        }
        subject = self._catalog.t("invitations.email.subject", lang, org=org_name)
        text = self._env.get_template(f"invitation.{lang}.txt").render(subject=subject, **params)
        html = self._env.get_template(f"invitation.{lang}.html").render(subject=subject, **params)
        return RenderedEmail(subject, text, html)
