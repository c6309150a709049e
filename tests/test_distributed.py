"""The distributed mode as real processes: 3 web processes, 2 Celery workers, 2 scheduler candidates,
PostgreSQL, and Redis or RabbitMQ. Nothing here is skipped in CI."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from storage.accounts import add_user, ensure_default_org
from storage.db import Database
from storage.migrate import upgrade
from storage.models import InboundEvent, OutboxMessage, ServiceHealth
from tests.cluster import Cluster, FakeGraph, free_port, new_cluster_env, text_body, wait_until
from tests.conftest import PG_ADMIN_URL

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SENDERS = 50
PER_SENDER = 40
PHONE_BASE = 2250700300000
EN = "Got it, I'll answer in English."
FR = "Entendu, je vous répondrai en français."

CHAT = {str(PHONE_BASE + i) for i in range(SENDERS)}
DIGEST_USERS = 5
DIGEST_PHONE_BASE = 2250700900000
DIGEST_ZONE = "Europe/Paris"

BROKERS = {
    "redis": "redis://127.0.0.1:6379/{n}",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}


def _require_broker(name: str, url: str) -> None:
    """The broker answers; leftovers of an earlier run are purged."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
            for queue in ("chat", "sync", "bulk"):
                channel = conn.channel()
                try:
                    channel.queue_purge(queue)
                except Exception:  # a queue that does not exist yet has nothing to purge
                    pass
                finally:
                    channel.close()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required when CI is set and is unreachable: {exc}")
        pytest.skip(f"{name} unreachable: {exc}")


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A whole deployment on a fresh PostgreSQL database and a clean broker."""
    import psycopg

    broker = request.param
    broker_url = BROKERS[broker].format(n=11)
    if broker == "redis":
        import redis

        client = redis.Redis.from_url(broker_url)
        client.flushdb()
        client.close()
    _require_broker(broker, broker_url)
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"courrier_cluster_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required when CI is set: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(db_url)
    graph = FakeGraph()
    web_port = free_port()
    graph.webhook_port = web_port
    workdir = tmp_path_factory.mktemp(f"cluster-{broker}")
    env = new_cluster_env(db_url, broker_url, graph, web_port)
    env["COURRIER_WHATSAPP_DIGEST_TEMPLATE"] = "courrier_digest"
    db = Database(db_url)
    with db.write() as session:
        org = ensure_default_org(session, "Cluster")
        for i in range(SENDERS):
            add_user(session, org, name=f"Sender {i}", phone=f"+{PHONE_BASE + i}")
    db.dispose()
    slot = _prepare_digest_org(db_url, env["COURRIER_SECRET_KEYS"], workdir / "Maildir")
    c = Cluster(env, db_url, web_port, graph, workdir, digest_slot=slot)
    try:
        c.start("web", "serve", "--workers", "3", "--port", str(web_port))
        c.start("worker-1", "worker", "--concurrency", "2")
        c.start("worker-2", "worker", "--concurrency", "2")
        c.start("scheduler-1", "scheduler")
        c.start("scheduler-2", "scheduler")
        wait_until(lambda: c.get("/readyz")[0] == 200 if _port_open(web_port) else False, 60, "the web processes")
        yield c
    finally:
        c.stop_all()
        graph.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _prepare_digest_org(db_url: str, key: str, maildir: Path) -> datetime:
    """A second organization with a Maildir mailbox of three newsletters and five users whose digest
    slot falls a few minutes into the run; returns the slot (UTC)."""
    from handlers.mailboxes.service import CREDENTIALS_PURPOSE
    from storage.accounts import create_org
    from storage.mail import Mailbox
    from storage.secretbox import SecretBox
    from storage.triage import DigestPrefs

    now = datetime.now(UTC)
    for name in ("tmp", "new", "cur"):
        (maildir / name).mkdir(parents=True, exist_ok=True)
    for i in range(3):
        raw = (f"From: Outils <news@outil{i}.test>\r\nTo: equipe@digest.test\r\n"
               f"Subject: Lettre d'information n{i}\r\nDate: {format_datetime(now - timedelta(hours=1 + i))}\r\n"
               f"Message-ID: <digest-{i}-{uuid.uuid4().hex}@outil{i}.test>\r\n"
               "List-Unsubscribe: <mailto:unsubscribe@outil.test>\r\nPrecedence: bulk\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\n"
               "Bonjour, voici les nouveautés du mois pour les utilisateurs de notre outil.\r\n").encode()
        (maildir / "cur" / f"{int(now.timestamp())}.digest{i}.cluster:2,S").write_bytes(raw)
    local = now.astimezone(ZoneInfo(DIGEST_ZONE))
    slot_local = (local + timedelta(minutes=2)).replace(second=0, microsecond=0)
    box = SecretBox([base64.b64decode(key)])
    db = Database(db_url)
    with db.write() as session:
        org = create_org(session, "Digest Cluster", "digest-cluster")
        users = [add_user(session, org, name=f"Digest {i}", phone=f"+{DIGEST_PHONE_BASE + i}")
                 for i in range(DIGEST_USERS)]
        session.flush()
        for user in users:
            user.timezone = DIGEST_ZONE
            session.add(DigestPrefs(user_id=user.id, slots=[slot_local.strftime("%H:%M")], enabled=True,
                                    more_ids=[], created_at=now - timedelta(hours=1)))
        session.add(Mailbox(org_id=org.id, provider="maildir", name="Cluster", address="equipe@digest.test",
                            credentials=box.seal(json.dumps({"path": str(maildir)}), CREDENTIALS_PURPOSE),
                            folders=["INBOX"], cursor={}, is_default=True, status="active", enabled=True,
                            failures=0, initial_sync_done=False, sync_interval_minutes=1))
    db.dispose()
    return slot_local.astimezone(UTC)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _scalar(c: Cluster, query: Any) -> Any:
    db = Database(c.db_url, pool_size=1)
    try:
        with db.session() as session:
            return session.scalar(query)
    finally:
        db.dispose()


def _send_conversations(c: Cluster, senders: range, per_sender: int) -> None:
    """Each sender writes alternately `langue en` / `langue fr`, one message after the other."""
    errors: list[str] = []

    def run(batch: list[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", c.web_port, timeout=30)
        try:
            for round_ in range(per_sender):
                for index in batch:
                    phone = str(PHONE_BASE + index)
                    status = c.post(conn, text_body(phone, "langue en" if round_ % 2 == 0 else "langue fr"))
                    if status != 200:
                        errors.append(f"{phone}: {status}")
        finally:
            conn.close()

    groups = [list(senders)[i::10] for i in range(10)]
    threads = [threading.Thread(target=run, args=(g,)) for g in groups if g]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_every_message_is_processed_once_and_each_senders_replies_are_in_order(cluster: Cluster) -> None:
    before = cluster.graph.count(CHAT)
    total = SENDERS * PER_SENDER
    _send_conversations(cluster, range(SENDERS), PER_SENDER)
    wait_until(lambda: cluster.graph.count(CHAT) - before >= total, 300, f"{total} replies")
    by_recipient = cluster.graph.texts_by_recipient()
    for index in range(SENDERS):
        replies = by_recipient[str(PHONE_BASE + index)]
        expected = [EN if i % 2 == 0 else FR for i in range(PER_SENDER)]
        assert replies[-PER_SENDER:] == expected, f"sender {index}: replies out of order or missing"
    assert _scalar(cluster, select(func.count()).select_from(InboundEvent).where(InboundEvent.state == "done")) >= total
    # The fake Graph API counts a reply when the worker posts it; the worker marks the row sent just
    # after. Every reply row must get there (the digest organization's rows, due a few minutes into
    # the run, are the last test's business).
    unsent = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state != "sent", OutboxMessage.purpose == "reply"
    )
    wait_until(lambda: _scalar(cluster, unsent) == 0, 60, "every reply row marked sent")
    assert cluster.graph.count(CHAT) - before == total  # nothing sent twice


def test_status_reports_broker_queues_and_leader(cluster: Cluster) -> None:
    status, body = cluster.get("/readyz")
    assert status == 200
    assert body["broker"] is True
    assert set(body["queues"]) == {"chat", "sync", "bulk"}
    assert body["scheduler_leader"]


def test_killing_a_worker_mid_task_loses_and_doubles_nothing(cluster: Cluster) -> None:
    before = cluster.graph.count(CHAT)
    senders = range(0, 20)
    per_sender = 10
    thread = threading.Thread(target=_send_conversations, args=(cluster, senders, per_sender))
    thread.start()
    wait_until(lambda: cluster.graph.count(CHAT) - before >= 20, 180, "the first replies")
    cluster.kill("worker-1")  # the worker and its pool processes, mid-flight
    thread.join()
    total = len(senders) * per_sender
    wait_until(lambda: cluster.graph.count(CHAT) - before >= total, 300, f"{total} replies after the kill")
    by_recipient = cluster.graph.texts_by_recipient()
    for index in senders:
        replies = by_recipient[str(PHONE_BASE + index)][-per_sender:]
        assert replies == [EN if i % 2 == 0 else FR for i in range(per_sender)], f"sender {index}"
    assert cluster.graph.count(CHAT) - before == total
    cluster.start("worker-1", "worker", "--concurrency", "2")


def _leader(c: Cluster) -> str | None:
    db = Database(c.db_url, pool_size=1)
    try:
        with db.session() as session:
            row = session.get(ServiceHealth, "scheduler_leader")
            return row.detail if row else None
    finally:
        db.dispose()


def test_killing_the_scheduler_leader_hands_over_within_30_seconds(cluster: Cluster) -> None:
    wait_until(lambda: _leader(cluster) is not None, 30, "a scheduler leader")
    leader = _leader(cluster)
    assert leader is not None
    pid = int(leader.rsplit(":", 1)[1])
    name = next(n for n, p in cluster.processes.items() if n.startswith("scheduler") and p.pid == pid)
    cluster.kill(name)
    wait_until(lambda: (_leader(cluster) or "").rsplit(":", 1)[-1] not in ("", str(pid)), 30, "a new leader")
    # The new leader's sweep keeps the system moving: a message still gets its reply.
    before = cluster.graph.count(CHAT)
    conn = http.client.HTTPConnection("127.0.0.1", cluster.web_port, timeout=10)
    assert cluster.post(conn, text_body(str(PHONE_BASE), "langue en")) == 200
    conn.close()
    wait_until(lambda: cluster.graph.count(CHAT) > before, 180, "a reply under the new leader")
    cluster.start(name, "scheduler")


def test_one_leader_at_a_time(cluster: Cluster) -> None:
    db = Database(cluster.db_url, pool_size=1)
    try:
        with db.session() as session:
            holders = session.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1003 AND granted"
            )).scalar()
    finally:
        db.dispose()
    assert holders == 1


def test_digests_due_in_the_run_go_out_once_per_user_across_a_leader_kill(cluster: Cluster) -> None:
    """The digest slot falls during the run; the scheduler leader is killed just before it."""
    slot = cluster.digest_slot
    assert slot is not None
    users = {str(DIGEST_PHONE_BASE + i) for i in range(DIGEST_USERS)}
    lead_time = (slot - datetime.now(UTC)).total_seconds() - 10
    if lead_time > 0:
        threading.Event().wait(lead_time)
    leader = _leader(cluster)
    if leader is not None and datetime.now(UTC) < slot:
        pid = int(leader.rsplit(":", 1)[1])
        name = next((n for n, p in cluster.processes.items() if n.startswith("scheduler") and p.pid == pid), None)
        if name is not None:
            cluster.kill(name)
            cluster.start(name, "scheduler")
    wait_until(lambda: cluster.graph.count(users) >= DIGEST_USERS, 240, "one digest per user")
    # Give every scheduler a further tick (60 s) to send anything twice.
    threading.Event().wait(65)
    from storage.triage import Digest

    assert cluster.graph.count(users) == DIGEST_USERS
    sends = [s for s in cluster.graph.sends if s.get("to") in users]
    assert {s["to"] for s in sends} == users
    assert all(s.get("type") == "template" and s["template"]["name"] == "courrier_digest" for s in sends)
    assert _scalar(cluster, select(func.count()).select_from(Digest).where(Digest.items == 3)) == DIGEST_USERS
    assert _scalar(cluster, select(func.count(func.distinct(Digest.user_id))).select_from(Digest)) == DIGEST_USERS
