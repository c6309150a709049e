"""Public pages and APIs of invitations: contact, token lifecycle, signup rules, sessions, rate limits, admin API."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.invitations.lookups import QuoteLookup, QuoteSummary
from integrations.mail import NoLinkedMailbox
from integrations.whatsapp import Buttons
from storage import invitations as repo
from storage.accounts import sha256_hex
from storage.invitations import ClientAccount, ClientSession, ContactMessage, Invitation, InvitationToken
from tests.conftest import Harness
from tests.fakes import FakeMailDirectory
from tests.invitation_helpers import (
    ADMIN_DIGITS,
    STRONG,
    api_token,
    bodies,
    buttons_of,
    count,
    create_invitation,
    csrf_of,
    invitation,
    latest_invitation,
    link_in,
    press,
    say,
    service,
    settle,
    signup_path,
    start,
    submit_signup,
)


@pytest.fixture
def mail() -> FakeMailDirectory:
    return FakeMailDirectory()


@pytest.fixture
def h(make_harness: Any, mail: FakeMailDirectory) -> Harness:
    return start(make_harness, mail=mail)


def message_text(html: str) -> str:
    match = re.search(r'<p class="lead" id="message">(.*?)</p>', html, re.S)
    assert match, html
    return match.group(1)


def contact_form(h: Harness, lang: str = "fr") -> str:
    page = h.client.get(f"/contact?lang={lang}")
    assert page.status_code == 200
    return csrf_of(page.text)


def post_contact(h: Harness, **fields: str) -> Any:
    data = {"name": "Jean Dupont", "email": "jean@exemple.fr", "subject": "Devis toiture",
            "message": "Bonjour,\nPouvez-vous me faire un devis ?", "website": "", "lang": "fr", **fields}
    if "csrf" not in data:
        data["csrf"] = contact_form(h, data["lang"])
    return h.client.post("/contact", data=data, follow_redirects=False)


# ================================================================ contact


@pytest.mark.postgres
def test_the_contact_form_stores_the_message_and_tells_the_admins_with_an_invite_button(
    h: Harness, mail: FakeMailDirectory
) -> None:
    response = post_contact(h)
    assert response.status_code == 303 and response.headers["location"] == "/contact?sent=1&lang=fr"
    thanks = h.client.get(response.headers["location"])
    assert "Merci, votre message a bien été envoyé." in thanks.text
    with h.services.db.session() as session:
        contact = session.scalars(select(ContactMessage)).one()
        assert (contact.name, contact.email, contact.subject, contact.source, contact.language) == (
            "Jean Dupont", "jean@exemple.fr", "Devis toiture", "form", "fr")
        contact_id = contact.id
    h.drain()
    notice = h.whatsapp.outbox[-1].message
    assert isinstance(notice, Buttons)
    assert notice.body.startswith(f"📨 *Nouveau message de contact* (n°{contact_id})\n*Jean Dupont* — jean@exemple.fr")
    assert "Pouvez-vous me faire un devis ?" in notice.body
    assert buttons_of([notice]) == [(f"invite:contact:{contact_id}", "Inviter")]

    replies = press(h, f"invite:contact:{contact_id}", "Inviter")
    row = latest_invitation(h)
    assert (row.contact_message_id, row.created_via, row.name) == (contact_id, "contact", "Jean Dupont")
    assert "envoyée à jean@exemple.fr" in bodies(replies)[1]
    email = mail.mail.sent[0]
    assert "Pour rappel, votre message du vendredi 20 novembre 2026" in email.text
    assert "> Pouvez-vous me faire un devis ?" in email.text
    assert "Devis toiture" in (email.html or "")
    assert bodies(press(h, f"invite:contact:{contact_id}", "Inviter")) == [
        f"jean@exemple.fr a déjà une invitation en attente (n°{row.id}). "
        f"Pour renvoyer un nouveau lien : *renvoyer invitation {row.id}*."]

    listing = bodies(say(h, "contacts"))[0]
    assert f"• n°{contact_id} · 20 nov. 2026 · *Jean Dupont* — jean@exemple.fr" in listing
    assert f"↳ invitation n°{row.id} : en attente" in listing


def test_the_contact_api_accepts_json_and_explains_each_refusal(h: Harness) -> None:
    ok = h.client.post("/api/contact", json={"name": "Awa", "email": "awa@exemple.ci", "message": "Hello",
                                             "lang": "en"})
    assert ok.status_code == 201
    assert ok.json() == {"ok": True, "message": "Thank you, your message has been sent. We will get back to you very soon."}

    bad = h.client.post("/api/contact", json={"name": "", "email": "nope", "message": "x" * 5001},
                        headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert bad.status_code == 422
    assert bad.json()["fields"] == {
        "name": "Indiquez votre nom.",
        "email": "« nope » n'est pas une adresse e-mail valide (exemple : jean@exemple.fr).",
        "message": "Le message ne peut pas dépasser 5000 caractères.",
    }
    honeypot = h.client.post("/api/contact", json={"name": "Bot", "email": "bot@exemple.fr", "message": "Buy",
                                                   "website": "http://spam.example"})
    assert honeypot.status_code == 422 and honeypot.json()["error"] == "honeypot"
    assert "robots" in honeypot.json()["message"]
    form_encoded = h.client.post("/api/contact", data={"name": "A", "email": "a@exemple.fr", "message": "m"})
    assert form_encoded.status_code == 415 and form_encoded.json()["error"] == "json_type"
    huge = h.client.post("/api/contact", content=b"{" + b" " * 20000 + b"}", headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    not_text = h.client.post("/api/contact", json={"name": ["A"], "email": "a@exemple.fr", "message": "m"})
    assert not_text.status_code == 422
    unknown_org = h.client.post("/api/contact", json={"name": "A", "email": "a@exemple.fr", "message": "m",
                                                      "org": "nope"})
    assert unknown_org.status_code == 404
    assert count(h, ContactMessage) == 1


def test_the_contact_form_keeps_the_draft_on_every_refusal(h: Harness) -> None:
    no_csrf = h.client.post("/contact", data={"name": "Jean", "email": "jean@exemple.fr", "message": "Mon long texte",
                                              "csrf": "forged"})
    assert no_csrf.status_code == 403
    assert "Le formulaire a expiré ou vos cookies sont bloqués." in no_csrf.text
    assert "Mon long texte</textarea>" in no_csrf.text
    honeypot = post_contact(h, website="x")
    assert honeypot.status_code == 422 and "réservé à la détection des robots" in honeypot.text
    invalid = post_contact(h, email="jean@", subject="S" * 201)
    assert invalid.status_code == 422
    assert "« jean@ » n&#39;est pas une adresse e-mail valide" in invalid.text
    assert "L&#39;objet ne peut pas dépasser 200 caractères." in invalid.text
    assert "Pouvez-vous me faire un devis ?</textarea>" in invalid.text
    too_big = post_contact(h, message="x" * 17000)
    assert too_big.status_code == 413
    assert count(h, ContactMessage) == 0


@pytest.mark.postgres
def test_contact_messages_are_rate_limited_per_ip(h: Harness) -> None:
    for _ in range(5):
        assert post_contact(h).status_code == 303
    refused = post_contact(h, message="Le sixième")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "3600"
    assert "Vous avez déjà envoyé 5 messages cette dernière heure" in refused.text
    assert "Le sixième</textarea>" in refused.text
    api = h.client.post("/api/contact", json={"name": "A", "email": "a@exemple.fr", "message": "m", "lang": "en"})
    assert api.status_code == 429
    assert api.json()["message"].startswith("You have already sent 5 messages in the last hour")
    assert count(h, ContactMessage) == 5
    h.clock.advance(hours=1, seconds=1)
    assert post_contact(h).status_code == 303


# ================================================================ token lifecycle


def gone_page(response: Any) -> str:
    assert response.status_code == 410
    return message_text(response.text)


@pytest.mark.postgres
def test_token_lifecycle_valid_used_expired_cancelled_resent_tampered(h: Harness) -> None:
    inv_id, token = create_invitation(h)
    page = h.client.get(signup_path(token))
    assert page.status_code == 200
    assert 'value="jean@exemple.fr"' in page.text and "readonly" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    reference = gone_page(h.client.get(signup_path("0" * 64)))
    assert "jean@exemple.fr" not in reference

    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    for bad in (tampered, token.upper(), token[:-1], token + "0", "x" * 64):
        assert gone_page(h.client.get(signup_path(bad))) == reference

    # cancelled
    with h.services.db.write() as session:
        service(h).cancel(session, invitation(h, inv_id).org_id, inv_id, None)
    assert gone_page(h.client.get(signup_path(token))) == reference

    # expired
    inv_id, token = create_invitation(h, "awa@exemple.ci")
    h.clock.advance(days=7, seconds=1)
    assert gone_page(h.client.get(signup_path(token))) == reference
    assert gone_page(submit_signup_raw(h, token)) == reference

    # resent: a fresh token, the old one stops working
    resent = h.client.post("/api/accounts/send-invitation/", json={"invitation_id": inv_id}, headers=api_token(h))
    assert resent.status_code == 200
    new_path, new_token = link_in(resent.json()["signup_url"])
    assert new_token != token
    assert gone_page(h.client.get(signup_path(token))) == reference
    assert h.client.get(new_path).status_code == 200

    # used
    assert submit_signup(h, new_token, name="Awa Kouassi").status_code == 303
    assert gone_page(h.client.get(new_path)) == reference
    assert gone_page(submit_signup_raw(h, new_token)) == reference
    used = invitation(h, inv_id)
    assert used.status == "used" and used.account_id is not None
    assert (used.used_ip, used.used_user_agent) == ("testclient", "testclient")


def submit_signup_raw(h: Harness, token: str) -> Any:
    """A POST without opening the page first (a CSRF cookie from an earlier page is reused if any)."""
    return h.client.post(signup_path(token), data={"name": "X", "password": STRONG, "password_confirm": STRONG,
                                                   "csrf": "whatever"}, follow_redirects=False)


@pytest.mark.postgres
def test_repeated_guesses_from_one_ip_are_rate_limited(h: Harness) -> None:
    _, token = create_invitation(h)
    for i in range(10):
        assert h.client.get(signup_path(f"{i:064x}")).status_code == 410
    limited = h.client.get(signup_path(token))
    assert limited.status_code == 429
    assert "Trop de liens non valables ont été essayés" in limited.text
    assert "jean@exemple.fr" not in limited.text
    assert submit_signup_raw(h, token).status_code == 429
    h.clock.advance(hours=1, seconds=1)
    assert h.client.get(signup_path(token)).status_code == 200


# ================================================================ signup


@pytest.mark.postgres
def test_signup_creates_the_account_tells_the_manager_and_opens_the_account_page(h: Harness) -> None:
    inv_id, token = create_invitation(h)
    with h.services.db.write() as session:
        row = session.get(Invitation, inv_id)
        assert row is not None
        from storage.models import User

        row.created_by_user_id = session.scalars(select(User.id)).first()
    response = submit_signup(h, token, name="  Jean Dupont ", extra={"email": "attacker@evil.example"},
                             headers={"User-Agent": "Mozilla/5.0 (Test)"})
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"]
    assert "courrier_client=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie
    with h.services.db.session() as session:
        account = session.scalars(select(ClientAccount)).one()
        assert (account.email, account.name, account.language) == ("jean@exemple.fr", "Jean Dupont", "fr")
        assert account.password_hash.startswith("$argon2id$")
        assert STRONG not in account.password_hash
        row = session.get(Invitation, inv_id)
        assert row is not None
        assert (row.status, row.account_id, row.used_ip, row.used_user_agent) == (
            "used", account.id, "testclient", "Mozilla/5.0 (Test)")
    h.drain()
    assert h.whatsapp.texts_to(ADMIN_DIGITS)[-1] == (
        f"🎉 Jean Dupont (jean@exemple.fr) a créé son compte client avec l'invitation n°{inv_id}.")

    page = h.client.get("/account")
    assert page.status_code == 200
    assert "Bonjour Jean Dupont" in page.text
    assert "Aucun devis n&#39;a encore été envoyé à jean@exemple.fr" in page.text


def test_signup_over_https_sets_a_secure_cookie(h: Harness) -> None:
    _, token = create_invitation(h)
    base = "https://testserver"
    page = h.client.get(base + signup_path(token))
    assert "Secure" in page.headers["set-cookie"]  # the CSRF cookie
    response = h.client.post(base + signup_path(token), follow_redirects=False, data={
        "csrf": csrf_of(page.text), "name": "Jean", "password": STRONG, "password_confirm": STRONG})
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"] and "HttpOnly" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", ["Le mot de passe doit faire au moins 10 caractères.", "Les deux mots de passe ne sont pas identiques.",
                "Indiquez votre nom."]),
        ("en", ["The password must be at least 10 characters long.", "The two passwords do not match.",
                "Please enter your name."]),
    ],
)
def test_the_server_checks_the_rules_again_with_explicit_messages_in_the_invitations_language(
    h: Harness, language: str, expected: list[str]
) -> None:
    _, token = create_invitation(h, language=language)
    response = submit_signup(h, token, name=" ", password="Ab1!", confirm="Ab1?")
    assert response.status_code == 422
    text = response.text.replace("&#39;", "'")
    for sentence in expected:
        assert sentence in text
    assert count(h, ClientAccount) == 0
    assert count(h, Invitation, Invitation.status == "pending") == 1


def test_common_password_and_email_local_part_are_refused(h: Harness) -> None:
    _, token = create_invitation(h, "jean.dupont@exemple.fr")
    common = submit_signup(h, token, password="Password1!")
    assert common.status_code == 422 and "Ce mot de passe est trop courant" in common.text
    local = submit_signup(h, token, password="Jean.Dupont-2026!")
    assert local.status_code == 422 and "ne doit pas contenir votre adresse e-mail" in local.text
    assert submit_signup(h, token).status_code == 303


def test_the_signup_page_embeds_the_rules_and_messages_for_live_validation(h: Harness) -> None:
    _, token = create_invitation(h, language="en")
    page = h.client.get(signup_path(token)).text
    assert '<li data-rule="too_short">At least 10 characters</li>' in page
    assert '"mismatch": "The two passwords do not match."' in page
    assert '"local": "jean"' in page
    assert '"password1!"' in page  # the common list (entries a 10-character password could be)


def test_signup_with_a_forged_csrf_token_keeps_the_name_and_creates_nothing(h: Harness) -> None:
    _, token = create_invitation(h)
    h.client.get(signup_path(token))
    response = h.client.post(signup_path(token), data={"csrf": "forged", "name": "Jean Brouillon",
                                                       "password": STRONG, "password_confirm": STRONG})
    assert response.status_code == 403
    assert 'value="Jean Brouillon"' in response.text
    assert count(h, ClientAccount) == 0


@pytest.mark.postgres
def test_an_address_that_already_has_an_account_is_sent_to_sign_in(h: Harness) -> None:
    _, token = create_invitation(h)
    assert submit_signup(h, token).status_code == 303
    with h.services.db.write() as session:
        org_id = session.scalars(select(ClientAccount.org_id)).one()
        second = Invitation(org_id=org_id, email="jean@exemple.fr", language="fr", status="pending",
                            expires_at=h.clock.now() + timedelta(days=1), created_via="api")
        session.add(second)
        session.flush()
        other = repo.issue_token(session, second, "link", h.clock.now())
    page = h.client.get(signup_path(other))
    assert page.status_code == 409 and "Un compte existe déjà pour cette adresse" in page.text


# ================================================================ sign-in, sign-out, account page


class Quotes:
    """Quotes as the quotes feature will list them."""

    def quotes_for_email(self, session: Session, org_id: int, email: str, *, limit: int = 50) -> list[QuoteSummary]:
        if email != "jean@exemple.fr":
            return []
        return [QuoteSummary("D-2026-014", "Réfection toiture", "4 850,00 €", "envoyé", None),
                QuoteSummary("D-2026-009", "Gouttières <zinc>", "1 200,00 €", "accepté", None, "https://x.test/d9.pdf")]


@pytest.mark.postgres
def test_login_logout_and_the_quotes_on_the_account_page(h: Harness) -> None:
    h.services.provide(Quotes(), as_type=QuoteLookup)
    _, token = create_invitation(h)
    assert submit_signup(h, token).status_code == 303
    page = h.client.get("/account")
    assert "D-2026-014" in page.text and "Réfection toiture" in page.text and "4 850,00 €" in page.text
    assert "Gouttières &lt;zinc&gt;" in page.text

    logout_page = h.client.get("/logout")
    response = h.client.post("/logout", data={"csrf": csrf_of(logout_page.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert count(h, ClientSession, ClientSession.revoked_at.is_(None)) == 0
    assert h.client.get("/account", follow_redirects=False).headers["location"] == "/login"

    login = h.client.get("/login")
    wrong = h.client.post("/login", data={"csrf": csrf_of(login.text), "email": "jean@exemple.fr",
                                          "password": "Wrong-pass-1"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Adresse e-mail ou mot de passe incorrect." in wrong.text
    unknown = h.client.post("/login", data={"csrf": csrf_of(login.text), "email": "nobody@exemple.fr",
                                            "password": STRONG}, follow_redirects=False)
    assert unknown.status_code == 401 and message_alert(unknown.text) == message_alert(wrong.text)
    right = h.client.post("/login", data={"csrf": csrf_of(login.text), "email": " JEAN@exemple.fr",
                                          "password": STRONG}, follow_redirects=False)
    assert right.status_code == 303 and "HttpOnly" in right.headers["set-cookie"]
    assert "Bonjour Jean Dupont" in h.client.get("/account").text


def message_alert(html: str) -> str:
    match = re.search(r'<p class="alert" role="alert" id="alert">(.*?)</p>', html)
    assert match
    return match.group(1)


def test_sign_in_attempts_are_rate_limited(h: Harness) -> None:
    login = h.client.get("/login?lang=en")
    csrf = csrf_of(login.text)
    for _ in range(10):
        assert h.client.post("/login", data={"csrf": csrf, "email": "jean@exemple.fr", "password": "x",
                                             "lang": "en"}).status_code == 401
    limited = h.client.post("/login", data={"csrf": csrf, "email": "jean@exemple.fr", "password": "x", "lang": "en"})
    assert limited.status_code == 429 and "Too many sign-in attempts" in limited.text


def test_an_expired_session_is_refused(h: Harness) -> None:
    _, token = create_invitation(h)
    assert submit_signup(h, token).status_code == 303
    h.clock.advance(days=15)
    assert h.client.get("/account", follow_redirects=False).status_code == 303


# ================================================================ admin API


def test_the_admin_api_needs_a_bearer_token(h: Harness) -> None:
    assert h.client.get("/api/accounts/invitations/").status_code == 401
    assert h.client.get("/api/accounts/invitations/", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.postgres
def test_create_send_list_and_cancel_through_the_seed_api(h: Harness, mail: FakeMailDirectory) -> None:
    auth = api_token(h)
    created = h.client.post("/api/accounts/create-invitation/", headers=auth, json={
        "contact_name": "Jean Dupont", "contact_email": "Jean@Exemple.fr", "contact_subject": "Devis",
        "contact_message": "Bonjour, un devis svp."})
    assert created.status_code == 201
    body = created.json()
    assert (body["email"], body["status"], body["mail_state"], body["created_via"]) == (
        "jean@exemple.fr", "pending", "none", "api")
    assert body["contact_message_id"] is not None
    assert mail.mail.sent == []

    sent = h.client.post("/api/accounts/send-invitation/", headers=auth, json={
        "invitation_id": body["id"], "custom_message": "Au plaisir !"})
    assert sent.status_code == 200
    result = sent.json()
    assert result["email"]["state"] == "sent" and result["email"]["sent"] is True
    assert result["email"]["sender"] == "contact@atelier-demo.test"
    assert result["invitation"]["mail_state"] == "sent"
    assert "Au plaisir !" in mail.mail.sent[0].text and "Bonjour, un devis svp." in mail.mail.sent[0].text
    assert link_in(result["signup_url"])[1] == link_in(mail.mail.sent[0].text)[1]

    duplicate = h.client.post("/api/accounts/create-invitation/", headers=auth,
                              json={"contact_email": "jean@exemple.fr"})
    assert duplicate.status_code == 409 and duplicate.json()["detail"]["error"] == "already_pending"
    bad = h.client.post("/api/accounts/create-invitation/", headers={**auth, "Accept-Language": "en"},
                        json={"contact_email": "fake@exemple.fr"})
    assert bad.status_code == 422
    assert "looks like a test or fake address" in bad.json()["detail"]["message"]

    listed = h.client.get("/api/accounts/invitations/", headers=auth).json()["invitations"]
    assert [i["id"] for i in listed] == [body["id"]]
    assert h.client.get("/api/accounts/invitations/?status=used", headers=auth).json()["invitations"] == []

    cancelled = h.client.post("/api/accounts/cancel-invitation/", headers=auth, json={"invitation_id": body["id"]})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = h.client.post("/api/accounts/cancel-invitation/", headers=auth, json={"invitation_id": body["id"]})
    assert again.status_code == 409
    assert h.client.post("/api/accounts/send-invitation/", headers=auth,
                         json={"invitation_id": body["id"]}).status_code == 409
    assert h.client.post("/api/accounts/send-invitation/", headers=auth,
                         json={"invitation_id": 999}).status_code == 404
    assert h.client.get(link_in(result["signup_url"])[0]).status_code == 410

    contacts = h.client.get("/api/accounts/contact-messages/", headers=auth).json()["contact_messages"]
    assert contacts[0]["message"] == "Bonjour, un devis svp."


def test_send_without_a_mailbox_still_returns_a_working_link(h: Harness, mail: FakeMailDirectory) -> None:
    mail.problem = NoLinkedMailbox("none")
    auth = api_token(h)
    created = h.client.post("/api/accounts/create-invitation/", headers=auth, json={"contact_email": "a@exemple.fr"})
    sent = h.client.post("/api/accounts/send-invitation/", headers=auth, json={"invitation_id": created.json()["id"]})
    assert sent.json()["email"]["state"] == "no_mailbox" and sent.json()["email"]["sent"] is False
    assert "Aucune boîte mail n'est liée" in sent.json()["email"]["message"]
    assert h.client.get(link_in(sent.json()["signup_url"])[0]).status_code == 200


@pytest.mark.postgres
def test_organization_settings_drive_the_rules(h: Harness) -> None:
    auth = api_token(h)
    current = h.client.get("/api/accounts/invitation-settings/", headers=auth).json()
    assert current["ttl_days"] == 7 and current["email"]["allowed_domains"] == []
    current["ttl_days"] = 3
    current["email"]["allowed_domains"] = ["gmail.com"]
    current["password"]["min_length"] = 12
    saved = h.client.put("/api/accounts/invitation-settings/", headers=auth, json=current)
    assert saved.status_code == 200
    refused = h.client.put("/api/accounts/invitation-settings/", headers=auth, json={"ttl_days": 0})
    assert refused.status_code == 422 and "ttl_days" in refused.json()["detail"]["message"]

    assert bodies(say(h, "inviter jean@exemple.fr")) == [
        "Les invitations sont limitées aux adresses gmail.com ; « exemple.fr » n'en fait pas partie."]
    say(h, "inviter jean.dupont@gmail.com")
    row = latest_invitation(h)
    assert row.expires_at - row.created_at == timedelta(days=3)
    with h.services.db.write() as session:
        token = repo.issue_token(session, session.get(Invitation, row.id), "link", h.clock.now())  # type: ignore[arg-type]
    too_short = submit_signup(h, token, password="Velo-Roug1!")  # 11 characters
    assert too_short.status_code == 422 and "au moins 12 caractères" in too_short.text


def test_tokens_are_stored_only_as_hashes(h: Harness) -> None:
    inv_id, token = create_invitation(h)
    with h.services.db.session() as session:
        stored = session.scalars(select(InvitationToken.token_hash).where(InvitationToken.invitation_id == inv_id)).one()
    assert len(token) == 64 and stored != token
    assert stored == sha256_hex(token)


def test_contact_to_signup_end_to_end_in_english(h: Harness, mail: FakeMailDirectory) -> None:
    post_contact(h, lang="en", name="John Smith", email="john@example.com", message="Hi, a quote please")
    settle(h)
    with h.services.db.session() as session:
        contact_id = session.scalars(select(ContactMessage.id)).one()
    press(h, f"invite:contact:{contact_id}", "Inviter")
    email = mail.mail.sent[0]
    assert email.subject == "Test Org invites you to create your client account"
    assert "As a reminder, your message of Friday, November 20, 2026" in email.text
    _, token = link_in(email.text)
    assert submit_signup(h, token, name="John Smith").status_code == 303
    assert "Hello John Smith" in h.client.get("/account").text


def test_the_contact_page_names_the_organization_and_refuses_an_unknown_one(h: Harness) -> None:
    assert '<p class="org">Test Org</p>' in h.client.get("/contact").text
    missing = h.client.get("/contact?org=nope&lang=en")
    assert missing.status_code == 404 and "This contact form does not exist" in missing.text


def test_contacts_offers_a_list_to_invite_those_not_invited_yet(h: Harness, mail: FakeMailDirectory) -> None:
    from integrations.whatsapp import ListMessage

    assert bodies(say(h, "contacts")) == ["Aucun message de contact pour l'instant."]
    post_contact(h, name="Jean Dupont", email="jean@exemple.fr")
    post_contact(h, name="Awa Kouassi-N'Guessan Traoré", email="awa@exemple.ci")
    replies = say(h, "contacts")
    picker = replies[-1]
    assert isinstance(picker, ListMessage) and picker.button == "Inviter…"
    rows = [(r.id, r.title, r.description) for s in picker.sections for r in s.rows]
    with h.services.db.session() as session:
        ids = list(session.scalars(select(ContactMessage.id).order_by(ContactMessage.id.desc())))
    assert rows == [(f"invite:contact:{ids[0]}", "Awa Kouassi-N'Guessan T…", "awa@exemple.ci"),
                    (f"invite:contact:{ids[1]}", "Jean Dupont", "jean@exemple.fr")]
    press(h, f"invite:contact:{ids[1]}", "Jean Dupont")
    assert mail.mail.sent[0].to == ("jean@exemple.fr",)
    picker = say(h, "contacts")[-1]
    assert [r.id for s in picker.sections for r in s.rows] == [f"invite:contact:{ids[0]}"]


def test_info_logs_of_the_whole_flow_name_no_one(h: Harness, mail: FakeMailDirectory,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO)
    post_contact(h, name="Fatou Sow", email="fatou.sow@exemple.sn", message="Un devis pour Cacao Plus")
    settle(h)
    with h.services.db.session() as session:
        contact_id = session.scalars(select(ContactMessage.id)).one()
    press(h, f"invite:contact:{contact_id}", "Inviter")
    _, token = link_in(mail.mail.sent[0].text)
    assert submit_signup(h, token, name="Fatou Sow").status_code == 303
    settle(h)
    # httpx is the test's own client (it logs the URLs it requests); the server runs without access logs.
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.levelno >= logging.INFO and not r.name.startswith(("httpx", "httpcore")))
    assert "invitation" in logged
    leaks = [w for w in ("Fatou", "Sow", "fatou.sow", "exemple.sn", "Cacao", token) if w in logged]
    assert leaks == []
