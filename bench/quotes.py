"""Benchmark of quotes and contracts: PDF render times and the chat round trip to the preview.

Targets: a quote and a contract each render in under 300 ms (median of 50); the preview
document reaches the outbox less than 1 s after the last answer arrives at the webhook. Each
figure is compared with a baseline measured in the same run: WeasyPrint rendering a trivial
page, and the round trip of a trivial command (``moi``) through the same webhook and worker.

Run: ``.venv/bin/python bench/quotes.py`` (writes its section of docs/benchmarks.md).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench import report  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.bootstrap import build_services  # noqa: E402
from bot.settings import REPO_ROOT, Settings  # noqa: E402
from bot.webhook import sign  # noqa: E402
from handlers.quotes.clients import ClientFields  # noqa: E402
from handlers.quotes.documents import DocumentInput, DocumentTemplates  # noqa: E402
from handlers.quotes.settings import DocumentSettings, update_settings  # noqa: E402
from integrations.pdf import WeasyPrintRenderer  # noqa: E402
from integrations.whatsapp import OutgoingMessage, Recipient  # noqa: E402
from storage.accounts import add_user, ensure_default_org  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import OutboxMessage  # noqa: E402
from storage.quotes import add_client  # noqa: E402

RUNS = 50
ROUND_TRIPS = 20
SECRET = "bench-secret"
PHONE = "2250707000001"


def median_ms(fn: Callable[[], Any], runs: int = RUNS) -> float:
    """Median wall time of ``fn`` in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def render_figures() -> dict[str, float]:
    """Baseline page, quote and contract, rendered for real."""
    renderer = WeasyPrintRenderer()
    templates = DocumentTemplates(REPO_ROOT / "templates")
    settings = DocumentSettings(legal_name="Atelier Kouassi SARL", address="Rue des Jardins 12\nAbidjan",
                                registration_number="RCCM CI-ABJ-2024-B-12345", city="Abidjan")
    client = {"name": "Boulangerie Dupont SARL", "company": "Boulangerie Dupont SARL",
              "email": "contact@boulangerie-dupont.fr", "city": "Lyon"}
    labels = {"mission_type": "Automatisation", "complexity": "Intermédiaire",
              "project": "Automatisation Académias", "service": "Prestation"}
    quote = DocumentInput("quote", "DEV-2026-0001", "fr", date(2026, 11, 20), date(2026, 12, 20), "EUR", "Atelier",
                          settings, {"client": client, "mission_context": "Industrialiser la production de modules",
                                     "workflow_steps": ["Input", "Production", "Diffusion"], "budget": "12500",
                                     "deadline": "2026-12-13", "vat_rate": "20"}, labels=labels)
    contract = DocumentInput("contract", "CTR-2026-0001", "fr", date(2026, 11, 20), None, "EUR", "Atelier",
                             settings, {"client": client, "mission_context": "Automatiser les commandes",
                                        "mission_type": "automation", "complexity": "intermediate", "price": "250",
                                        "vat_rate": "20"}, labels=labels)
    base = REPO_ROOT / "templates" / "documents"
    return {
        "baseline": median_ms(lambda: renderer.render("<p>Bonjour</p>", base_dir=base)),
        "quote": median_ms(lambda: templates.pdf(quote, renderer)),
        "contract": median_ms(lambda: templates.pdf(contract, renderer)),
    }


class NullWhatsApp:
    """Accepts every message at once (the bench measures Courrier, not Meta)."""

    async def send(self, to: Recipient, message: OutgoingMessage) -> str:
        return f"wamid.bench.{uuid.uuid4().hex}"

    async def aclose(self) -> None:
        return None


class NullDirectory:
    """No mail is sent in this benchmark."""

    def sender_for(self, org_id: int, mailbox_id: int | None = None) -> Any:
        raise RuntimeError("not used")


