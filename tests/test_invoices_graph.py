"""Invoice batches through the Microsoft Graph fake: sendMail, a large PDF through a draft and an
upload session, a 503 and a connection dropped after Graph accepted the message."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from handlers.invoices.service import InvoiceService
from tests.conftest import Harness
from tests.fake_graph import FakeGraph
from tests.invoice_support import make_folder, pdf_bytes
from tests.mail_fixtures import connectors_for
from tests.test_graph import add_outlook
from tests.tls import LoopbackCert


@pytest.fixture
def h(make_harness: Any, fake_graph: FakeGraph, test_cert: LoopbackCert) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(graph=fake_graph, cert=test_cert)},
                                    invoice_retry_base=0.05)
    return harness


def test_graph_batch_exactly_once_with_faults_and_a_large_attachment(h: Harness, fake_graph: FakeGraph,
                                                                     test_cert: LoopbackCert, tmp_path: Path) -> None:
    address = f"factures-{time.monotonic_ns()}@outlook.test"
    box_id = add_outlook(h, fake_graph, test_cert, address)
    folder = make_folder(tmp_path / "b", 12)
    (folder / "F-0005.pdf").write_bytes(pdf_bytes(3_500_000, 5))  # above 3 MB: draft + upload session
    h.services.settings.invoice_rate_limits["outlook"] = {"units_per_minute": 600, "window": 1}
    service = h.services.get(InvoiceService)
    manifest, box = service.check(h.org().id, folder, box_id)
    assert manifest.valid and box is not None, manifest.problems
    batch_id = service.create(h.org().id, manifest, box, confirmed=True)
    fake_graph.fail("POST", r"/me/sendMail$", 503, headers={"Retry-After": "1"})
    fake_graph.fail("POST", r"/me/sendMail$", disconnect=True, after=True)

    assert service.run(batch_id).kind == "done"

    sent = Counter(m.internet_message_id for m in fake_graph.account(address).sent)
    expected = {row["message_id"] for row in service.rows(None, batch_id)}
    assert set(sent) == expected and set(sent.values()) == {1}
    assert fake_graph.requests_to(r"/createUploadSession$", "POST")
    assert any("internetMessageId" in (r.arg("$filter") or "")
               for r in fake_graph.requests_to(r"/mailFolders/sentitems/messages$", "GET"))
    assert service.status(None, batch_id).sent == 12
