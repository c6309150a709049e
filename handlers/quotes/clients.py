"""Clients and prospects: validation, forgiving lookup, CSV import.

Shared by the chat, the HTTP API and the CLI. Validation errors carry catalog keys so each
caller can explain them in its language.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handlers.quotes.parsing import Invalid, parse_email
from storage.quotes import Client, add_client, candidates, clients_of, find_duplicate, fold

FIELDS = ("name", "company", "email", "phone", "city", "project_type", "mission_context")
LIMITS = {"name": 200, "company": 200, "email": 320, "phone": 32, "city": 120, "project_type": 200,
          "mission_context": 4000}
STOP_WORDS = {"a", "au", "aux", "le", "la", "les", "l", "de", "du", "des", "d", "et", "the", "of", "and", "for",
              "pour", "to", "chez", "client", "cliente"}
LEGAL_FORMS = {"sarl", "sas", "sa", "eurl", "sasu", "sci", "ltd", "inc", "llc", "gmbh", "suarl", "ei"}


@dataclass
class ClientFields:
    """A client's validated fields."""

    name: str
    company: str = ""
    email: str | None = None
    phone: str | None = None
    city: str = ""
    project_type: str = ""
    mission_context: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The fields as keyword arguments for the model."""
        return {f: getattr(self, f) for f in FIELDS}


def clean_phone(text: str) -> str:
    """A phone number as typed, tidied: digits, spaces, one leading +; 6 to 15 digits."""
    raw = text.strip()
    if not re.fullmatch(r"\+?[0-9 .\-()/]+", raw):
        raise Invalid("clients.invalid.phone")
    digits = re.sub(r"\D", "", raw)
    if not 6 <= len(digits) <= 15:
        raise Invalid("clients.invalid.phone")
    spaced = " ".join(re.sub(r"[.\-()/]", " ", raw).split())
    return spaced


def clean_field(name: str, value: Any) -> Any:
    """One field, validated and tidied (empty optional fields become their default)."""
    text = "" if value is None else str(value).strip()
    if name == "name" and not text:
        raise Invalid("clients.invalid.name")
    if len(text) > LIMITS[name]:
        raise Invalid("clients.invalid.too_long", field=name, max=LIMITS[name])
    if name == "email":
        return parse_email(text) if text else None
    if name == "phone":
        return clean_phone(text) if text else None
    return text


def validate_client(raw: dict[str, Any]) -> ClientFields:
    """All fields of a new client; raises Invalid on the first bad one."""
    return ClientFields(**{f: clean_field(f, raw.get(f)) for f in FIELDS})


def create_client(session: Session, org_id: int, fields: ClientFields, now: datetime) -> Client:
    """Store a validated client, refusing a duplicate of name and company."""
    existing = find_duplicate(session, org_id, fields.name, fields.company)
    if existing is not None:
        raise Invalid("clients.invalid.duplicate", name=existing.display_name)
    return add_client(session, org_id, now, **fields.as_dict())


def update_client(session: Session, client: Client, changes: dict[str, Any], now: datetime) -> Client:
    """Change some fields of a client (validated)."""
    cleaned = {k: clean_field(k, v) for k, v in changes.items() if k in FIELDS}
    name = cleaned.get("name", client.name)
    company = cleaned.get("company", client.company)
    if ("name" in cleaned or "company" in cleaned) and find_duplicate(
        session, client.org_id, name, company, exclude_id=client.id
    ):
        raise Invalid("clients.invalid.duplicate", name=name)
    for key, value in cleaned.items():
        setattr(client, key, value)
    client.refresh_search_key()
    client.updated_at = now
    return client


# ------------------------------------------------------------------ lookup


@dataclass(frozen=True)
class Lookup:
    """Clients found for a name: exact or partial matches, or close spellings when nothing matched."""

    matches: list[Client]
    suggestions: list[Client] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return [w for w in fold(text).replace("-", " ").replace("'", " ").split() if w]


def find_clients(session: Session, org_id: int, query: str) -> Lookup:
    """Clients whose name, company or email match every word of the query (case, accents, partial words).

    Legal forms (SARL, SAS…) narrow the search when they match, and are ignored when they do not.
    """
    words = _words(query)
    meaningful = [w for w in words if w not in STOP_WORDS] or words
    if not meaningful:
        return Lookup([])
    found = _matching(session, org_id, meaningful)
    without_forms = [w for w in meaningful if w not in LEGAL_FORMS]
    if not found and without_forms and len(without_forms) < len(meaningful):
        meaningful = without_forms
        found = _matching(session, org_id, meaningful)
    if found:
        target = fold(query)

        def rank(client: Client) -> tuple[int, str]:
            exact = target in (fold(client.name), fold(client.company))
            return (0 if exact else 1, fold(client.name))

        return Lookup(sorted(found, key=rank))
    return Lookup([], _suggest(session, org_id, meaningful))


def _matching(session: Session, org_id: int, words: list[str]) -> list[Client]:
    found = []
    for client in candidates(session, org_id, words):
        haystack = _words(f"{client.name} {client.company}")
        email = (client.email or "").lower()
        if all(any(h.startswith(w) for h in haystack) or email.startswith(w) for w in words):
            found.append(client)
    return found


def _suggest(session: Session, org_id: int, words: list[str], limit: int = 5) -> list[Client]:
    """Clients with a word spelled closely to each query word (``dupond`` → Dupont)."""
    scored = []
    for client in clients_of(session, org_id, limit=5000):
        haystack = _words(f"{client.name} {client.company}")
        score = 0.0
        for word in words:
            best = max((difflib.SequenceMatcher(None, word, h).ratio() for h in haystack), default=0.0)
            if best < 0.75:
                break
            score += best
        else:
            scored.append((-score, client.id, client))
    return [c for _, _, c in sorted(scored)[:limit]]


# ------------------------------------------------------------------ CSV import

HEADER_ALIASES = {
    "name": ("name", "nom", "client", "contact", "nom du client"),
    "company": ("company", "entreprise", "societe", "raison sociale", "organisation", "organization"),
    "email": ("email", "e-mail", "mail", "courriel", "adresse e-mail", "adresse email"),
    "phone": ("phone", "telephone", "tel", "mobile", "portable"),
    "city": ("city", "ville", "town"),
    "project_type": ("project_type", "project type", "type de projet", "projet", "project"),
    "mission_context": ("mission_context", "mission context", "contexte", "contexte de mission",
                        "contexte de la mission", "mission"),
}


@dataclass
class ImportReport:
    """What an import would do: the clients accepted and each rejected line with its reason."""

    accepted: list[tuple[int, ClientFields]] = field(default_factory=list)
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    imported: int = 0


class ImportFileError(ValueError):
    """The file cannot be read as a client list at all (encoding, no header, no name column)."""


def read_csv(data: bytes) -> tuple[dict[str, int], list[str], list[tuple[int, list[str]]]]:
    """Columns mapped to fields, unknown column names, and (line number, cells) of each data row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8 text (save it as \"CSV UTF-8\")") from None
    if not text.strip():
        raise ImportFileError("the file is empty")
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise ImportFileError("the file has no header row")
    columns: dict[str, int] = {}
    unknown = []
    lookup = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
    for index, title in enumerate(header):
        key = lookup.get(fold(title).replace("_", " ")) or lookup.get(fold(title))
        if key is None:
            if title.strip():
                unknown.append(title.strip())
        elif key in columns:
            raise ImportFileError(f"two columns mean {key!r}: fix the header row")
        else:
            columns[key] = index
    if "name" not in columns:
        raise ImportFileError("no name column in the header row (expected name or nom)")
    rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    return columns, unknown, rows


