"""``courrier chat``: the sandbox in a terminal, with the worker running in this process."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import typer

from bot.sandbox import SandboxChannel
from bot.services import Services
from bot.worker import InProcessWorker
from storage.accounts import AccountError, normalize_phone
from storage.models import User

DOWNLOADS = Path("var/sandbox-downloads")


class BackgroundWorker:
    """The in-process worker on an event loop of its own thread."""

    def __init__(self, services: Services) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="courrier-chat-worker", daemon=True)
        self.worker = InProcessWorker(services)
        self._services = services

    def __enter__(self) -> BackgroundWorker:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.worker.start(), self._loop).result()
        self._services.ingest.on_stored(self.worker.notify)
        self._services.on_outbox(self.worker.notify)
        return self

    def __exit__(self, *exc: object) -> None:
        self._services.ingest.off_stored(self.worker.notify)
        self._services.off_outbox(self.worker.notify)
        asyncio.run_coroutine_threadsafe(self.worker.stop(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def render(message: dict[str, Any], channel: SandboxChannel, choices: list[tuple[str, str, bool]]) -> str:
    """A bot message as terminal text; buttons and list rows become numbered choices."""
    kind = message.get("kind")
    lines: list[str] = []
    if kind == "document":
        media = channel.media(int(message["media_id"]))
        where = ""
        if media is not None:
            DOWNLOADS.mkdir(parents=True, exist_ok=True)
            path = DOWNLOADS / Path(media.filename).name
            path.write_bytes(media.content)
            where = f" → {path}"
        lines.append(f"📄 {message.get('filename')}{where}")
        if message.get("caption"):
            lines.append(str(message["caption"]))
    elif kind == "template":
        lines.append(f"[modèle {message.get('name')}] " + " · ".join(message.get("body_params", [])))
    else:
        if message.get("header"):
            lines.append(str(message["header"]))
        lines.append(str(message.get("body", "")))
        if message.get("footer"):
            lines.append(str(message["footer"]))
    if kind == "buttons":
        for button in message["buttons"]:
            choices.append((button["id"], button["title"], False))
            lines.append(f"  [{len(choices)}] {button['title']}")
    elif kind == "list":
        lines.append(f"  ☰ {message.get('button')}")
        for section in message["sections"]:
            for row in section["rows"]:
                choices.append((row["id"], row["title"], True))
                description = f" — {row['description']}" if row.get("description") else ""
                lines.append(f"  [{len(choices)}] {row['title']}{description}")
    return "\n".join(lines)


def pick_user(channel: SandboxChannel, as_phone: str | None) -> User:
    """The user to chat as: by phone, the only one, or asked for."""
    if as_phone:
        try:
            phone = normalize_phone(as_phone)
        except AccountError as exc:
            raise typer.BadParameter(str(exc)) from None
        user = channel.user_by_phone(phone)
        if user is None:
            raise typer.BadParameter(f"no registered user with phone {phone} (see `courrier users list`)")
        return user
    users = channel.users()
    if not users:
        raise typer.BadParameter("no user yet: add one with `courrier users add PHONE --name NAME --admin`")
    if len(users) == 1:
        return channel.user(users[0].id)
    for index, option in enumerate(users, 1):
        typer.echo(f"  [{index}] {option.name} ({option.org})")
    choice = typer.prompt("Chat as", type=int, default=1)
    return channel.user(users[max(1, min(choice, len(users))) - 1].id)


def run_chat(services: Services, as_phone: str | None) -> None:
    """The read-eval-print loop; Ctrl-D or /quit ends it."""
    channel = SandboxChannel(services)
    user = pick_user(channel, as_phone)
    typer.secho(f"Vous êtes {user.name}. Tapez un message (ex. « aide »), un numéro pour un bouton, /quit pour sortir.",
                fg=typer.colors.CYAN)
    history = channel.transcript(user)
    last = history[-1]["id"] if history else 0
    choices: list[tuple[str, str, bool]] = []
    with BackgroundWorker(services):
        while True:
            try:
                text = input("vous> ").strip()
            except (EOFError, KeyboardInterrupt):
                typer.echo()
                break
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if text.isdigit() and 1 <= int(text) <= len(choices):
                reply_id, title, is_list = choices[int(text) - 1]
                channel.press(user, reply_id, title, is_list=is_list)
            else:
                channel.send_text(user, text)
            choices = []
            replies = channel.wait_for_replies(user, last)
            for message in replies:
                typer.secho("courrier> " + render(message, channel, choices), fg=typer.colors.GREEN)
                last = max(last, int(message["id"]))
            rows = channel.transcript(user, last)
            if rows:
                last = rows[-1]["id"]
