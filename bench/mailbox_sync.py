"""Mailbox sync benchmark against a private Dovecot: first sync, backlog delivery, idle syncs, memory.

Measured in the same run:
- bare imapclient loops fetching, in the same chunks, the items the first sync fetches (header fields
  and BODYSTRUCTURE: its baseline) and the items the backlog's delivery fetches (whole messages);
- ``parse_email`` alone on the same 10,000 messages (what delivering one message to the subscribers costs);
- Courrier's first sync of 10,000 messages, which indexes the backlog from headers, then the delivery of
  that backlog to the subscribers, with and without the triage (a fresh process each, so peak RSS is its own);
- incremental syncs with no new mail at 1,000 and at 10,000 messages, with the IMAP command count.

Writes its section of docs/benchmarks.md. Run: ``.venv/bin/python bench/mailbox_sync.py [--messages N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTION = "mailbox_sync"
KEY = "a2V5LWZvci10aGUtbWFpbGJveC1iZW5jaG1hcmsteHg="  # 32 bytes, base64 (benchmark only)
FULL_ITEMS = ["FLAGS", "RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[]"]
PAGE = 100


def corpus(count: int, address: str) -> list[bytes]:
    """Messages of realistic shapes: plain, alternative with HTML, some with a small attachment."""
    rng = random.Random(42)
    words = ["devis", "facture", "livraison", "rendez-vous", "réunion", "commande", "paiement", "relance", "contrat", "chantier", "bonjour", "merci", "urgent", "demain", "semaine", "prix", "quantité", "référence", "client", "fournisseur"]
    out = []
    for i in range(count):
        message = EmailMessage()
        message["From"] = f"Client {i % 97} <client{i % 97}@exemple.test>"
        message["To"] = address
        message["Subject"] = f"{rng.choice(words).capitalize()} n° {i} — {rng.choice(words)}"
        message["Message-ID"] = f"<bench-{i}@exemple.test>"
        message["Date"] = "Fri, 20 Nov 2026 08:00:00 +0000"
        text = " ".join(rng.choice(words) for _ in range(rng.randint(60, 400)))
        message.set_content(f"Bonjour,\n\n{text}\n\nCordialement")
        if i % 3 == 0:
            message.add_alternative(f"<html><body><p>Bonjour,</p><p>{text}</p></body></html>", subtype="html")
        if i % 10 == 0:
            message.add_attachment(os.urandom(2048), maintype="application", subtype="pdf", filename=f"doc-{i}.pdf")
        out.append(bytes(message))
    return out


# ---------------------------------------------------------------- child processes


def child_bare(args: dict[str, Any]) -> dict[str, Any]:
    """A baseline: log in, EXAMINE, SEARCH SINCE, FETCH ``args["items"]`` in chunks of 100, read by
    imapclient (or, with ``reader: courrier``, by the reader Courrier's client uses)."""
    from datetime import timedelta

    from imapclient import IMAPClient

    from tests.tls import LoopbackCert

    cert = LoopbackCert(Path(args["cert"]), Path(args["key"]))
    started = time.perf_counter()
    client = IMAPClient("127.0.0.1", args["port"], ssl=True, ssl_context=cert.client_context(), timeout=60)
    if args.get("reader") == "courrier":  # the same loop with Courrier's FETCH-response reader
        from integrations.imap import ImapClient

        client.__class__ = ImapClient
        client.normalise_times = False
    client.login(args["user"], args["password"])
    client.select_folder("INBOX", readonly=True)
    since = (datetime.now(UTC) - timedelta(days=7)).date()
    uids = sorted(client.search(["SINCE", since]))
    count = 0
    for start in range(0, len(uids), PAGE):
        fetched = client.fetch(uids[start : start + PAGE], args["items"])
        count += sum(1 for data in fetched.values() if b"FLAGS" in data)
    client.logout()
    return {"seconds": time.perf_counter() - started, "messages": count}


def child_parse(args: dict[str, Any]) -> dict[str, Any]:
    """``parse_email`` alone on the same messages (fetched first, not timed)."""
    from imapclient import IMAPClient

    from integrations.mime import parse_email
    from tests.tls import LoopbackCert

    cert = LoopbackCert(Path(args["cert"]), Path(args["key"]))
    client = IMAPClient("127.0.0.1", args["port"], ssl=True, ssl_context=cert.client_context(), timeout=60)
    client.login(args["user"], args["password"])
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search("ALL"))
    raws = []
    for start in range(0, len(uids), PAGE):
        raws.extend(d[b"BODY[]"] for d in client.fetch(uids[start : start + PAGE], ["BODY.PEEK[]"]).values())
    client.logout()
    started = time.perf_counter()
    for raw in raws:
        parse_email(raw)
    return {"seconds": time.perf_counter() - started, "messages": len(raws)}


