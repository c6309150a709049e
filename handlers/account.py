"""Who the user is, their language, the service status, and answers to strangers."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import bot
from bot.payload import InboundMessage, Sender
from bot.router import Ctx, Result, Router
from bot.services import Services
from bot.text import normalize
from integrations.whatsapp import OutgoingMessage, Text
from storage import inbound as inbound_repo
from storage import outbox as outbox_repo
from storage.accounts import rate_hit, redeem_join_code
from storage.models import ServiceHealth, User

router = Router("account")

_JOIN = re.compile(r"^(join|rejoindre)\s+(\d{6})$")
_LANGS = {"fr": "fr", "francais": "fr", "french": "fr", "en": "en", "anglais": "en", "english": "en"}
REFUSAL_WINDOW = timedelta(hours=24)
JOIN_ATTEMPTS_PER_DAY = 5


@router.command(
    "language",
    fr=("langue",),
    en=("language",),
    help_fr="choisir la langue : *langue en* ou *langue fr*",
    help_en="choose the language: *language en* or *language fr*",
)
def language_command(ctx: Ctx) -> Result:
    """Save the user's language choice."""
    choice = _LANGS.get(normalize(ctx.args))
    if choice is None:
        return Result([Text(ctx.t("language.usage"))])
    ctx.user.language = choice
    ctx.lang = choice
    return Result([Text(ctx.t("language.saved"))])


@router.command(
    "whoami",
    fr=("moi", "qui suis-je"),
    en=("whoami", "me"),
    help_fr="ce que Courrier sait de vous",
    help_en="what Courrier knows about you",
)
def whoami_command(ctx: Ctx) -> Result:
    """Show the user's name, role, organization, language and identifiers."""
    user = ctx.user
    lines = [
        ctx.t("whoami.name", name=user.name),
        ctx.t("whoami.org", org=ctx.org.name),
        ctx.t("whoami.role_admin" if user.is_admin else "whoami.role_manager"),
        ctx.t("whoami.language", language=ctx.t(f"language.name.{ctx.lang}")),
    ]
    if user.phone:
        lines.append(ctx.t("whoami.phone", phone=user.phone))
    if user.username:
        lines.append(ctx.t("whoami.username", username=user.username))
    return Result([Text("\n".join(lines))])


@router.command(
    "status",
    fr=("statut",),
    en=("status",),
    help_fr="l'état du service : version, base, file d'attente, boîtes liées",
    help_en="service status: version, database, queue, linked mailboxes",
)
def status_command(ctx: Ctx) -> Result:
    """Report version, database, queue depths, WhatsApp health and feature lines."""
    services = ctx.services
    session = ctx.session
    db_name = "PostgreSQL" if services.db.backend == "postgresql" else "SQLite"
    lines = [
        ctx.t("status.title"),
        ctx.t("status.version", version=bot.__version__),
        ctx.t("status.database", database=db_name),
        ctx.t(
            "status.queue",
            inbound=inbound_repo.queue_depth(session),
            outbound=outbox_repo.depth(session),
        ),
    ]
    health = session.get(ServiceHealth, "whatsapp")
    if health is not None and not health.ok:
        lines.append(ctx.t("status.whatsapp_token"))
    elif services.settings.sandbox_enabled:
        lines.append(ctx.t("status.whatsapp_sandbox"))
    else:
        lines.append(ctx.t("status.whatsapp_ok"))
    for provider in services.status_providers:
        lines.extend(provider(session, ctx.org, ctx.lang))
    return Result([Text("\n".join(lines))])


@router.command(
    "join",
    fr=("rejoindre",),
    en=("join",),
    help_fr="lier ce compte WhatsApp avec un code reçu",
    help_en="link this WhatsApp account with a code you received",
)
def join_command(ctx: Ctx) -> Result:
    """A registered user needs no code."""
    return Result([Text(ctx.t("join.already"))])


def answer_stranger(
    services: Services, session: Session, sender: Sender, message: InboundMessage, now: datetime
) -> list[OutgoingMessage]:
    """Redeem a join code, or send the polite refusal at most once a day; names no one."""
    catalog = services.catalog
    match = _JOIN.match(normalize(message.text or ""))
    if match:
        lang = "en" if match.group(1) == "join" else "fr"
        if rate_hit(session, f"join:{sender.key}", limit=JOIN_ATTEMPTS_PER_DAY, window=REFUSAL_WINDOW, now=now):
            join = redeem_join_code(session, match.group(2), now)
            if join is None:
                return [Text(catalog.t("join.invalid", lang))]
            phone_taken = sender.phone and session.scalar(select(User.id).where(User.phone == sender.phone))
            user = User(
                org_id=join.org_id, name=join.name, role=join.role,
                phone=None if phone_taken else sender.phone,
                wa_user_id=sender.user_id, username=sender.username, last_language=lang,
                last_inbound_at=now,
            )
            session.add(user)
            session.flush()
            join.used_by_user_id = user.id
            return [Text(catalog.t("join.welcome", lang, name=user.name))]
    if rate_hit(session, f"refusal:{sender.key}", limit=1, window=REFUSAL_WINDOW, now=now):
        return [Text(catalog.t("stranger.refusal", services.settings.default_language))]
    return []
