"""Find deadlines in French and English text and resolve them against the message's Date header."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from integrations.triage.lexicon import calendar as cal
from integrations.triage.text import fold, sentences, top_level_alternatives

__all__ = ["Deadline", "find_deadlines", "horizon_days", "pick_deadline"]


@dataclass(frozen=True)
class Deadline:
    """A point in time the text refers to, and whether it reads as a deadline."""

    when: datetime
    text: str
    marked: bool
    time_only: bool
    start: int
    end: int
    sentence: tuple[int, int]


def _alt(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_MONTH = _alt(list(cal.MONTHS))
_WEEKDAY = _alt(list(cal.WEEKDAYS))
_NUMBER = r"\d{1,3}|" + _alt(list(cal.NUMBER_WORDS))
_UNIT = "|".join(f"(?P<u{i}>{pattern})" for i, (pattern, _) in enumerate(cal.DURATION_UNITS))
_LEADS = "|".join(sorted(cal.DURATION_LEADS, key=len, reverse=True))
_TZ = _alt(list(cal.TIME_ZONES))


def _starters() -> str:
    """Every word that can begin a time expression: a cheap gate before the full alternation."""
    sources: list[str] = [
        *cal.MONTHS,
        *cal.WEEKDAYS,
        *cal.TIME_ZONES,
        *cal.TIMES_OF_DAY,
        *cal.FIXED_DURATIONS,
    ]
    sources += [*cal.DURATION_LEADS, cal.NOON, cal.MIDNIGHT]
    sources += [pattern for pattern, *_ in cal.RELATIVE_DAYS] + [pattern for pattern, _ in cal.PERIODS]
    words: set[str] = set()
    for source in sources:
        for alternative in top_level_alternatives(source):
            first = re.match(r"[a-z]+", alternative)
            words.update([first.group(0)] if first else re.findall(r"[a-z]+", alternative))
    return "|".join(sorted(words, key=len, reverse=True))


_ATOMS = re.compile(
    rf"(?<![\w-])(?=\d|\(|(?:{_starters()})(?![a-z]))(?:"
    + "|".join(
        [
            rf"(?P<fixed>{_alt(list(cal.FIXED_DURATIONS))})",
            rf"(?P<duration>(?:{_LEADS})[\s:|]+(?:(?:un delai de|les|the next|next|a|au plus)\s+)?(?P<dnum>{_NUMBER})(?:\s*\(\d+\))?\s*(?:{_UNIT}))(?![\w])",
            r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))",
            r"(?P<num>(?P<nd>\d{1,2})[/.](?P<nm>\d{1,2})(?:[/.](?P<ny>\d{4}|\d{2}))?)(?![\d/.]\d)",
            rf"(?P<dmy>(?P<dd>1er|\d{{1,2}})(?:er|st|nd|rd|th)?\s+(?:of\s+)?(?P<dmon>{_MONTH})(?![\w])\.?(?:,?\s+(?P<dy>\d{{4}})(?!\d))?)",
            rf"(?P<mdy>(?P<mmon>{_MONTH})(?![\w])\.?\s+(?P<md>\d{{1,2}})(?!\d)(?:st|nd|rd|th)?(?:,?\s+(?P<my>\d{{4}})(?!\d))?)",
            "|".join(f"(?P<rel{i}>{pattern})" for i, (pattern, *_) in enumerate(cal.RELATIVE_DAYS)),
            "|".join(f"(?P<per{i}>{pattern})" for i, (pattern, _) in enumerate(cal.PERIODS)),
            rf"(?P<wd>(?P<wdn>{_WEEKDAY})(?![\w])(?:\s+(?P<wdnext>prochain))?(?:\s+(?P<wdday>\d{{1,2}})(?![\d/.:h])(?!\s?[ap]\.?m(?![a-z]))(?!(?:er)?\s+(?:{_MONTH})(?![\w])))?)",
            r"(?P<t24>(?P<th>[01]?\d|2[0-3])(?:\s?h(?P<tm>[0-5]\d)?|:(?P<tm2>[0-5]\d))(?:\s?(?P<tap>[ap])\.?m\.?)?)(?![\w:])",
            r"(?P<tampm>(?P<ah>1[0-2]|0?\d)\s?(?P<aap>[ap])\.?m\.?)(?![\w])",
            rf"(?P<noon>{cal.NOON})|(?P<midnight>{cal.MIDNIGHT})",
            rf"(?P<tod>(?P<todw>{_alt(cal.TIMES_OF_DAY)}))(?![\w])",
            rf"(?P<tz>\(?(?:{_TZ})(?:\s?[+-]\s?\d{{1,2}})?\)?)",
        ]
    )
    + ")",
)
_BOUNDARY = re.compile(r"[\w]")
_TIME_KINDS = frozenset({"t24", "tampm", "noon", "midnight", "tod", "tz"})
_CONNECTOR = re.compile(
    r"^[\s,;()\-]*(?:(?:a|au|at|le|the|on|de|des|en|vers|avant|before|by|et|and|a partir de|from)[\s,;()\-]+)?$"
)
_NEAR = re.compile(r"(?<![\w])(?:" + "|".join(cal.NEAR_MARKERS) + r")[\s,:]*$")
_INNER = re.compile(r"(?<![\w])(?:" + "|".join(cal.NEAR_MARKERS) + r")(?![\w])")
_FAR = re.compile(r"(?<![\w])(?:" + "|".join(cal.FAR_MARKERS) + r")(?![\w])")
_PAST = re.compile(r"(?<![\w])(?:" + "|".join(cal.PAST_MARKERS) + r")(?![\w])")
_OF_DATE = re.compile(r"(?<![\w])du\s*$")
# A marker after the date: "ce soir au plus tard", "Friday at the latest".
_AFTER = re.compile(r"[\s,]*(?:au plus tard|at the latest|dernier delai|latest)(?![\w])")
_RANGE_START = re.compile(r"(?:\bde|\bfrom|\bentre|\bbetween|\bdu)\s*$")
# "Pas besoin de réponse aujourd'hui", "no need to reply today": the date is the one not asked for.
_WAIVED = re.compile(
    r"(?:pas besoin d[e'] ?(?:\w+ ){0,2}|no need to (?:\w+ ){0,2}|pas (?:pour|avant|d'ici)|not (?:by|before|for)"
    r"|(?:rien d'urgent|rien ne presse|pas (?:d'une |une |d')?urgen\w*|nothing urgent|not urgent"
    r"|nothing (?:is )?(?:needed|required|expected)|rien n'est (?:necessaire|demande|attendu|requis))(?: pour| for)?)\s*$"
)


@dataclass
class _Atom:
    kind: str
    start: int
    end: int
    match: re.Match[str]


def _atoms(folded: str) -> list[_Atom]:
    found: list[_Atom] = []
    for match in _ATOMS.finditer(folded):
        start, end = match.span()
        if start > 0 and (_BOUNDARY.match(folded[start - 1]) or folded[start - 1] == "-"):
            continue
        kind = match.lastgroup or ""  # the outermost named group closes last
        if kind == "wd" and folded[max(0, start - 6) : start] in ("black ", "cyber "):
            continue
        found.append(_Atom(kind, start, end, match))
    return found


def _group(atoms: list[_Atom], folded: str) -> list[list[_Atom]]:
    groups: list[list[_Atom]] = []
    for atom in atoms:
        if groups:
            gap = folded[groups[-1][-1].end : atom.start]
            if len(gap) <= 14 and "\n" not in gap and _CONNECTOR.match(gap):
                groups[-1].append(atom)
                continue
        groups.append([atom])
    return groups


def _zone(name: str | None, fallback: tzinfo) -> tzinfo:
    if not name:
        return fallback
    key = name.strip("() ").split("+")[0].split("-")[0].strip()
    zone = cal.TIME_ZONES.get(key)
    if zone is None:
        return fallback
    try:
        return ZoneInfo(zone)
    except (KeyError, ValueError):
        return fallback


def _year_for(month: int, day: int, sent: date) -> int:
    """The year that puts day/month nearest after the message date (allowing a short look back)."""
    year = sent.year
    try:
        candidate = date(year, month, day)
    except ValueError:
        return year
    if candidate < sent - timedelta(days=60):
        return year + 1
    return year


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _add_business_days(start: datetime, days: int) -> datetime:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _friday(of: date, weeks_ahead: int) -> date:
    monday = of - timedelta(days=of.weekday())
    return monday + timedelta(days=4 + 7 * weeks_ahead)


def _period(kind: str, sent: date) -> date:
    if kind == "this_week":
        return _friday(sent, 1 if sent.weekday() >= 5 else 0)
    if kind == "next_week":
        return _friday(sent, 2 if sent.weekday() >= 5 else 1)
    if kind == "month_end":
        first_next = date(sent.year + sent.month // 12, sent.month % 12 + 1, 1)
        return first_next - timedelta(days=1)
    if kind == "next_month":
        month = sent.month % 12 + 1
        year = sent.year + (sent.month == 12)
        first_after = date(year + month // 12, month % 12 + 1, 1)
        return first_after - timedelta(days=1)
    return date(sent.year, 12, 31)


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    return cal.NUMBER_WORDS.get(text)


def _resolve(group: list[_Atom], sent: datetime) -> datetime | None:
    """Turn a group of atoms into an aware datetime in the sender's frame, or None."""
    zone: tzinfo = sent.tzinfo or ZoneInfo("UTC")
    day: date | None = None
    clock: time | None = None
    default = time(18, 0)
    for atom in group:
        m = atom.match
        kind = atom.kind
        if kind == "tz":
            zone = _zone(m.group("tz"), zone)
    local_sent = sent.astimezone(zone)
    base_date = local_sent.date()
    for atom in group:
        m = atom.match
        kind = atom.kind
        if kind == "fixed":
            return local_sent + timedelta(days=cal.FIXED_DURATIONS[m.group("fixed")])
        if kind == "duration":
            amount = _number(m.group("dnum"))
            if amount is None:
                return None
            unit = next(cal.DURATION_UNITS[i][1] for i in range(len(cal.DURATION_UNITS)) if m.group(f"u{i}"))
            if unit == "minutes":
                return local_sent + timedelta(minutes=amount)
            if unit == "hours":
                return local_sent + timedelta(hours=amount)
            if unit == "business_days":
                return _add_business_days(local_sent, amount)
            if unit == "weeks":
                return local_sent + timedelta(weeks=amount)
            return local_sent + timedelta(days=amount)
        if kind == "iso":
            day = _safe_date(int(m.group("iy")), int(m.group("im")), int(m.group("id"))) or day
        elif kind == "num":
            d, mo = int(m.group("nd")), int(m.group("nm"))
            if mo > 12 and d <= 12:
                d, mo = mo, d
            year_text = m.group("ny")
            if year_text:
                year = int(year_text) + (2000 if len(year_text) == 2 else 0)
            elif "." in m.group("num"):
                continue  # "3.5" or "1.200" are numbers, not dates
            else:
                year = _year_for(mo, d, base_date)
            day = _safe_date(year, mo, d) or day
        elif kind == "dmy":
            d = 1 if m.group("dd") == "1er" else int(m.group("dd"))
            mo = cal.MONTHS[m.group("dmon")]
            year = int(m.group("dy")) if m.group("dy") else _year_for(mo, d, base_date)
            day = _safe_date(year, mo, d) or day
        elif kind == "mdy":
            d = int(m.group("md"))
            mo = cal.MONTHS[m.group("mmon")]
            year = int(m.group("my")) if m.group("my") else _year_for(mo, d, base_date)
            day = _safe_date(year, mo, d) or day
        elif kind.startswith("rel"):
            _, offset, hour, minute = cal.RELATIVE_DAYS[int(kind[3:])]
            if hour < 0:
                return local_sent + timedelta(minutes=minute)
            if day is None:
                day = base_date + timedelta(days=offset)
            default = time(hour, minute)
        elif kind.startswith("per"):
            if day is None:
                day = _period(cal.PERIODS[int(kind[3:])][1], base_date)
        elif kind == "wd":
            if day is None:
                day = _weekday(m, base_date, m.string[max(0, atom.start - 8) : atom.start])
        elif kind in ("t24", "tampm", "noon", "midnight", "tod") and clock is not None:
            continue  # the first time of a range ("10:00 - 11:00") is the one that counts
        elif kind == "t24":
            hour = int(m.group("th"))
            minute = int(m.group("tm") or m.group("tm2") or 0)
            if m.group("tap") == "p" and hour < 12:
                hour += 12
            clock = time(hour, minute)
        elif kind == "tampm":
            hour = int(m.group("ah")) % 12 + (12 if m.group("aap") == "p" else 0)
            clock = time(hour, 0)
        elif kind == "noon":
            clock = time(12, 0)
        elif kind == "midnight":
            clock = time(23, 59)
        elif kind == "tod":
            default = time(*cal.TIMES_OF_DAY[m.group("todw")])
            if day is None and len(group) == 1:
                return None
    if day is None and clock is None:
        return None
    if day is None:
        assert clock is not None
        day = base_date if clock >= local_sent.time() else base_date + timedelta(days=1)
    return datetime.combine(day, clock or default, tzinfo=zone)


