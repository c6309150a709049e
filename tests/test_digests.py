"""Digests and alerts: pure rendering and parsing, then end to end with a real Dovecot sync and the fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from bot.i18n import Catalog
from bot.settings import REPO_ROOT
from handlers.digests import service as digests_service
from handlers.digests.commands import parse_times
from handlers.digests.render import DigestItem, build_page, saved_minutes
from handlers.digests.service import DigestService, quiet_end
from handlers.mailboxes.service import MailboxService, NewMail
from integrations.triage import Classifier
from integrations.whatsapp import Buttons, Template, Text
from storage.mail import MailMessage
from storage.models import OutboxMessage, User
from storage.quotes import add_client
from storage.triage import Digest, DigestPrefs, TriageAlert, TriageFeedback, TriageRecord
from tests.conftest import Harness, button_message, text_message
from tests.dovecot import Account, Dovecot
from tests.mail_fixtures import add_imap_mailbox, connectors_for, make_email

PARIS = ZoneInfo("Europe/Paris")
PHONE = "2250707000001"
CATALOG = Catalog.load(REPO_ROOT / "templates" / "i18n")


def tr(lang: str) -> Any:
    return lambda key, /, **params: CATALOG.t(key, lang, **params)


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def critical_email(i: int, sender: str = "Client Important <client.important@banque.ci>") -> bytes:
    return make_email(i, sender=sender, subject="Nouveau contrat de 15M FCFA à signer", body=(
        "Bonjour,\n\nVeuillez trouver le contrat de 15M FCFA. Merci de le signer aujourd'hui avant 17h, "
        "sinon l'offre sera annulée.\n\nCordialement"))


def important_email(i: int, sender: str = "Fournisseur <compta@fournisseur.fr>") -> bytes:
    return make_email(i, sender=sender, subject=f"Question sur la commande {i}", body=(
        "Bonjour, pouvez-vous me confirmer la date de livraison souhaitée pour la commande 123 d'ici vendredi ? "
        "Merci."))


def spam_email(i: int) -> bytes:
    return make_email(i, sender="Newsletter <news@promo-shop.com>", subject="-50% sur tout le site !", body=(
        "Profitez de nos soldes exceptionnelles ! Cliquez ici https://promo-shop.com/soldes pour en profiter. "
        "Se désinscrire: https://promo-shop.com/unsub"))


def info_email(i: int) -> bytes:
    return make_email(i, sender="Collègue <paul@exemple.test>", subject="Compte rendu de la réunion", body=(
        "Bonjour, pour info voici le compte rendu de la réunion d'hier. Rien à faire."))


# ---------------------------------------------------------------- pure functions


def test_times_parse_in_french_and_english() -> None:
    assert parse_times("à 8h et 18h") == [time(8), time(18)]
    assert parse_times("at 8am and 6pm") == [time(8), time(18)]
    assert parse_times("21h30-7h") == [time(21, 30), time(7)]
    assert parse_times("9pm-7am") == [time(21), time(7)]
    assert parse_times("12am 12pm 08:15") == [time(0), time(12), time(8, 15)]
    assert parse_times("aujourd'hui") == []


def test_quiet_hours_across_midnight() -> None:
    prefs = DigestPrefs(user_id=1, slots=[], quiet_start="21:00", quiet_end="07:00")
    assert quiet_end(prefs, datetime(2026, 11, 20, 22, 0, tzinfo=PARIS)) == datetime(2026, 11, 21, 7, 0, tzinfo=PARIS)
    assert quiet_end(prefs, datetime(2026, 11, 21, 6, 59, tzinfo=PARIS)) == datetime(2026, 11, 21, 7, 0, tzinfo=PARIS)
    assert quiet_end(prefs, datetime(2026, 11, 21, 7, 0, tzinfo=PARIS)) is None
    assert quiet_end(prefs, datetime(2026, 11, 21, 12, 0, tzinfo=PARIS)) is None
    day = DigestPrefs(user_id=1, slots=[], quiet_start="12:00", quiet_end="14:00")
    assert quiet_end(day, datetime(2026, 11, 21, 13, 0, tzinfo=PARIS)) == datetime(2026, 11, 21, 14, 0, tzinfo=PARIS)
    assert quiet_end(day, datetime(2026, 11, 21, 15, 0, tzinfo=PARIS)) is None


def _items(n: int) -> list[DigestItem]:
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    priorities = ["critical", "important", "informative", "spam"]
    return [DigestItem(i, priorities[i % 4], f"Expéditeur {i} <s{i}@exemple.test>", f"Objet numéro {i} " + "x" * 40,
                       f"Résumé de l'e-mail {i} " + "y" * 60, "reply", now + timedelta(hours=i) if i % 3 else None,
                       now - timedelta(minutes=i)) for i in range(n)]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_digest_page_never_exceeds_4096_and_pages_the_rest(lang: str) -> None:
    items = _items(400)
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    page = build_page(tr(lang), "Résumé", items, now, PARIS, lang)
    assert len(page.text) <= 4096
    shown = [i for i in items if i.priority != "spam"]
    assert page.rest and len(page.rest) < len(shown)
    more = "+{} autres, répondez `plus`" if lang == "fr" else "+{} more, reply `more`"
    assert page.text.endswith(more.format(len(page.rest)))
    # Most important first: the 100 critical items fill the first page before anything else.
    assert ("*🔴 Critiques*" if lang == "fr" else "*🔴 Critical*") in page.text
    assert "🟠" not in page.text.split("\n", 2)[2] and "⚪" not in page.text
    # Spam appears only as a count, never as an entry.
    assert "s3@exemple.test" not in page.text and ("100 spams" in page.text or "100 spam" in page.text)
    # Paging through everything shows each non-spam item once.
    seen = [i for i in shown if f"<s{i.id}@" in page.text]
    rest = page.rest
    while rest:
        by_id = {i.id: i for i in items}
        nxt = build_page(tr(lang), "Suite", [by_id[i] for i in rest], now, PARIS, lang, header=False)
        assert len(nxt.text) <= 4096
        seen += [by_id[i] for i in rest if f"<s{i}@" in nxt.text]
        assert len(nxt.rest) < len(rest)
        rest = nxt.rest
    assert sorted(i.id for i in seen) == sorted(i.id for i in shown)


def test_reading_time_formula() -> None:
    assert saved_minutes({"critical": 3, "important": 4, "informative": 10, "spam": 6}) == 15.0


# ---------------------------------------------------------------- end to end (Dovecot, fake clock)


@pytest.fixture
def account(dovecot: Dovecot) -> Account:
    return dovecot.new_account()


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, clock: Any) -> Harness:
    clock.set(paris(20, 10))
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)},
                                    whatsapp_digest_template="courrier_digest", whatsapp_template_language="fr",
                                    timezone="Europe/Paris")
    return harness


def _setup(h: Harness, account: Account, *, backlog: list[bytes] | None = None) -> tuple[User, int]:
    user = h.add_user(phone="+" + PHONE, language="fr")
    touch(h, user.id)
    if backlog:
        account.append(backlog)
    box_id = add_imap_mailbox(h.services, account)
    with h.services.db.write() as session:
        add_client(session, user.org_id, h.clock.now(), name="Banque CI", company="Banque CI",
                   email="contact@banque.ci")
    h.services.get(MailboxService).sync(box_id)  # the first sync: the backlog
    return user, box_id


def touch(h: Harness, user_id: int, when: datetime | None = None) -> None:
    """The user wrote to us at ``when``: the 24-hour window is open from then."""
    with h.services.db.write() as session:
        session.execute(update(User).where(User.id == user_id).values(last_inbound_at=when or h.clock.now()))


def sync(h: Harness, box_id: int) -> None:
    assert h.services.get(MailboxService).sync(box_id).status == "success"
    h.drain()


def triage_rows(h: Harness) -> list[TriageRecord]:
    with h.services.db.session() as session:
        rows = list(session.scalars(select(TriageRecord).order_by(TriageRecord.id)))
        for row in rows:
            session.expunge(row)
        return rows


def sent_to_user(h: Harness) -> list[Any]:
    return [s for s in h.whatsapp.outbox if s.to.address == PHONE]


def say(h: Harness, body: str) -> str:
    before = len(sent_to_user(h))
    h.post(text_message(body, phone=PHONE))
    h.drain()
    replies = sent_to_user(h)[before:]
    assert replies, f"no reply to {body!r}"
    return "\n".join(r.text for r in replies)


def test_new_mail_is_triaged_critical_alerts_once_digest_holds_the_rest_and_feedback_moves_the_sender(
    h: Harness, account: Account
) -> None:
    user, box_id = _setup(h, account)
    account.append([critical_email(1), important_email(2), spam_email(3), info_email(4)])
    recorder: list[NewMail] = []
    h.services.get(MailboxService).subscribe(recorder.append)
    sync(h, box_id)

    rows = triage_rows(h)
    assert [r.priority for r in rows] == ["critical", "important", "spam", "informative"]
    critical = rows[0]
    assert critical.sender == "client.important@banque.ci" and critical.action == "sign"
    assert critical.deadline is not None and critical.summary and "known client" in critical.reasons
    assert critical.amounts and critical.amounts[0]["currency"]
    # One alert, with the sender, subject, priority, action, deadline and both feedback buttons.
    alerts = [s for s in sent_to_user(h) if isinstance(s.message, Buttons)]
    assert len(alerts) == 1
    alert = alerts[0].message
    assert isinstance(alert, Buttons)
    assert alert.body.startswith("🚨 *Contrat à signer — Banque CI")
    assert "échéance : avant 18h aujourd'hui" in alert.body
    assert "Action recommandée : signer." in alert.body
    assert "client.important@banque.ci" in alert.body and "Nouveau contrat de 15M FCFA" in alert.body
    assert "Priorité : critique" in alert.body
    assert [b.id for b in alert.buttons] == [f"alert:not_important:{critical.id}", f"alert:important:{critical.id}"]
    assert [b.title for b in alert.buttons] == ["Pas important", "Important"]

    # The same events again (a second process, a replayed sync): nothing new is stored or sent.
    for event in recorder:
        h.services.get(DigestService).on_new_mail(event)
    sync(h, box_id)
    h.drain()
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1
    assert len(triage_rows(h)) == 4

    # 17:00 digest then 08:00 the next day: each slot once, even when the tick runs twice.
    service = h.services.get(DigestService)
    service.tick()  # creates the preferences: slots before now are not owed
    h.clock.set(paris(20, 17, 0))
    touch(h, user.id)
    assert service.tick() == 1
    assert service.tick() == 0
    h.drain()
    digest = sent_to_user(h)[-1].text
    assert digest.startswith("📬 *Votre résumé de 17h00*")
    assert "1 critique, 1 important, 1 informatif, 1 spam" in digest
    assert "Question sur la commande 2" in digest and "Compte rendu de la réunion" in digest
    assert "compta@fournisseur.fr" in digest and "➡️ répondre" in digest and "⏰" in digest
    assert ("-50%" not in digest and "🗑️ 1 spam écarté" not in digest) or "🗑️ 1 spam(s) écarté(s)." in digest
    assert digest.index("Contrat à signer") < digest.index("Question sur la commande") < digest.index("Compte rendu")

    # Feedback by button: the next email from that sender is one level lower, so no alert.
    h.clock.set(paris(20, 17, 5))
    h.post(button_message(f"alert:not_important:{critical.id}", "Pas important", phone=PHONE))
    h.drain()
    assert "client.important@banque.ci" in sent_to_user(h)[-1].text
    account.append([critical_email(5)])
    sync(h, box_id)
    newest = triage_rows(h)[-1]
    assert newest.priority == "important" and "sender feedback" in newest.reasons
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1

    # "Important" as a text reply on the latest alert moves it back up.
    assert "plus prioritaires" in say(h, "important")
    with h.services.db.session() as session:
        assert session.scalar(select(func.sum(TriageFeedback.vote))) == 1
    account.append([critical_email(6)])
    sync(h, box_id)
    assert triage_rows(h)[-1].priority == "critical"

    # The 08:00 digest holds what arrived since the 17:00 one.
    h.clock.set(paris(21, 8, 0))
    touch(h, user.id)
    assert service.tick() == 1
    h.drain()
    morning = sent_to_user(h)[-1].text
    assert morning.startswith("📬 *Votre résumé de 8h00*") and "Question sur la commande 2" not in morning
    with h.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 2


def test_first_sync_backlog_alerts_only_recent_critical_mail_capped(h: Harness, account: Account) -> None:
    old = make_email(50, sender="Client Important <client.important@banque.ci>", date="Mon, 16 Nov 2026 08:00:00 +0000",
                     subject="Contrat à signer", body="Merci de signer le contrat aujourd'hui avant 17h, sinon il sera annulé.")
    recent = [critical_email(i) for i in range(60, 66)]
    _setup(h, account, backlog=[old, *recent])
    h.drain()
    rows = triage_rows(h)
    assert len(rows) == 7 and all(r.initial for r in rows)
    alerts = [s for s in sent_to_user(h) if isinstance(s.message, Buttons)]
    assert len(alerts) == 3  # INITIAL_ALERT_CAP, and never the 4-day-old one
    with h.services.db.session() as session:
        alerted = set(session.scalars(select(TriageAlert.triage_id)))
        old_id = session.scalar(select(MailMessage.id).where(MailMessage.subject == "Contrat à signer"))
    assert next(r.id for r in rows if r.message_id == old_id) not in alerted


def test_outside_the_window_digest_and_alert_go_out_as_the_template(h: Harness, account: Account) -> None:
    user, box_id = _setup(h, account)
    touch(h, user.id, h.clock.now() - timedelta(hours=25))
    account.append([critical_email(1), important_email(2), important_email(3)])
    sync(h, box_id)
    sent = sent_to_user(h)
    assert len(sent) == 1 and isinstance(sent[0].message, Template)
    assert sent[0].message.name == "courrier_digest" and sent[0].message.language == "fr"
    assert sent[0].message.body_params == ("1 critique — répondez `résumé`",)

    service = h.services.get(DigestService)
    service.tick()
    h.clock.set(paris(20, 17))
    assert service.tick() == 1
    h.drain()
    last = sent_to_user(h)[-1].message
    assert isinstance(last, Template) and last.body_params == ("1 critique, 2 importants — répondez `résumé`",)


def test_a_131047_on_free_text_falls_back_to_the_template(h: Harness, account: Account) -> None:
    _setup(h, account)  # the window looks open in our database…
    h.whatsapp.window_closed_for.add(PHONE)  # …but WhatsApp says it is closed
    account.append([critical_email(1)])
    sync(h, box_id=_box(h))
    h.drain()
    sent = sent_to_user(h)
    assert [type(s.message) for s in sent] == [Template]
    assert sent[0].message.body_params == ("1 critique — répondez `résumé`",)  # type: ignore[union-attr]
    with h.services.db.session() as session:
        states = {p: s for p, s in session.execute(select(OutboxMessage.purpose, OutboxMessage.state))}
    assert states == {"alert": "window_closed", "template": "sent"}


def _box(h: Harness) -> int:
    from storage.mail import Mailbox

    with h.services.db.session() as session:
        return int(session.scalars(select(Mailbox.id)).one())


def test_quiet_hours_hold_non_critical_alerts_and_digests_but_not_critical_ones(h: Harness, account: Account) -> None:
    user, box_id = _setup(h, account)
    assert "Silence de 21h à 7h" in say(h, "silence 21h-7h")
    assert "VIP" in say(h, "vip ajouter compta@fournisseur.fr")
    assert "⏰ Résumé programmé à 8h et 18h" in say(h, "résumé à 8h et 18h")
    h.services.get(DigestService).tick()
    h.clock.set(paris(20, 18))
    assert h.services.get(DigestService).tick() == 0  # the 18:00 slot: nothing to say, nothing sent

    h.clock.set(paris(20, 22))
    touch(h, user.id)
    account.append([important_email(1)])  # important from a VIP: an alert, held until 07:00
    sync(h, box_id)
    assert not [s for s in sent_to_user(h) if isinstance(s.message, Buttons)]
    with h.services.db.session() as session:
        held = session.scalars(select(TriageAlert)).one()
        assert held.state == "held" and held.due_at == paris(21, 7)
    account.append([critical_email(2)])  # critical: now, quiet hours or not
    sync(h, box_id)
    alerts = [s.message for s in sent_to_user(h) if isinstance(s.message, Buttons)]
    assert len(alerts) == 1 and alerts[0].body.startswith("🚨")

    service = h.services.get(DigestService)
    h.clock.set(paris(21, 6, 59))
    assert service.tick() == 0
    h.clock.set(paris(21, 7, 0))
    touch(h, user.id)
    assert service.tick() == 1
    assert service.tick() == 0
    h.drain()
    alerts = [s.message for s in sent_to_user(h) if isinstance(s.message, Buttons)]
    assert len(alerts) == 2 and alerts[1].body.startswith("⚠️") and "Priorité : important" in alerts[1].body

    # A digest slot inside quiet hours waits for their end.
    assert "Silence de 21h à 9h" in say(h, "silence 21h-9h")
    h.clock.set(paris(21, 8, 0))
    assert service.tick() == 0
    h.clock.set(paris(21, 9, 0))
    touch(h, user.id)
    assert service.tick() == 1
    h.drain()
    assert sent_to_user(h)[-1].text.startswith("📬 *Votre résumé de 8h00*")


def test_on_demand_summary_pages_with_plus_stats_and_vip_commands(h: Harness, account: Account) -> None:
    user, box_id = _setup(h, account)
    account.append([important_email(i) for i in range(40)] + [spam_email(100), info_email(101)])
    sync(h, box_id)
    first = say(h, "résumé aujourd'hui")
    assert first.startswith("📬 *Résumé d'aujourd'hui*") and len(first) <= 4096
    assert "40 importants, 1 informatif, 1 spam" in first
    assert "autres, répondez `plus`" in first
    second = say(h, "plus")
    assert second.startswith("📬 *Suite du résumé*") and len(second) <= 4096
    shown = sum(f"Question sur la commande {i}*" in first + second for i in range(40))
    assert shown > 0
    while "répondez `plus`" in second:
        second = say(h, "plus")
        shown += sum(f"Question sur la commande {i}*" in second for i in range(40))
    assert shown == 40
    assert "Rien de plus" in say(h, "plus")
    assert "Aucun e-mail trié" in say(h, "résumé hier")
    # The user chose French: an English alias still answers in French.
    assert say(h, "summary week").startswith("📬 *Résumé des 7 derniers jours*")

    stats = say(h, "stats")
    assert account.address in stats and "🟠 40" in stats and "⚪ 1" in stats and "🗑️ 1" in stats
    assert "42 e-mails triés" in stats and "~22 min" in stats  # 40 × 0.5 + 1 × 1 + 1 × 0.5 = 21.5

    assert "vip" in say(h, "vip ajouter n'importe quoi").lower()
    assert "⭐" in say(h, "vip add boss@client.example")
    assert "boss@client.example" in say(h, "vip")
    assert "n'est plus VIP" in say(h, "vip retirer boss@client.example")
    assert "désactivés" in say(h, "résumé off")
    with h.services.db.session() as session:
        prefs = session.get(DigestPrefs, user.id)
        assert prefs is not None and not prefs.enabled
    h.clock.set(paris(20, 17))
    assert h.services.get(DigestService).tick() == 0


def test_digest_text_is_in_english_for_english_users(h: Harness, account: Account) -> None:
    user, box_id = _setup(h, account)
    with h.services.db.write() as session:
        session.execute(update(User).where(User.id == user.id).values(language="en"))
    account.append([critical_email(1)])
    sync(h, box_id)
    alert = next(s.message for s in sent_to_user(h) if isinstance(s.message, Buttons))
    assert "Recommended action: sign." in alert.body and [b.title for b in alert.buttons] == ["Not important",
                                                                                               "Important"]
    assert "Digest scheduled at 08:00 and 18:30" in say(h, "digest at 8am and 6:30pm")
    assert "Quiet from 21:00 to 07:00" in say(h, "quiet 9pm-7am")
    assert isinstance(sent_to_user(h)[-1].message, Text)


def test_two_processes_triage_alert_and_digest_once(make_harness: Any, h: Harness, account: Account,
                                                    dovecot: Dovecot) -> None:
    user, box_id = _setup(h, account)
    other = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=h.clock)},
                         whatsapp_digest_template="courrier_digest", timezone="Europe/Paris")
    recorder: list[NewMail] = []
    h.services.get(MailboxService).subscribe(recorder.append)
    account.append([critical_email(1), important_email(2)])
    sync(h, box_id)
    for event in recorder:  # the second process sees the same new mail
        other.services.get(DigestService).on_new_mail(event)
    h.services.get(DigestService).tick()
    h.clock.set(paris(20, 17))
    touch(h, user.id)
    assert h.services.get(DigestService).tick() + other.services.get(DigestService).tick() == 1
    h.drain()
    other.drain()
    assert len(triage_rows(h)) == 2
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1
    assert len([s for s in sent_to_user(h) if s.text.startswith("📬")]) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("flush", ["page", "each"])
def test_a_page_is_triaged_together_and_a_bad_message_costs_only_itself(
    h: Harness, account: Account, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, flush: str
) -> None:
    """The triage takes a synced page at once; a message the classifier fails on, or one whose
    verdict cannot be stored, is left out and the rest of the page is triaged and alerted,
    whether the page is stored in one write or verdict by verdict (a slow classifier). The
    messages left out are not lost: the next sync delivers them again and they are triaged."""
    _setup(h, account)
    if flush == "each":
        monkeypatch.setattr(digests_service, "FLUSH_SECONDS", 0.0)
    classifier = h.services.get(Classifier)  # type: ignore[type-abstract]
    classify = classifier.classify
    pages: list[int] = []
    h.services.get(MailboxService).subscribe(lambda events: pages.append(len(events)), batch=True)

    def flaky(parsed: Any, context: Any) -> Any:
        if parsed.subject.startswith("Question sur la commande"):
            raise RuntimeError("classifier down")
        if parsed.subject.startswith("-50%"):  # the message disappears before its verdict is stored
            with h.services.db.write() as session:
                session.execute(delete(MailMessage).where(MailMessage.message_id == parsed.message_id))
        return classify(parsed, context)

    monkeypatch.setattr(classifier, "classify", flaky)
    account.append([critical_email(1), important_email(2), spam_email(3), info_email(4)])
    mailboxes = h.services.get(MailboxService)
    with caplog.at_level("INFO"):
        outcome = mailboxes.sync(_box(h))
    h.drain()
    assert (outcome.status, outcome.error_kind) == ("error", "delivery")
    assert pages == [4]
    assert [r.priority for r in triage_rows(h)] == ["critical", "informative"]
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1
    text = caplog.text
    assert "could not be classified" in text and "verdict not stored" in text
    assert ("storing them one by one" in text) == (flush == "page")

    monkeypatch.setattr(classifier, "classify", classify)  # the classifier is back
    sync(h, _box(h))
    assert pages == [4, 2]  # only the two left out, again (the deleted one's row is stored anew)
    assert sorted(r.priority for r in triage_rows(h)) == ["critical", "important", "informative", "spam"]
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1


def test_a_page_whose_context_cannot_be_read_is_taken_one_message_at_a_time(
    h: Harness, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(h, account)
    service = h.services.get(DigestService)
    context_for = service.context_for
    calls: list[int] = []

    def flaky(session: Any, org_id: int) -> Any:
        calls.append(org_id)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return context_for(session, org_id)

    monkeypatch.setattr(service, "context_for", flaky)
    account.append([critical_email(1), important_email(2), spam_email(3)])
    sync(h, _box(h))
    assert [r.priority for r in triage_rows(h)] == ["critical", "important", "spam"]
    assert len(calls) == 4  # the page once, then each message
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1


def test_a_slow_classifier_stores_verdicts_as_it_goes(h: Harness, account: Account,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A page is stored in one write, unless classifying it takes longer than FLUSH_SECONDS (a
    remote model): then what is classified is stored and alerted without waiting for the rest."""
    _setup(h, account)
    classifier = h.services.get(Classifier)  # type: ignore[type-abstract]
    classify = classifier.classify
    stored_before: list[int] = []

    def counting(parsed: Any, context: Any) -> Any:
        stored_before.append(len(triage_rows(h)))
        return classify(parsed, context)

    monkeypatch.setattr(classifier, "classify", counting)
    account.append([info_email(1), spam_email(2), info_email(3)])
    sync(h, _box(h))
    assert stored_before == [0, 0, 0]
    monkeypatch.setattr(digests_service, "FLUSH_SECONDS", 0.0)
    account.append([critical_email(4), info_email(5), spam_email(6)])
    sync(h, _box(h))
    assert stored_before[3:] == [3, 4, 5]
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1


