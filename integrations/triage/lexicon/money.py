"""Currency words and symbols, mapped to ISO 4217 codes."""

from __future__ import annotations

# Folded spellings after or before an amount; longest first where one is a prefix of another.
CURRENCIES: dict[str, str] = {
    "francs cfa": "XOF", "franc cfa": "XOF", "fcfa": "XOF", "f cfa": "XOF", "cfa": "XOF", "xof": "XOF",
    "xaf": "XAF", "euros": "EUR", "euro": "EUR", "eur": "EUR", "€": "EUR", "dollars us": "USD",
    "dollars americains": "USD", "us dollars": "USD", "usd": "USD", "us$": "USD", "$": "USD",
    "dollars canadiens": "CAD", "cad": "CAD", "ca$": "CAD", "$ ca": "CAD", "$ can": "CAD", "c$": "CAD",
    "dollars": "USD", "£": "GBP", "gbp": "GBP", "livres sterling": "GBP", "chf": "CHF",
    "francs suisses": "CHF", "ghs": "GHS", "cedis": "GHS", "ngn": "NGN", "naira": "NGN", "mad": "MAD",
    "dirhams": "MAD", "gnf": "GNF", "kes": "KES",
}  # fmt: skip

# Multipliers written after the number ("15M FCFA", "3,5 millions de FCFA", "12k€").
MULTIPLIERS: dict[str, int] = {
    "milliards": 1_000_000_000, "milliard": 1_000_000_000, "mds": 1_000_000_000, "md": 1_000_000_000,
    "billion": 1_000_000_000, "bn": 1_000_000_000, "millions": 1_000_000, "million": 1_000_000,
    "m": 1_000_000, "mio": 1_000_000, "k": 1_000, "mille": 1_000,
}  # fmt: skip
