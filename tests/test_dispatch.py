"""The dispatcher and the outbox with the real app: states, escapes, errors, retries, limits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.router import PASS, Ctx, Result, Router, State
from handlers import ROUTERS
from integrations.whatsapp import (
    Button,
    Buttons,
    Document,
    RateLimited,
    Text,
    TransientError,
    Undeliverable,
    WhatsAppAuthError,
)
from storage.models import ConversationState, InboundEvent, OutboxMessage
from tests.conftest import Harness, button_message, text_message

PHONE = "+2250707000001"
DIGITS = "2250707000001"


def flow_router() -> Router:
    """A small two-step flow to exercise the dispatcher."""
    router = Router("flow")

    @router.command("order", fr=("commande",), en=("order",), help_fr="passer commande", help_en="place an order")
    def start(ctx: Ctx) -> Result:
        return Result([Text("Quantité ?")],
                      next=State("order", "qty", {"item": ctx.args}))

    @router.step("order", "qty")
    def qty(ctx: Ctx) -> Any:
        if ctx.is_button:
            return PASS
        if not ctx.args.isdigit():
            return Result([Text("Un nombre, s'il vous plaît.")])  # state kept
        return Result([Buttons(f"{ctx.args} × {ctx.state.data['item']} ?",  # type: ignore[union-attr]
                               (Button("order:confirm", "Confirmer"),))],
                      next=State("order", "confirm", {**ctx.state.data, "qty": ctx.args}))  # type: ignore[union-attr]

    @router.step("order", "confirm")
    def confirm(ctx: Ctx) -> Any:
        return PASS

    @router.action("order:confirm")
    def confirmed(ctx: Ctx) -> Result:
        data = ctx.state.data if ctx.state else {}
        return Result([Text(f"Commande de {data.get('qty')} {data.get('item')} confirmée.")], next=None)

    @router.command("boom", fr=("boum",), en=("boom",), help_fr="plante", help_en="crashes")
    def boom(ctx: Ctx) -> Result:
        ctx.user.name = "changed by a failing handler"
        raise RuntimeError("bug")

    @router.command("long", fr=("long",), en=("longtext",), help_fr="long", help_en="long")
    def long(ctx: Ctx) -> str:
        return "\n".join(f"ligne {i:04d} " + "x" * 80 for i in range(120))

    @router.command("doc", fr=("document",), en=("doc",), help_fr="doc", help_en="doc")
    def doc(ctx: Ctx) -> Document:
        return Document("devis.pdf", b"%PDF-1.7 test", caption="Votre devis")

    @router.command("secret", fr=("secret",), en=("secretcmd",), help_fr="admin", help_en="admin", admin=True)
    def secret(ctx: Ctx) -> str:
        return "admin only"

    return router


@pytest.fixture
def app(make_harness: Any) -> Harness:
    h: Harness = make_harness(routers=[*ROUTERS, flow_router()])
    h.add_user(PHONE, "Awa Kouassi", admin=False)
    return h


def say(h: Harness, text: str) -> list[str]:
    before = len(h.whatsapp.outbox)
    h.post(text_message(text, phone=DIGITS))
    h.drain()
    return [s.text for s in h.whatsapp.outbox[before:]]


def press(h: Harness, reply_id: str, title: str) -> list[str]:
    before = len(h.whatsapp.outbox)
    h.post(button_message(reply_id, title, phone=DIGITS))
    h.drain()
    return [s.text for s in h.whatsapp.outbox[before:]]


def state(h: Harness) -> ConversationState | None:
    with h.services.db.session() as session:
        row = session.scalars(select(ConversationState)).first()
        if row is not None:
            session.expunge(row)
        return row


def test_flow_steps_buttons_and_state(app: Harness) -> None:
    assert say(app, "commande Croissants") == ["Quantité ?"]
    assert state(app).step == "qty"  # type: ignore[union-attr]
    assert say(app, "beaucoup") == ["Un nombre, s'il vous plaît."]
    assert say(app, "12") == ["12 × Croissants ?"]
    assert press(app, "order:confirm", "Confirmer") == ["Commande de 12 Croissants confirmée."]
    assert state(app) is None


def test_help_and_cancel_work_in_any_state(app: Harness) -> None:
    say(app, "commande Pain")
    help_reply = say(app, "aide")
    assert "Ce que je sais faire" in help_reply[0]
    assert state(app) is not None  # help does not end the flow
    assert say(app, "annuler") == ["C'est annulé."]
    assert state(app) is None
    assert say(app, "annuler") == ["Rien à annuler."]


def test_state_expires(app: Harness) -> None:
    say(app, "commande Pain")
    app.clock.advance(hours=25)
    assert say(app, "12") == ["Je n'ai pas compris. Tapez *aide* pour voir ce que je sais faire."]


def test_language_follows_the_alias_then_the_saved_choice(app: Harness) -> None:
    assert "What I can do" in say(app, "help")[0]
    assert say(app, "xyz") == ["I didn't understand that. Type *help* to see what I can do."]
    assert "Ce que je sais faire" in say(app, "aide")[0]
    say(app, "language en")
    assert "What I can do" in say(app, "aide")[0]  # a saved choice wins over the alias


def test_a_failing_handler_apologizes_and_rolls_back_its_changes(app: Harness) -> None:
    assert say(app, "boum") == [
        "Désolé, un problème est survenu de notre côté. Votre demande n'est pas perdue : réessayez dans un instant."]
    assert "changed" not in say(app, "moi")[0]
    with app.services.db.session() as session:
        assert {e.state for e in session.scalars(select(InboundEvent))} == {"done"}


def test_admin_only_commands(app: Harness) -> None:
    assert say(app, "secret") == ["Cette commande est réservée aux administrateurs de votre organisation."]


def test_long_text_is_split_on_line_boundaries(app: Harness) -> None:
    parts = say(app, "long")
    assert len(parts) >= 3
    assert all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts).count("ligne ") == 120
    assert all(p.startswith("ligne ") for p in parts)


def test_documents_are_sent_with_their_file_name(app: Harness) -> None:
    before = len(app.whatsapp.outbox)
    app.post(text_message("document", phone=DIGITS))
    app.drain()
    sent = app.whatsapp.outbox[before:]
    assert len(sent) == 1
    assert isinstance(sent[0].message, Document)
    assert sent[0].message.filename == "devis.pdf" and sent[0].message.content == b"%PDF-1.7 test"


def test_unsupported_message_types_get_a_hint(app: Harness) -> None:
    body = text_message("", phone=DIGITS)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "image"
    message["image"] = {"id": "123", "mime_type": "image/jpeg"}
    app.post(body)
    app.drain()
    assert "texte" in app.whatsapp.outbox[-1].text


# ------------------------------------------------------------------ outbox retries


def outbox_rows(h: Harness) -> list[OutboxMessage]:
    with h.services.db.session() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for r in rows:
            session.expunge(r)
        return rows


def test_rate_limits_back_off_and_retry_without_duplicates(app: Harness) -> None:
    app.whatsapp.failures.extend([RateLimited("slow down", code=130429, retry_after=30),
                                  TransientError("reset")])
    app.post(text_message("moi", phone=DIGITS))
    app.drain()
    assert app.whatsapp.outbox == []
    assert outbox_rows(app)[0].state == "pending"
    app.clock.advance(seconds=31)
    app.drain()
    assert app.whatsapp.outbox == []  # the transient error, backing off again
    app.clock.advance(seconds=5)
    app.drain()
    assert len(app.whatsapp.outbox) == 1
    row = outbox_rows(app)[0]
    assert row.state == "sent" and row.attempts == 3 and row.provider_message_id == "wamid.fake.1"


def test_a_retry_holds_back_later_messages_to_the_same_person(app: Harness) -> None:
    app.whatsapp.failures.append(RateLimited("pair rate", code=131056, retry_after=10))
    app.post(text_message("moi", phone=DIGITS, wamid="wamid.a"))
    app.drain()
    app.post(text_message("statut", phone=DIGITS, wamid="wamid.b"))
    app.drain()
    assert app.whatsapp.outbox == []
    app.clock.advance(seconds=11)
    app.drain()
    texts = [s.text for s in app.whatsapp.outbox]
    assert texts[0].startswith("Nom :") and texts[1].startswith("*État")


def test_undeliverable_is_final(app: Harness) -> None:
    app.whatsapp.failures.append(Undeliverable("no", code=131026))
    app.post(text_message("moi", phone=DIGITS))
    app.drain()
    app.clock.advance(hours=1)
    app.drain()
    row = outbox_rows(app)[0]
    assert row.state == "failed" and row.last_error_code == 131026
    assert app.whatsapp.outbox == []


def test_expired_token_waits_and_is_reported_on_status(app: Harness) -> None:
    app.whatsapp.failures.append(WhatsAppAuthError("expired", code=190))
    app.post(text_message("moi", phone=DIGITS))
    app.drain()
    assert outbox_rows(app)[0].state == "pending"
    app.post(text_message("statut", phone=DIGITS))
    app.drain()
    assert app.whatsapp.outbox == []  # the statut reply waits behind the first one, in order
    app.clock.advance(minutes=2)
    app.drain()
    texts = [s.text for s in app.whatsapp.outbox]
    assert texts[0].startswith("Nom :")  # the waiting reply went out once the token worked again
    assert "jeton d'accès a expiré" in texts[1]  # statut reported the refused token


def test_a_user_error_leaves_nothing_half_written(make_harness: Any) -> None:
    from bot.router import UserError

    router = Router("partial")

    @router.command("partial", fr=("partiel",), en=("partial",), help_fr="p", help_en="p")
    def partial(ctx: Ctx) -> Result:
        ctx.user.name = "written before the error"
        raise UserError("error.admin_only")

    h: Harness = make_harness(routers=[*ROUTERS, router])
    h.add_user(PHONE, "Awa Kouassi", admin=False)
    assert say(h, "partiel") == ["Cette commande est réservée aux administrateurs de votre organisation."]
    assert say(h, "moi")[0].startswith("Nom : Awa Kouassi")


def test_sent_messages_are_not_kept_in_clear(app: Harness) -> None:
    say(app, "moi")
    rows = outbox_rows(app)
    assert rows and all(r.state == "sent" and r.payload == {"redacted": True} for r in rows)


def _status(wamid: str, tracker: str, status: str = "sent") -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
        "statuses": [{"id": wamid, "status": status, "timestamp": "1763712300", "recipient_id": DIGITS,
                      "biz_opaque_callback_data": tracker}]}}]}]}


def test_a_send_whose_answer_was_lost_is_settled_by_its_status_not_resent(app: Harness) -> None:
    from integrations.whatsapp import AmbiguousSend

    app.whatsapp.failures.append(AmbiguousSend("read timeout after sending"))
    say(app, "moi")
    row = outbox_rows(app)[0]
    assert row.state == "unconfirmed" and len(app.whatsapp.outbox) == 1  # it did reach WhatsApp
    assert app.whatsapp.trackers[-1] == f"outbox:{row.id}"
    app.post(_status("wamid.lost.1", f"outbox:{row.id}"))
    app.drain()
    app.clock.advance(minutes=5)
    app.drain()
    row = outbox_rows(app)[0]
    assert row.state == "sent" and row.provider_message_id == "wamid.lost.1"
    assert len(app.whatsapp.outbox) == 1


def test_worker_crash_mid_send_waits_for_a_status_before_resending(app: Harness) -> None:
    from storage import outbox as repo

    say(app, "moi")  # a reply delivered normally
    with app.services.db.write() as session:
        row = session.scalars(select(OutboxMessage)).one()
        row.state, row.next_attempt_at = "sending", app.clock.now()  # as a process killed mid-send leaves it
        row.payload = {"body": "Nom : Awa Kouassi"}
    with app.services.db.write() as session:
        assert repo.release_stale(session, app.clock.now()) == 1
    assert outbox_rows(app)[0].state == "unconfirmed"
    app.drain()
    assert len(app.whatsapp.outbox) == 1  # not resent while a status may still come
    app.clock.advance(seconds=61)
    with app.services.db.write() as session:
        repo.release_stale(session, app.clock.now())
    app.drain()
    assert len(app.whatsapp.outbox) == 2  # no status ever came: sent again (at least once)


def test_a_crashed_send_whose_status_is_stored_but_not_yet_applied_is_not_resent(app: Harness) -> None:
    """The worker killed mid-send may take with it the one that would apply WhatsApp's status: the
    status sits in the inbound log, so the message waits for it instead of going out twice."""
    from storage import outbox as repo
    from storage.models import InboundEvent

    say(app, "moi")
    with app.services.db.write() as session:
        row = session.scalars(select(OutboxMessage)).one()
        row.state, row.next_attempt_at = "sending", app.clock.now()
        row.payload = {"body": "Nom : Awa Kouassi"}
        tracker = f"outbox:{row.id}"
        status = _status("wamid.crash.1", tracker)["entry"][0]["changes"][0]["value"]["statuses"][0]
        session.add(InboundEvent(kind="status", wa_message_id="wamid.crash.1", status="sent", sender=DIGITS,
                                 payload={"status": status}, state="pending", received_at=app.clock.now()))
    with app.services.db.write() as session:
        repo.release_stale(session, app.clock.now())
    for _ in range(3):  # well past the grace, the stored status still unapplied
        app.clock.advance(seconds=61)
        with app.services.db.write() as session:
            repo.release_stale(session, app.clock.now())
        assert outbox_rows(app)[0].state == "unconfirmed"
    app.drain()  # the status is applied: sent, never resent
    row = outbox_rows(app)[0]
    assert row.state == "sent" and row.provider_message_id == "wamid.crash.1"
    assert len(app.whatsapp.outbox) == 1


def test_a_message_refused_by_the_closed_window_waits_for_the_users_next_message(make_harness: Any) -> None:
    """131047 on a notice: the template says something is waiting (once a day); the notice itself goes
    out, before the reply, as soon as the user writes again."""
    from bot.outbox import send_to_user
    from integrations.whatsapp import Template, Text

    h = make_harness(whatsapp_digest_template="courrier_digest", whatsapp_template_language="fr")
    user = h.add_user()
    h.whatsapp.window_closed_for.add("2250707000001")
    for key in ("mailbox:1", "mailbox:2"):
        with h.services.db.write() as session:
            send_to_user(session, session.get(type(user), user.id), [Text(f"Boîte synchronisée ({key})")],
                         key=key, now=h.clock.now(), purpose="mailbox")
        h.services.outbox_changed()
        h.drain()
    sent = [s.message for s in h.whatsapp.outbox]
    assert len(sent) == 1 and isinstance(sent[0], Template)  # one teaser for both held notices
    assert sent[0].body_params == ("Courrier a un message pour vous — répondez pour le lire",)
    with h.services.db.session() as session:
        held = session.scalars(select(OutboxMessage.state).where(OutboxMessage.purpose == "mailbox")).all()
    assert held == ["window_closed", "window_closed"]

    h.whatsapp.window_closed_for.clear()  # writing opens the window
    assert h.post(text_message("aide")).status_code == 200
    h.drain()
    texts = h.whatsapp.texts_to("2250707000001")
    assert texts[1:3] == ["Boîte synchronisée (mailbox:1)", "Boîte synchronisée (mailbox:2)"]
    assert len(texts) > 3  # then the help reply
    with h.services.db.session() as session:
        states = session.scalars(select(OutboxMessage.state).where(OutboxMessage.purpose == "mailbox")).all()
    assert states == ["sent", "sent"]
