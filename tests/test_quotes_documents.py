"""Documents rendered for real with WeasyPrint: text, layout on a page, formats per language, templates."""

from __future__ import annotations

import base64
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.settings import REPO_ROOT
from handlers.quotes.documents import (
    DocumentInput,
    DocumentTemplates,
    Formatter,
    TemplateProblem,
    compute_totals,
)
from handlers.quotes.parsing import LineItem
from handlers.quotes.settings import DocumentSettings
from integrations.pdf import WeasyPrintRenderer
from tests.quotes_support import pdf_text, pdftotext

TEMPLATES = DocumentTemplates(REPO_ROOT / "templates")
RENDERER = WeasyPrintRenderer()
SETTINGS = DocumentSettings(legal_name="Atelier Kouassi SARL", address="Rue des Jardins 12\nAbidjan Cocody",
                            registration_number="RCCM CI-ABJ-2024-B-12345", city="Abidjan")
CLIENT = {"name": "Boulangerie Dupont SARL", "company": "Boulangerie Dupont SARL",
          "email": "contact@boulangerie-dupont.fr", "city": "Lyon"}
LABELS = {"fr": {"mission_type": "Automatisation", "complexity": "Intermédiaire",
                 "project": "Automatisation Académias", "service": "Prestation"},
          "en": {"mission_type": "Automation", "complexity": "Intermediate",
                 "project": "Automatisation Académias", "service": "Services"}}


def quote_input(lang: str = "fr", settings: DocumentSettings = SETTINGS, **data: Any) -> DocumentInput:
    """A quote with every variable of the seed."""
    values = {"client": CLIENT, "mission_context": "Industrialiser la production de modules de formation",
              "workflow_steps": ["Input", "Production", "Diffusion"], "budget": "150.00",
              "deadline": "2025-12-13", "vat_rate": "20", **data}
    return DocumentInput("quote", "DEV-2026-0001", lang, date(2026, 11, 20), date(2026, 12, 20), "EUR",
                         "Atelier", settings, values, labels=LABELS[lang])


def contract_input(lang: str = "fr", complexity: str = "intermediate", price: str = "250") -> DocumentInput:
    """A contract for an automation mission."""
    labels = dict(LABELS[lang], complexity={"simple": "Simple", "intermediate": LABELS[lang]["complexity"],
                                            "expert": "Expert"}[complexity])
    values = {"client": CLIENT, "mission_context": "Automatiser la prise de commandes", "mission_type": "automation",
              "complexity": complexity, "price": price, "vat_rate": "20"}
    return DocumentInput("contract", "CTR-2026-0001", lang, date(2026, 12, 1), None, "EUR", "Atelier",
                         SETTINGS, values, labels=labels)


@pytest.fixture(scope="module")
def quote_pdf() -> bytes:
    """The French quote, rendered once for the module."""
    return TEMPLATES.pdf(quote_input(), RENDERER)


@pytest.fixture(scope="module")
def contract_pdf() -> bytes:
    """The French contract, rendered once for the module."""
    return TEMPLATES.pdf(contract_input(), RENDERER)


def test_the_quote_pdf_contains_every_variable(quote_pdf: bytes) -> None:
    assert quote_pdf.startswith(b"%PDF-")
    for text in (pdf_text(quote_pdf), pdftotext(quote_pdf)):
        for expected in ("Boulangerie Dupont SARL", "Industrialiser la production de modules de formation",
                         "Input", "Production", "Diffusion", "150,00 €", "13/12/2025", "DEV-2026-0001",
                         "Émis le 20 novembre 2026", "Valable jusqu'au 20 décembre 2026", "Total TTC 180,00 €",
                         "Atelier Kouassi SARL", "RCCM CI-ABJ-2024-B-12345", "Automatisation Académias"):
            assert expected in text, expected


def test_the_contract_pdf_has_article_1_article_5_and_the_signature_line(contract_pdf: bytes) -> None:
    for text in (pdf_text(contract_pdf), pdftotext(contract_pdf)):
        assert "Article 1 — Objet" in text and "une mission d'Automatisation" in text
        article5 = text[text.index("Article 5 — Prix"):text.index("Article 6")]
        assert "Intermédiaire" in article5 and "250,00 €" in article5 and "300,00 €" in article5
        assert "Fait à Lyon, le 1er décembre 2026" in text
        assert "Rue des Jardins 12, Abidjan Cocody" in text and "Boulangerie Dupont SARL" in text


def test_the_english_documents(tmp_path: Path) -> None:
    quote = pdf_text(TEMPLATES.pdf(quote_input("en", budget="12500"), RENDERER))
    assert "QUOTE" in quote and "€12,500.00" in quote and "Total incl. VAT €15,000.00" in quote
    assert "Issued on 20 November 2026" in quote and "Workflow steps" in quote
    contract = pdf_text(TEMPLATES.pdf(contract_input("en", "expert", "350"), RENDERER))
    assert "Article 1 — Purpose" in contract and "an Automation engagement" in contract
    assert "Article 5 — Price" in contract and "€350.00" in contract
    assert "Signed in Lyon on 1 December 2026" in contract