def _weekday(m: re.Match[str], base: date, before: str) -> date:
    if m.group("wdday"):
        wanted = int(m.group("wdday"))
        for offset in range(0, 62):
            candidate = base + timedelta(days=offset)
            if candidate.day == wanted:
                return candidate
    target = cal.WEEKDAYS[m.group("wdn")]
    ahead = (target - base.weekday()) % 7
    explicit_next = bool(m.group("wdnext")) or before.endswith(("next ", "coming "))
    if ahead == 0:
        ahead = 0 if before.endswith(("ce ", "cette ", "this ")) else 7
    elif explicit_next and ahead < 2:
        ahead += 7
    return base + timedelta(days=ahead)


def find_deadlines(text: str, sent: datetime, *, folded: str | None = None) -> list[Deadline]:
    """All future points in time the text mentions, each flagged when a deadline word introduces it."""
    folded = fold(text) if folded is None else folded
    atoms = _atoms(folded)
    if not atoms:
        return []
    spans = sentences(folded)
    results: list[Deadline] = []
    for group in _group(atoms, folded):
        if all(a.kind == "tz" for a in group):
            continue
        start, end = group[0].start, group[-1].end
        sentence = next(((s, e) for s, e in spans if s <= start < e), (start, end))
        before = folded[max(sentence[0], start - 60) : start]
        if _RANGE_START.search(before[-8:]) and any(a.kind in ("t24", "tampm") for a in group):
            continue  # "de 02h00 à 04h00" is a window, not a deadline
        try:
            when = _resolve(group, sent)
        except (ValueError, OverflowError):
            when = None
        if when is None or when < sent - timedelta(minutes=30):
            continue
        if _WAIVED.search(before[-40:]):
            continue
        near = bool(_NEAR.search(before[-24:]))
        if not near and _PAST.search(before[-25:]):
            continue
        # "La facture du 12/11" sent on 20/11 names a past date (read as next year's); "notre
        # clôture du 4 décembre" is still ahead.
        if not near and _OF_DATE.search(before) and when - sent > timedelta(days=200):
            continue
        marked = (
            near
            or bool(_FAR.search(before))
            or bool(_INNER.search(folded[start:end]))
            or bool(_AFTER.match(folded, end, end + 24))
        )
        time_only = all(a.kind in _TIME_KINDS for a in group)
        written = text[start:end].strip(" ,;(")
        if written.count("(") > written.count(")"):
            written += ")"
        results.append(Deadline(when, written, marked, time_only, start, end, sentence))
    return results


