"""Turning a document's variables into HTML, PDF and email text.

Templates are Jinja2 files under ``templates/documents`` (PDF: HTML + CSS) and
``templates/emails`` (subject, text and HTML blocks), one file per kind and language. An
organization's own folder, laid out the same way, is searched first, so it can replace any
file and keep the others. Templates run in Jinja's sandbox with strict undefined variables.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from handlers.quotes.parsing import LineItem, money
from handlers.quotes.settings import DocumentSettings
from integrations.pdf import PdfRenderer

LOCALES = {"fr": "fr_FR", "en": "en_GB"}
FILE_PREFIX = {("quote", "fr"): "Devis", ("quote", "en"): "Quote",
               ("contract", "fr"): "Contrat", ("contract", "en"): "Contract"}


class TemplateProblem(Exception):
    """A document or email template is missing or broken."""


@dataclass(frozen=True)
class Formatter:
    """Amounts and dates written the way the language expects (12 500,00 € / €12,500.00)."""

    lang: str
    currency: str

    @property
    def locale(self) -> str:
        """The Babel locale of the language."""
        return LOCALES.get(self.lang, "fr_FR")

    def money(self, value: Decimal) -> str:
        """An amount with its currency."""
        return format_currency(value, self.currency, locale=self.locale)

    def number(self, value: Decimal) -> str:
        """A plain number (quantities, rates)."""
        return format_decimal(value.normalize(), locale=self.locale)

    def long_date(self, value: date) -> str:
        """``1er décembre 2026`` / ``1 December 2026``."""
        text = format_date(value, format="long", locale=self.locale)
        if self.lang == "fr" and value.day == 1:
            text = "1er" + text[1:]
        return text

    def short_date(self, value: date) -> str:
        """``13/12/2025`` in both languages."""
        return format_date(value, format="short", locale=self.locale)


@dataclass(frozen=True)
class Totals:
    """Before tax, VAT per rate, after tax."""

    net: Decimal
    vat: tuple[tuple[Decimal, Decimal], ...]
    gross: Decimal

    @property
    def vat_total(self) -> Decimal:
        """All VAT."""
        return sum((amount for _, amount in self.vat), Decimal(0))


def compute_totals(lines: Sequence[LineItem]) -> Totals:
    """Totals of line items; VAT is computed per rate on the rate's net total."""
    net = sum((line.total for line in lines), Decimal(0))
    by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        by_rate[line.vat_rate] = by_rate.get(line.vat_rate, Decimal(0)) + line.total
    vat = tuple((rate, money(base * rate / 100)) for rate, base in sorted(by_rate.items()) if rate > 0)
    total_vat = sum((amount for _, amount in vat), Decimal(0))
    return Totals(money(net), vat, money(net + total_vat))


@dataclass(frozen=True)
class DocumentInput:
    """Everything needed to render one document, read from the database beforehand."""

    kind: str
    number: str
    language: str
    issue_date: date
    valid_until: date | None
    currency: str
    org_name: str
    settings: DocumentSettings
    data: dict[str, Any]
    sender_address: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        """``Devis-DEV-2026-0001.pdf``."""
        return f"{FILE_PREFIX[(self.kind, self.language)]}-{self.number}.pdf"


def document_lines(kind: str, data: dict[str, Any], labels: dict[str, str], vat_rate: Decimal) -> list[LineItem]:
    """The lines a document bills: its own line items, else one line for the budget or the grid price."""
    if data.get("lines"):
        return [LineItem.from_json(item) for item in data["lines"]]
    rate = Decimal(str(data.get("vat_rate", vat_rate)))
    if kind == "contract":
        price = Decimal(str(data["price"]))
        label = f"{labels['mission_type']} — {labels['complexity']}"
        return [LineItem(label, Decimal(1), price, rate)]
    budget = data.get("budget")
    if budget is None:
        return []
    return [LineItem(labels.get("project") or labels.get("service", ""), Decimal(1), Decimal(str(budget)), rate)]


def _logo_uri(path: str | None) -> str | None:
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        raise TemplateProblem(f"the organization's logo {path!r} is missing")
    mime = mimetypes.guess_type(file.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(file.read_bytes()).decode()}"