def _services(args: dict[str, Any]) -> Any:
    from bot.bootstrap import build_services, prepare_database
    from bot.settings import Settings
    from integrations.connectors import MailConnectors
    from integrations.google import GoogleConfig
    from integrations.microsoft import MicrosoftConfig
    from tests.fakes import FakeWhatsApp
    from tests.tls import LoopbackCert

    cert = LoopbackCert(Path(args["cert"]), Path(args["key"]))
    settings = Settings(_env_file=None, database_url=args["db"], secret_keys=[KEY], sandbox=False,  # type: ignore[call-arg]
                        log_level="WARNING")
    connectors = MailConnectors(GoogleConfig(None), MicrosoftConfig(None), imap_ssl_context=cert.client_context(),
                                sync_limit=1_000_000)
    services = build_services(settings, whatsapp=FakeWhatsApp(), mail_connectors=connectors)
    prepare_database(services)
    return services, connectors


def _add_mailbox(services: Any, args: dict[str, Any]) -> int:
    from storage.accounts import ensure_default_org
    from storage.mail import CREDENTIALS_PURPOSE, Mailbox

    with services.db.write() as session:
        org = ensure_default_org(session, "Bench")
        box = Mailbox(org_id=org.id, provider="imap", name=args["user"], address=args["user"], username=args["user"],
                      imap_host="127.0.0.1", imap_port=args["port"], imap_security="tls", folders=["INBOX"],
                      cursor={}, credentials=services.require_secrets().seal(
                          json.dumps({"password": args["password"]}), CREDENTIALS_PURPOSE),
                      is_default=True, status="active", enabled=True, failures=0, initial_sync_done=False,
                      sync_interval_minutes=5)
        session.add(box)
        session.flush()
        return int(box.id)


def child_first_sync(args: dict[str, Any]) -> dict[str, Any]:
    """Courrier's first sync in this fresh process, as the scheduler's job runs it: the sync (which
    indexes the backlog), then the backlog's delivery to the new-mail subscribers, each timed.

    A subscriber reading every message's text is added; with ``triage`` false the triage subscriber
    that the application wires is removed, which measures the delivery alone.
    """
    from handlers.mailboxes.service import MailboxService, NewMail

    services, _ = _services(args)
    box_id = _add_mailbox(services, args)
    service = services.get(MailboxService)
    if not args.get("triage", True):
        service._subscribers.clear()  # benchmark only: the delivery without the triage
    seen = {"chars": 0, "events": 0}

    def subscriber(event: NewMail) -> None:
        seen["chars"] += len(event.parsed.text)
        seen["events"] += 1

    service.subscribe(subscriber)
    started = time.perf_counter()
    outcome = service.sync(box_id, backlog=False)
    seconds = time.perf_counter() - started
    indexed_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    failed = service.deliver_backlog(box_id, outcome)
    delivery = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    services.db.dispose()
    assert failed is None and seen["events"] == outcome.new, (failed, seen, outcome)
    return {"seconds": seconds, "messages": outcome.new, "status": outcome.status, "delivery_seconds": delivery,
            "delivered": seen["events"], "peak_rss_mb": peak / 1024, "indexed_rss_mb": indexed_rss / 1024,
            "text_chars": seen["chars"]}


def child_index(args: dict[str, Any]) -> dict[str, Any]:
    """Courrier's first sync alone (the index, as the scheduler's job answers it), timed."""
    from handlers.mailboxes.service import MailboxService

    services, _ = _services(args)
    box_id = _add_mailbox(services, args)
    started = time.perf_counter()
    outcome = services.get(MailboxService).sync(box_id, backlog=False)
    seconds = time.perf_counter() - started
    services.db.dispose()
    assert outcome.status == "success", outcome
    return {"seconds": seconds, "messages": outcome.new}


