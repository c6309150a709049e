"""Separate the newest part of a message from quoted history, forwarded text and signature."""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.triage.text import fold

__all__ = ["Thread", "split_thread"]


@dataclass(frozen=True)
class Thread:
    """A message body cut into what is new, its signature, and the history below it."""

    newest: str
    signature: str
    quoted: str
    forwarded: bool
    quoted_authors: tuple[str, ...]


_REPLY_MARKERS = re.compile(
    r"^[ \t>]*le\b[^\n]{0,200}?(?:\n[^\n]{0,120}?)?\ba ecrit\s*:[ \t]*$"
    r"|^[ \t>]*on\b[^\n]{0,200}?(?:\n[^\n]{0,120}?)?\bwrote\s*:[ \t]*$"
    r"|^[ \t]*-{2,}\s*(?:original message|message d'origine|message original|mensaje original)\s*-{2,}[ \t]*$"
    r"|^[ \t]*_{10,}[ \t]*$"
    r"|^[ \t]*(?:de|from)\s*:[^\n]+\n(?:[^\n]*\n){0,2}?[ \t]*(?:envoye|sent|date)\s*:[^\n]+\n(?:[^\n]*\n){0,3}?[ \t]*(?:objet|subject)\s*:",
    re.MULTILINE,
)
_FORWARD_MARKERS = re.compile(
    r"^[ \t]*-{2,}\s*(?:forwarded message|message transfere|message reexpedie|original message)\s*-{2,}[ \t]*$"
    r"|^[ \t]*(?:begin forwarded message|debut du message (?:reexpedie|transfere))\s*:",
    re.MULTILINE,
)
_AUTHOR = re.compile(
    r"^[ \t>]*(?:de|from)\s*:\s*([^\n]+)$|^[ \t>]*(?:le|on)\b[^\n]*?,\s*([^\n,]+?)\s*(?:<[^>\n]*>|\([^)\n]*\))?\s*(?:a ecrit|wrote)\s*:",
    re.MULTILINE,
)
_REPLY_HINT = re.compile(r"ecrit\s*:|wrote\s*:|--|__|^[ \t>]*(?:de|from)\s*:", re.MULTILINE)
_QUOTE_LINE = re.compile(r"^[ \t]*>.*$\n?", re.MULTILINE)
_SIG_DELIMITER = re.compile(
    r"^(?:-- ?|--)\s*$|^(?:envoye|sent) (?:de|depuis|from) (?:mon|my) [^\n]{2,40}$", re.MULTILINE
)
_VALEDICTION = re.compile(
    r"^[ \t]*(?:(?:bien |tres )?cordialement|bien a (?:vous|toi)|(?:sinceres |meilleures |bien )?salutations|bonne (?:journee|soiree|fin de journee)"
    r"|merci(?: d'avance| beaucoup| encore| infiniment| a (?:vous|toi))?|a (?:bientot|tres vite)|amities|bises"
    r"|(?:best|kind|warm)(?: regards| wishes)?|regards|thanks(?: again| in advance)?|thank you|many thanks|cheers|sincerely|yours(?: sincerely| truly)?"
    r")[ \t]*[,.!]*[ \t]*(?:\w+[ \t]*[,.!]*)?$"
    r"|^[ \t]*(?:je vous prie d'agreer|veuillez agreer|nous vous prions d'agreer|avec (?:mes|nos) (?:salutations|remerciements))[^\n]{0,160}$",
    re.MULTILINE,
)


def _cut(text: str, folded: str) -> tuple[int, bool]:
    """Offset where the history starts (or len(text)) and whether it is a forward."""
    # The marker patterns are costly on long bodies: look for their cheap tell-tales first.
    reply = _REPLY_MARKERS.search(folded) if _REPLY_HINT.search(folded) else None
    forward = _FORWARD_MARKERS.search(folded) if ("--" in folded or "message" in folded) else None
    candidates = [(m.start(), m is forward) for m in (reply, forward) if m is not None]
    first_quote = re.search(r"^[ \t]*>", folded, re.MULTILINE)
    if first_quote is not None:
        rest = folded[first_quote.start() :]
        lines = [line for line in rest.splitlines() if line.strip()]
        if lines and sum(line.lstrip().startswith(">") for line in lines) >= 0.6 * len(lines):
            candidates.append((first_quote.start(), False))
    if not candidates:
        return len(text), False
    return min(candidates)


def _signature_start(folded: str) -> int:
    delimiter = _SIG_DELIMITER.search(folded)
    end = delimiter.start() if delimiter else len(folded)
    lines = folded[:end].splitlines(keepends=True)
    offsets = []
    position = 0
    for line in lines:
        offsets.append(position)
        position += len(line)
    first = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    window = max(first + 1, len(lines) - 15)  # a closing line needs something before it
    for index in range(window, len(lines)):
        if _VALEDICTION.match(lines[index].rstrip("\n")):
            tail = [line for line in lines[index + 1 :] if line.strip()]
            if len(tail) <= 12:
                return offsets[index]
    return end


def split_thread(text: str) -> Thread:
    """Split a body into newest part, signature, and quoted or forwarded history."""
    folded = fold(text)
    cut, forwarded = _cut(text, folded)
    head, head_folded = text[:cut], folded[:cut]
    quoted = text[cut:]
    authors = tuple(
        " ".join((a or b).split()).strip(" <>\"'")
        for a, b in _AUTHOR.findall(folded[cut:])
        if (a or b).strip()
    )
    # Interleaved "> " lines inside the new part are history too.
    if ">" in head_folded:
        kept = []
        position = 0
        for match in _QUOTE_LINE.finditer(head_folded):
            kept.append(head[position : match.start()])
            position = match.end()
        kept.append(head[position:])
        head = "".join(kept)
        head_folded = fold(head)
    sig = _signature_start(head_folded)
    newest = head[:sig].strip().rstrip("-_ \n")
    return Thread(
        newest=newest,
        signature=head[sig:].strip(),
        quoted=quoted.strip(),
        forwarded=forwarded,
        quoted_authors=authors,
    )
