"""Find sums of money in French and English writing: 15M FCFA, 2 450 000 FCFA, €4,800, 1.200 EUR."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from integrations.triage.lexicon.money import CURRENCIES, MULTIPLIERS
from integrations.triage.model import Amount
from integrations.triage.text import fold

__all__ = ["find_amounts", "parse_number"]


def _alt(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_CUR = _alt(list(CURRENCIES))
_MULT = _alt(list(MULTIPLIERS))
# Digits with optional thousands groups (space, dot, comma, apostrophe) and an optional decimal part.
_NUM = r"\d{1,3}(?:[  .,'’]\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d+)?"
_AMOUNT = re.compile(
    rf"(?<![\w.,])(?=\d|[€$£]|(?:{_CUR})(?![a-z]))(?:(?P<pre>{_CUR})\s?(?P<n1>{_NUM})(?:\s?(?P<m1>{_MULT})(?![\w]))?"
    rf"|(?P<n2>{_NUM})(?:\s?(?P<m2>{_MULT})(?![\w])\.?)?(?:\s?(?:de|d'|of))?\s?(?P<post>{_CUR})(?![\w]))"
)


def parse_number(text: str) -> Decimal | None:
    """Read "2 450 000", "12 500,00", "4,800", "1.200", "3,5" or "3.250.00" as a number."""
    digits = text.replace(" ", " ").replace(" ", " ").replace("'", " ").replace("’", " ")
    digits = digits.replace(" ", "")
    seps = [c for c in digits if c in ".,"]
    if not seps:
        normalized = digits
    elif len(set(seps)) == 2:
        decimal_sep = digits[max(digits.rfind("."), digits.rfind(","))]
        thousands = "," if decimal_sep == "." else "."
        normalized = digits.replace(thousands, "").replace(decimal_sep, ".")
    else:
        sep = seps[0]
        head, _, tail = digits.rpartition(sep)
        if len(seps) > 1 or (len(tail) == 3 and head not in ("", "0")):
            normalized = digits.replace(sep, "")
        else:
            normalized = head.replace(sep, "") + "." + tail
    try:
        return Decimal(normalized)
    except InvalidOperation:
        return None


def find_amounts(text: str, *, folded: str | None = None) -> tuple[Amount, ...]:
    """Every sum of money in the text, in order, without repeats of the same value and currency."""
    folded = fold(text) if folded is None else folded
    found: list[Amount] = []
    seen: set[tuple[Decimal, str]] = set()
    for match in _AMOUNT.finditer(folded):
        start, end = match.span()
        if start > 0 and (folded[start - 1].isalnum() and not match.group("pre")):
            continue
        number = match.group("n1") or match.group("n2")
        currency_word = match.group("pre") or match.group("post")
        value = parse_number(number)
        if value is None:
            continue
        multiplier = match.group("m1") or match.group("m2")
        if multiplier:
            value *= MULTIPLIERS[multiplier]
        currency = CURRENCIES[currency_word]
        key = (value, currency)
        if key in seen:
            continue
        seen.add(key)
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
        found.append(Amount(value=value, currency=currency, text=text[start:end].strip()))
    return tuple(found)
