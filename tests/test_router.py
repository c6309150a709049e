"""Command parsing and dispatch order, with the real command table."""

from __future__ import annotations

import pytest

from bot.router import CommandTable, DuplicateAliasError, Router
from bot.text import fold, normalize, tokenize
from handlers import ROUTERS


def table() -> CommandTable:
    router = Router("t")

    @router.command("recap", fr=("récap",), en=("recap",), help_fr="r", help_en="r")
    def recap(ctx: object) -> None: ...

    @router.command("quote", fr=("devis",), en=("quote",), help_fr="d", help_en="q")
    def quote(ctx: object) -> None: ...

    @router.command("quote_list", fr=("devis liste",), en=("quotes",), help_fr="l", help_en="l")
    def quote_list(ctx: object) -> None: ...

    @router.command("link", fr=("connecter boîte",), en=("link mailbox",), help_fr="c", help_en="c")
    def link(ctx: object) -> None: ...

    @router.action("alert:not_important")
    def not_important(ctx: object) -> None: ...

    return CommandTable([router])


def test_fold_drops_accents_and_case() -> None:
    assert fold("Récap ÉTÉ") == "recap ete"
    assert normalize("  /Résumé   du  JOUR ") == "resume du jour"
    assert normalize("!aide") == "aide"
    assert normalize("//aide") == "/aide"  # only one leading slash is dropped


def test_accent_and_case_insensitive_match() -> None:
    t = table()
    for text in ("recap", "RÉCAP", "récap", "/recap", "!Récap"):
        match = t.match_text(text)
        assert match is not None and match.command.id == "recap", text


def test_no_prefix_match() -> None:
    t = table()
    assert t.match_text("devisx") is None
    assert t.match_text("devis") is not None
    assert t.match_text("recapitulatif") is None


def test_longest_run_of_words_wins_and_arguments_keep_case_and_accents() -> None:
    t = table()
    match = t.match_text("devis liste")
    assert match is not None and match.command.id == "quote_list"
    match = t.match_text("Devis  Boulangerie Dupont Élysée")
    assert match is not None and match.command.id == "quote"
    assert match.args == "Boulangerie Dupont Élysée"
    match = t.match_text("connecter boite gmail")
    assert match is not None and match.command.id == "link" and match.args == "gmail"


def test_language_of_the_alias() -> None:
    t = table()
    assert t.match_text("devis").lang == "fr"  # type: ignore[union-attr]
    assert t.match_text("quote").lang == "en"  # type: ignore[union-attr]
    assert t.match_text("recap").lang is None  # type: ignore[union-attr]  # same word in both: ambiguous


def test_ids_match_the_longest_prefix() -> None:
    t = table()
    match = t.match_id("alert:not_important:42")
    assert match is not None and match.command.id == "alert:not_important" and match.args == "42"
    assert t.match_id("alert:unknown:1") is None


def test_duplicate_alias_is_an_error_at_start() -> None:
    a, b = Router("a"), Router("b")
    a.command("one", fr=("bonjour",), en=("hello",), help_fr="x", help_en="x")(lambda ctx: None)
    b.command("two", fr=("salut",), en=("Hello",), help_fr="x", help_en="x")(lambda ctx: None)
    with pytest.raises(DuplicateAliasError, match="(?i)hello"):
        CommandTable([a, b])


def test_duplicate_alias_after_normalization_is_an_error() -> None:
    a = Router("a")
    a.command("one", fr=("récap",), en=("x1",), help_fr="x", help_en="x")(lambda ctx: None)
    a.command("two", fr=("recap",), en=("x2",), help_fr="x", help_en="x")(lambda ctx: None)
    with pytest.raises(DuplicateAliasError):
        CommandTable([a])


def test_every_command_has_french_and_english_aliases_and_help() -> None:
    t = CommandTable(ROUTERS)
    assert t.visible(), "no command registered"
    for command in t.visible():
        for lang in ("fr", "en"):
            assert command.aliases.get(lang), f"{command.id} has no {lang} alias"
            assert command.help.get(lang, "").strip(), f"{command.id} has no {lang} help"
            for alias in command.aliases[lang]:
                assert tokenize(alias), f"{command.id}: empty alias"


def test_tokenize_strips_edge_punctuation() -> None:
    assert [t.norm for t in tokenize("aide ?")] == ["aide"]
    assert [t.norm for t in tokenize("statut.")] == ["statut"]
    assert [t.norm for t in tokenize("aujourd’hui")] == ["aujourd'hui"]
