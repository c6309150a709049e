"""The message catalog: every key in French and English with the same placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import Catalog, CatalogError, placeholders
from bot.settings import REPO_ROOT


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    catalog = Catalog.load(REPO_ROOT / "templates" / "i18n")
    assert catalog.keys()
    assert catalog.check() == []


def test_check_finds_missing_language_and_placeholder_mismatch() -> None:
    catalog = Catalog({"a": {"fr": "Bonjour {nom}"}, "b": {"fr": "{x}", "en": "{y}"}, "c": {"fr": "{n}", "en": "{n}"}})
    problems = catalog.check()
    assert any(p.startswith("a:") for p in problems)
    assert any(p.startswith("b:") for p in problems)
    assert not any(p.startswith("c:") for p in problems)


def test_duplicate_keys_across_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "one.toml").write_text('[x.y]\nfr = "a"\nen = "b"\n')
    (tmp_path / "two.toml").write_text('[x.y]\nfr = "c"\nen = "d"\n')
    with pytest.raises(CatalogError, match="duplicate"):
        Catalog.load(tmp_path)


def test_lookup_fills_placeholders_and_falls_back_to_default_language() -> None:
    catalog = Catalog({"hello": {"fr": "Bonjour {name}", "en": "Hello {name}"}}, "fr")
    assert catalog.t("hello", "en", name="Awa") == "Hello Awa"
    assert catalog.t("hello", "de", name="Awa") == "Bonjour Awa"
    assert placeholders("{a} and {b}") == {"a", "b"}
    with pytest.raises(CatalogError):
        catalog.t("missing", "fr")
