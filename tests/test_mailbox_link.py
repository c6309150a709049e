"""Linking from the chat: one-time link pages, Google and Microsoft OAuth callbacks, the IMAP form."""

from __future__ import annotations

import hashlib
import html
import re
import urllib.parse
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from handlers.mailboxes.service import MailboxService
from storage.mail import Mailbox, MailboxLink, MailboxOAuthState
from tests.conftest import Harness, text_message
from tests.dovecot import Dovecot, free_port
from tests.fake_gmail import FakeGmail
from tests.fake_graph import FakeGraph, form_fields
from tests.mail_fixtures import connectors_for, make_email
from tests.test_mailbox_privacy import dump_database
from tests.tls import LoopbackCert

pytestmark = pytest.mark.postgres

ADMIN = "2250707000001"
MANAGER = "2250707000002"


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, fake_gmail: FakeGmail, fake_graph: FakeGraph, test_cert: LoopbackCert,
      clock: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    # The fake Google speaks plain http on loopback: allow it in this test process only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    connectors = connectors_for(gmail=fake_gmail, graph=fake_graph, cert=test_cert, dovecot=dovecot, clock=clock)
    harness: Harness = make_harness(build={"mail_connectors": connectors})
    harness.add_user(f"+{ADMIN}", "Awa Kouassi", admin=True)
    harness.add_user(f"+{MANAGER}", "Koffi Yao", admin=False)
    return harness


def ask_link(h: Harness, words: str = "connecter boîte", phone: str = ADMIN) -> str:
    h.post(text_message(words, phone=phone))
    h.drain()
    reply = h.whatsapp.texts_to(phone)[-1]
    found = re.search(r"http://testserver(/link/[A-Za-z0-9_-]+)", reply)
    assert found, reply
    return found.group(1)


def shown(response: Any) -> str:
    """The page's text as a person reads it (entities decoded)."""
    return html.unescape(response.text)


def settle(h: Harness) -> None:
    h.services.get(MailboxService).wait_idle()
    h.drain()


def mailboxes(h: Harness) -> list[Mailbox]:
    with h.services.db.session() as session:
        return list(session.scalars(select(Mailbox).order_by(Mailbox.id)))


# ---------------------------------------------------------------- link pages


def test_only_admins_get_a_link_and_only_its_hash_is_stored(h: Harness) -> None:
    h.post(text_message("connecter boîte", phone=MANAGER))
    h.drain()
    assert "réservée aux administrateurs" in h.whatsapp.texts_to(MANAGER)[-1]
    path = ask_link(h, "connecter boite gmail")
    assert "Gmail" in h.whatsapp.texts_to(ADMIN)[-1] and "15 minutes" in h.whatsapp.texts_to(ADMIN)[-1]
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, URL-safe
    # Only the hash is kept, anywhere: the outbox forgets a message's text once it is delivered.
    assert token not in dump_database(h.services.db)
    with h.services.db.session() as session:
        assert session.scalar(select(MailboxLink.token_hash)) == hashlib.sha256(token.encode()).hexdigest()
    h.post(text_message("link mailbox yahooo", phone=ADMIN))
    h.drain()
    assert "Say which provider" in h.whatsapp.texts_to(ADMIN)[-1]


def test_link_page_then_expired_used_and_unknown_links_look_the_same(h: Harness) -> None:
    path = ask_link(h, "link mailbox gmail")
    page = h.client.get(path)
    assert page.status_code == 200
    assert "Sign in with Google" in shown(page) and "Continue with IMAP" in shown(page)
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    # Opening the page (a WhatsApp link preview does) never uses the link up.
    assert h.client.get(path).status_code == 200

    unknown = h.client.get("/link/" + "A" * 43)
    h.clock.advance(minutes=16)
    expired = h.client.get(path)
    assert unknown.status_code == expired.status_code == 404
    assert shown(unknown) == shown(expired)
    assert "Awa" not in shown(expired) and "Test Org" not in shown(expired)


# ---------------------------------------------------------------- Google


def start_google(h: Harness, fake: FakeGmail, address: str) -> tuple[str, str, dict[str, str]]:
    path = ask_link(h, "connecter boîte gmail")
    fake.consent_email = address
    started = h.client.post(f"{path}/google", follow_redirects=False)
    assert started.status_code == 303
    auth = urllib.parse.urlsplit(started.headers["location"])
    query = dict(urllib.parse.parse_qsl(auth.query))
    assert auth.geturl().startswith(fake.auth_url)
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert "https://www.googleapis.com/auth/gmail.readonly" in query["scope"]
    assert "https://www.googleapis.com/auth/gmail.send" in query["scope"]
    assert query["redirect_uri"] == "http://testserver/link/oauth/google"
    consent = httpx.get(started.headers["location"], follow_redirects=False)
    back = urllib.parse.urlsplit(consent.headers["location"])
    return path, back.path + "?" + back.query, query


