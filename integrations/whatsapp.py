"""WhatsApp port: the messages Courrier sends, the errors a sender raises, the sender protocol.

Limits enforced here are the Cloud API's: text up to 4096 characters, at most 3 reply buttons
with titles up to 20 characters, list messages with at most 10 rows in total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
MAX_BUTTONS = 3
LIST_ROW_LIMIT = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
LIST_BUTTON_LIMIT = 20


class MessageShapeError(ValueError):
    """A message breaks one of WhatsApp's limits; raised when it is built, not when sent."""


@dataclass(frozen=True)
class Recipient:
    """Who receives a message: a phone number (E.164) and/or a business-scoped user id."""

    phone: str | None = None
    user_id: str | None = None

    @property
    def address(self) -> str:
        """What to put in the API call: the phone digits when known, else the BSUID."""
        if self.phone:
            return self.phone.lstrip("+")
        if self.user_id:
            return self.user_id
        raise MessageShapeError("a recipient needs a phone number or a WhatsApp user id")


@dataclass(frozen=True)
class Text:
    """A plain text message (split on line boundaries when over 4096 characters)."""

    body: str

    kind = "text"


@dataclass(frozen=True)
class Button:
    """A reply button: a language-neutral id and a short title."""

    id: str
    title: str

    def __post_init__(self) -> None:
        if not self.title or len(self.title) > BUTTON_TITLE_LIMIT:
            raise MessageShapeError(f"button titles are 1 to {BUTTON_TITLE_LIMIT} characters: {self.title!r}")
        if not self.id or len(self.id) > 256:
            raise MessageShapeError("button ids are 1 to 256 characters")


@dataclass(frozen=True)
class Buttons:
    """A text with up to three reply buttons."""

    body: str
    buttons: tuple[Button, ...]
    header: str | None = None
    footer: str | None = None

    kind = "buttons"

    def __post_init__(self) -> None:
        if not 1 <= len(self.buttons) <= MAX_BUTTONS:
            raise MessageShapeError(f"1 to {MAX_BUTTONS} reply buttons, got {len(self.buttons)}")
        if len(self.body) > INTERACTIVE_BODY_LIMIT:
            raise MessageShapeError(f"interactive bodies are at most {INTERACTIVE_BODY_LIMIT} characters")
        if len({b.id for b in self.buttons}) != len(self.buttons):
            raise MessageShapeError("button ids must be distinct")


@dataclass(frozen=True)
class Row:
    """One choice in a list message."""

    id: str
    title: str
    description: str | None = None

    def __post_init__(self) -> None:
        if not self.title or len(self.title) > ROW_TITLE_LIMIT:
            raise MessageShapeError(f"list row titles are 1 to {ROW_TITLE_LIMIT} characters: {self.title!r}")
        if self.description and len(self.description) > ROW_DESCRIPTION_LIMIT:
            raise MessageShapeError(f"list row descriptions are at most {ROW_DESCRIPTION_LIMIT} characters")


@dataclass(frozen=True)
class Section:
    """A titled group of rows in a list message."""

    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class ListMessage:
    """A text with a button that opens a list of up to ten choices."""

    body: str
    button: str
    sections: tuple[Section, ...]
    header: str | None = None
    footer: str | None = None

    kind = "list"

    def __post_init__(self) -> None:
        rows = [r for s in self.sections for r in s.rows]
        if not 1 <= len(rows) <= LIST_ROW_LIMIT:
            raise MessageShapeError(f"1 to {LIST_ROW_LIMIT} list rows in total, got {len(rows)}")
        if len({r.id for r in rows}) != len(rows):
            raise MessageShapeError("list row ids must be distinct")
        if not self.button or len(self.button) > LIST_BUTTON_LIMIT:
            raise MessageShapeError(f"the list button label is 1 to {LIST_BUTTON_LIMIT} characters")
        if len(self.body) > INTERACTIVE_BODY_LIMIT:
            raise MessageShapeError(f"interactive bodies are at most {INTERACTIVE_BODY_LIMIT} characters")


@dataclass(frozen=True)
class Document:
    """A file sent as a document: uploaded as media, then sent by id with its file name."""

    filename: str
    content: bytes = field(repr=False)
    mime_type: str = "application/pdf"
    caption: str | None = None

    kind = "document"


