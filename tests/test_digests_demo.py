"""The demo's sample Maildir: linked by `make demo`, read-only, triaged, fed with new mail by a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo import DEMO_ADMIN_PHONE, prepare_demo
from handlers.digests import demo
from handlers.mailboxes.service import MailboxService
from integrations.maildir import MaildirSource, unique_name
from integrations.whatsapp import Buttons
from storage.mail import Mailbox, MailMessage
from storage.triage import TriageAlert, TriageRecord
from tests.conftest import Harness, text_message


class _NoneKnown:
    def known_provider_ids(self, ids: Any) -> set[str]:
        return set()

    def known_message_ids(self, ids: Any) -> set[str]:
        return set()


def test_maildir_source_reads_new_and_cur_without_touching_files(tmp_path: Path, clock: Any) -> None:
    folder = tmp_path / "Maildir"
    first = demo.deliver(folder, 0, clock.now(), sub="cur")
    second = demo.deliver(folder, 1, clock.now())
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    source = MaildirSource("demo@example.test", folder)
    pages = list(source.pages({}, clock.now().replace(year=2025), _NoneKnown()))
    ids = [m.provider_id for page in pages for m in page.messages]
    assert sorted(ids) == sorted([unique_name(first.name), unique_name(second.name)])
    assert all(page.initial for page in pages) and pages[-1].cursor == {"synced": True}
    after = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert after == before
    with pytest.raises(Exception, match="not a Maildir"):
        list(MaildirSource("x@example.test", tmp_path / "missing").pages({}, clock.now(), _NoneKnown()))


def test_demo_links_the_sample_mailbox_and_new_samples_alert(harness: Harness, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    h = harness
    info = prepare_demo(h.services)
    prepare_demo(h.services)  # twice: still one sample mailbox
    with h.services.db.write() as session:
        boxes = list(session.scalars(select(Mailbox).where(Mailbox.provider == "maildir")))
        assert len(boxes) == 1
        box_id = boxes[0].id
        from storage.models import User

        admin = session.get(User, info.admin_id)
        assert admin is not None
        admin.last_inbound_at = h.clock.now()
    assert (tmp_path / "var" / "demo-maildir" / "cur").is_dir()

    service = h.services.get(MailboxService)
    assert service.sync(box_id).new == demo.INITIAL
    h.drain()
    phone = DEMO_ADMIN_PHONE.lstrip("+")
    with h.services.db.session() as session:
        assert len(session.scalars(select(TriageRecord.id)).all()) == demo.INITIAL
        assert len(session.scalars(select(TriageAlert.id)).all()) <= 3  # the first-sync backlog is capped
    alerts_before = len([s for s in h.whatsapp.outbox if isinstance(s.message, Buttons)])

    h.clock.advance(minutes=3)
    demo.feed(h.services)  # sample INITIAL: a contract amendment to sign today
    assert service.sync(box_id).new == 1
    h.drain()
    alerts = [s for s in h.whatsapp.outbox if isinstance(s.message, Buttons) and s.to.address == phone]
    assert len(alerts) == alerts_before + 1 and "Avenant au contrat" in alerts[-1].text
    with h.services.db.session() as session:
        assert len(session.scalars(select(MailMessage.id)).all()) == demo.INITIAL + 1

    h.post(text_message("résumé", phone=phone))
    h.drain()
    assert h.whatsapp.outbox[-1].text.startswith("📬 *Résumé des dernières 24 heures*")
