"""Chat commands: feedback buttons and replies, VIPs, digest schedule and on-demand summaries, quiet hours, stats."""

from __future__ import annotations

import re
from datetime import time

from bot.router import Ctx, Result, Router, UserError
from bot.text import normalize
from handlers.digests.render import stats_text
from handlers.digests.service import DigestService
from integrations.whatsapp import Text

router = Router("digests")

_TIME = re.compile(r"(?<![\d:])(\d{1,2})(?:\s*(?:h|:)\s*(\d{2})?)?\s*(am|pm)?(?![\d])", re.IGNORECASE)
_WORDS_OFF = {"off", "non", "stop", "arret", "desactiver", "aucun", "none", "disable"}
_PERIODS = {
    "aujourd'hui": "today", "aujourdhui": "today", "today": "today", "jour": "today",
    "hier": "yesterday", "yesterday": "yesterday",
    "semaine": "week", "week": "week", "7 jours": "week", "7 days": "week",
}
_ADD = {"ajouter", "ajoute", "add", "+"}
_REMOVE = {"retirer", "retire", "supprimer", "enlever", "remove", "delete", "-"}
_VIP_VALUE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$|^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def parse_times(text: str) -> list[time]:
    """Clock times in French or English: '8h', '18h30', '08:00', '8am', '6pm', '17'."""
    found: list[time] = []
    for match in _TIME.finditer(text):
        hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            raise UserError("digests.schedule_usage")
        found.append(time(hour, minute))
    return found


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _show(ctx: Ctx, value: str) -> str:
    hours, minutes = value.split(":")
    if ctx.lang == "en":
        return value
    return f"{int(hours)}h{minutes}" if minutes != "00" else f"{int(hours)}h"


# ---------------------------------------------------------------- feedback


def _feedback(ctx: Ctx, vote: int) -> Result:
    service = ctx.services.get(DigestService)
    ident = ctx.args.strip()
    triage_id = int(ident) if ident.isdigit() else (None if ctx.is_button else service.last_alerted(ctx.session, ctx.user))
    if triage_id is None:
        return Result([Text(ctx.t("digests.feedback_nothing"))])
    record = service.record_feedback(ctx.session, ctx.user, triage_id, vote)
    if record is None:
        return Result([Text(ctx.t("digests.feedback_nothing"))])
    key = "digests.feedback_up" if vote > 0 else "digests.feedback_down"
    return Result([Text(ctx.t(key, sender=record.sender or "?"))])


@router.action("alert:not_important")
def not_important_button(ctx: Ctx) -> Result:
    """The "Not important" button of an alert: the sender (and, weaker, the domain) ranks lower next time."""
    return _feedback(ctx, -1)


@router.action("alert:important")
def important_button(ctx: Ctx) -> Result:
    """The "Important" button of an alert: the sender ranks higher next time."""
    return _feedback(ctx, 1)


@router.command("alert.not_important_text", fr=("pas important",), en=("not important",),
                help_fr="la dernière alerte n'était pas importante (l'expéditeur baissera)",
                help_en="the last alert was not important (the sender will rank lower)")
def not_important_text(ctx: Ctx) -> Result:
    """Text reply doing what the button does, on the latest alert."""
    return _feedback(ctx, -1)


@router.command("alert.important_text", fr=("important",), en=("important",),
                help_fr="la dernière alerte était importante (l'expéditeur montera)",
                help_en="the last alert was important (the sender will rank higher)")
def important_text(ctx: Ctx) -> Result:
    """Text reply doing what the button does, on the latest alert."""
    return _feedback(ctx, 1)


# ---------------------------------------------------------------- VIPs


@router.command("vip", fr=("vip",), en=("vip",),
                help_fr="*vip ajouter adresse@…* ou un domaine, *vip retirer …*, *vip* pour la liste",
                help_en="*vip add address@…* or a domain, *vip remove …*, *vip* for the list")
