"""Pure rendering of alerts, digests, teasers and statistics (no database, no clock)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from integrations.triage.summary import format_deadline
from integrations.whatsapp import TEXT_LIMIT

Translate = Callable[..., str]
"""``t(key, **params)``: a catalog lookup already bound to the reader's language."""

ORDER = ("critical", "important", "informative", "spam")
RANK = {p: i for i, p in enumerate(ORDER)}
ICONS = {"critical": "🔴", "important": "🟠", "informative": "⚪", "spam": "🗑️"}
FIELD_LIMIT = 200

# Reading time saved, in minutes per triaged email (see README, "Digests and alerts").
SAVED_MINUTES = {"critical": 0.0, "important": 0.5, "informative": 1.0, "spam": 0.5}


@dataclass(frozen=True)
class DigestItem:
    """What a digest or an alert shows of one triaged email."""

    id: int
    priority: str
    sender: str
    subject: str
    summary: str
    action: str
    deadline: datetime | None
    received: datetime


def sort_key(item: DigestItem) -> tuple[int, float, float]:
    """Most important first; then the nearest deadline; then the newest."""
    deadline = item.deadline.timestamp() if item.deadline else float("inf")
    return (RANK.get(item.priority, 9), deadline, -item.received.timestamp())


def _cut(text: str, limit: int = FIELD_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def deadline_phrase(deadline: datetime, now: datetime, zone: ZoneInfo, lang: str) -> str:
    """'avant 17h aujourd'hui' in the reader's time zone."""
    return format_deadline(deadline.astimezone(zone), now.astimezone(zone), lang)


def render_item(t: Translate, item: DigestItem, now: datetime, zone: ZoneInfo, lang: str) -> str:
    """One digest entry: subject and sender, then summary, action and deadline."""
    lines = [f"{ICONS.get(item.priority, '•')} *{_cut(item.subject or t('digests.no_subject'), 120)}* — {_cut(item.sender, 80)}"]
    if item.summary:
        lines.append(f"   {_cut(item.summary)}")
    tail = t("digests.item_action", action=t(f"digests.action.{item.action}"))
    if item.deadline:
        tail += " · " + t("digests.item_deadline", deadline=deadline_phrase(item.deadline, now, zone, lang))
    lines.append(f"   {tail}")
    return "\n".join(lines)


@dataclass(frozen=True)
class DigestPage:
    """One message's worth of a digest and the ids of what did not fit."""

    text: str
    rest: list[int]


def counts_of(items: Sequence[DigestItem]) -> dict[str, int]:
    """How many items per priority."""
    counts = dict.fromkeys(ORDER, 0)
    for item in items:
        counts[item.priority] = counts.get(item.priority, 0) + 1
    return counts


def count_line(t: Translate, counts: dict[str, int]) -> str:
    """'2 critiques, 5 importants, 10 informatifs, 4 spams' (zero counts left out)."""
    parts = [t(f"digests.count.{p}" + ("_one" if counts[p] == 1 else ""), n=counts[p]) for p in ORDER if counts.get(p)]
    return ", ".join(parts) if parts else t("digests.count.none")


def build_page(t: Translate, title: str, items: Sequence[DigestItem], now: datetime, zone: ZoneInfo, lang: str,
               *, spam: int | None = None, limit: int = TEXT_LIMIT, header: bool = True) -> DigestPage:
    """A digest message under ``limit`` characters: grouped by priority, spam only as a count, the rest for ``plus``."""
    shown = sorted((i for i in items if i.priority != "spam"), key=sort_key)
    spam_count = spam if spam is not None else sum(1 for i in items if i.priority == "spam")
    parts: list[str] = [title]
    if header:
        counts = counts_of(items)
        counts["spam"] = spam_count
        parts.append(count_line(t, counts))
    footer: list[str] = []
    if spam_count and header:
        footer.append(t("digests.spam_line", n=spam_count))
    size = sum(len(p) + 1 for p in parts) + sum(len(f) + 2 for f in footer)
    # Room kept for the "+N more" line, whose length depends on N (at most a few digits).
    reserve = len(t("digests.more", n=len(shown))) + 2
    current: str | None = None
    body: list[str] = []
    fitted = 0
    for item in shown:
        block: list[str] = []
        if item.priority != current:
            block.append("")
            block.append(t(f"digests.section.{item.priority}"))
        block.append(render_item(t, item, now, zone, lang))
        added = sum(len(b) + 1 for b in block)
        last = fitted == len(shown) - 1
        if size + added + (0 if last else reserve) > limit:
            break
        body.extend(block)
        size += added
        current = item.priority
        fitted += 1
    rest = [i.id for i in shown[fitted:]]
    lines = parts + body
    if footer:
        lines.append("")
        lines.extend(footer)
    if rest:
        lines.append("")
        lines.append(t("digests.more", n=len(rest)))
    text = "\n".join(lines)
    if len(text) > limit:  # a pathological catalog entry; never send over the limit
        text = text[: limit - 1] + "…"
    return DigestPage(text, rest)


def teaser(t: Translate, counts: dict[str, int]) -> str:
    """The short line a template carries: '3 emails critiques, 5 importants — répondez `résumé`'."""
    return t("digests.teaser", counts=count_line(t, counts))


def alert_text(t: Translate, item: DigestItem, now: datetime, zone: ZoneInfo, lang: str) -> str:
    """The alert body (under WhatsApp's 1024-character limit for messages with buttons)."""
    deadline = deadline_phrase(item.deadline, now, zone, lang) if item.deadline else t("digests.no_deadline")
    icon = "🚨" if item.priority == "critical" else "⚠️"
    head = t("digests.alert_head", icon=icon, summary=_cut(item.summary or item.subject, 180),
             deadline=deadline)
    lines = [
        head,
        t("digests.alert_action", action=t(f"digests.action.{item.action}")),
        t("digests.alert_from", sender=_cut(item.sender, 120)),
        t("digests.alert_subject", subject=_cut(item.subject or t("digests.no_subject"), 200)),
        t("digests.alert_priority", priority=t(f"digests.priority.{item.priority}")),
    ]
    return "\n".join(lines)[:1000]


@dataclass(frozen=True)
class StatRow:
    """Counts of one day and one mailbox."""

    day: str
    mailbox: str
    counts: dict[str, int]
    alerts: int


def saved_minutes(counts: dict[str, int]) -> float:
    """Estimated reading time saved: minutes per email by priority (documented in the README)."""
    return sum(SAVED_MINUTES.get(p, 0.0) * n for p, n in counts.items())


def stats_text(t: Translate, rows: Sequence[StatRow], days: int) -> str:
    """The ``stats`` answer: per day and per mailbox, triaged by priority, alerts, time saved."""
    if not rows:
        return t("digests.stats_none", days=days)
    lines = [t("digests.stats_title", days=days)]
    total: dict[str, Any] = {"counts": dict.fromkeys(ORDER, 0), "alerts": 0}
    day = None
    for row in rows:
        if row.day != day:
            lines.append("")
            lines.append(f"*{row.day}*")
            day = row.day
        counts = " ".join(f"{ICONS[p]} {row.counts.get(p, 0)}" for p in ORDER)
        lines.append(t("digests.stats_row", mailbox=row.mailbox, counts=counts, alerts=row.alerts,
                       minutes=int(saved_minutes(row.counts) + 0.5)))
        for p in ORDER:
            total["counts"][p] += row.counts.get(p, 0)
        total["alerts"] += row.alerts
    lines.append("")
    lines.append(t("digests.stats_total", triaged=sum(total["counts"].values()), alerts=total["alerts"],
                   minutes=int(saved_minutes(total["counts"]) + 0.5)))
    lines.append(t("digests.stats_formula"))
    return "\n".join(lines)
