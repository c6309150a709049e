"""The batch folder: a CSV manifest, the invoice PDFs, subject and body templates — all checked before sending.

Every problem is reported with its manifest line (the header is line 1) and a catalog key, so the
chat, the terminal and the API explain it in the user's language. Nothing is sent unless the
report is empty.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

REQUIRED = ("email", "name", "invoice_number", "amount", "due_date", "pdf")
OPTIONAL = ("cc",)
MANIFEST_NAMES = ("manifest.csv", "factures.csv", "invoices.csv")
SUBJECT_FILE = "subject.txt"
BODY_FILE = "body.txt"
DEFAULT_SUBJECT = {"fr": "Votre facture {{ invoice_number }}", "en": "Your invoice {{ invoice_number }}"}
DEFAULT_BODY = {
    "fr": "Bonjour {{ name }},\n\nVeuillez trouver ci-joint la facture {{ invoice_number }} d'un montant de "
          "{{ amount }}, à régler avant le {{ due_date }}.\n\nCordialement.",
    "en": "Hello {{ name }},\n\nPlease find attached invoice {{ invoice_number }} for {{ amount }}, due on "
          "{{ due_date }}.\n\nBest regards.",
}
# Largest attachment each provider takes (bytes of the PDF before base64): Gmail 25 MB, Outlook
# 35 MB (Exchange Online's default send limit; above 3 MB through an upload session), SMTP 25 MB.
ATTACHMENT_LIMITS = {"gmail": 25 * 1024 * 1024, "outlook": 35 * 1024 * 1024, "imap": 25 * 1024 * 1024}
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the batch: the manifest line (0 for the whole batch), a catalog key, parameters."""

    line: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class InvoiceRow:
    """One valid manifest row, ready to become an outbox row."""

    line: int
    fields: dict[str, str]
    to: list[str]
    cc: list[str]
    pdf: Path
    subject: str
    body: str