def vip_command(ctx: Ctx) -> Result:
    """Manage the organization's VIP list."""
    words = ctx.args.split()
    if not words:
        values = ctx.services.get(DigestService).vips(ctx.session, ctx.org.id)
        return Result([Text(ctx.t("digests.vip_list", values=", ".join(values)) if values else ctx.t("digests.vip_empty"))])
    verb = normalize(words[0])
    value = " ".join(words[1:]).strip().strip("<>").lower().lstrip("@")
    if verb not in _ADD | _REMOVE or not _VIP_VALUE.match(value):
        raise UserError("digests.vip_usage")
    if verb in _ADD:
        DigestService.add_vip(ctx.session, ctx.org.id, value, ctx.now)
        return Result([Text(ctx.t("digests.vip_added", value=value))])
    if DigestService.remove_vip(ctx.session, ctx.org.id, value):
        return Result([Text(ctx.t("digests.vip_removed", value=value))])
    return Result([Text(ctx.t("digests.vip_unknown", value=value))])


# ---------------------------------------------------------------- digests


@router.command("digest", fr=("résumé",), en=("summary", "digest"),
                help_fr="le résumé : *résumé aujourd'hui*, *hier*, *semaine* ; *résumé à 8h et 18h* ; *résumé off*",
                help_en="the summary: *summary today*, *yesterday*, *week*; *digest at 8am and 6pm*; *digest off*")
def digest_command(ctx: Ctx) -> Result:
    """On-demand summaries, or the schedule of digests."""
    service = ctx.services.get(DigestService)
    words = normalize(ctx.args)
    if words in _WORDS_OFF:
        prefs = service.prefs(ctx.session, ctx.user.id)
        prefs.enabled, prefs.updated_at = False, ctx.now
        return Result([Text(ctx.t("digests.schedule_off"))])
    if not words or words in _PERIODS:
        return Result([Text(service.on_demand(ctx.session, ctx.user, _PERIODS.get(words, ""), ctx.now))])
    times = parse_times(ctx.args)
    if not times:
        raise UserError("digests.schedule_usage")
    slots = sorted({_hhmm(t) for t in times})
    prefs = service.prefs(ctx.session, ctx.user.id)
    prefs.slots, prefs.enabled, prefs.updated_at = slots, True, ctx.now
    zone = service.zone(ctx.user).key
    shown = (" et " if ctx.lang == "fr" else " and ").join(_show(ctx, s) for s in slots)
    return Result([Text(ctx.t("digests.schedule_set", times=shown, zone=zone))])


@router.command("digest.more", fr=("plus", "suite"), en=("more", "next"),
                help_fr="la suite du dernier résumé", help_en="the rest of the last summary")
def more_command(ctx: Ctx) -> Result:
    """The next page of the last digest."""
    return Result([Text(ctx.services.get(DigestService).more(ctx.session, ctx.user, ctx.now))])


@router.command("digest.quiet", fr=("silence",), en=("quiet", "quiet hours"),
                help_fr="heures de silence sauf alertes critiques : *silence 21h-7h*, *silence off*",
                help_en="quiet hours except critical alerts: *quiet 9pm-7am*, *quiet off*")
def quiet_command(ctx: Ctx) -> Result:
    """Set or remove quiet hours."""
    service = ctx.services.get(DigestService)
    prefs = service.prefs(ctx.session, ctx.user.id)
    if normalize(ctx.args) in _WORDS_OFF:
        prefs.quiet_start = prefs.quiet_end = None
        prefs.updated_at = ctx.now
        return Result([Text(ctx.t("digests.quiet_off"))])
    try:
        times = parse_times(ctx.args)
    except UserError:
        raise UserError("digests.quiet_usage") from None
    if len(times) != 2 or times[0] == times[1]:
        raise UserError("digests.quiet_usage")
    prefs.quiet_start, prefs.quiet_end, prefs.updated_at = _hhmm(times[0]), _hhmm(times[1]), ctx.now
    return Result([Text(ctx.t("digests.quiet_set", start=_show(ctx, prefs.quiet_start),
                              end=_show(ctx, prefs.quiet_end)))])


# ---------------------------------------------------------------- statistics


@router.command("digest.stats", fr=("statistiques", "stats"), en=("stats", "statistics"),
                help_fr="e-mails triés par jour et par boîte, alertes, temps de lecture gagné (*stats 30*)",
                help_en="emails triaged per day and mailbox, alerts, reading time saved (*stats 30*)")
def stats_command(ctx: Ctx) -> Result:
    """Per day and per mailbox: triaged by priority, alerts sent, reading time saved."""
    arg = ctx.args.strip()
    days = min(int(arg), 90) if arg.isdigit() and int(arg) > 0 else 7
    rows = ctx.services.get(DigestService).stats(ctx.session, ctx.user, days, ctx.now)
    return Result([Text(stats_text(ctx.t, rows, days))])
