"""Probes, OpenAPI docs, and the terminal chat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Harness


def test_health_and_readiness(harness: Harness) -> None:
    assert harness.client.get("/healthz").json() == {"status": "ok"}
    ready = harness.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True and ready.json()["worker"] is True
    assert harness.client.get("/docs").status_code == 200
    assert "/webhooks/whatsapp" in harness.client.get("/openapi.json").json()["paths"]


def test_not_ready_without_a_worker(make_harness: object) -> None:
    h = make_harness(background=False)  # type: ignore[operator]
    response = h.client.get("/readyz")
    assert response.status_code == 503 and response.json()["worker"] is False


def test_terminal_chat_goes_through_the_pipeline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURRIER_")}
    env["COURRIER_DATABASE_URL"] = f"sqlite:///{tmp_path}/chat.db"
    run = lambda *args, stdin=None: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=120, check=False)
    added = run("users", "add", "+2250707000001", "--name", "Awa Kouassi", "--admin")
    assert added.returncode == 0, added.stderr
    chat = run("chat", "--as", "+225 07 07 00 00 01", stdin="aide\nlangue en\n/quit\n")
    assert chat.returncode == 0, chat.stderr
    assert "Ce que je sais faire" in chat.stdout
    assert "I'll answer in English" in chat.stdout
    unknown = run("chat", "--as", "+33699999999", stdin="aide\n")
    assert unknown.returncode != 0 and "no registered user" in unknown.stdout + unknown.stderr


@pytest.mark.parametrize("path", ["/sandbox", "/sandbox/api/users"])
def test_sandbox_is_off_when_a_whatsapp_token_is_set(harness: Harness, path: str) -> None:
    assert harness.client.get(path).status_code == 404