def test_google_good_code_links_the_mailbox_and_confirms_on_whatsapp_with_the_count(
    h: Harness, fake_gmail: FakeGmail
) -> None:
    address = f"contact-{id(h)}@gmail.test"
    for i in range(3):
        fake_gmail.deliver(address, make_email(i, to=address))
    path, callback, query = start_google(h, fake_gmail, address)
    assert query["state"] not in dump_database(h.services.db)

    done = h.client.get(callback)
    assert done.status_code == 200 and address in shown(done)
    settle(h)
    [box] = mailboxes(h)
    assert (box.provider, box.address, box.status, box.is_default) == ("gmail", address, "active", True)
    assert box.credentials and box.credentials.startswith("enc1:")
    dump = dump_database(h.services.db)
    assert "fake-refresh" not in dump and "ya29." not in dump
    confirmation = h.whatsapp.texts_to(ADMIN)[-1]
    assert address in confirmation and "3 message(s)" in confirmation
    # Single use: the page is gone, the callback cannot be replayed.
    assert h.client.get(path).status_code == 404
    replay = h.client.get(callback)
    assert replay.status_code == 404 and len(mailboxes(h)) == 1


def test_google_wrong_state_and_replayed_state_link_nothing(h: Harness, fake_gmail: FakeGmail) -> None:
    _, callback, query = start_google(h, fake_gmail, "x@gmail.test")
    forged = callback.replace(urllib.parse.quote(query["state"]), "forged-state")
    assert h.client.get(forged).status_code == 404
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
    assert h.client.get(f"/link/oauth/google?code={code}").status_code == 404  # no state at all
    assert mailboxes(h) == []
    with h.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(MailboxOAuthState)
                              .where(MailboxOAuthState.used_at.is_not(None))) == 0


def test_google_callback_after_the_link_expired_links_nothing(h: Harness, fake_gmail: FakeGmail) -> None:
    _, callback, _ = start_google(h, fake_gmail, "late@gmail.test")
    h.clock.advance(minutes=16)
    late = h.client.get(callback)
    assert (late.status_code == 410 and "expired" in shown(late).lower()) or "expiré" in shown(late)
    assert mailboxes(h) == []


def test_google_refused_consent_and_missing_permission(h: Harness, fake_gmail: FakeGmail) -> None:
    fake_gmail.consent = "deny"
    path, callback, _ = start_google(h, fake_gmail, "no@gmail.test")
    refused = h.client.get(callback)
    assert refused.status_code == 400 and "refusé" in shown(refused)
    assert h.client.get(path).status_code == 200  # the link itself is still usable
    fake_gmail.consent = "read_only"
    consent = h.client.post(f"{path}/google", follow_redirects=False)
    back = httpx.get(consent.headers["location"], follow_redirects=False).headers["location"]
    partial = h.client.get(back.replace("http://testserver", ""))
    assert partial.status_code == 400 and "lire et envoyer" in shown(partial)
    assert mailboxes(h) == []


# ---------------------------------------------------------------- Microsoft


