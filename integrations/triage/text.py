"""Text helpers shared by the signals: accent folding that keeps offsets, sentences, links."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "Terms",
    "compile_terms",
    "fold",
    "is_reply_subject",
    "sentences",
    "top_level_alternatives",
    "url_domains",
    "word_prefixes",
]


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


# A line break inside a sentence of hard-wrapped plain text (mail clients wrap at 72-78 columns):
# after a line of some length that does not end a sentence, before a word that carries on in lower case
# or with a number that is not a list item. Such a break reads as a space, so that phrases match
# across it ("Si\nvous pouvez nous l'envoyer").
_SOFT_BREAK = re.compile(r"(?<=[^\s.!?:;])\n(?=[a-z\u00e0-\u00ff]|\d(?!\d*[.)]\s))")


def _unwrap(original: str, folded: str) -> str:
    if "\n" not in folded:
        return folded
    chars: list[str] | None = None
    for match in _SOFT_BREAK.finditer(original):
        at = match.start()
        line_start = original.rfind("\n", 0, at) + 1
        if at - line_start < 30:
            continue
        if chars is None:
            chars = list(folded)
        chars[at] = " "
    return folded if chars is None else "".join(chars)


def fold(text: str) -> str:
    """Lower-case, drop accents, straighten quotes and dashes, read soft line breaks as spaces;
    same length as the input."""
    folded = text.translate(_FOLD).lower()
    if len(folded) != len(text):  # a few rare characters change length when lower-cased
        folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text.translate(_FOLD))
    return _unwrap(text, folded)


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


_HEAD = re.compile(r"[a-z0-9']+")
_WORDS = re.compile(r"[a-z0-9']+")


def _closing(fragment: str, start: int) -> int:
    """Index of the parenthesis closing the group opened at `start`, or -1."""
    depth = 0
    index = start
    while index < len(fragment):
        char = fragment[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _heads(fragment: str, depth: int = 0) -> set[str] | None:
    """The first (up to) three literal characters any match of a fragment can start with, if known."""
    fragment = fragment.removeprefix("\\b")
    if depth > 6:
        return None
    # A lookbehind consumes nothing: the match still starts with what follows it.
    while fragment.startswith(("(?<!", "(?<=")):
        close = _closing(fragment, 0)
        if close < 0:
            return None
        fragment = fragment[close + 1 :]
    if fragment.startswith("(?:"):
        close = _closing(fragment, 0)
        if close < 0:
            return None
        rest = fragment[close + 1 :]
        optional = rest[:1] in ("?", "*")
        rest = rest[1:] if optional else rest
        heads: set[str] = set()
        for alternative in top_level_alternatives(fragment[3:close]):
            found = _heads(alternative + rest, depth + 1)
            if found is None:
                return None
            heads |= found
        if optional:
            found = _heads(rest, depth + 1)
            if found is None:
                return None
            heads |= found
        return heads
    match = _HEAD.match(fragment)
    if match is None:
        return None
    head = match.group(0)
    if fragment[match.end() : match.end() + 1] in ("?", "*", "{"):
        head = head[:-1]
    return {head[:3]} if head else None


def word_prefixes(text: str) -> frozenset[str]:
    """The first one, two and three characters of every word of a folded text."""
    return frozenset(p for w in _WORDS.findall(text) for p in (w[:1], w[:2], w[:3]))


class Terms:
    """A compiled list of fragments plus the word prefixes a text needs before it is worth scanning."""

    def __init__(self, pattern: re.Pattern[str], gate: frozenset[str] | None) -> None:
        self.pattern = pattern
        self.gate = gate

    def possible(self, prefixes: frozenset[str]) -> bool:
        """Whether a text with these word prefixes can contain a match."""
        return self.gate is None or not self.gate.isdisjoint(prefixes)

    def search(self, text: str, prefixes: frozenset[str] | None = None) -> re.Match[str] | None:
        """The first match, skipping the scan when the gate rules it out."""
        if prefixes is not None and not self.possible(prefixes):
            return None
        return self.pattern.search(text)

    def finditer(self, text: str, prefixes: frozenset[str] | None = None) -> list[re.Match[str]]:
        """Every match, skipping the scan when the gate rules it out."""
        if prefixes is not None and not self.possible(prefixes):
            return []
        return list(self.pattern.finditer(text))


def compile_terms(terms: Iterable[str], *, flags: int = 0) -> Terms:
    """One alternation of folded regex fragments, matched from a word start to a word end."""
    # Fragments are grouped by their first literal character so that the engine tries only the
    # handful that can match at a given position, and a text is not scanned at all when none of
    # the words the fragments start with occurs in it.
    buckets: dict[str, list[str]] = {}
    others: list[str] = []
    heads: set[str] | None = set()
    for term in terms:
        for alternative in top_level_alternatives(term):
            found = _heads(alternative)
            if heads is not None:
                heads = None if found is None else heads | found
            first = alternative[:1]
            if first.isalnum() and alternative[1:2] not in ("?", "*", "{", "+"):
                buckets.setdefault(first, []).append(alternative[1:])
            else:
                others.append(alternative)
    branches = [f"{re.escape(head)}(?:{'|'.join(rest)})" for head, rest in sorted(buckets.items())]
    branches += [f"(?:{alternative})" for alternative in others]
    body = "|".join(branches)
    # A match starts at a word start and may not end inside a word unless its own last character is not a letter.
    pattern = re.compile(rf"(?<![\w])(?:{body})(?:(?<![\w])|(?![\w]))", flags)
    return Terms(pattern, frozenset(heads) if heads is not None else None)


# Reply prefixes of the mail clients our users meet: RE (English, French), AW (German), SV
# (Nordic), RIF (Italian), REF, RV. Forward prefixes (TR, FW, Fwd) are not replies.
_REPLY_PREFIX = re.compile(r"\s*(?:re|aw|rv|sv|ref|rif)\s*:", re.IGNORECASE)


def is_reply_subject(subject: str) -> bool:
    """True when the subject starts with a reply prefix ("RE :", "Aw:", "SV:")."""
    return _REPLY_PREFIX.match(subject) is not None


_URL = re.compile(r"\b(?:https?://|www\.)([a-z0-9.-]+)", re.IGNORECASE)


def url_domains(text: str) -> list[str]:
    """Host names of the links found in a text, lower-cased."""
    return [host.lower().rstrip(".") for host in _URL.findall(text)]
