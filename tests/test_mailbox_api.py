"""The seed HTTP API (/inbox/integrations), the `courrier sync` command and the scheduler tick."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.scheduler import guarded
from handlers.mailboxes.service import SYNC_TICK_SECONDS, MailboxService, backoff_delay
from storage.accounts import create_api_token, ensure_default_org
from storage.mail import Mailbox
from tests.conftest import TEST_KEY, Harness
from tests.dovecot import Account, Dovecot, free_port
from tests.mail_fixtures import add_imap_mailbox, connectors_for, make_email

pytestmark = pytest.mark.postgres


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    return harness


@pytest.fixture
def token(h: Harness) -> str:
    with h.services.db.write() as session:
        return create_api_token(session, ensure_default_org(session, "Test Org"), "tests")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body_for(account: Account, **changes: Any) -> dict[str, Any]:
    body = {"integration_type": "imap", "name": "Support", "imap_server": "127.0.0.1",
            "imap_port": account.server.tls_port, "email_address": account.address,
            "email_password": account.password, "use_ssl": True, "sync_interval_minutes": 10}
    body.update(changes)
    return body


def test_api_needs_an_admin_token(h: Harness) -> None:
    assert h.client.get("/inbox/integrations").status_code == 401
    assert h.client.get("/inbox/integrations", headers=auth("not-a-token")).status_code == 401


def test_create_list_sync_and_delete_an_imap_integration_without_ever_showing_secrets(
    h: Harness, token: str, dovecot: Dovecot
) -> None:
    account = dovecot.new_account()
    account.append([make_email(i, to=account.address) for i in range(3)])

    created = h.client.post("/inbox/integrations", json=body_for(account, smtp_server="127.0.0.1", smtp_port=2525,
                                                                 smtp_security="starttls"), headers=auth(token))
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["id"] and data["integration_type"] == "imap" and data["name"] == "Support"
    assert (data["imap_server"], data["imap_port"], data["use_ssl"]) == ("127.0.0.1", account.server.tls_port, True)
    assert (data["smtp_server"], data["smtp_port"], data["smtp_security"]) == ("127.0.0.1", 2525, "starttls")
    assert data["sync_interval_minutes"] == 10
    assert {"last_sync_at", "last_sync_status", "last_sync_error"} <= set(data)
    h.services.get(MailboxService).wait_idle()

    listed = h.client.get("/inbox/integrations", headers=auth(token))
    [item] = listed.json()
    assert item["last_sync_status"] == "success" and item["last_sync_error"] is None and item["last_sync_at"]
    assert item["last_sync_count"] == 3

    account.append([make_email(9, to=account.address)])
    synced = h.client.post(f"/inbox/integrations/{data['id']}/sync", headers=auth(token))
    assert synced.status_code == 200 and synced.json()["new_messages"] == 1
    every = h.client.post("/inbox/integrations/sync-all", headers=auth(token))
    assert [r["new_messages"] for r in every.json()] == [0]
    for response in (created, listed, synced, every):
        assert account.password not in response.text and "enc1:" not in response.text
        assert "password" not in json.dumps(response.json()).lower()

    assert h.client.delete(f"/inbox/integrations/{data['id']}", headers=auth(token)).status_code == 204
    assert h.client.get("/inbox/integrations", headers=auth(token)).json() == []
    assert h.client.post(f"/inbox/integrations/{data['id']}/sync", headers=auth(token)).status_code == 404


def test_create_refuses_bad_credentials_duplicates_and_oauth_providers(
    h: Harness, token: str, dovecot: Dovecot
) -> None:
    account = dovecot.new_account()
    wrong = h.client.post("/inbox/integrations", json=body_for(account, email_password="nope"), headers=auth(token))
    assert wrong.status_code == 400 and "refuses the address or password" in wrong.json()["detail"]
    closed = h.client.post("/inbox/integrations", json=body_for(account, imap_port=free_port()), headers=auth(token))
    assert closed.status_code == 400 and "Cannot reach 127.0.0.1" in closed.json()["detail"]
    gmail = h.client.post("/inbox/integrations", json=body_for(account, integration_type="gmail"), headers=auth(token))
    assert gmail.status_code == 400 and "link mailbox gmail" in gmail.json()["detail"]
    assert h.client.post("/inbox/integrations", json=body_for(account), headers=auth(token)).status_code == 201
    again = h.client.post("/inbox/integrations", json=body_for(account), headers=auth(token))
    assert again.status_code == 409
    h.services.get(MailboxService).wait_idle()


def test_other_organizations_integrations_are_invisible(h: Harness, token: str, dovecot: Dovecot) -> None:
    from storage.accounts import create_org

    with h.services.db.write() as session:
        other = create_org(session, "Autre", "autre")
        other_id = other.id
    box_id = add_imap_mailbox(h.services, dovecot.new_account(), org_id=other_id)
    assert h.client.get("/inbox/integrations", headers=auth(token)).json() == []
    assert h.client.post(f"/inbox/integrations/{box_id}/sync", headers=auth(token)).status_code == 404
    assert h.client.delete(f"/inbox/integrations/{box_id}", headers=auth(token)).status_code == 404


# ---------------------------------------------------------------- scheduler and CLI


def test_scheduler_tick_is_registered_and_never_raises(h: Harness, dovecot: Dovecot) -> None:
    [spec] = [j for j in h.services.jobs if j.id == "mailboxes:sync"]
    assert (spec.trigger, spec.trigger_args) == ("interval", {"seconds": SYNC_TICK_SECONDS})
    account = dovecot.new_account()
    account.append([make_email(1, to=account.address)])
    good = add_imap_mailbox(h.services, account)
    broken = add_imap_mailbox(h.services, dovecot.new_account(), address="broken@courrier.test")
    with h.services.db.write() as session:
        box = session.get(Mailbox, broken)
        assert box is not None
        box.credentials = "enc1:unknown-key:AAAA"  # cannot be decrypted: the sync fails, the tick goes on
    asyncio.run(guarded(h.services, spec)())
    h.services.get(MailboxService).wait_idle()
    with h.services.db.session() as session:
        states = dict(session.execute(select(Mailbox.id, Mailbox.last_sync_status)).all())
        kinds = dict(session.execute(select(Mailbox.id, Mailbox.last_error_kind)).all())
    assert states == {good: "success", broken: "error"} and kinds[broken] == "credentials"


def test_backoff_grows_from_30_seconds_to_30_minutes_with_jitter() -> None:
    import random

    rng = random.Random(7)
    first = [backoff_delay(1, rng) for _ in range(20)]
    assert all(d == 30 for d in first)
    later = [backoff_delay(n, rng) for n in range(2, 30)]
    assert all(30 <= d <= 1800 for d in later)
    capped = [backoff_delay(20, rng) for _ in range(50)]
    assert min(capped) >= 900 and max(capped) <= 1800 and len(set(capped)) > 1


def test_courrier_sync_command(db_url: str, dovecot: Dovecot, make_harness: Any, clock: Any) -> None:
    h: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    account = dovecot.new_account()
    account.append([make_email(i, to=account.address) for i in range(2)])
    # Plain IMAP is only allowed on loopback: the command line needs no test certificate.
    box_id = add_imap_mailbox(h.services, account, security="plain")
    env = {"COURRIER_DATABASE_URL": db_url, "COURRIER_SECRET_KEYS": TEST_KEY, "COURRIER_SANDBOX": "true"}
    runner = CliRunner()
    result = runner.invoke(cli_app, ["sync", "--mailbox", str(box_id)], env={**os.environ, **env})
    assert result.exit_code == 0, result.output
    assert f"#{box_id} {account.address}: success, 2 new message(s)" in result.output
    again = runner.invoke(cli_app, ["sync"], env={**os.environ, **env})
    assert again.exit_code == 0 and "success, 0 new message(s)" in again.output
    missing = runner.invoke(cli_app, ["sync", "--mailbox", "999"], env={**os.environ, **env})
    assert missing.exit_code == 2 and "No mailbox with id 999" in missing.output


def test_two_processes_never_start_the_same_mailbox(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    account.append([make_email(1, to=account.address)])
    box_id = add_imap_mailbox(h.services, account)
    first = h.services.get(MailboxService)
    second = MailboxService(h.services, first.connectors)  # another worker process on the same database
    assert first.run_due() == 1
    assert second.run_due() == 0
    first.wait_idle()
    with h.services.db.session() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None and box.last_sync_status == "success"
        assert box.next_sync_at is not None and (box.next_sync_at - h.clock.now()).total_seconds() == 300
    h.clock.advance(minutes=5)
    assert second.run_due() == 1
    second.wait_idle()
    second.shutdown()
