"""Routers, the command table and the dispatcher.

A feature module builds a ``Router`` and declares its commands (French and English aliases and a
one-line help in both), the conversation steps it owns and the button/list ids it answers. The
``CommandTable`` composes routers, refusing duplicate aliases. Matching normalizes the input like
the aliases, takes the longest run of whole leading words that names a command (never a prefix of
a word), and slices the arguments from the original text so names keep their case and accents.

Dispatch order: global escapes (help, cancel) in any state; then the active conversation step;
then the command table; then a localized hint pointing to help.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from bot.text import tokenize
from integrations.whatsapp import MessageShapeError, OutgoingMessage, Text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.i18n import Catalog
    from bot.services import Services
    from storage.models import Organization, User

log = logging.getLogger(__name__)

ESCAPES: Final = ("help", "cancel")
DEFAULT_STATE_TTL = timedelta(hours=24)


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


class _Pass:
    def __repr__(self) -> str:
        return "PASS"


KEEP: Final = _Keep()
"""Result.next value: leave the conversation state as it is."""

PASS: Final = _Pass()
"""Returned by a step handler that does not handle this input: try the command table."""


class DuplicateAliasError(Exception):
    """Two commands claim the same alias or id."""


class UserError(Exception):
    """A problem to tell the user in their language (a catalog key and its parameters)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass
class State:
    """Where a user stands in a flow: flow and step names, data, language, time to live."""

    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    ttl: timedelta = DEFAULT_STATE_TTL


@dataclass
class Result:
    """What a handler produced: replies, and the next state (a State, None to end, or KEEP)."""

    replies: list[OutgoingMessage] = field(default_factory=list)
    next: State | _Keep | None = KEEP
    rollback: bool = False  # undo the handler's database changes (set for user-facing errors)


HandlerReturn = Result | OutgoingMessage | str | Sequence[OutgoingMessage | str] | _Pass | None
Handler = Callable[["Ctx"], HandlerReturn]


@dataclass
class Inbound:
    """One message from a user, reduced to what the router needs."""

    kind: str  # text | id | unsupported
    text: str = ""
    title: str | None = None
    message_type: str = "text"


@dataclass
class Ctx:
    """Everything a handler may use: who speaks, in which language, what they said, the services."""

    services: Services
    session: Session
    org: Organization
    user: User
    lang: str
    inbound: Inbound
    args: str
    state: State | None
    message_id: str
    now: datetime
    alias_lang: str | None = None

    @property
    def catalog(self) -> Catalog:
        """The message catalog."""
        return self.services.catalog

    def t(self, key: str, /, **params: Any) -> str:
        """A catalog message in the user's language."""
        return self.services.catalog.t(key, self.lang, **params)

    @property
    def is_button(self) -> bool:
        """True when the input came from a reply button or a list row."""
        return self.inbound.kind == "id"


@dataclass(frozen=True)
class Command:
    """A command: a language-neutral id, aliases and one-line help per language, a handler."""

    id: str
    aliases: Mapping[str, tuple[str, ...]]
    help: Mapping[str, str]
    handler: Handler
    admin_only: bool = False
    hidden: bool = False
    router: str = ""


class Router:
    """One feature's commands, button ids and conversation steps."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []
        self.steps: dict[tuple[str, str], Handler] = {}

    def command(
        self,
        id: str,
        *,
        fr: Sequence[str],
        en: Sequence[str],
        help_fr: str,
        help_en: str,
        admin: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare a text command with its French and English aliases and one-line help."""

        def register(fn: Handler) -> Handler:
            self.commands.append(
                Command(
                    id=id,
                    aliases={"fr": tuple(fr), "en": tuple(en)},
                    help={"fr": help_fr, "en": help_en},
                    handler=fn,
                    admin_only=admin,
                    router=self.name,
                )
            )
            return fn

        return register

    def action(self, id: str, *, admin: bool = False) -> Callable[[Handler], Handler]:
        """Declare a button or list id (``quote:send``, ``alert:important``) with no text alias."""

        def register(fn: Handler) -> Handler:
            self.commands.append(
                Command(id=id, aliases={}, help={}, handler=fn, admin_only=admin, hidden=True, router=self.name)
            )
            return fn

        return register

    def step(self, flow: str, step: str) -> Callable[[Handler], Handler]:
        """Declare the handler of one conversation step."""

        def register(fn: Handler) -> Handler:
            if (flow, step) in self.steps:
                raise DuplicateAliasError(f"step {flow}/{step} declared twice")
            self.steps[(flow, step)] = fn
            return fn

        return register


@dataclass(frozen=True)
class Match:
    """A command found in the input, the language of the alias used, the argument text."""

    command: Command
    lang: str | None
    args: str