def build_context(doc: DocumentInput) -> dict[str, Any]:
    """The variables a document template sees, already formatted for its language."""
    fmt = Formatter(doc.language, doc.currency)
    settings = doc.settings
    data = doc.data
    client = data.get("client", {})
    lines = document_lines(doc.kind, data, doc.labels, settings.vat_rate)
    totals = compute_totals(lines)
    deadline = date.fromisoformat(data["deadline"]) if data.get("deadline") else None
    budget = Decimal(str(data["budget"])) if data.get("budget") is not None else totals.net
    city = data.get("city") or client.get("city") or ""
    return {
        "lang": doc.language,
        "kind": doc.kind,
        "number": doc.number,
        "issue_date": fmt.long_date(doc.issue_date),
        "valid_until": fmt.long_date(doc.valid_until) if doc.valid_until else "",
        "org": {
            "name": settings.party_name_for(doc.org_name),
            "address": settings.address,
            "registration_number": settings.registration_number,
            "city": settings.city,
            "email": settings.email or doc.sender_address or "",
            "phone": settings.phone,
            "logo": _logo_uri(settings.logo),
        },
        "client": {
            "name": client.get("name", ""),
            "company": client.get("company", ""),
            "email": client.get("email") or "",
            "city": client.get("city", ""),
        },
        "client_name": client.get("name", ""),
        "mission_context": data.get("mission_context", ""),
        "workflow_steps": list(data.get("workflow_steps") or []),
        "budget": fmt.money(budget),
        "deadline": fmt.short_date(deadline) if deadline else "",
        "deadline_long": fmt.long_date(deadline) if deadline else "",
        "lines": [
            {
                "description": line.description,
                "quantity": fmt.number(line.quantity),
                "unit_price": fmt.money(line.unit_price),
                "vat_rate": f"{fmt.number(line.vat_rate)} %",
                "total": fmt.money(line.total),
            }
            for line in lines
        ],
        "totals": {
            "net": fmt.money(totals.net),
            "vat": [{"rate": f"{fmt.number(rate)} %", "amount": fmt.money(amount)} for rate, amount in totals.vat],
            "gross": fmt.money(totals.gross),
            "has_vat": bool(totals.vat),
        },
        "vat_note": settings.vat_note,
        "payment_terms": settings.payment_terms,
        "mission_type": doc.labels.get("mission_type", ""),
        "complexity": doc.labels.get("complexity", ""),
        "price": fmt.money(Decimal(str(data["price"]))) if data.get("price") is not None else "",
        "signature_city": city,
        "signature_date": fmt.long_date(doc.issue_date),
        "project": doc.labels.get("project", ""),
    }


def email_context(doc: DocumentInput, signature: str) -> dict[str, Any]:
    """Variables of the email templates, in French and English names (nom = name, projet = project…)."""
    base = build_context(doc)
    values = {
        "name": base["client_name"],
        "company": base["client"]["company"],
        "project": base["project"] or base["mission_type"] or base["mission_context"][:80],
        "number": doc.number,
        "amount": base["totals"]["gross"],
        "valid_until": base["valid_until"],
        "deadline": base["deadline"],
        "mission_type": base["mission_type"],
        "signature": signature,
        "org": base["org"]["name"],
    }
    french = {"nom": values["name"], "entreprise": values["company"], "projet": values["project"],
              "numero": values["number"], "montant": values["amount"], "validite": values["valid_until"],
              "echeance": values["deadline"]}
    return {**values, **french}


class DocumentTemplates:
    """Finds and renders document and email templates, an organization's folder first."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir.resolve()
        self._envs: dict[str | None, SandboxedEnvironment] = {}

    def _env(self, org_dir: str | None) -> SandboxedEnvironment:
        env = self._envs.get(org_dir)
        if env is None:
            env = self._envs[org_dir] = self._make_env(org_dir)
        return env

    def _make_env(self, org_dir: str | None) -> SandboxedEnvironment:
        paths = ([org_dir] if org_dir else []) + [str(self.templates_dir)]
        return SandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(p) for p in paths]),
            autoescape=select_autoescape(["html", "htm"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _render(self, name: str, context: dict[str, Any], org_dir: str | None) -> str:
        try:
            return self._env(org_dir).get_template(name).render(context)
        except Exception as exc:
            raise TemplateProblem(f"template {name}: {type(exc).__name__}: {exc}") from exc

    def html(self, doc: DocumentInput) -> str:
        """The document's HTML."""
        return self._render(f"documents/{doc.kind}.{doc.language}.html", build_context(doc),
                            doc.settings.template_dir)

    def pdf(self, doc: DocumentInput, renderer: PdfRenderer) -> bytes:
        """The document's PDF."""
        org_dir = doc.settings.template_dir
        base = Path(org_dir, "documents") if org_dir and Path(org_dir, "documents").is_dir() else \
            self.templates_dir / "documents"
        allowed = [self.templates_dir] + ([Path(org_dir)] if org_dir else [])
        return renderer.render(self.html(doc), base_dir=base, allowed_dirs=allowed)

    def email(self, doc: DocumentInput, signature: str) -> tuple[str, str, str]:
        """Subject, text and HTML of the email carrying the document."""
        name = f"emails/{doc.kind}.{doc.language}.j2"
        context = email_context(doc, signature)
        try:
            template = self._env(doc.settings.template_dir).get_template(name)
            parts = []
            for block in ("subject", "text", "html"):
                render: Callable[[Any], Any] = template.blocks[block]
                parts.append("".join(render(template.new_context(context))).strip())
        except Exception as exc:
            raise TemplateProblem(f"template {name}: {type(exc).__name__}: {exc}") from exc
        subject = " ".join(parts[0].split())
        return subject, parts[1] + "\n", parts[2]
