"""``courrier clients import FILE.csv``: a per-line report, and nothing half-imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from storage.db import Database
from storage.quotes import Client

pytestmark = pytest.mark.postgres

GOOD = (
    "\ufeffNom;Entreprise;E-mail;Téléphone;Ville;Type de projet;Contexte de la mission;Notes\n"
    "Boulangerie Dupont SARL;Boulangerie Dupont SARL;contact@boulangerie-dupont.fr;04 78 12 34 56;Lyon;"
    "Site vitrine;Automatiser les commandes;client fidèle\n"
    "Élodie Kouamé;Académias;elodie@academias.ci;+225 07 07 12 34 56;Abidjan;Automatisation;"
    "\"Industrialiser la production; former les équipes\";\n"
    "\n"
    "Jean Martin;;;;;;;\n"
)

BAD = (
    "name,company,email,phone,city\n"
    "Cabinet Koné,Koné & Associés,contact@kone.ci,,Abidjan\n"
    "Mauvais Mail,,pas-une-adresse,,\n"
    ",Sans Nom SARL,,,\n"
    "cabinet kone,kone & associes,,,\n"
    "Téléphone Faux,,,abc,\n"
)


def run(db_url: str, tmp_path: Path, content: bytes | str, *args: str) -> tuple[int, str]:
    """Run the CLI on a file; exit code and output."""
    path = tmp_path / "clients.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(app, ["clients", "import", str(path), *args],
                                env={"COURRIER_DATABASE_URL": db_url, "COURRIER_LOG_LEVEL": "WARNING"})
    return result.exit_code, result.output


def clients(db_url: str) -> list[Client]:
    """Every stored client."""
    db = Database(db_url)
    try:
        with db.session() as session:
            rows = list(session.scalars(select(Client).order_by(Client.id)))
            for row in rows:
                session.expunge(row)
            return rows
    finally:
        db.dispose()


def test_a_good_file_with_french_headers_semicolons_and_a_bom(db_url: str, tmp_path: Path) -> None:
    code, output = run(db_url, tmp_path, GOOD)
    assert code == 0, output
    assert "note: column 'Notes' is not a client field; ignored" in output
    assert "Imported 3 client(s)" in output
    stored = clients(db_url)
    assert [c.name for c in stored] == ["Boulangerie Dupont SARL", "Élodie Kouamé", "Jean Martin"]
    assert stored[1].mission_context == "Industrialiser la production; former les équipes"
    assert stored[1].phone == "+225 07 07 12 34 56" and stored[2].email is None


def test_a_file_with_bad_lines_is_reported_line_by_line_and_nothing_is_imported(db_url: str, tmp_path: Path) -> None:
    code, output = run(db_url, tmp_path, BAD)
    assert code == 1
    assert "line 3: rejected (Mauvais Mail): This email address isn't valid" in output
    assert "line 4: rejected (no name): The client's name is required." in output
    assert "line 5: rejected (cabinet kone): same client as line 2" in output
    assert "line 6: rejected (Téléphone Faux): This phone number isn't valid" in output
    assert "4 line(s) rejected, 1 valid: nothing imported" in output
    assert clients(db_url) == []


def test_skip_invalid_imports_only_the_valid_lines_and_dry_run_nothing(db_url: str, tmp_path: Path) -> None:
    code, output = run(db_url, tmp_path, BAD, "--dry-run", "--skip-invalid")
    assert code == 0 and "Dry run: 1 client(s) would be imported." in output and clients(db_url) == []
    code, output = run(db_url, tmp_path, BAD, "--skip-invalid")
    assert code == 0 and "Imported 1 client(s)" in output and "4 line(s) skipped" in output
    assert [c.name for c in clients(db_url)] == ["Cabinet Koné"]
    code, output = run(db_url, tmp_path, "nom,entreprise\nCABINET KONÉ,KONÉ & ASSOCIÉS\nNouveau,\n")
    assert code == 1
    assert "line 2: rejected (CABINET KONÉ): A client \"Cabinet Koné (Koné & Associés)\" already exists." in output
    assert [c.name for c in clients(db_url)] == ["Cabinet Koné"]


def test_unreadable_files_are_refused_with_a_reason(db_url: str, tmp_path: Path) -> None:
    code, output = run(db_url, tmp_path, "Nom;Ville\nCafé;Lyon\n".encode("latin-1"))
    assert code == 2 and "not UTF-8" in output
    code, output = run(db_url, tmp_path, "Entreprise;Ville\nACME;Lyon\n")
    assert code == 2 and "no name column" in output
    code, output = run(db_url, tmp_path, "")
    assert code == 2 and "empty" in output
    assert clients(db_url) == []
