"""Reading amounts, dates, steps, line items, emails and client names as people type them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handlers.quotes.clients import clean_phone
from handlers.quotes.parsing import (
    Invalid,
    client_query,
    find_number,
    parse_amount,
    parse_date,
    parse_email,
    parse_lines,
    parse_steps,
)

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("150", "fr", "150.00"), ("150 €", "fr", "150.00"), ("150€", "en", "150.00"), ("€150", "en", "150.00"),
    ("12 500", "fr", "12500.00"), ("12\u202f500,00\xa0€", "fr", "12500.00"), ("12 500,50", "fr", "12500.50"),
    ("€12,500.00", "en", "12500.00"), ("12,500", "en", "12500.00"), ("12,5", "fr", "12.50"),
    ("1.500", "fr", "1500.00"), ("1.5", "en", "1.50"), ("1.500,25", "fr", "1500.25"), ("1,500.25", "fr", "1500.25"),
    ("150 euros", "fr", "150.00"), ("250000 FCFA", "fr", "250000.00"), ("150 HT", "fr", "150.00"),
    ("1 234 567", "fr", "1234567.00"), ("0,10", "fr", "0.10"),
])
def test_amounts(text: str, lang: str, expected: str) -> None:
    assert parse_amount(text, lang) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "beaucoup", "-5", "0", "12,50,3", "1.2.3,4.5", "12 500,505", "1e5", "€"])
def test_bad_amounts(text: str) -> None:
    with pytest.raises(Invalid):
        parse_amount(text, "fr")


@pytest.mark.parametrize(("text", "expected"), [
    ("13/12/2026", date(2026, 12, 13)), ("13-12-26", date(2026, 12, 13)), ("13.12.2026", date(2026, 12, 13)),
    ("2026-12-13", date(2026, 12, 13)), ("13/12", date(2026, 12, 13)), ("01/02", date(2027, 2, 1)),
    ("13 décembre 2026", date(2026, 12, 13)), ("le 1er décembre", date(2026, 12, 1)),
    ("December 13, 2026", date(2026, 12, 13)), ("13 Dec", date(2026, 12, 13)), ("3 janv.", date(2027, 1, 3)),
    ("dans 3 semaines", date(2026, 12, 11)), ("in 10 days", date(2026, 11, 30)), ("dans 2 mois", date(2027, 1, 20)),
    ("demain", date(2026, 11, 21)), ("20/11/2026", TODAY),
])
def test_dates(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(("text", "key"), [
    ("31/02/2027", "quotes.invalid.date"), ("hier", "quotes.invalid.date"), ("13/13/2026", "quotes.invalid.date"),
    ("19/11/2026", "quotes.invalid.date_past"), ("bientôt", "quotes.invalid.date"),
])
def test_bad_dates(text: str, key: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_date(text, TODAY)
    assert info.value.key == key


def test_steps_are_split_on_commas_arrows_and_lines() -> None:
    assert parse_steps("Input, Production, Diffusion") == ["Input", "Production", "Diffusion"]
    assert parse_steps("Input → Production -> Diffusion") == ["Input", "Production", "Diffusion"]
    assert parse_steps("1. Collecte\n2) Montage\n- Diffusion") == ["Collecte", "Montage", "Diffusion"]
    with pytest.raises(Invalid):
        parse_steps(" , ; ")
    with pytest.raises(Invalid):
        parse_steps(",".join(f"étape {i}" for i in range(25)))


def test_line_items() -> None:
    lines = parse_lines("Audit ; 2 ; 150 ; 20\nFormation | 1,5 | 400 | 5,5\nLicence ; 90", "fr", Decimal("18"))
    assert [(x.description, x.quantity, x.unit_price, x.vat_rate, x.total) for x in lines] == [
        ("Audit", Decimal(2), Decimal("150.00"), Decimal(20), Decimal("300.00")),
        ("Formation", Decimal("1.5"), Decimal("400.00"), Decimal("5.5"), Decimal("600.00")),
        ("Licence", Decimal(1), Decimal("90.00"), Decimal(18), Decimal("90.00")),
    ]
    with pytest.raises(Invalid) as info:
        parse_lines("Audit ; 2 ; 150\nFrais ; deux ; 10", "fr", Decimal(20))
    assert info.value.key == "quotes.invalid.line" and info.value.params["line"] == 2
    with pytest.raises(Invalid):
        parse_lines("Audit ; 2 ; 150 ; 120", "fr", Decimal(20))


def test_emails_and_phones() -> None:
    assert parse_email("  Contact@Dupont.FR ") == "Contact@dupont.fr"
    for bad in ("dupont", "a@b", "x@.fr", "a b@c.fr"):
        with pytest.raises(Invalid):
            parse_email(bad)
    assert clean_phone("+225 07.07.12.34.56") == "+225 07 07 12 34 56"
    assert clean_phone("06 12 34 56 78") == "06 12 34 56 78"
    for bad in ("abc", "12", "+33 6 12 34 56 78 90 12 34"):
        with pytest.raises(Invalid):
            clean_phone(bad)


def test_client_names_and_numbers_in_commands() -> None:
    assert client_query("à Dupont") == "Dupont"
    assert client_query("to the client Dupont & Fils?") == "Dupont & Fils"
    assert client_query("pour la cliente Awa") == "Awa"
    assert client_query("Académias") == "Académias"
    assert find_number("accepté dev-2026-0001 merci") == "DEV-2026-0001"
    assert find_number("Dupont") is None
