"""Reading what people type: amounts, dates, lists of steps, line items, emails, client names.

Every parser returns a value or raises ``Invalid`` with a catalog key, so the chat can say
what was wrong in the user's language and ask again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any

from babel.dates import get_month_names
from email_validator import EmailNotValidError, validate_email

from bot.router import UserError
from bot.text import fold

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000")
MAX_STEPS = 20
MAX_LINES = 30


class Invalid(UserError):
    """Input that cannot be read; ``key`` is the catalog message explaining why (the chat says it)."""


def money(value: Decimal | int | str) -> Decimal:
    """A Decimal rounded half-up to cents."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


_CURRENCY_WORDS = re.compile(r"(€|eur(os?)?|francs?( cfa)?|f ?cfa|fcfa|xof|xaf|ht|ttc|\$|usd)", re.IGNORECASE)


def parse_amount(text: str, lang: str) -> Decimal:
    """An amount as people write it: ``150``, ``150 €``, ``12 500,50``, ``€12,500.00``, ``1.500``."""
    raw = _CURRENCY_WORDS.sub(" ", text.strip())
    raw = re.sub(r"[\s\u00a0\u202f']", "", raw)
    if not raw or not re.fullmatch(r"[0-9.,]+", raw) or not raw[0].isdigit():
        raise Invalid("quotes.invalid.amount")
    if "," in raw and "." in raw:
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        raw = raw.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in raw or "." in raw:
        sep = "," if "," in raw else "."
        groups = raw.split(sep)
        thousands_like = len(groups) > 2 or (len(groups[-1]) == 3 and (
            (sep == "," and lang == "en") or (sep == "." and lang == "fr")))
        if thousands_like:
            if any(len(g) != 3 for g in groups[1:]):
                raise Invalid("quotes.invalid.amount")
            raw = "".join(groups)
        else:
            raw = raw.replace(sep, ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise Invalid("quotes.invalid.amount") from None
    if value <= 0 or value >= MAX_AMOUNT:
        raise Invalid("quotes.invalid.amount")
    if value != value.quantize(CENT):
        raise Invalid("quotes.invalid.amount_cents")
    return money(value)


@cache
def _months() -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in ("fr_FR", "en_GB"):
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                names[fold(name).rstrip(".")] = number
    names.update({"fev": 2, "sept": 9, "aout": 8, "dec": 12, "janv": 1, "juil": 7})
    return names


_RELATIVE = re.compile(r"^(dans|in)\s+(\d{1,3})\s+(jours?|days?|semaines?|weeks?|mois|months?)$")


def _add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year = start.year + month // 12
    month = month % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise Invalid("quotes.invalid.date")


def parse_date(text: str, today: date, *, allow_past: bool = False) -> date:
    """A date: ``13/12/2025``, ``13/12``, ``2025-12-13``, ``13 décembre 2025``, ``December 13``, ``dans 3 semaines``."""
    folded = fold(text).replace("1er", "1").strip(" .")
    result: date | None = None
    relative = _RELATIVE.match(folded)
    if folded in ("demain", "tomorrow"):
        result = today + timedelta(days=1)
    elif relative:
        n, unit = int(relative.group(2)), relative.group(3)
        if unit.startswith(("jour", "day")):
            result = today + timedelta(days=n)
        elif unit.startswith(("semaine", "week")):
            result = today + timedelta(weeks=n)
        else:
            result = _add_months(today, n)
    else:
        result = _numeric_date(folded, today) or _named_date(folded, today)
    if result is None:
        raise Invalid("quotes.invalid.date")
    if result < today and not allow_past:
        raise Invalid("quotes.invalid.date_past")
    return result


def _build(year: int | None, month: int, day: int, today: date) -> date | None:
    try:
        if year is None:
            candidate = date(today.year, month, day)
            return candidate if candidate >= today else date(today.year + 1, month, day)
        if year < 100:
            year += 2000
        return date(year, month, day)
    except ValueError:
        raise Invalid("quotes.invalid.date") from None


def _numeric_date(text: str, today: date) -> date | None:
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if iso:
        return _build(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)), today)
    dmy = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?", text)
    if dmy:
        year = int(dmy.group(3)) if dmy.group(3) else None
        return _build(year, int(dmy.group(2)), int(dmy.group(1)), today)
    return None


def _named_date(text: str, today: date) -> date | None:
    words = [w.rstrip(".,") for w in text.replace(",", " ").split()]
    if words and words[0] in ("le", "the", "on"):
        words = words[1:]
    months = _months()
    day = month = year = None
    for word in words:
        if word in months and month is None:
            month = months[word]
        elif re.fullmatch(r"\d{1,2}(st|nd|rd|th)?", word) and day is None:
            day = int(re.sub(r"\D", "", word))
        elif re.fullmatch(r"\d{4}", word) and year is None:
            year = int(word)
        else:
            return None
    if day is None or month is None:
        return None
    return _build(year, month, day, today)