def plan_import(session: Session, org_id: int, data: bytes, explain: Any) -> ImportReport:
    """Validate every line of a CSV file against the rules and the existing clients; changes nothing."""
    columns, unknown, rows = read_csv(data)
    report = ImportReport(ignored_columns=unknown)
    seen: dict[tuple[str, str], int] = {}
    for line, cells in rows:
        raw = {name: (cells[index] if index < len(cells) else "") for name, index in columns.items()}
        try:
            fields = validate_client(raw)
            key = (fold(fields.name), fold(fields.company))
            if key in seen:
                raise Invalid("clients.import.duplicate_line", line=seen[key])
            existing = find_duplicate(session, org_id, fields.name, fields.company)
            if existing is not None:
                raise Invalid("clients.invalid.duplicate", name=existing.display_name)
        except Invalid as exc:
            report.rejected.append((line, explain(exc), raw))
            continue
        seen[key] = line
        report.accepted.append((line, fields))
    return report


def apply_import(session: Session, org_id: int, report: ImportReport, now: datetime) -> int:
    """Store the accepted clients of a planned import (in the caller's transaction)."""
    for _, fields in report.accepted:
        add_client(session, org_id, now, **fields.as_dict())
    report.imported = len(report.accepted)
    return report.imported


def summarize(clients: Iterable[Client]) -> list[str]:
    """One line per client (for lists)."""
    lines = []
    for client in clients:
        extra = ", ".join(filter(None, (client.city, client.email or "")))
        lines.append(f"• {client.display_name}" + (f" — {extra}" if extra else ""))
    return lines
