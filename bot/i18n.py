"""The message catalog: every user-facing sentence in French and English.

Catalog files are ``templates/i18n/*.toml``; a leaf is a table with ``fr`` and ``en`` strings
using ``str.format`` placeholders, e.g. ``[hint.unknown]`` / ``fr = "…{help}…"``.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LANGUAGES = ("fr", "en")


class CatalogError(Exception):
    """The catalog is inconsistent (missing language, duplicate key, placeholder mismatch)."""


def placeholders(text: str) -> set[str]:
    """The named fields a format string uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


class Catalog:
    """Looks up localized messages by key."""

    def __init__(self, entries: Mapping[str, Mapping[str, str]], default_language: str = "fr") -> None:
        self._entries = dict(entries)
        self.default_language = default_language

    @classmethod
    def load(cls, folder: Path, default_language: str = "fr") -> Catalog:
        """Read every ``*.toml`` file of a folder; duplicate keys are an error."""
        entries: dict[str, dict[str, str]] = {}
        for path in sorted(folder.glob("*.toml")):
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            for key, value in _flatten(data):
                if key in entries:
                    raise CatalogError(f"duplicate catalog key {key!r} (in {path.name})")
                entries[key] = value
        return cls(entries, default_language)

    def keys(self) -> list[str]:
        """Every key of the catalog."""
        return sorted(self._entries)

    def entry(self, key: str) -> Mapping[str, str]:
        """The raw translations of one key."""
        return self._entries[key]

    def has(self, key: str) -> bool:
        """True when the key exists."""
        return key in self._entries

    def t(self, key: str, lang: str | None = None, /, **params: Any) -> str:
        """The message for ``key`` in ``lang`` with its placeholders filled."""
        entry = self._entries.get(key)
        if entry is None:
            raise CatalogError(f"unknown catalog key {key!r}")
        text = entry.get(lang or self.default_language) or entry[self.default_language]
        return text.format(**params) if params or "{" in text else text

    def check(self) -> list[str]:
        """Every problem found: a missing language or placeholders that differ between languages."""
        problems = []
        for key, entry in self._entries.items():
            missing = [lang for lang in LANGUAGES if not entry.get(lang)]
            if missing:
                problems.append(f"{key}: missing {', '.join(missing)}")
                continue
            if placeholders(entry["fr"]) != placeholders(entry["en"]):
                problems.append(f"{key}: placeholders differ between fr and en")
        return problems


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, dict[str, str]]]:
    leaves: list[tuple[str, dict[str, str]]] = []
    if any(lang in data and isinstance(data[lang], str) for lang in LANGUAGES):
        leaves.append((prefix, {k: v for k, v in data.items() if isinstance(v, str)}))
        return leaves
    for key, value in data.items():
        if isinstance(value, Mapping):
            leaves.extend(_flatten(value, f"{prefix}.{key}" if prefix else key))
        else:
            raise CatalogError(f"{prefix}.{key}: expected a table with fr and en strings")
    return leaves