def _gray_pixels(pdf: bytes, tmp_path: Path) -> tuple[int, int, bytes]:
    """Rasterise page 1 with pdftoppm as 8-bit gray PGM: width, height, pixels."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True)
    [pgm] = list(tmp_path.glob("page*.pgm"))
    raw = pgm.read_bytes()
    fields: list[bytes] = []
    index = 0
    while len(fields) < 4:  # magic, width, height, maxval, separated by whitespace
        while raw[index:index + 1].isspace():
            index += 1
        start = index
        while not raw[index:index + 1].isspace():
            index += 1
        fields.append(raw[start:index])
    assert fields[0] == b"P5" and fields[3] == b"255"
    width, height = int(fields[1]), int(fields[2])
    return width, height, raw[index + 1:]


@pytest.mark.parametrize("which", ["quote", "contract"])
def test_a_rasterised_page_is_not_blank(which: str, quote_pdf: bytes, contract_pdf: bytes, tmp_path: Path) -> None:
    width, height, pixels = _gray_pixels(quote_pdf if which == "quote" else contract_pdf, tmp_path)
    assert (width, height) == (331, 468)  # A4 at 40 dpi
    assert len(pixels) == width * height
    dark = sum(1 for p in pixels if p < 128)
    assert dark > 0.01 * len(pixels)  # text and table headers, not an empty page
    assert dark < 0.5 * len(pixels)  # and not a black page


def test_blank_page_check_would_see_an_empty_page(tmp_path: Path) -> None:
    empty = RENDERER.render("<html><body></body></html>", base_dir=tmp_path)
    _, _, pixels = _gray_pixels(empty, tmp_path)
    assert sum(1 for p in pixels if p < 128) == 0


def test_amounts_and_dates_follow_the_language() -> None:
    fr, en = Formatter("fr", "EUR"), Formatter("en", "EUR")
    assert fr.money(Decimal("12500")).replace("\u202f", " ").replace("\xa0", " ") == "12 500,00 €"
    assert en.money(Decimal("12500")) == "€12,500.00"
    assert Formatter("fr", "XOF").money(Decimal("12500")).replace("\u202f", " ").replace("\xa0", " ") == \
        "12 500 F CFA"
    assert fr.long_date(date(2026, 12, 1)) == "1er décembre 2026"
    assert fr.long_date(date(2026, 12, 13)) == "13 décembre 2026"
    assert en.long_date(date(2026, 12, 1)) == "1 December 2026"
    assert fr.short_date(date(2025, 12, 13)) == en.short_date(date(2025, 12, 13)) == "13/12/2025"


def test_totals_group_vat_by_rate_and_round_each_line() -> None:
    lines = [LineItem("Audit", Decimal(2), Decimal("150"), Decimal("20")),
             LineItem("Formation", Decimal("1.5"), Decimal("400"), Decimal("5.5")),
             LineItem("Frais", Decimal("3"), Decimal("0.333"), Decimal("0"))]
    totals = compute_totals(lines)
    assert totals.net == Decimal("901.00")  # 300 + 600 + 1.00 (0.999 rounded per line)
    assert totals.vat == ((Decimal("5.5"), Decimal("33.00")), (Decimal("20"), Decimal("60.00")))
    assert totals.gross == Decimal("994.00")


def test_an_organization_folder_replaces_some_templates_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "style.css").write_text("h1 { color: #aa0000; }\n")
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "quote.fr.j2").write_text(
        "{% block subject %}Votre devis {{ numero }}{% endblock %}"
        "{% block text %}Cher {{ nom }}, projet {{ projet }}.{% endblock %}"
        "{% block html %}<p>{{ nom }}</p>{% endblock %}")
    logo = tmp_path / "logo.png"
    logo.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    settings = SETTINGS.model_copy(update={"template_dir": str(tmp_path), "logo": str(logo)})
    doc = quote_input(settings=settings)
    html = TEMPLATES.html(doc)
    assert "#aa0000" in html and "data:image/png;base64," in html
    assert "Industrialiser la production" in pdf_text(TEMPLATES.pdf(doc, RENDERER))
    subject, text, _ = TEMPLATES.email(doc, "Awa")
    assert subject == "Votre devis DEV-2026-0001"
    assert text == "Cher Boulangerie Dupont SARL, projet Automatisation Académias.\n"


def test_template_mistakes_are_reported_not_hidden(tmp_path: Path) -> None:
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "quote.fr.html").write_text("<p>{{ not_a_variable }}</p>")
    settings = SETTINGS.model_copy(update={"template_dir": str(tmp_path)})
    with pytest.raises(TemplateProblem, match="not_a_variable"):
        TEMPLATES.html(quote_input(settings=settings))


def test_templates_cannot_reach_the_network_or_other_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for templates")
    root = tmp_path / "root"
    root.mkdir()
    (root / "inside.css").write_text("p { color: #123456; }")
    html = (f'<img src="http://192.0.2.1/x.png"><img src="file://{secret}">'
            '<link rel="stylesheet" href="inside.css"><p>ok</p>')
    with caplog.at_level("WARNING", logger="weasyprint"):
        pdf = RENDERER.render(html, base_dir=root)  # refused fetches are skipped, the page still renders
    assert "ok" in pdf_text(pdf)
    refusals = caplog.text
    assert "templates may only load local files and data: URIs" in refusals
    assert "outside the template folders" in refusals
    assert "inside.css" not in refusals


def test_email_templates_escape_html_but_not_text() -> None:
    doc = quote_input(client={**CLIENT, "name": "Dupont & <Fils>"})
    subject, text, html = TEMPLATES.email(doc, "Awa")
    assert "Bonjour Dupont & <Fils>," in text
    assert "Bonjour Dupont &amp; &lt;Fils&gt;," in html
    assert subject == "Devis DEV-2026-0001 — Automatisation Académias"
