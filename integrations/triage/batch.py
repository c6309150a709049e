"""Triage a whole mailbox on disk: an mbox file, a Maildir, a folder of .eml files, or one message."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from integrations.mime import ParsedEmail, parse_email
from integrations.triage.model import Classifier, TriageContext, result_to_json

__all__ = [
    "InputError",
    "Outcome",
    "Source",
    "SourceKind",
    "detect",
    "load_context",
    "read_sources",
    "triage_sources",
]

SourceKind = Literal["mbox", "maildir", "eml-folder", "eml"]
_MBOXRD_QUOTED = re.compile(rb"^>+From ")


class InputError(Exception):
    """The path or the context file cannot be used; the message says why, naming the file."""


@dataclass(frozen=True)
class Source:
    """One message found on disk: where it came from and its raw bytes, or why it could not be read."""

    label: str
    raw: bytes | None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The triage of one message: the JSON row, or the reason it has none."""

    source: Source
    row: dict[str, Any] | None
    email: ParsedEmail | None = None
    failure: str | None = None


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def load_context(path: Path) -> TriageContext:
    """Read a context JSON file (the shape of triage-dev/context.json)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"context file {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"context file {path} is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise InputError(f"context file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read context file {path}: {_why(exc)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"context file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"context file {path} must hold a JSON object with organization, known_clients, suppliers")
    for key in ("known_clients", "suppliers", "vips"):
        if key in data and not isinstance(data[key], list):
            raise InputError(f"context file {path}: {key!r} must be a list")
    if "organization" in data and not isinstance(data["organization"], dict):
        raise InputError(f"context file {path}: 'organization' must be an object")
    return TriageContext.from_json(data)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def detect(path: Path) -> SourceKind:
    """What PATH holds: an mbox (starts with a "From " line), one message, a Maildir or a folder of .eml."""
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return "maildir" if _is_maildir(path) else "eml-folder"
    if not path.is_file():
        raise InputError(f"{path} is not a regular file or a folder")
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_why(exc)}") from None
    return "mbox" if head in (b"From ", b"") else "eml"


def read_sources(path: Path) -> tuple[SourceKind, Iterator[Source], list[str]]:
    """The kind of PATH, its messages in a stable order (read lazily), and notes on what was left out."""
    kind = detect(path)
    notes: list[str] = []
    if kind == "mbox":
        return kind, _mbox(path), notes
    if kind == "eml":
        return kind, iter([_read_file(path, path.name)]), notes
    if kind == "maildir":
        subfolders = sorted(p.name for p in path.iterdir() if p.name.startswith(".") and _is_maildir(p))
        if subfolders:
            notes.append(
                f"Maildir subfolders not read: {', '.join(subfolders)} (pass one as PATH to triage it)"
            )
        return kind, _maildir(path), notes
    files = _eml_files(path)
    if not files:
        raise InputError(
            f"{path} holds no .eml files (expected an mbox file, a Maildir with cur/ and new/, "
            "or a folder of .eml files)"
        )
    return kind, (_read_file(f, str(f.relative_to(path))) for f in files), notes


def _read_file(path: Path, label: str) -> Source:
    try:
        return Source(label, path.read_bytes())
    except OSError as exc:
        return Source(label, None, f"cannot read {path}: {_why(exc)}")


def _eml_files(root: Path) -> list[Path]:
    """Every *.eml below root, hidden folders skipped, symbolic links to folders not followed."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(folder) / name for name in sorted(files) if name.lower().endswith(".eml") and not name.startswith(".")
        )
    return found


def _maildir(root: Path) -> Iterator[Source]:
    # Maildir file names start with the delivery time, so sorting them is chronological.
    names: list[tuple[str, Path]] = []
    for sub in ("new", "cur"):
        try:
            entries = list((root / sub).iterdir())
        except OSError as exc:
            yield Source(f"{sub}/", None, f"cannot list {root / sub}: {_why(exc)}")
            continue
        names.extend((p.name, p) for p in entries if not p.name.startswith(".") and not p.is_dir())
    for _, file in sorted(names):
        yield _read_file(file, str(file.relative_to(root)))


def _mbox(path: Path) -> Iterator[Source]:
    """Split on "From " lines that start the file or follow a blank line; undo mboxrd quoting."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Source(path.name, None, f"cannot read {path}: {_why(exc)}")
        return
    with handle:
        lines: list[bytes] = []
        count = 0
        previous_blank = True
        started = False
        try:
            for line in handle:
                if line.startswith(b"From ") and previous_blank:
                    if started:
                        count += 1
                        yield Source(f"{path.name}#{count}", _join(lines))
                    lines, started, previous_blank = [], True, False
                    continue
                if started:
                    lines.append(line[1:] if _MBOXRD_QUOTED.match(line) else line)
                previous_blank = line in (b"\n", b"\r\n")
        except OSError as exc:
            yield Source(f"{path.name}#{count + 1}", None, f"cannot read {path}: {_why(exc)}")
            return
        if started:
            yield Source(f"{path.name}#{count + 1}", _join(lines))


def _join(lines: list[bytes]) -> bytes:
    # The blank line before the next "From " belongs to the mbox format, not to the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def triage_sources(
    sources: Iterator[Source], classifier: Classifier, context: TriageContext
) -> Iterator[Outcome]:
    """Classify each readable message; a malformed one still gets a row, with its parse warnings as reasons."""
    for source in sources:
        if source.raw is None:
            yield Outcome(source, None, failure=source.error or "unreadable")
            continue
        email = parse_email(source.raw)
        warnings = [f"parse warning: {w}" for w in email.warnings]
        try:
            result = classifier.classify(email, context)
        except Exception as exc:  # one message must never stop the run
            row: dict[str, Any] = {
                "message_id": email.message_id,
                "priority": None,
                "summary": "",
                "action": None,
                "deadline": None,
                "amounts": [],
                "reasons": [f"classifier error: {type(exc).__name__}", *warnings],
            }
            yield Outcome(source, row, email, failure=f"classifier error: {type(exc).__name__}")
            continue
        row = result_to_json(email, result)
        row["reasons"] = [*row["reasons"], *warnings]
        yield Outcome(source, row, email)


TABLE_HEADER = f"{'PRIORITY':<12}{'ACTION':<8}{'DEADLINE':<18}{'SOURCE':<22}SUMMARY"


def table_line(outcome: Outcome) -> str:
    """One readable line for a message: priority, action, deadline, where it came from, summary."""
    row = outcome.row or {}
    deadline = str(row.get("deadline") or "")[:16].replace("T", " ")
    label = outcome.source.label if len(outcome.source.label) <= 20 else "…" + outcome.source.label[-19:]
    summary = row.get("summary") or outcome.failure or ""
    return f"{row.get('priority') or '-':<12}{row.get('action') or '-':<8}{deadline:<18}{label:<22}{summary}"