def child_incremental(args: dict[str, Any]) -> dict[str, Any]:
    """Two mailboxes (``args["boxes"]``, each with its own database), first-synced as shipped
    (untimed), then idle incremental syncs of each in turn, so that the machine's drift hits both:
    median time and IMAP commands of each."""
    from handlers.mailboxes.service import MailboxService
    from integrations.imap import ImapSource

    measured = []
    for box in args["boxes"]:
        services, connectors = _services({**args, "db": box["db"]})
        sources: list[ImapSource] = []

        def capture(access: Any, original: Any = connectors.source, sources: list[ImapSource] = sources) -> Any:
            source = original(access)
            sources.append(source)
            return source

        connectors.source = capture  # type: ignore[method-assign]
        box_id = _add_mailbox(services, {**args, **box})
        service = services.get(MailboxService)
        assert service.sync(box_id).new == box["expected"]
        measured.append((services, service, box_id, sources, [], []))
    for _ in range(args["runs"]):
        for _, service, box_id, sources, times, commands in measured:
            started = time.perf_counter()
            outcome = service.sync(box_id)
            times.append(time.perf_counter() - started)
            assert outcome.new == 0 and outcome.status == "success"
            commands.append(sources[-1].commands)
    results = []
    for services, _, _, _, times, commands in measured:
        services.db.dispose()
        results.append({"median_ms": statistics.median(times) * 1000, "commands": max(commands), "runs": len(times)})
    return {"boxes": results}


