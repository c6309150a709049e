"""Chat commands for mailboxes: link one (admins), list them with their health, sync them now."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from bot.router import Ctx, Result, Router, UserError
from bot.text import normalize
from handlers.mailboxes.service import MailboxService
from integrations.whatsapp import OutgoingMessage, Text
from storage import mail as repo
from storage.db import after_commit
from storage.mail import Mailbox

router = Router("mailboxes")

PROVIDER_WORDS = {
    "gmail": "gmail", "google": "gmail", "googlemail": "gmail",
    "outlook": "outlook", "hotmail": "outlook", "microsoft": "outlook", "office": "outlook", "office365": "outlook",
    "live": "outlook", "imap": "imap", "autre": "imap", "other": "imap", "orange": "imap", "ovh": "imap",
    "ionos": "imap", "yahoo": "imap",
}
PROVIDER_NAMES = {"gmail": "Gmail", "outlook": "Outlook", "imap": "IMAP", "maildir": "Maildir"}


@router.command(
    "mailbox_link",
    fr=("connecter boîte", "lier boîte", "ajouter boîte"),
    en=("link mailbox", "connect mailbox", "add mailbox"),
    help_fr="lier une boîte mail : *connecter boîte gmail*, *outlook* ou *imap*",
    help_en="link a mailbox: *link mailbox gmail*, *outlook* or *imap*",
    admin=True,
)
def link_command(ctx: Ctx) -> Result:
    """Answer with a one-time link page (15 minutes, single use, bound to this admin)."""
    word = normalize(ctx.args).split(" ")[0] if ctx.args.strip() else ""
    hint = PROVIDER_WORDS.get(word)
    if word and hint is None:
        raise UserError("mailboxes.link_usage")
    service = ctx.services.get(MailboxService)
    url = service.create_link(ctx.session, ctx.org.id, ctx.user.id, hint, ctx.now)
    key = f"mailboxes.link_{hint}" if hint else "mailboxes.link_any"
    return Result([Text(ctx.t(key, url=url))])


def _local(ctx: Ctx, when: datetime) -> str:
    name = ctx.user.timezone or ctx.services.settings.timezone
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return when.astimezone(zone).strftime("%H:%M")


def _ago(ctx: Ctx, when: datetime | None) -> str:
    if when is None:
        return ctx.t("mailboxes.never")
    minutes = int((ctx.now - when).total_seconds() // 60)
    if minutes < 1:
        return ctx.t("mailboxes.just_now")
    if minutes < 60:
        return ctx.t("mailboxes.minutes_ago", minutes=minutes)
    if minutes < 48 * 60:
        return ctx.t("mailboxes.hours_ago", hours=minutes // 60)
    return ctx.t("mailboxes.days_ago", days=minutes // (24 * 60))


def describe(ctx: Ctx, index: int, box: Mailbox) -> str:
    """One line of the mailbox list: address, provider, state in plain words."""
    head = f"{index}. *{box.address}* ({PROVIDER_NAMES.get(box.provider, box.provider)})"
    if box.is_default:
        head += " " + ctx.t("mailboxes.default_sender")
    if not box.enabled:
        return f"{head}\n   {ctx.t('mailboxes.state_disabled')}"
    if box.status == "needs_relink":
        return f"{head}\n   {ctx.t('mailboxes.state_relink', provider=box.provider)}"
    if box.status == "error":
        reason = ctx.t(f"mailboxes.error.{box.last_error_kind or 'internal'}")
        retry = _local(ctx, box.next_sync_at) if box.next_sync_at else "?"
        return f"{head}\n   {ctx.t('mailboxes.state_error', reason=reason, time=retry)}"
    if box.last_sync_at is None:
        return f"{head}\n   {ctx.t('mailboxes.state_pending')}"
    state = ctx.t("mailboxes.state_ok", ago=_ago(ctx, box.last_sync_at), count=box.last_sync_count or 0)
    if box.last_sync_status == "partial":
        state += " " + ctx.t("mailboxes.state_partial")
    return f"{head}\n   {state}"


@router.command(
    "mailboxes",
    fr=("boîtes", "boîtes mail"),
    en=("mailboxes",),
    help_fr="les boîtes liées, leur état et la dernière synchronisation",
    help_en="linked mailboxes, their state and last sync",
)
def list_command(ctx: Ctx) -> Result:
    """List the organization's mailboxes with their health."""
    boxes = repo.mailboxes_of(ctx.session, ctx.org.id)
    if not boxes:
        key = "mailboxes.none_admin" if ctx.user.is_admin else "mailboxes.none"
        return Result([Text(ctx.t(key))])
    lines = [ctx.t("mailboxes.title")]
    lines.extend(describe(ctx, i, box) for i, box in enumerate(boxes, start=1))
    return Result([Text("\n".join(lines))])


@router.command(
    "mailboxes_sync",
    fr=("synchroniser", "synchro"),
    en=("sync",),
    help_fr="relever le courrier maintenant (toutes les boîtes, ou *synchroniser 2*)",
    help_en="fetch new mail now (every mailbox, or *sync 2*)",
)
def sync_command(ctx: Ctx) -> Result:
    """Start a background sync; the summary comes as a separate message when it is done."""
    boxes = repo.mailboxes_of(ctx.session, ctx.org.id)
    if not boxes:
        return Result([Text(ctx.t("mailboxes.none_admin" if ctx.user.is_admin else "mailboxes.none"))])
    wanted = ctx.args.strip().lower()
    if wanted:
        chosen = [b for i, b in enumerate(boxes, start=1) if wanted in (str(i), b.address.lower())]
        if not chosen:
            raise UserError("mailboxes.sync_unknown", value=ctx.args.strip())
    else:
        chosen = boxes
    relink = [b for b in chosen if b.status == "needs_relink"]
    ready = [b for b in chosen if b.enabled and b.status != "needs_relink"]
    replies: list[OutgoingMessage] = [
        Text(ctx.t("mailboxes.state_relink_named", address=b.address, provider=b.provider)) for b in relink
    ]
    if ready:
        service = ctx.services.get(MailboxService)
        ids, org_id, user_id, key = [b.id for b in ready], ctx.org.id, ctx.user.id, f"sync:{ctx.message_id}"
        # Started once this reply is committed, so "sync started" always reaches the chat before the summary.
        after_commit(ctx.session, lambda: service.sync_for_user(org_id, user_id, ids, key=key))
        replies.insert(0, Text(ctx.t("mailboxes.sync_started", count=len(ready))))
    return Result(replies)
