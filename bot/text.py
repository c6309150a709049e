"""Text normalization shared by the command table and the input it matches."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"\S+")
_EDGE_PUNCT = "?!.,;:¡¿…\"'«»“”‘’()[]{}*_~"


def fold(text: str) -> str:
    """Casefold and drop accents: ``Récap`` → ``recap``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Token:
    """A word of the input: its folded form and where it ends in the original text."""

    norm: str
    end: int


def tokenize(text: str) -> list[Token]:
    """Split into whole words; drop one leading ``/`` or ``!`` and punctuation at word edges."""
    tokens: list[Token] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if not tokens and word[:1] in "/!":
            word = word[1:]
        norm = fold(word).strip(_EDGE_PUNCT)
        # Typographic apostrophes fold to the ASCII one so "aujourd’hui" = "aujourd'hui".
        norm = norm.replace("’", "'")
        if norm:
            tokens.append(Token(norm, match.end()))
    return tokens


def normalize(text: str) -> str:
    """The folded words of a text joined by single spaces (the form aliases are stored in)."""
    return " ".join(t.norm for t in tokenize(text))