def body(text: str) -> bytes:
    """A signed-ready webhook body with one text message."""
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Awa"}, "wa_id": PHONE}],
        "messages": [{"from": PHONE, "id": f"wamid.{uuid.uuid4().hex}", "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}]}}]}]}
    return json.dumps(payload).encode()


def round_trip_figures(folder: Path) -> dict[str, float]:
    """Webhook → worker → outbox, for a trivial command and for the last answer of a quote."""
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    settings = Settings(_env_file=None, database_url=url, whatsapp_app_secret=SECRET,  # type: ignore[call-arg]
                        whatsapp_verify_token="v", sandbox=False, public_url="http://bench")
    services = build_services(settings, whatsapp=NullWhatsApp(), mail_directory=NullDirectory())
    with services.db.write() as session:
        org = ensure_default_org(session, "Bench")
        update_settings(org, {"legal_name": "Atelier Kouassi SARL", "city": "Abidjan"})
        add_user(session, org, name="Awa", phone=f"+{PHONE}", admin=True)
        add_client(session, org.id, services.clock.now(), **ClientFields(
            name="Boulangerie Dupont SARL", email="contact@boulangerie-dupont.fr", city="Lyon",
            mission_context="Industrialiser la production de modules").as_dict())

    def post(client: TestClient, text: str) -> float:
        raw = body(text)
        start = time.perf_counter()
        response = client.post("/webhooks/whatsapp", content=raw,
                               headers={"X-Hub-Signature-256": sign(raw, SECRET), "Content-Type": "application/json"})
        assert response.status_code == 200
        return start

    def wait_for(kind: str, after_id: int, start: float) -> float:
        deadline = start + 30
        while time.perf_counter() < deadline:
            with services.db.session() as session:
                found = session.scalar(select(OutboxMessage.id).where(OutboxMessage.id > after_id,
                                                                      OutboxMessage.kind == kind))
            if found:
                return (time.perf_counter() - start) * 1000
            time.sleep(0.002)
        raise TimeoutError(f"no {kind} message reached the outbox")

    def last_id() -> int:
        with services.db.session() as session:
            return int(session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0)

    trivial, preview = [], []
    with TestClient(create_app(settings, services)) as client:
        for _ in range(ROUND_TRIPS):
            mark = last_id()
            trivial.append(wait_for("text", mark, post(client, "moi")))
            for answer in ("devis dupont", "Input, Production, Diffusion", "12 500 €"):
                mark = last_id()
                wait_for("text", mark, post(client, answer))
            mark = last_id()
            preview.append(wait_for("document", mark, post(client, "13/12/2026")))
    services.db.dispose()
    return {"baseline": statistics.median(trivial), "preview": statistics.median(preview)}


def write_section(renders: dict[str, float], trips: dict[str, float]) -> str:
    """Replace (or add) this feature's section of docs/benchmarks.md."""
    verdict = {True: "✅ under target", False: "❌ over target"}
    body = "\n".join([
        "Script: `bench/quotes.py` (SQLite).",
        "",
        "| what | median | target | baseline in the same run |",
        "|---|---|---|---|",
        f"| render a quote (Jinja2 + WeasyPrint, {RUNS} runs) | {renders['quote']:.0f} ms | < 300 ms | "
        f"trivial page: {renders['baseline']:.0f} ms |",
        f"| render a contract ({RUNS} runs) | {renders['contract']:.0f} ms | < 300 ms | "
        f"trivial page: {renders['baseline']:.0f} ms |",
        f"| last answer → preview document in the outbox ({ROUND_TRIPS} runs) | {trips['preview']:.0f} ms | < 1000 ms | "
        f"`moi` → reply in the outbox: {trips['baseline']:.0f} ms |",
        "",
        f"Quote: {verdict[renders['quote'] < 300]}; contract: {verdict[renders['contract'] < 300]}; "
        f"round trip: {verdict[trips['preview'] < 1000]}. The round trip includes the webhook, the worker, the "
        "handler's transaction, the background render and the outbox insert of the PDF.",
    ])
    report.write_section("quotes", "Quotes and contracts", body)
    return body


def main() -> None:
    """Measure and write the figures."""
    renders = render_figures()
    with tempfile.TemporaryDirectory() as folder:
        trips = round_trip_figures(Path(folder))
    print(write_section(renders, trips))


if __name__ == "__main__":
    main()