class _Stop(BaseException):
    """Stands for the process stopping (a deploy, the OOM killer) in the middle of a sync."""


@pytest.mark.postgres
@pytest.mark.parametrize("stop", ["before_triage", "after_triage"])
def test_a_sync_stopped_around_its_triage_still_alerts_once(h: Harness, account: Account,
                                                            monkeypatch: pytest.MonkeyPatch, stop: str) -> None:
    _setup(h, account)
    account.append([critical_email(1), important_email(2)])
    service = h.services.get(MailboxService)
    emit = service._emit

    def stopping(*args: Any, **kwargs: Any) -> None:
        if stop == "after_triage":
            emit(*args, **kwargs)
        raise _Stop

    monkeypatch.setattr(service, "_emit", stopping)
    with pytest.raises(_Stop):
        service.sync(box_id := _box(h))
    h.drain()
    with h.services.db.session() as session:
        delivered = list(session.scalars(select(MailMessage.delivered_at).where(MailMessage.mailbox_id == box_id)))
    assert len(delivered) == 2 and delivered == [None, None]  # stored, never handed over
    assert len(triage_rows(h)) == (2 if stop == "after_triage" else 0)

    monkeypatch.setattr(service, "_emit", emit)  # the process comes back
    sync(h, box_id)
    assert [r.priority for r in triage_rows(h)] == ["critical", "important"]
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1
    with h.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(MailMessage)
                              .where(MailMessage.delivered_at.is_(None))) == 0
    sync(h, box_id)  # and nothing is handed over a third time
    assert len(triage_rows(h)) == 2
    assert len([s for s in sent_to_user(h) if isinstance(s.message, Buttons)]) == 1
