"""Storage of clients and documents on SQLite and PostgreSQL: numbering under concurrency, lookup, migration."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from handlers.quotes.clients import ClientFields, create_client, find_clients
from handlers.quotes.parsing import Invalid
from storage.accounts import create_org, ensure_default_org
from storage.db import Database
from storage.migrate import alembic_config, current_heads, upgrade
from storage.quotes import Quote, add_client, claim_job, due_jobs, next_number

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(db_url: str) -> Database:
    """The test database."""
    database = Database(db_url, pool_size=20)
    yield database  # type: ignore[misc]
    database.dispose()


def test_numbers_are_sequential_per_org_kind_and_year(db: Database) -> None:
    with db.write() as session:
        first = ensure_default_org(session, "A").id
        second = create_org(session, "B", "b").id
    with db.write() as session:
        assert [next_number(session, first, "quote", 2026) for _ in range(3)] == [1, 2, 3]
        assert next_number(session, first, "contract", 2026) == 1
        assert next_number(session, second, "quote", 2026) == 1
        assert next_number(session, first, "quote", 2027) == 1


def test_a_rolled_back_number_is_given_again_but_a_committed_one_never(db: Database) -> None:
    with db.write() as session:
        org = ensure_default_org(session, "A").id
    with db.write() as session:
        assert next_number(session, org, "quote", 2026) == 1
    with pytest.raises(RuntimeError), db.write() as session:
        assert next_number(session, org, "quote", 2026) == 2
        raise RuntimeError("the document was never created")
    with db.write() as session:
        assert next_number(session, org, "quote", 2026) == 2


def test_concurrent_creators_never_share_a_number(db: Database) -> None:
    with db.write() as session:
        org = ensure_default_org(session, "A").id
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def create() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                with db.write() as session:
                    value = next_number(session, org, "quote", 2026)
                    session.add(Quote(org_id=org, kind="quote", number=f"DEV-2026-{value:04d}", language="fr",
                                      data={}, issue_date=date(2026, 11, 20), created_at=NOW, status="draft",
                                      revision=1, currency="EUR", total_cents=0, job_attempts=0,
                                      send_uncertain=False))
                got.append(value)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(got) == list(range(1, 61))
    with db.session() as session:
        numbers = list(session.scalars(select(Quote.number)))
    assert len(set(numbers)) == 60


def test_lookup_is_forgiving(db: Database) -> None:
    with db.write() as session:
        org = ensure_default_org(session, "A").id
        for name, company, email in (("Boulangerie Dupont SARL", "Boulangerie Dupont SARL", "contact@dupont.fr"),
                                     ("Élodie Martin", "Académias", "elodie@academias.ci"),
                                     ("Jean Dupontel", "", None), ("100% Digital", "", None)):
            add_client(session, org, NOW, name=name, company=company, email=email)
    with db.session() as session:
        def names(query: str) -> list[str]:
            return [c.name for c in find_clients(session, org, query).matches]

        assert names("dupont") == ["Boulangerie Dupont SARL", "Jean Dupontel"]
        assert names("DUPONT sarl") == ["Boulangerie Dupont SARL"]
        assert names("dupont SAS") == ["Boulangerie Dupont SARL", "Jean Dupontel"]  # a wrong legal form is ignored
        assert names("boul dup") == ["Boulangerie Dupont SARL"]
        assert names("elodie") == names("ÉLODIE") == ["Élodie Martin"]
        assert names("academias") == ["Élodie Martin"]
        assert names("elodie@academias") == ["Élodie Martin"]
        assert names("pont") == []  # words match from their start, not in the middle
        assert names("100%") == ["100% Digital"]
        assert names("Martine") == []
        assert [c.name for c in find_clients(session, org, "Dupond").suggestions] == ["Boulangerie Dupont SARL"]


def test_duplicates_are_refused_whatever_the_case_and_accents(db: Database) -> None:
    with db.write() as session:
        org = ensure_default_org(session, "A").id
        create_client(session, org, ClientFields(name="Académias", company="Académias"), NOW)
        with pytest.raises(Invalid) as info:
            create_client(session, org, ClientFields(name="ACADEMIAS", company="academias"), NOW)
        assert info.value.key == "clients.invalid.duplicate"
        create_client(session, org, ClientFields(name="Académias", company="Autre"), NOW)


def test_jobs_are_claimed_once(db: Database) -> None:
    with db.write() as session:
        org = ensure_default_org(session, "A").id
        quote = Quote(org_id=org, kind="quote", number="DEV-2026-0001", language="fr", data={},
                      issue_date=date(2026, 11, 20), created_at=NOW, status="draft", revision=1, currency="EUR",
                      total_cents=0, job="render", job_attempts=0, send_uncertain=False)
        session.add(quote)
        session.flush()
        quote_id = quote.id
    from datetime import timedelta

    with db.write() as session:
        assert due_jobs(session, NOW) == [quote_id]
        assert claim_job(session, quote_id, NOW, timedelta(minutes=5))
    with db.write() as session:
        assert due_jobs(session, NOW) == []
        assert not claim_job(session, quote_id, NOW, timedelta(minutes=5))
        assert claim_job(session, quote_id, NOW + timedelta(minutes=6), timedelta(minutes=5))  # lease expired


def test_the_migration_goes_down_and_up_again(db_url: str) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "0003_quotes-1")
    db = Database(db_url)
    try:
        assert "quotes" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()
    upgrade(db_url)
    assert "0003_quotes" in {r.revision for r in ScriptDirectory.from_config(config).walk_revisions()}
    assert current_heads(db_url) == set(ScriptDirectory.from_config(config).get_heads())
    db = Database(db_url)
    try:
        tables = set(inspect(db.engine).get_table_names())
        assert {"clients", "quotes", "document_counters"} <= tables
    finally:
        db.dispose()