@dataclass(frozen=True)
class Template:
    """An approved template message, the only kind allowed outside the 24-hour window."""

    name: str
    language: str
    body_params: tuple[str, ...] = ()

    kind = "template"


OutgoingMessage = Text | Buttons | ListMessage | Document | Template


def split_text(body: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split a long text on line boundaries into chunks of at most ``limit`` characters."""
    if len(body) <= limit:
        return [body]
    chunks: list[str] = []
    current = ""
    for line in body.split("\n"):
        while len(line) > limit:  # a single line longer than the limit: cut it on a space if possible
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [body[:limit]]


# ---- errors a sender raises (provider errors are translated at the adapter) ----


class WhatsAppSendError(Exception):
    """A message could not be sent."""

    def __init__(self, message: str, *, code: int | None = None, title: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.title = title


class WindowClosed(WhatsAppSendError):
    """The 24-hour customer service window is closed: only a template can be sent (131047)."""


class RateLimited(WhatsAppSendError):
    """Too many messages (130429 throughput, 131056 pair rate); try again later."""

    def __init__(self, message: str, *, code: int | None = None, title: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code=code, title=title)
        self.retry_after = retry_after


class WhatsAppAuthError(WhatsAppSendError):
    """The access token is expired or invalid (190): nothing can be sent until it is replaced."""


class Undeliverable(WhatsAppSendError):
    """The message can never be delivered to this recipient (131026 and other final errors)."""


class TransientError(WhatsAppSendError):
    """A network error or a server-side failure before the request was taken: retry with backoff."""


class AmbiguousSend(WhatsAppSendError):
    """The request may have reached WhatsApp (timeout or reset after sending): the outcome is unknown.

    Resending at once could deliver twice; the sender waits for a status webhook carrying the
    message's tracker before deciding.
    """


class WhatsAppSender(Protocol):
    """Sends one message and returns the provider's message id."""

    async def send(self, to: Recipient, message: OutgoingMessage, tracker: str | None = None) -> str:
        """Send a message; ``tracker`` comes back in its status webhooks. Raises the errors above."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def message_to_payload(message: OutgoingMessage) -> dict[str, Any]:
    """Serialize a message for the outbox (documents are stored separately, by media id)."""
    if isinstance(message, Text):
        return {"body": message.body}
    if isinstance(message, Buttons):
        return {
            "body": message.body,
            "header": message.header,
            "footer": message.footer,
            "buttons": [{"id": b.id, "title": b.title} for b in message.buttons],
        }
    if isinstance(message, ListMessage):
        return {
            "body": message.body,
            "button": message.button,
            "header": message.header,
            "footer": message.footer,
            "sections": [
                {
                    "title": s.title,
                    "rows": [{"id": r.id, "title": r.title, "description": r.description} for r in s.rows],
                }
                for s in message.sections
            ],
        }
    if isinstance(message, Template):
        return {"name": message.name, "language": message.language, "body_params": list(message.body_params)}
    return {"filename": message.filename, "mime_type": message.mime_type, "caption": message.caption}


def payload_to_message(kind: str, payload: dict[str, Any], content: bytes | None = None) -> OutgoingMessage:
    """Rebuild a message from its outbox payload (the inverse of ``message_to_payload``)."""
    if kind == "text":
        return Text(payload["body"])
    if kind == "buttons":
        return Buttons(
            body=payload["body"],
            buttons=tuple(Button(b["id"], b["title"]) for b in payload["buttons"]),
            header=payload.get("header"),
            footer=payload.get("footer"),
        )
    if kind == "list":
        return ListMessage(
            body=payload["body"],
            button=payload["button"],
            header=payload.get("header"),
            footer=payload.get("footer"),
            sections=tuple(
                Section(s["title"], tuple(Row(r["id"], r["title"], r.get("description")) for r in s["rows"]))
                for s in payload["sections"]
            ),
        )
    if kind == "template":
        return Template(payload["name"], payload["language"], tuple(payload.get("body_params", ())))
    if kind == "document":
        return Document(
            filename=payload["filename"],
            content=content or b"",
            mime_type=payload.get("mime_type", "application/pdf"),
            caption=payload.get("caption"),
        )
    raise ValueError(f"unknown outbox message kind {kind!r}")