class CommandTable:
    """All routers composed: aliases, ids and steps, checked for duplicates."""

    def __init__(self, routers: Sequence[Router]) -> None:
        self.commands: list[Command] = []
        self._aliases: dict[tuple[str, ...], tuple[Command, frozenset[str]]] = {}
        self._ids: dict[str, Command] = {}
        self._steps: dict[tuple[str, str], Handler] = {}
        self.max_words = 1
        for router in routers:
            for command in router.commands:
                self._add(command)
            for key, handler in router.steps.items():
                if key in self._steps:
                    raise DuplicateAliasError(f"step {key[0]}/{key[1]} declared by two routers")
                self._steps[key] = handler

    def _add(self, command: Command) -> None:
        if command.id in self._ids:
            raise DuplicateAliasError(f"command id {command.id!r} declared twice")
        self._ids[command.id] = command
        self.commands.append(command)
        for lang, aliases in command.aliases.items():
            for alias in aliases:
                words = tuple(t.norm for t in tokenize(alias))
                if not words:
                    raise DuplicateAliasError(f"empty alias in command {command.id!r}")
                existing = self._aliases.get(words)
                if existing and existing[0].id != command.id:
                    raise DuplicateAliasError(
                        f"alias {alias!r} of {command.id!r} is already used by {existing[0].id!r}"
                    )
                langs = existing[1] | {lang} if existing else frozenset({lang})
                self._aliases[words] = (command, langs)
                self.max_words = max(self.max_words, len(words))

    def match_text(self, text: str) -> Match | None:
        """The command named by the longest run of whole leading words, with its arguments."""
        tokens = tokenize(text)
        for n in range(min(len(tokens), self.max_words), 0, -1):
            found = self._aliases.get(tuple(t.norm for t in tokens[:n]))
            if found:
                command, langs = found
                lang = next(iter(langs)) if len(langs) == 1 else None
                return Match(command, lang, text[tokens[n - 1].end :].strip())
        return None

    def match_id(self, value: str) -> Match | None:
        """The command named by a button or list id: the longest ``:``-separated prefix."""
        parts = value.split(":")
        for n in range(len(parts), 0, -1):
            command = self._ids.get(":".join(parts[:n]))
            if command:
                return Match(command, None, ":".join(parts[n:]))
        return None

    def step(self, flow: str, step: str) -> Handler | None:
        """The handler of a conversation step, if any."""
        return self._steps.get((flow, step))

    def by_id(self, id: str) -> Command | None:
        """A command by its id."""
        return self._ids.get(id)

    def visible(self) -> list[Command]:
        """Commands shown in help, in declaration order."""
        return [c for c in self.commands if not c.hidden]


def as_result(value: HandlerReturn) -> Result:
    """Normalize whatever a handler returned into a Result."""
    if value is None:
        return Result()
    if isinstance(value, Result):
        return value
    if isinstance(value, str):
        return Result([Text(value)])
    if isinstance(value, Sequence):
        return Result([Text(v) if isinstance(v, str) else v for v in value])
    if isinstance(value, _Pass):
        raise TypeError("PASS is only meaningful from a step handler")
    return Result([value])


class Dispatcher:
    """Routes one inbound message to the right handler and turns failures into replies."""

    def __init__(self, table: CommandTable) -> None:
        self.table = table

    def resolve(self, inbound: Inbound) -> Match | None:
        """The command the input names, by text alias or by id."""
        if inbound.kind == "id":
            return self.table.match_id(inbound.text)
        if inbound.kind == "text":
            return self.table.match_text(inbound.text)
        return None

    def dispatch(self, ctx: Ctx) -> Result:
        """Run the escapes, the active step, the command table or the hint, in that order."""
        match = self.resolve(ctx.inbound)
        if match and match.lang:
            ctx.alias_lang = match.lang
            if not ctx.user.language:
                ctx.lang = match.lang
        try:
            if match and match.command.id in ESCAPES:
                return self._run(ctx, match)
            if ctx.state is not None and ctx.inbound.kind != "unsupported":
                handler = self.table.step(ctx.state.flow, ctx.state.step)
                if handler is not None:
                    ctx.args = ctx.inbound.text.strip()
                    outcome = self._call(ctx, handler)
                    if not isinstance(outcome, _Pass):
                        return as_result(outcome)
            if ctx.inbound.kind == "unsupported":
                return Result([Text(ctx.t("hint.unsupported"))])
            if match:
                return self._run(ctx, match)
            return Result([Text(ctx.t("hint.unknown"))])
        except UserError as err:
            return Result([Text(ctx.t(err.key, **err.params))], rollback=True)
        except MessageShapeError:
            log.exception("a handler built a message WhatsApp would refuse")
            return Result([Text(ctx.t("error.internal"))], rollback=True)

    def _run(self, ctx: Ctx, match: Match) -> Result:
        if match.command.admin_only and not ctx.user.is_admin:
            return Result([Text(ctx.t("error.admin_only"))])
        ctx.args = match.args
        outcome = self._call(ctx, match.command.handler)
        if isinstance(outcome, _Pass):
            return Result([Text(ctx.t("hint.unknown"))])
        return as_result(outcome)

    @staticmethod
    def _call(ctx: Ctx, handler: Handler) -> HandlerReturn:
        return handler(ctx)
