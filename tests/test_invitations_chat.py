"""Invitations from the chat: invite, copy link, mailbox problems, list, cancel, resend, contacts, retries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from handlers.invitations.lookups import ClientDirectory, KnownClient
from integrations.mail import (
    AmbiguousSendError,
    MailboxNeedsRelink,
    NoLinkedMailbox,
    PermanentSendError,
    TransientMailError,
)
from storage.invitations import InvitationToken
from tests.conftest import Harness
from tests.fakes import FakeMailDirectory
from tests.invitation_helpers import (
    bodies,
    buttons_of,
    count,
    invitation,
    latest_invitation,
    link_in,
    press,
    say,
    settle,
    start,
    submit_signup,
)


@pytest.fixture
def mail() -> FakeMailDirectory:
    return FakeMailDirectory()


@pytest.fixture
def h(make_harness: Any, mail: FakeMailDirectory) -> Harness:
    return start(make_harness, mail=mail)


@pytest.mark.postgres
def test_inviter_sends_the_email_from_the_linked_mailbox_and_offers_the_link(h: Harness, mail: FakeMailDirectory) -> None:
    replies = say(h, 'inviter Jean.Dupont@Exemple.fr "Ravi de vous compter parmi nous"')
    texts = bodies(replies)
    row = latest_invitation(h)
    assert texts[0] == f"Invitation n°{row.id} pour jean.dupont@exemple.fr : j'envoie l'e-mail…"
    assert texts[1].startswith(f"✉️ Invitation n°{row.id} envoyée à jean.dupont@exemple.fr depuis contact@atelier-demo.test.")
    assert "vendredi 27 novembre 2026 à 10:00" in texts[1]
    assert buttons_of(replies) == [(f"invite:copy:{row.id}", "Copier le lien")]

    assert len(mail.mail.sent) == 1
    email = mail.mail.sent[0]
    assert email.to == ("jean.dupont@exemple.fr",)
    assert email.subject == "Test Org vous invite à créer votre compte client"
    assert "Ravi de vous compter parmi nous" in email.text and "Ravi de vous compter parmi nous" in (email.html or "")
    path, token = link_in(email.text)
    assert h.client.get(path).status_code == 200

    assert (row.status, row.mail_state, row.created_via, row.language) == ("pending", "sent", "chat", "fr")
    assert row.mail_from == "contact@atelier-demo.test"
    assert row.created_by_user_id is not None
    assert (row.expires_at - h.clock.now()).days == 7
    with h.services.db.session() as session:
        hashes = [t.token_hash for t in session.query(InvitationToken).all()]
    assert token not in str(hashes) and len(hashes) == 1 and len(hashes[0]) == 64

    copied = press(h, f"invite:copy:{row.id}", "Copier le lien")
    assert bodies(copied)[0].startswith(f"Lien d'invitation n°{row.id} pour jean.dupont@exemple.fr")
    copy_path, copy_token = link_in(bodies(copied)[1])
    assert copy_token != token
    assert h.client.get(copy_path).status_code == 200
    # Either link creates the account; the other then stops working.
    assert submit_signup(h, copy_token).status_code == 303
    assert h.client.get(path).status_code == 410


def test_invite_in_english_answers_in_english(h: Harness, mail: FakeMailDirectory) -> None:
    replies = say(h, "invite jean@example.com")
    row = latest_invitation(h)
    assert bodies(replies)[1].startswith(f"✉️ Invitation #{row.id} sent to jean@example.com from contact@atelier-demo.test.")
    assert "Friday, November 27, 2026 at 10:00" in bodies(replies)[1]
    assert buttons_of(replies) == [(f"invite:copy:{row.id}", "Copy link")]
    assert mail.mail.sent[0].subject == "Test Org invites you to create your client account"
    assert row.language == "en"


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (NoLinkedMailbox("none"), "aucune boîte mail n'est liée : l'e-mail n'est pas parti"),
        (MailboxNeedsRelink("revoked", address="contact@atelier.fr"),
         "la boîte contact@atelier.fr doit être reliée à nouveau"),
    ],
)
def test_without_a_usable_mailbox_the_chat_says_so_and_still_offers_the_link(
    h: Harness, mail: FakeMailDirectory, problem: Exception, expected: str
) -> None:
    mail.problem = problem  # type: ignore[assignment]
    replies = say(h, "inviter jean@exemple.fr")
    row = latest_invitation(h)
    assert expected in bodies(replies)[1]
    assert buttons_of(replies) == [(f"invite:copy:{row.id}", "Copier le lien")]
    assert mail.mail.sent == []
    assert row.mail_state in ("no_mailbox", "relink")
    # The token made for the email that never left is revoked; the copied one works.
    assert count(h, InvitationToken, InvitationToken.revoked_at.is_(None)) == 0
    path, _ = link_in(bodies(press(h, f"invite:copy:{row.id}"))[1])
    assert h.client.get(path).status_code == 200


def test_with_the_real_mailbox_directory_and_no_linked_mailbox_the_chat_says_so(make_harness: Any) -> None:
    h = start(make_harness)  # the mailboxes feature's own directory; the organization linked nothing
    replies = say(h, "inviter jean@exemple.fr")
    assert "aucune boîte mail n'est liée" in bodies(replies)[1]
    assert buttons_of(replies)[0][1] == "Copier le lien"


def test_invalid_or_suspicious_addresses_get_a_clear_answer_in_the_users_language(h: Harness) -> None:
    assert bodies(say(h, "inviter test@exemple.fr")) == [
        "L'adresse commence par « test@ », qui ressemble à une adresse de test ou factice : "
        "invitez la vraie adresse du client."]
    assert bodies(say(h, "invite jean@nowhere")) == [
        '"jean@nowhere" is not a valid email address (for example: jean@example.com).']
    assert bodies(say(h, "inviter"))[0].startswith("Pour inviter un client : *inviter jean@exemple.fr*")
    assert bodies(say(h, "inviter a@exemple.fr b@exemple.fr")) == [
        "Une seule adresse par invitation, s'il vous plaît : *inviter jean@exemple.fr*."]
    assert count(h, InvitationToken) == 0


def test_a_second_invitation_to_the_same_address_is_refused_while_one_is_pending(h: Harness) -> None:
    say(h, "inviter jean@exemple.fr")
    row = latest_invitation(h)
    assert bodies(say(h, "inviter JEAN@exemple.fr")) == [
        f"Une invitation est déjà en attente pour jean@exemple.fr (n°{row.id}). "
        f"Pour l'envoyer à nouveau avec un nouveau lien : *renvoyer invitation {row.id}*."]


@pytest.mark.postgres
def test_inviting_a_client_of_the_quotes_feature_by_name(h: Harness, mail: FakeMailDirectory) -> None:
    from handlers.quotes.clients import create_client, validate_client

    org_id = h.org().id
    with h.services.db.write() as session:
        create_client(session, org_id, validate_client({
            "name": "Boulangerie Dupont SARL", "email": "commandes@boulangerie-dupont.fr", "city": "Abidjan"}),
            h.clock.now())
    say(h, "inviter dupont")
    assert mail.mail.sent[0].to == ("commandes@boulangerie-dupont.fr",)
    assert bodies(say(h, "inviter Inconnu"))[0].startswith("Je ne connais pas de client « Inconnu »")


class Clients:
    """A client directory as the quotes feature will provide it."""

    def __init__(self, clients: list[KnownClient]) -> None:
        self.clients = clients

    def find_clients(self, session: Session, org_id: int, query: str, *, limit: int = 5) -> list[KnownClient]:
        return [c for c in self.clients if query.lower() in c.name.lower()][:limit]


@pytest.mark.postgres
def test_inviting_a_known_client_uses_their_email(h: Harness, mail: FakeMailDirectory) -> None:
    h.services.provide(Clients([KnownClient(1, "Dupont SARL", "compta@dupont.fr"),
                                KnownClient(2, "Durand", None), KnownClient(3, "Martin", "a@martin.fr"),
                                KnownClient(4, "Martine", "b@martine.fr")]), as_type=ClientDirectory)
    say(h, 'inviter Dupont "Voici votre espace"')
    assert mail.mail.sent[0].to == ("compta@dupont.fr",)
    assert "Bonjour Dupont SARL," in mail.mail.sent[0].text
    assert bodies(say(h, "inviter Durand")) == [
        "Je n'ai pas d'adresse e-mail pour Durand. Invitez par adresse : *inviter jean@exemple.fr*."]
    assert "Plusieurs clients correspondent à « Martin »" in bodies(say(h, "inviter Martin"))[0]
    assert bodies(say(h, "inviter Inconnu"))[0].startswith("Je ne connais pas de client « Inconnu »")


@pytest.mark.postgres
def test_list_cancel_and_resend(h: Harness, mail: FakeMailDirectory) -> None:
    say(h, "inviter jean@exemple.fr")
    first = latest_invitation(h)
    old_path, _ = link_in(mail.mail.sent[0].text)
    say(h, "inviter awa@exemple.ci")
    second = latest_invitation(h)

    listing = bodies(say(h, "invitations"))[0]
    assert f"• n°{second.id} · awa@exemple.ci · en attente (expire le 27 nov. 2026)" in listing
    assert f"• n°{first.id} · jean@exemple.fr · en attente" in listing

    h.clock.advance(days=2)
    replies = say(h, f"renvoyer invitation {first.id}")
    assert bodies(replies)[0] == (f"Invitation n°{first.id} : j'envoie un nouveau lien à jean@exemple.fr "
                                  "(les anciens liens ne fonctionnent plus)…")
    assert len(mail.mail.sent) == 3
    new_path, _ = link_in(mail.mail.sent[2].text)
    assert new_path != old_path
    assert h.client.get(old_path).status_code == 410
    assert h.client.get(new_path).status_code == 200
    assert invitation(h, first.id).expires_at == h.clock.now().replace() + (first.expires_at - first.created_at)

    assert bodies(say(h, f"annuler invitation {second.id}")) == [
        f"Invitation n°{second.id} pour awa@exemple.ci annulée : ses liens ne fonctionnent plus."]
    assert invitation(h, second.id).status == "cancelled"
    assert h.client.get(link_in(mail.mail.sent[1].text)[0]).status_code == 410
    assert bodies(say(h, f"annuler invitation {second.id}"))[0].startswith(f"L'invitation n°{second.id} a été annulée")
    assert bodies(say(h, f"renvoyer invitation {second.id}"))[0].startswith(f"L'invitation n°{second.id} a été annulée")
    assert bodies(say(h, "annuler invitation 999")) == [
        "Je ne trouve pas d'invitation n°999. Tapez *invitations* pour la liste."]
    assert bodies(say(h, "cancel invitation"))[0] == (
        "Give the number: *cancel invitation 12* (type *invitations* for the list).")
    # "annuler" alone is still the global escape.
    assert bodies(say(h, "annuler")) == ["Rien à annuler."]

    h.clock.advance(days=8)
    listing = bodies(say(h, "invitations"))[0]
    assert f"n°{first.id} · jean@exemple.fr · expirée" in listing
    assert f"n°{second.id} · awa@exemple.ci · annulée" in listing
    # An expired invitation can be sent again with a fresh link.
    say(h, f"renvoyer invitation {first.id}")
    assert invitation(h, first.id).status == "pending"
    assert h.client.get(link_in(mail.mail.sent[-1].text)[0]).status_code == 200


def test_resend_can_carry_a_new_personal_message(h: Harness, mail: FakeMailDirectory) -> None:
    say(h, 'inviter jean@exemple.fr "Premier mot"')
    row = latest_invitation(h)
    say(h, f'renvoyer invitation {row.id} "Second mot"')
    assert "Second mot" in mail.mail.sent[-1].text and "Premier mot" not in mail.mail.sent[-1].text


@pytest.mark.postgres
def test_a_used_invitation_cannot_be_resent_or_cancelled(h: Harness, mail: FakeMailDirectory) -> None:
    say(h, "inviter jean@exemple.fr")
    row = latest_invitation(h)
    _, token = link_in(mail.mail.sent[0].text)
    assert submit_signup(h, token).status_code == 303
    settle(h)
    assert bodies(say(h, f"renvoyer invitation {row.id}")) == [
        f"L'invitation n°{row.id} a déjà servi : le compte est créé."]
    assert bodies(say(h, f"annuler invitation {row.id}")) == [
        f"L'invitation n°{row.id} a déjà servi : le compte est créé."]
    assert bodies(say(h, "inviter jean@exemple.fr")) == [
        "jean@exemple.fr a déjà un compte client : pas besoin de l'inviter."]
    assert f"n°{row.id} · jean@exemple.fr · utilisée (compte créé le 20 nov. 2026)" in bodies(say(h, "invitations"))[0]


@pytest.mark.postgres
def test_a_transient_failure_is_retried_by_the_sweep_and_then_confirmed(h: Harness, mail: FakeMailDirectory) -> None:
    mail.mail.failures.append(TransientMailError("503 try later"))
    replies = say(h, "inviter jean@exemple.fr")
    assert len(replies) == 1  # only "sending…": the retry is silent
    row = latest_invitation(h)
    assert (row.mail_state, row.mail_attempts) == ("queued", 1)
    assert count(h, InvitationToken, InvitationToken.revoked_at.is_(None)) == 0
    h.clock.advance(hours=1)
    service_sweep(h)
    row = invitation(h, row.id)
    assert row.mail_state == "sent" and len(mail.mail.sent) == 1
    assert any("envoyée à jean@exemple.fr" in t for t in h.whatsapp.texts_to("2250707000001"))


def test_an_ambiguous_failure_checks_the_sent_folder_before_resending(h: Harness, mail: FakeMailDirectory) -> None:
    class Delivered(type(mail.mail)):  # type: ignore[misc]
        def send(self, email: Any) -> Any:
            self.sent.append(email)
            raise AmbiguousSendError("timeout after DATA")

    flaky = Delivered()
    mail.mail = flaky
    replies = say(h, "inviter jean@exemple.fr")
    assert "envoyée à jean@exemple.fr" in bodies(replies)[1]
    assert len(flaky.sent) == 1 and latest_invitation(h).mail_state == "sent"


def test_a_permanent_failure_is_reported_with_its_reason(h: Harness, mail: FakeMailDirectory) -> None:
    mail.mail.failures.append(PermanentSendError("550 mailbox unavailable"))
    replies = say(h, "inviter jean@exemple.fr")
    assert "l'e-mail n'a pas pu partir (550 mailbox unavailable)" in bodies(replies)[1]
    assert latest_invitation(h).mail_state == "failed"


def service_sweep(h: Harness) -> None:
    from tests.invitation_helpers import service

    service(h).sweep()
    h.drain()


@pytest.mark.postgres
def test_expiry_sweep_marks_invitations_expired(h: Harness) -> None:
    say(h, "inviter jean@exemple.fr")
    h.clock.advance(days=7, minutes=1)
    service_sweep(h)
    assert latest_invitation(h).status == "expired"
    assert count(h, InvitationToken, InvitationToken.revoked_at.is_(None)) == 0


def test_copy_link_refuses_an_invitation_that_is_not_pending(h: Harness) -> None:
    say(h, "inviter jean@exemple.fr")
    row = latest_invitation(h)
    say(h, f"annuler invitation {row.id}")
    assert bodies(press(h, f"invite:copy:{row.id}"))[0].startswith(f"L'invitation n°{row.id} a été annulée")
    assert bodies(press(h, "invite:copy:999")) == ["Je ne trouve pas d'invitation n°999. Tapez *invitations* pour la liste."]


def test_status_counts_pending_invitations(h: Harness) -> None:
    say(h, "inviter jean@exemple.fr")
    assert "Invitations : 1 en attente, 0 compte(s) client" in bodies(say(h, "statut"))[0]


def test_help_lists_the_invitation_commands_in_both_languages(h: Harness) -> None:
    fr = bodies(say(h, "aide"))[0]
    assert "*inviter*" in fr and "*annuler invitation*" in fr and "*renvoyer invitation*" in fr and "*contacts*" in fr
    say(h, "language en")
    en = bodies(say(h, "help"))[0]
    assert "*invite*" in en and "*cancel invitation*" in en and "*resend invitation*" in en


@pytest.mark.postgres
def test_a_send_interrupted_by_a_crash_is_not_sent_twice(h: Harness, mail: FakeMailDirectory) -> None:
    say(h, "inviter jean@exemple.fr")
    row = latest_invitation(h)
    assert len(mail.mail.sent) == 1
    # As if the process died after the provider accepted the email but before recording it.
    with h.services.db.write() as session:
        stored = session.get(type(row), row.id)
        assert stored is not None
        stored.mail_state, stored.mail_claimed_at = "sending", h.clock.now()
    h.clock.advance(minutes=11)
    service_sweep(h)
    assert len(mail.mail.sent) == 1
    assert invitation(h, row.id).mail_state == "sent"
    # The emailed link still works; the one made for the retry that never left does not exist.
    assert h.client.get(link_in(mail.mail.sent[0].text)[0]).status_code == 200
    assert count(h, InvitationToken, InvitationToken.revoked_at.is_(None)) == 1

    # Interrupted before anything left: sent again, under the same Message-ID.
    with h.services.db.write() as session:
        stored = session.get(type(row), row.id)
        assert stored is not None
        stored.mail_state, stored.mail_claimed_at, stored.mail_message_id = "sending", h.clock.now(), "<lost@x>"
    h.clock.advance(minutes=11)
    service_sweep(h)
    assert len(mail.mail.sent) == 2 and mail.mail.sent[1].message_id == "<lost@x>"
