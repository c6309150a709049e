"""Shared fixtures: a network guard, databases (SQLite always, PostgreSQL where asked), the app."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bot.app import create_app
from bot.bootstrap import build_services
from bot.services import Services
from bot.settings import Settings
from bot.webhook import sign
from storage.accounts import add_user, ensure_default_org
from storage.db import Database
from storage.metadata import metadata
from storage.migrate import upgrade
from storage.models import Organization, User
from tests.fakes import FakeClock, FakeWhatsApp

pytest_plugins = ["tests.mail_fixtures"]

REPO = Path(__file__).resolve().parent.parent
# Reference data from the project's shared folder, copied here so a clone runs on its own.
DATA = REPO / "tests" / "data"
PAYLOADS = DATA / "whatsapp-payloads"
TRIAGE_DEV = DATA / "triage-dev"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
TEST_KEY = base64.b64encode(b"k" * 32).decode()
PG_ADMIN_URL = os.environ.get("COURRIER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# --------------------------------------------------------------------------- network guard


def _is_local(host: Any) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def network_guard() -> Iterator[None]:
    """Fail any test that tries to reach a host other than this machine."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise RuntimeError(f"tests must not use the network (tried {address[0]})")

    def connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host is not None and not _is_local(host):
            raise RuntimeError(f"tests must not use the network (tried to resolve {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this run, migrated once; mandatory when CI is set."""
    try:
        import psycopg

        admin_url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        name = f"courrier_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required when CI is set and is unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_pg(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        db.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that take ``db_url`` run on SQLite, and on PostgreSQL too when marked ``postgres``."""
    if "db_url" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.definition.get_closest_marker("postgres"):
            backends.append("postgresql")
        metafunc.parametrize("db_backend", backends, indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated, empty database for one test."""
    if db_backend == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        _truncate_pg(url)
        return url
    path = tmp_path / "courrier.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


# --------------------------------------------------------------------------- app and services


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for tests: no .env file, test secrets, sandbox off unless asked."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "secret_keys": [TEST_KEY],
        "public_url": "http://testserver",
        "sandbox": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Harness:
    """A running app with fakes: post signed payloads, wait for the worker, look at the outbox."""

    client: TestClient
    services: Services
    whatsapp: FakeWhatsApp
    clock: FakeClock

    def post(self, body: bytes | dict[str, Any], *, signature: str | None = None,
             headers: dict[str, str] | None = None) -> Any:
        """POST a body to the webhook, signed like Meta unless a signature is given."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent_headers = {"Content-Type": "application/json",
                        "X-Hub-Signature-256": signature if signature is not None else sign(raw, APP_SECRET)}
        sent_headers.update(headers or {})
        return self.client.post("/webhooks/whatsapp", content=raw, headers=sent_headers)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until the worker processed everything due and the outbox is sent."""
        worker = self.client.app.state.worker  # type: ignore[attr-defined]
        self.client.portal.call(worker.wait_idle, timeout)  # type: ignore[union-attr]

    def add_user(self, phone: str | None = "+2250707000001", name: str = "Awa Kouassi", *, admin: bool = True,
                 wa_user_id: str | None = None, language: str | None = None) -> User:
        """Register a user in the default organization."""
        with self.services.db.write() as session:
            org = ensure_default_org(session, "Test Org")
            user = add_user(session, org, name=name, phone=phone, admin=admin, wa_user_id=wa_user_id,
                            language=language)
            session.expunge(user)
            return user

    def org(self) -> Organization:
        """The default organization."""
        with self.services.db.write() as session:
            org = ensure_default_org(session, "Test Org")
            session.expunge(org)
            return org


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-11-20 09:00 UTC."""
    return FakeClock()


@pytest.fixture
def fake_whatsapp() -> FakeWhatsApp:
    """A recording WhatsApp sender."""
    return FakeWhatsApp()


@pytest.fixture
def make_harness(db_url: str, clock: FakeClock, fake_whatsapp: FakeWhatsApp) -> Iterator[Callable[..., Harness]]:
    """Start apps on the test database; each call is a fresh app (a "restart") on the same data."""
    clients: list[TestClient] = []

    def start(*, background: bool = True, whatsapp: Any = None, routers: Any = None,
              build: dict[str, Any] | None = None, **overrides: Any) -> Harness:
        settings = make_settings(db_url, **overrides)
        sender = whatsapp or fake_whatsapp
        services = build_services(settings, clock=clock, whatsapp=sender, routers=routers, **(build or {}))
        client = TestClient(create_app(settings, services, background=background))
        client.__enter__()
        clients.append(client)
        return Harness(client, services, sender, clock)

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)
        client.app.state.services.db.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    """One running app with fakes."""
    return make_harness()


def load_payload(name: str) -> dict[str, Any]:
    """A webhook body from the shared reference payloads."""
    return json.loads((PAYLOADS / name).read_text())  # type: ignore[no-any-return]


def text_message(body: str, *, wamid: str | None = None, phone: str | None = "2250707000001",
                 user_id: str | None = None, name: str = "Awa Kouassi") -> dict[str, Any]:
    """A one-message webhook body in Meta's shape."""
    message: dict[str, Any] = {"id": wamid or f"wamid.test.{uuid.uuid4().hex}", "timestamp": "1763712000",
                               "type": "text", "text": {"body": body}}
    contact: dict[str, Any] = {"profile": {"name": name}}
    if phone:
        message["from"] = phone
        contact["wa_id"] = phone
    if user_id:
        message["from_user_id"] = user_id
        contact["user_id"] = user_id
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [contact], "messages": [message]}}]}]}


def button_message(reply_id: str, title: str, *, phone: str = "2250707000001",
                   wamid: str | None = None) -> dict[str, Any]:
    """A reply-button press in Meta's shape."""
    body = text_message("", phone=phone, wamid=wamid)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "interactive"
    message["interactive"] = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return body