def run_child(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; its last stdout line is JSON."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(args)], check=True, capture_output=True, text=True,
        cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARGS"))
    options = parser.parse_args()
    if options.child:
        kind, raw = options.child
        result = {"bare": child_bare, "parse": child_parse, "first": child_first_sync, "index": child_index,
                  "incremental": child_incremental}[kind](json.loads(raw))
        print(json.dumps(result))
        return

    from tests.dovecot import Dovecot

    dovecot = Dovecot.start()
    work = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    try:
        big, small = dovecot.new_account(), dovecot.new_account()
        print(f"appending {options.messages} + {options.small} messages to Dovecot…", flush=True)
        messages = corpus(options.messages, big.address)
        big.append(messages)
        small.append(messages[: options.small])
        average = sum(map(len, messages)) / len(messages)
        common = {"port": dovecot.tls_port, "cert": str(dovecot.cert.cert), "key": str(dovecot.cert.key)}
        big_args = {**common, "user": big.user, "password": big.password}

        from integrations.imap import INDEX_ITEMS

        index_args = {**big_args, "items": list(INDEX_ITEMS)}
        full_args = {**big_args, "items": FULL_ITEMS}
        run_child("bare", full_args)  # warm Dovecot's caches for every contestant
        run_child("bare", index_args)
        bare, index, reader = [], [], []
        for attempt in range(3):  # interleaved, best of three each: the machine's drift hits both
            bare.append(run_child("bare", index_args))
            index.append(run_child("index", {**big_args, "db": f"sqlite:///{work / f'index{attempt}.db'}"}))
            reader.append(run_child("bare", {**index_args, "reader": "courrier"}))
        bare_best, index_best, reader_best = (min(runs, key=lambda r: r["seconds"]) for runs in (bare, index, reader))
        full = min((run_child("bare", full_args) for _ in range(2)), key=lambda r: r["seconds"])
        parse = run_child("parse", big_args)
        first = run_child("first", {**big_args, "db": f"sqlite:///{work / 'first.db'}"})
        alone = run_child("first", {**big_args, "db": f"sqlite:///{work / 'alone.db'}", "triage": False})
        inc_small, inc_big = run_child("incremental", {**common, "runs": options.runs, "boxes": [
            {"user": small.user, "password": small.password, "expected": options.small,
             "db": f"sqlite:///{work / 'small.db'}"},
            {"user": big.user, "password": big.password, "expected": options.messages,
             "db": f"sqlite:///{work / 'big.db'}"},
        ]})["boxes"]
    finally:
        dovecot.stop()

    bare_rate = bare_best["messages"] / bare_best["seconds"]
    reader_rate = reader_best["messages"] / reader_best["seconds"]
    full_rate = full["messages"] / full["seconds"]
    first_rate = index_best["messages"] / index_best["seconds"]
    ratios = ", ".join(f"{b['seconds'] / i['seconds']:.2f}" for b, i in zip(bare, index, strict=True))
    parse_rate = parse["messages"] / parse["seconds"]
    ratio = first_rate / bare_rate
    delivery_rate = first["delivered"] / first["delivery_seconds"]
    alone_rate = alone["delivered"] / alone["delivery_seconds"]
    total = first["seconds"] + first["delivery_seconds"]
    inc_ratio = inc_big["median_ms"] / inc_small["median_ms"]
    n = options.messages
    body = f"""SQLite, Dovecot {dovecot_version()} on loopback over TLS. {n:,} messages of {average / 1024:.1f} KB on average
(plain, text+HTML, some attachments), fetched 100 per FETCH. Each measurement runs in a fresh process.

A first sync indexes the backlog: it fetches the header fields it stores and the BODYSTRUCTURE (attachment
names and types), never a body, stores the metadata rows and moves the cursor. The scheduler's job (and
the link page) answer then, and the same worker delivers the backlog to the new-mail subscribers (the
triage) newest first, fetching the bodies 100 at a time; `courrier sync` does both before it returns.

| what | measured | target | verdict |
|---|---|---|---|
| bare imapclient loop, the first sync's items (`{' '.join(INDEX_ITEMS)}`), best of 3 | {bare_rate:,.0f} msg/s ({bare_best['seconds']:.2f} s) | baseline | |
| **Courrier first sync of {n:,} messages** (index: fetch, header parse, metadata rows, cursor), best of 3 | {first_rate:,.0f} msg/s ({index_best['seconds']:.2f} s) | ≥ 0.8 × baseline | {ratio:.2f} × — {verdict(ratio >= 0.8)} (run by run: {ratios}) |
| the bare loop with Courrier's FETCH-response reader instead of imapclient's, best of 3 | {reader_rate:,.0f} msg/s ({reader_best['seconds']:.2f} s) | — | |
| bare imapclient loop, whole messages (`{' '.join(FULL_ITEMS)}`) | {full_rate:,.0f} msg/s ({full['seconds']:.2f} s) | — | |
| `parse_email` alone on the same messages | {parse_rate:,.0f} msg/s ({parse['seconds']:.1f} s) | — | |
| backlog delivery without the triage (bodies fetched, parsed, new-mail event, rows marked) | {alone_rate:,.0f} msg/s ({alone['delivery_seconds']:.1f} s) | — | |
| backlog delivery as shipped (the above, and every message triaged and recorded) | {delivery_rate:,.0f} msg/s ({first['delivery_seconds']:.1f} s) | — | |
| first sync and backlog delivery together, as shipped | {n / total:,.0f} msg/s ({total:.1f} s) | — | |
| peak RSS of the process doing both | {first['peak_rss_mb']:.0f} MB (after the index: {first['indexed_rss_mb']:.0f} MB) | < 250 MB | {verdict(first['peak_rss_mb'] < 250)} |
| idle incremental sync, {options.small:,} messages (median of {inc_small['runs']}, alternating with the next) | {inc_small['median_ms']:.1f} ms, {inc_small['commands']} IMAP commands | ≤ 3 commands | {verdict(inc_small['commands'] <= 3)} |
| idle incremental sync, {n:,} messages (median of {inc_big['runs']}) | {inc_big['median_ms']:.1f} ms, {inc_big['commands']} IMAP commands | ratio ≤ 1.2, ≤ 3 commands | {inc_ratio:.2f} × — {verdict(inc_ratio <= 1.2 and inc_big['commands'] <= 3)} |

The first sync's rate is measured against a bare loop fetching the same items; the three runs of each
alternate, in fresh processes. Courrier's client reads FETCH responses with `integrations/imap_wire.py`,
which gives exactly imapclient's results (property tests and every Dovecot response of the tests compare
the two) in about a third of the time; that is most of what lets the whole first sync (header parse,
rows, cursor included) keep up with the bare imapclient loop. The bare loop with that reader shows
what the fetch alone costs now. Delivering the backlog is
bounded by Python's CPU work per message: parsing each body ({1000 / parse_rate:.2f} ms) and, as shipped,
classifying it and storing its verdict; it runs after the first sync has answered, while new mail keeps
being synced and delivered at once.
The idle incremental sync is LOGIN, STATUS, LOGOUT whatever the mailbox size (UIDNEXT unchanged: no SELECT,
SEARCH or FETCH).
"""
    from bench.report import write_section

    write_section(SECTION, "Mailbox sync (IMAP, `bench/mailbox_sync.py`)", body)
    print(body)


def dovecot_version() -> str:
    try:
        out = subprocess.run(["dovecot", "--version"], capture_output=True, text=True, check=True)
        return out.stdout.split()[0]
    except (OSError, subprocess.CalledProcessError):
        return "?"


if __name__ == "__main__":
    main()