def parse_steps(text: str) -> list[str]:
    """Workflow steps from a list separated by commas, semicolons, arrows or lines."""
    parts = re.split(r"\s*(?:\n|;|,|→|->|>|\|)\s*", text.strip())
    steps = []
    for part in parts:
        cleaned = re.sub(r"^(?:[-•*·]|\d{1,2}[.)])\s*", "", part).strip()
        if cleaned:
            if len(cleaned) > 200:
                raise Invalid("quotes.invalid.step_too_long")
            steps.append(cleaned)
    if not steps:
        raise Invalid("quotes.invalid.steps")
    if len(steps) > MAX_STEPS:
        raise Invalid("quotes.invalid.too_many_steps", max=MAX_STEPS)
    return steps


@dataclass(frozen=True)
class LineItem:
    """One line of a quote: what, how many, at what unit price (before tax), at what VAT rate."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal

    @property
    def total(self) -> Decimal:
        """Quantity × unit price, rounded to cents (before tax)."""
        return money(self.quantity * self.unit_price)

    def as_json(self) -> dict[str, str]:
        """JSON-safe form (decimals as strings)."""
        return {"description": self.description, "quantity": str(self.quantity),
                "unit_price": str(self.unit_price), "vat_rate": str(self.vat_rate)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LineItem:
        """Inverse of ``as_json``."""
        return cls(str(data["description"]), Decimal(str(data["quantity"])), Decimal(str(data["unit_price"])),
                   Decimal(str(data["vat_rate"])))


def parse_rate(text: str) -> Decimal:
    """A VAT rate in percent: ``20``, ``20 %``, ``5,5``."""
    raw = text.strip().rstrip("%").strip().replace(",", ".")
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise Invalid("quotes.invalid.vat") from None
    if rate < 0 or rate > 100:
        raise Invalid("quotes.invalid.vat")
    return rate


def parse_quantity(text: str) -> Decimal:
    """A positive quantity, decimals allowed (``1,5`` days)."""
    try:
        qty = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise Invalid("quotes.invalid.quantity") from None
    if qty <= 0 or qty > 1_000_000 or qty != qty.quantize(Decimal("0.001")):
        raise Invalid("quotes.invalid.quantity")
    return qty


def parse_lines(text: str, lang: str, default_vat: Decimal) -> list[LineItem]:
    """Line items, one per line: ``description ; quantity ; unit price ; VAT %`` (the last two optional)."""
    items = []
    rows = [r for r in text.strip().splitlines() if r.strip()]
    if not rows:
        raise Invalid("quotes.invalid.lines")
    if len(rows) > MAX_LINES:
        raise Invalid("quotes.invalid.too_many_lines", max=MAX_LINES)
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in re.split(r"[;|]", row)]
        try:
            if len(cells) < 2 or len(cells) > 4 or not cells[0]:
                raise Invalid("quotes.invalid.lines")
            if len(cells) == 2:
                quantity, price = Decimal(1), parse_amount(cells[1], lang)
            else:
                quantity, price = parse_quantity(cells[1]), parse_amount(cells[2], lang)
            vat = parse_rate(cells[3]) if len(cells) == 4 else default_vat
        except Invalid as exc:
            raise Invalid("quotes.invalid.line", line=number, row=row[:60]) from exc
        items.append(LineItem(cells[0][:300], quantity, price, vat))
    return items


def parse_email(text: str) -> str:
    """A syntactically valid email address, normalized (no DNS lookup)."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise Invalid("quotes.invalid.email") from None


_LEADING = ("a ", "au ", "aux ", "pour ", "to ", "for ", "le client ", "la cliente ", "client ", "the client ",
            "chez ")


def client_query(args: str) -> str:
    """The client name in a command's arguments: ``à Dupont`` → ``Dupont``."""
    text = unicodedata.normalize("NFC", args).strip().strip("?!.:")
    changed = True
    while changed:
        changed = False
        folded = fold(text)
        for word in _LEADING:
            if folded.startswith(word):
                text = text[len(word):].lstrip()
                changed = True
                break
    return text.strip()


_NUMBER = re.compile(r"\b([A-Za-z0-9]{1,8}-\d{4}-\d{3,6})\b")


def find_number(text: str) -> str | None:
    """A document number such as ``DEV-2026-0001`` in a text, upper-cased."""
    match = _NUMBER.search(text)
    return match.group(1).upper() if match else None