def test_microsoft_form_post_callback_links_the_mailbox(h: Harness, fake_graph: FakeGraph,
                                                        test_cert: LoopbackCert) -> None:
    address = f"ventes-{id(h)}@outlook.test"
    fake_graph.deliver(address, make_email(1, to=address))
    path = ask_link(h, "connecter boîte outlook")
    started = h.client.post(f"{path}/microsoft", follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith(fake_graph.authority_url)
    fake_graph.consent_email = address
    page = httpx.get(started.headers["location"], verify=test_cert.client_context())
    action, fields = form_fields(shown(page))
    assert action == "http://testserver/link/oauth/microsoft"
    done = h.client.post("/link/oauth/microsoft", data=fields)
    assert done.status_code == 200 and address in shown(done)
    settle(h)
    [box] = mailboxes(h)
    assert (box.provider, box.address, box.last_sync_count) == ("outlook", address, 1)
    assert "1 message(s)" in h.whatsapp.texts_to(ADMIN)[-1]
    assert h.client.post("/link/oauth/microsoft", data=fields).status_code == 404


def test_microsoft_refused_consent(h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    fake_graph.consent = "deny"
    path = ask_link(h)
    started = h.client.post(f"{path}/microsoft", follow_redirects=False)
    page = httpx.get(started.headers["location"], verify=test_cert.client_context())
    _, fields = form_fields(shown(page))
    refused = h.client.post("/link/oauth/microsoft", data=fields)
    assert refused.status_code == 400 and "refusé" in shown(refused)
    assert mailboxes(h) == []


# ---------------------------------------------------------------- IMAP form


def imap_fields(account: Any, **changes: str) -> dict[str, str]:
    fields = {"preset": "custom", "email": account.address, "password": account.password, "host": "127.0.0.1",
              "port": str(account.server.tls_port), "security": "tls", "username": "", "smtp_host": "",
              "smtp_port": "", "smtp_security": ""}
    fields.update(changes)
    return fields


def test_imap_form_wrong_password_and_wrong_host_explain_and_keep_the_form(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    path = ask_link(h, "connecter boîte imap")
    form = h.client.get(f"{path}/imap")
    assert form.status_code == 200 and "ssl0.ovh.net" in shown(form) and "imap.orange.fr" in shown(form)
    assert "smtp.orange.fr" in shown(form) and "mot de passe d'application" in shown(form).lower()

    wrong = h.client.post(f"{path}/imap", data=imap_fields(account, password="Mauvais-Mot-De-Passe"))
    assert wrong.status_code == 400
    assert "refuse l'adresse ou le mot de passe" in shown(wrong)
    assert account.address in shown(wrong) and "Mauvais-Mot-De-Passe" not in shown(wrong)

    unreachable = h.client.post(f"{path}/imap", data=imap_fields(account, port=str(free_port())))
    assert unreachable.status_code == 400 and "Impossible de joindre 127.0.0.1" in shown(unreachable)
    insecure = h.client.post(f"{path}/imap", data=imap_fields(account, host="imap.exemple.test", security="plain"))
    assert insecure.status_code == 400 and "sans chiffrement" in shown(insecure)
    bad_address = h.client.post(f"{path}/imap", data=imap_fields(account, email="pas-une-adresse"))
    assert bad_address.status_code == 400 and "pas valide" in shown(bad_address)
    assert mailboxes(h) == []


def test_imap_form_success_links_and_confirms_then_the_link_is_gone(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    account.append([make_email(i, to=account.address) for i in range(4)])
    path = ask_link(h, "connecter boîte imap")
    done = h.client.post(f"{path}/imap", data=imap_fields(account, smtp_host="127.0.0.1", smtp_port="2525",
                                                          smtp_security="starttls"))
    assert done.status_code == 200 and account.address in shown(done)
    settle(h)
    [box] = mailboxes(h)
    assert (box.provider, box.imap_port, box.smtp_host, box.smtp_port) == ("imap", account.server.tls_port,
                                                                            "127.0.0.1", 2525)
    assert box.last_sync_count == 4
    assert "Première synchronisation : 4 message(s)" in h.whatsapp.texts_to(ADMIN)[-1]
    assert account.password not in dump_database(h.services.db)
    assert h.client.get(f"{path}/imap").status_code == 404
    assert h.client.post(f"{path}/imap", data=imap_fields(account)).status_code == 404


def test_relink_after_a_password_change_reuses_the_mailbox(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    path = ask_link(h, "connecter boîte imap")
    assert h.client.post(f"{path}/imap", data=imap_fields(account)).status_code == 200
    settle(h)
    [box] = mailboxes(h)
    # The password changes on the server side: the next sync asks the admins to link again.
    account = account.change_password("nouveau")
    assert h.services.get(MailboxService).sync(box.id).status == "needs_relink"
    h.drain()
    notice = h.whatsapp.texts_to(ADMIN)[-1]
    relink = re.search(r"http://testserver(/link/[A-Za-z0-9_-]+)", notice)
    assert relink and "révoqué ou a expiré" in notice
    fields = imap_fields(account)
    assert h.client.post(f"{relink.group(1)}/imap", data=fields).status_code == 200
    settle(h)
    [again] = mailboxes(h)
    assert (again.id, again.status) == (box.id, "active")
    assert "reliée" in h.whatsapp.texts_to(ADMIN)[-1]
    with h.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(MailboxLink)
                              .where(MailboxLink.used_at.is_not(None))) == 2


# ---------------------------------------------------------------- chat listing and sync


def test_mailboxes_list_and_sync_from_the_chat(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    path = ask_link(h, "connecter boîte imap")
    h.client.post(f"{path}/imap", data=imap_fields(account))
    settle(h)
    h.post(text_message("boîtes", phone=MANAGER))
    h.drain()
    listing = h.whatsapp.texts_to(MANAGER)[-1]
    assert account.address in listing and "à jour" in listing and "IMAP" in listing

    account.append([make_email(i, to=account.address) for i in range(2)])
    before = len(h.whatsapp.texts_to(MANAGER))
    h.post(text_message("synchroniser", phone=MANAGER))
    h.drain()
    settle(h)
    # The sync runs in the background and may finish before the worker is idle,
    # so the two replies are read together, in the order they must come.
    started, summary = h.whatsapp.texts_to(MANAGER)[before:]
    assert "Synchronisation lancée (1 boîte(s))" in started
    assert "Synchronisation terminée" in summary and "2 nouveau(x) message(s)" in summary
    h.post(text_message("sync 7", phone=MANAGER))
    h.drain()
    assert "can't find the mailbox" in h.whatsapp.texts_to(MANAGER)[-1]
    h.post(text_message("statut", phone=ADMIN))
    h.drain()
    assert "Boîtes mail : 1 liée(s), 0 à vérifier" in h.whatsapp.texts_to(ADMIN)[-1]


def test_without_google_or_microsoft_configured_the_page_offers_imap_and_explains(
    make_harness: Any, dovecot: Dovecot, clock: Any
) -> None:
    h: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    h.add_user(f"+{ADMIN}", "Awa Kouassi", admin=True)
    path = ask_link(h, "connecter boîte")
    page = shown(h.client.get(path))
    assert page.count("Pas encore disponible sur ce serveur") == 2 and "Continuer avec IMAP" in page
    refused = h.client.post(f"{path}/google", follow_redirects=False)
    assert refused.status_code == 400 and "pas configuré" in shown(refused)
    assert h.client.get(path).status_code == 200