def pick_deadline(
    deadlines: list[Deadline],
    *,
    asked: set[tuple[int, int]] | None = None,
    excluded: set[tuple[int, int]] | None = None,
) -> Deadline | None:
    """The earliest deadline marked as one or dated in an asking sentence, outside `excluded` sentences."""
    asked = asked or set()
    excluded = excluded or set()
    # A bare hour in a question ("move the call to 2pm?") is a meeting time, not a deadline; a date in
    # the sender's own plans ("livraison prévue jeudi avant 13h") is not the reader's deadline.
    eligible = [
        d
        for d in deadlines
        if d.sentence not in excluded and (d.marked or (d.sentence in asked and not d.time_only))
    ]
    return min(eligible, key=lambda d: d.when, default=None)


def horizon_days(deadline: datetime, sent: datetime) -> int:
    """Calendar days between the message and the deadline, in the sender's frame (0 = same day)."""
    zone = sent.tzinfo
    return (deadline.astimezone(zone).date() - sent.date()).days


def business_horizon_days(deadline: datetime, sent: datetime) -> int:
    """`horizon_days` without the Saturdays and Sundays in between: a Friday message due Monday
    morning leaves one working day, like a Thursday message due Friday."""
    days = horizon_days(deadline, sent)
    between = days - 1  # the days strictly after the message and before the deadline's day
    if between <= 0:
        return days
    weeks, rest = divmod(between, 7)
    first = sent.date().weekday() + 1
    weekend = 2 * weeks + sum(1 for i in range(rest) if (first + i) % 7 >= 5)
    return days - weekend