@dataclass
class Manifest:
    """A checked batch: its rows, its problems (empty when it may be sent) and a fingerprint."""

    folder: Path
    subject_template: str
    body_template: str
    rows: list[InvoiceRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fingerprint: str = ""
    total_bytes: int = 0

    @property
    def valid(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems and bool(self.rows)


def find_manifest(folder: Path) -> Path | None:
    """The manifest of a folder: a conventional name, else its only CSV file."""
    for name in MANIFEST_NAMES:
        if (folder / name).is_file():
            return folder / name
    csvs = sorted(folder.glob("*.csv"))
    return csvs[0] if len(csvs) == 1 else None


def split_addresses(value: str) -> list[str]:
    """Addresses separated by ``;`` (or ``,``), trimmed, empty parts dropped."""
    return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]


def render(template: str, values: dict[str, str]) -> str:
    """Fill a template with a row's fields (sandboxed Jinja2, unknown variables are errors)."""
    return _ENV.from_string(template).render(**values)


def _check_template(template: str, line: int, which: str, problems: list[Problem]) -> bool:
    try:
        _ENV.parse(template)
    except TemplateError as exc:
        problems.append(Problem(line, "invoices.problem.template", {"which": which, "detail": str(exc)[:120]}))
        return False
    return True


def _parse_amount(value: str) -> bool:
    text = value.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "").replace(",", ".")
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _parse_date(value: str) -> bool:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"):
        try:
            datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        return True
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _valid_address(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _read_pdf(path: Path, line: int, limit: int, problems: list[Problem]) -> int:
    try:
        with path.open("rb") as fh:
            head = fh.read(5)
            size = path.stat().st_size
    except FileNotFoundError:
        problems.append(Problem(line, "invoices.problem.pdf_missing", {"file": path.name}))
        return 0
    except OSError:
        problems.append(Problem(line, "invoices.problem.pdf_unreadable", {"file": path.name}))
        return 0
    if head != b"%PDF-":
        problems.append(Problem(line, "invoices.problem.pdf_not_pdf", {"file": path.name}))
    elif size > limit:
        problems.append(Problem(line, "invoices.problem.too_large",
                                {"file": path.name, "size_mb": f"{size / 1048576:.1f}", "limit_mb": limit // 1048576}))
    return size


def load(folder: Path, *, provider: str = "imap", subject: str | None = None, body: str | None = None,
         language: str = "fr", manifest: Path | None = None) -> Manifest:
    """Read and check a batch folder; templates come from the arguments, the folder's files, or defaults."""
    folder = folder.resolve()
    if subject is None:
        subject = (folder / SUBJECT_FILE).read_text("utf-8").strip() if (folder / SUBJECT_FILE).is_file() \
            else DEFAULT_SUBJECT.get(language, DEFAULT_SUBJECT["fr"])
    if body is None:
        body = (folder / BODY_FILE).read_text("utf-8") if (folder / BODY_FILE).is_file() \
            else DEFAULT_BODY.get(language, DEFAULT_BODY["fr"])
    result = Manifest(folder=folder, subject_template=subject, body_template=body)
    path = manifest or find_manifest(folder)
    if path is None or not path.is_file():
        result.problems.append(Problem(0, "invoices.problem.no_manifest", {"folder": folder.name}))
        return result
    try:
        data = path.read_bytes()
    except OSError:
        result.problems.append(Problem(0, "invoices.problem.no_manifest", {"folder": folder.name}))
        return result
    check(result, data, provider)
    # The same manifest, templates and PDF contents make the same batch, wherever the folder is:
    # a second upload or a copied folder is recognised instead of being sent again.
    digest = hashlib.sha256()
    for part in (data, subject.encode(), body.encode()):
        digest.update(hashlib.sha256(part).digest())
    for row in result.rows:
        with row.pdf.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    result.fingerprint = digest.hexdigest()
    return result


def check(result: Manifest, data: bytes, provider: str) -> None:
    """Parse the manifest bytes into ``result.rows`` and ``result.problems``."""
    problems = result.problems
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(0, "invoices.problem.encoding"))
        return
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(Problem(1, "invoices.problem.columns", {"columns": ", ".join(missing)}))
        return
    subject_ok = _check_template(result.subject_template, 0, "subject", problems)
    body_ok = _check_template(result.body_template, 0, "body", problems)
    limit = ATTACHMENT_LIMITS.get(provider, ATTACHMENT_LIMITS["imap"])
    seen_numbers: dict[str, int] = {}
    seen_rows: dict[tuple[str, ...], int] = {}
    seen_pdfs: dict[str, int] = {}
    for index, raw in enumerate(reader, start=2):
        line = reader.line_num if reader.line_num else index
        row = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items()}
        if not any(row.values()):
            continue
        before = len(problems)
        for column in REQUIRED:
            if not row.get(column):
                problems.append(Problem(line, "invoices.problem.empty", {"column": column}))
        to = split_addresses(row.get("email", ""))
        cc = split_addresses(row.get("cc", ""))
        for address in to + cc:
            if not _valid_address(address):
                problems.append(Problem(line, "invoices.problem.email", {"address": address}))
        if row.get("amount") and not _parse_amount(row["amount"]):
            problems.append(Problem(line, "invoices.problem.amount", {"value": row["amount"]}))
        if row.get("due_date") and not _parse_date(row["due_date"]):
            problems.append(Problem(line, "invoices.problem.due_date", {"value": row["due_date"]}))
        key = tuple(row.get(c, "") for c in (*REQUIRED, "cc"))
        if key in seen_rows:
            problems.append(Problem(line, "invoices.problem.duplicate_row", {"other": seen_rows[key]}))
        else:
            seen_rows[key] = line
            number = row.get("invoice_number", "").casefold()
            if number and number in seen_numbers:
                problems.append(Problem(line, "invoices.problem.duplicate_number",
                                        {"number": row["invoice_number"], "other": seen_numbers[number]}))
            elif number:
                seen_numbers[number] = line
        pdf = Path(row.get("pdf", ""))
        pdf_path = pdf if pdf.is_absolute() else result.folder / pdf
        if row.get("pdf"):
            resolved = str(pdf_path.resolve())
            if resolved in seen_pdfs:
                problems.append(Problem(line, "invoices.problem.duplicate_pdf",
                                        {"file": pdf.name, "other": seen_pdfs[resolved]}))
            seen_pdfs.setdefault(resolved, line)
            result.total_bytes += _read_pdf(pdf_path, line, limit, problems)
        values = {k: v for k, v in row.items() if k}
        subject = body = ""
        if subject_ok and body_ok and len(problems) == before:
            try:
                subject = " ".join(render(result.subject_template, values).split())
                body = render(result.body_template, values)
            except TemplateError as exc:
                problems.append(Problem(line, "invoices.problem.template", {"which": "template",
                                                                            "detail": str(exc)[:120]}))
        if len(problems) == before:
            result.rows.append(InvoiceRow(line, values, to, cc, pdf_path, subject, body))
    if not result.rows and not problems:
        problems.append(Problem(0, "invoices.problem.empty_manifest"))
