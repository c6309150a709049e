"""The sandbox: a local stand-in for WhatsApp, as a web chat page and a terminal chat.

What the user types is wrapped in the exact JSON Meta would post and handed to the same
``Ingest.receive`` the webhook uses, so parsing, storage, dedup and routing are the real ones.
Replies are what the sandbox sender recorded in the transcript.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from bot.services import Services
from bot.web import get_services
from integrations.whatsapp import Recipient
from storage.models import Organization, SandboxMedia, SandboxMessage, User

SANDBOX_PHONE_NUMBER_ID = "sandbox"


@dataclass(frozen=True)
class SandboxUser:
    """A registered user as the sandbox shows them."""

    id: int
    name: str
    org: str
    role: str
    key: str


def user_key(user: User) -> str:
    """The transcript key of a user: what the sender addresses them by."""
    return Recipient(user.phone, user.wa_user_id).address


class SandboxChannel:
    """Injects messages as a user and reads the bot's answers from the transcript."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def users(self) -> list[SandboxUser]:
        """Every active user, with the organization name."""
        with self._services.db.session() as session:
            rows = session.execute(
                select(User, Organization.name).join(Organization, Organization.id == User.org_id)
                .where(User.active.is_(True)).order_by(User.org_id, User.id)
            ).all()
            return [SandboxUser(u.id, u.name, org, u.role, user_key(u)) for u, org in rows]

    def user(self, user_id: int) -> User:
        """A user by id (detached)."""
        with self._services.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise LookupError(f"no user {user_id}")
            session.expunge(user)
            return user

    def user_by_phone(self, phone: str) -> User | None:
        """A user by E.164 phone."""
        with self._services.db.session() as session:
            user = session.scalars(select(User).where(User.phone == phone)).first()
            if user is not None:
                session.expunge(user)
            return user

    def _inject(self, user: User, message: dict[str, Any], shown: dict[str, Any]) -> str:
        wamid = f"wamid.sandbox.in.{uuid.uuid4().hex}"
        message = {"id": wamid, "timestamp": str(int(self._services.clock.now().timestamp())), **message}
        contact: dict[str, Any] = {"profile": {"name": user.name}}
        if user.phone:
            message["from"] = user.phone.lstrip("+")
            contact["wa_id"] = user.phone.lstrip("+")
        if user.wa_user_id:
            message["from_user_id"] = user.wa_user_id
            contact["user_id"] = user.wa_user_id
        if user.username:
            contact["username"] = user.username
        body = {
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "sandbox",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "sandbox", "phone_number_id": SANDBOX_PHONE_NUMBER_ID},
                        "contacts": [contact],
                        "messages": [message],
                    },
                }],
            }],
        }
        with self._services.db.write() as session:
            session.add(SandboxMessage(
                user_key=user_key(user), direction="in", wa_message_id=wamid, payload=shown,
                created_at=self._services.clock.now(),
            ))
        self._services.ingest.receive(json.dumps(body).encode())
        return wamid

    def send_text(self, user: User, text: str) -> str:
        """The user types ``text``."""
        return self._inject(user, {"type": "text", "text": {"body": text}}, {"kind": "text", "body": text})

    def press(self, user: User, reply_id: str, title: str, *, is_list: bool = False) -> str:
        """The user taps a reply button or picks a list row."""
        kind = "list_reply" if is_list else "button_reply"
        return self._inject(
            user,
            {"type": "interactive", "interactive": {"type": kind, kind: {"id": reply_id, "title": title}}},
            {"kind": "press", "body": title, "id": reply_id},
        )

    def transcript(self, user: User, after: int = 0) -> list[dict[str, Any]]:
        """Messages in both directions after transcript id ``after``."""
        with self._services.db.session() as session:
            rows = session.scalars(
                select(SandboxMessage)
                .where(SandboxMessage.user_key == user_key(user), SandboxMessage.id > after)
                .order_by(SandboxMessage.id)
            ).all()
            return [
                {"id": r.id, "direction": r.direction, "at": r.created_at.isoformat(), **r.payload} for r in rows
            ]

    def wait_for_replies(self, user: User, after: int, timeout: float = 10.0, settle: float = 0.4) -> list[dict[str, Any]]:
        """Poll the transcript until bot messages arrive after ``after`` and stop coming."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            rows = [r for r in self.transcript(user, after) if r["direction"] == "out"]
            if len(rows) != len(seen):
                seen, last_change = rows, time.monotonic()
            elif seen and time.monotonic() - last_change >= settle:
                break
            time.sleep(0.05)
        return seen

    def media(self, media_id: int) -> SandboxMedia | None:
        """A document the bot sent."""
        with self._services.db.session() as session:
            media = session.get(SandboxMedia, media_id)
            if media is not None:
                session.expunge(media)
            return media


# ---------------------------------------------------------------- web routes

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


class SendBody(BaseModel):
    """What the sandbox page posts: a text, or a pressed button / list row."""

    user_id: int
    text: str | None = Field(default=None, max_length=4096)
    reply_id: str | None = Field(default=None, max_length=256)
    reply_title: str | None = Field(default=None, max_length=72)
    is_list: bool = False


def _channel(request: Request) -> SandboxChannel:
    return SandboxChannel(get_services(request))


@router.get("", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The WhatsApp-like chat page."""
    services = get_services(request)
    env = Environment(
        loader=FileSystemLoader(services.settings.templates_dir / "web"), autoescape=select_autoescape()
    )
    return HTMLResponse(env.get_template("sandbox.html").render())


@router.get("/api/users")
async def users(request: Request) -> list[dict[str, Any]]:
    """The users one can chat as."""
    rows = await run_in_threadpool(_channel(request).users)
    return [{"id": u.id, "name": u.name, "org": u.org, "role": u.role} for u in rows]


@router.get("/api/messages")
async def messages(request: Request, user_id: int, after: int = 0) -> list[dict[str, Any]]:
    """The transcript of one user after a given id."""
    channel = _channel(request)
    try:
        user = await run_in_threadpool(channel.user, user_id)
    except LookupError:
        raise HTTPException(404, "unknown user") from None
    return await run_in_threadpool(channel.transcript, user, after)


@router.post("/api/send")
async def send(request: Request, body: SendBody) -> dict[str, str]:
    """Inject a message as a user, through the webhook's own pipeline."""
    channel = _channel(request)
    try:
        user = await run_in_threadpool(channel.user, body.user_id)
    except LookupError:
        raise HTTPException(404, "unknown user") from None
    if body.reply_id:
        wamid = await run_in_threadpool(
            channel.press, user, body.reply_id, body.reply_title or body.reply_id, is_list=body.is_list
        )
    elif body.text and body.text.strip():
        wamid = await run_in_threadpool(channel.send_text, user, body.text)
    else:
        raise HTTPException(422, "send a text or a reply id")
    return {"wamid": wamid}


@router.get("/media/{media_id}")
async def media(request: Request, media_id: int) -> Response:
    """A document the bot sent, to open in the browser."""
    item = await run_in_threadpool(_channel(request).media, media_id)
    if item is None:
        raise HTTPException(404, "unknown document")
    safe_name = item.filename.replace('"', "")
    return Response(
        item.content, media_type=item.mime_type,
        headers={"Content-Disposition": f'inline; filename="{safe_name}"'},
    )
