"""The courrier command line, run in-process with its own environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from storage.accounts import sha256_hex
from storage.db import Database
from storage.models import ApiToken, JoinCode, Organization, User
from storage.secretbox import SecretBox, generate_key


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name in list(os.environ):
        if name.startswith("COURRIER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env={"COURRIER_DATABASE_URL": url, **(env or {})})
        return result.exit_code, result.output

    run.url = url  # type: ignore[attr-defined]
    return run


def rows(url: str, model: type) -> list:  # type: ignore[type-arg]
    db = Database(url)
    try:
        with db.session() as session:
            found = list(session.scalars(select(model)))
            for row in found:
                session.expunge(row)
            return found
    finally:
        db.dispose()


def test_org_and_users(cli) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("org", "create", "Transit Ndiaye & Fils", "--slug", "ndiaye")
    assert code == 0, out
    code, out = cli("users", "add", "+221 77 123 45 67", "--name", "Awa Ndiaye", "--admin", "--org", "ndiaye")
    assert code == 0, out
    users = rows(cli.url, User)
    assert [(u.phone, u.role) for u in users] == [("+221771234567", "admin")]
    code, out = cli("users", "add", "0612", "--name", "X")
    assert code == 2 and "international form" in out
    code, out = cli("users", "add", "+221771234567", "--name", "Again")
    assert code == 2 and "already registered" in out
    code, out = cli("org", "create", "Other", "--slug", "ndiaye")
    assert code == 2 and "already exists" in out
    code, out = cli("users", "add", "+33612345678", "--name", "Y", "--org", "nope")
    assert code == 2 and "no organization" in out
    assert {o.slug for o in rows(cli.url, Organization)} == {"mon-entreprise", "ndiaye"}


def test_invite_prints_a_one_time_code_stored_as_a_hash(cli) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("users", "invite", "--name", "Moussa Diallo")
    assert code == 0, out
    join_code = out.strip().splitlines()[-1]
    assert join_code.isdigit() and len(join_code) == 6
    stored = rows(cli.url, JoinCode)
    assert [j.code_hash for j in stored] == [sha256_hex(join_code)]
    assert join_code not in str([j.__dict__ for j in stored])


def test_api_token_is_printed_alone_on_the_last_line_and_stored_hashed(cli) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("api-token", "create", "--name", "zapier")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    assert [t.token_hash for t in rows(cli.url, ApiToken)] == [sha256_hex(token)]


def test_secrets_rotate_needs_keys_and_reports_its_count(cli) -> None:  # type: ignore[no-untyped-def]
    old, new = generate_key(), generate_key()
    code, out = cli("secrets", "rotate", env={"COURRIER_SECRET_KEYS": f"{new},{old}"})
    assert code == 0, out
    assert "Re-encrypted 0 secret(s)" in out
    code, out = cli("secrets", "rotate")
    assert code == 2 and "COURRIER_SECRET_KEYS" in out


def test_demo_prepares_a_key_file_an_org_and_an_admin(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("demo", "--no-serve")
    assert code == 0, out
    assert "/sandbox?user=" in out and "+33600000001" in out
    key_file = tmp_path / "var" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    SecretBox([__import__("base64").b64decode(key_file.read_text().strip())])
    code, out = cli("demo", "--no-serve")  # idempotent
    assert code == 0, out
    assert len([u for u in rows(cli.url, User) if u.phone == "+33600000001"]) == 1
