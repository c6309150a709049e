"""Text helpers shared by the signals: accent folding that keeps offsets, sentences, links."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["compile_terms", "fold", "sentences", "top_level_alternatives", "url_domains"]


def _build_fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if len(base) == 1 and base != char:
            table[code] = base
    table.update(
        {
            ord("İ"): "I", ord("ı"): "i", ord("’"): "'", ord("‘"): "'", ord("ʼ"): "'", ord("´"): "'", ord("`"): "'",
            ord("“"): '"', ord("”"): '"', ord("«"): '"', ord("»"): '"', ord("–"): "-", ord("—"): "-", ord("‒"): "-",
            ord("―"): "-", ord("‐"): "-", ord("‑"): "-", ord("\xa0"): " ", ord("\u202f"): " ", ord("\u2009"): " ",
            ord("\u2007"): " ", ord("\u200b"): " ", ord("\t"): " ", ord("\r"): " ",
        }
    )  # fmt: skip
    return table


_FOLD = _build_fold_table()


def fold(text: str) -> str:
    """Lower-case, drop accents, straighten quotes and dashes; same length as the input."""
    folded = text.translate(_FOLD).lower()
    if len(folded) != len(text):  # a few rare characters change length when lower-cased
        return "".join(c if len(c.lower()) != 1 else c.lower() for c in text.translate(_FOLD))
    return folded


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)|\n(?=[^\n]{0,40}\s:\s)")


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans of sentence-like units: split on end punctuation, blank lines, list items and key/value lines."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def top_level_alternatives(term: str) -> list[str]:
    """Split a regex fragment on its top-level '|' (outside groups and classes)."""
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    index = 0
    while index < len(term):
        char = term[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(term[start:index])
            start = index + 1
        index += 1
    parts.append(term[start:])
    return parts


def compile_terms(terms: Iterable[str], *, flags: int = 0) -> re.Pattern[str]:
    """One alternation of folded regex fragments, matched from a word start to a word end."""
    # Fragments are grouped by their first literal character so that the engine tries only the
    # handful that can match at a given position: several times faster on long lists.
    buckets: dict[str, list[str]] = {}
    others: list[str] = []
    for term in terms:
        for alternative in top_level_alternatives(term):
            head = alternative[:1]
            if head.isalnum() and alternative[1:2] not in ("?", "*", "{", "+"):
                buckets.setdefault(head, []).append(alternative[1:])
            else:
                others.append(alternative)
    branches = [f"{re.escape(head)}(?:{'|'.join(rest)})" for head, rest in sorted(buckets.items())]
    branches += [f"(?:{alternative})" for alternative in others]
    body = "|".join(branches)
    # A match starts at a word start and may not end inside a word unless its own last character is not a letter.
    return re.compile(rf"(?<![\w])(?:{body})(?:(?<![\w])|(?![\w]))", flags)


_URL = re.compile(r"\b(?:https?://|www\.)([a-z0-9.-]+)", re.IGNORECASE)


def url_domains(text: str) -> list[str]:
    """Host names of the links found in a text, lower-cased."""
    return [host.lower().rstrip(".") for host in _URL.findall(text)]
