"""The chat side of quotes, contracts and clients: commands, questions, buttons.

A draft lives in the conversation state (in the database, with an expiry) until every variable
is known; then a numbered document is created and its preview rendered in the background. From
then on buttons carry the document id, so they keep working even after the state expired.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.router import KEEP, PASS, Ctx, HandlerReturn, Result, Router, State
from bot.text import fold
from handlers.quotes.clients import (
    ClientFields,
    create_client,
    find_clients,
    summarize,
    update_client,
)
from handlers.quotes.documents import Formatter
from handlers.quotes.parsing import (
    Invalid,
    client_query,
    find_number,
    parse_amount,
    parse_date,
    parse_email,
    parse_lines,
    parse_steps,
)
from handlers.quotes.service import FLOW, QuoteService, fill_defaults, missing_fields, shorten
from handlers.quotes.settings import COMPLEXITIES, MISSION_TYPES, SettingsProblem, load_settings
from integrations.whatsapp import Button, Buttons, ListMessage, OutgoingMessage, Row, Section, Text
from storage.quotes import (
    Client,
    Quote,
    count_clients,
    get_client,
    get_quote,
    latest_draft_for,
    quote_by_number,
    recent_quotes,
)

router = Router("quotes")

CHOICE_WORDS = {
    "mission_type": {"audit": "audit", "automatisation": "automation", "automation": "automation",
                     "auto": "automation"},
    "complexity": {"simple": "simple", "intermediaire": "intermediate", "intermediate": "intermediate",
                   "moyen": "intermediate", "medium": "intermediate", "expert": "expert", "complexe": "expert"},
    "language": {"fr": "fr", "francais": "fr", "french": "fr", "en": "en", "anglais": "en", "english": "en"},
}
CHOICES = {"mission_type": MISSION_TYPES, "complexity": COMPLEXITIES, "language": ("fr", "en")}
EDIT_FIELDS = {
    "quote": ("mission_context", "workflow_steps", "budget", "deadline", "lines", "project", "validity", "email",
              "language"),
    "contract": ("mission_type", "complexity", "mission_context", "city", "deadline", "project", "email",
                 "language"),
}
STRUCTURED = {"budget", "deadline", "email", "lines", "validity", "workflow_steps", "mission_type", "complexity",
              "language"}
CLIENT_FORM = ("name", "company", "email", "phone", "city", "project_type", "mission_context")
CLIENT_INLINE = ("email", "city")
SEND_WORDS = {"envoyer", "envoie", "envoi", "send", "ok", "oui", "yes", "go"}
EDIT_WORDS = {"modifier", "modif", "edit", "change", "changer"}


def svc(ctx: Ctx) -> QuoteService:
    """The quote service."""
    return ctx.services.get(QuoteService)


def state(ctx: Ctx, step: str, data: dict[str, Any]) -> State:
    """The next conversation state of this flow, with the drafts' expiry."""
    return State(FLOW, step, data, ttl=timedelta(hours=ctx.services.settings.quote_draft_hours))


def draft_of(ctx: Ctx) -> dict[str, Any] | None:
    """The draft in the conversation state, if the user is in this flow."""
    if ctx.state is None or ctx.state.flow != FLOW:
        return None
    # A deep copy: the state's nested dicts are shared with the loaded row, and changing them in
    # place would make the saved JSON compare equal to the old one (and never be written).
    return copy.deepcopy(ctx.state.data)


def explain(ctx: Ctx, exc: Invalid) -> str:
    """A parse or validation error in the user's language."""
    return ctx.t(exc.key, **exc.params)


def defer_to_command(ctx: Ctx, mode: str) -> bool:
    """True when an answer is really another command (then the command runs and the draft waits).

    ``structured`` answers (amounts, dates, emails, choices) that failed to parse defer to any
    command; ``free`` text only to a bare command (``statut``, ``devis liste``): a mission
    context may well start with "Devis et factures…"; a client ``name`` defers to a command with
    a few words of arguments unless it reads like ``client X``.
    """
    match = ctx.services.commands.match_text(ctx.inbound.text)
    if match is None:
        return False
    if mode == "structured" or not match.args:
        return True
    if mode == "name":
        return len(match.args.split()) <= 3 and not match.command.id.startswith("client.")
    return False


def int_args(text: str, count: int) -> list[int] | None:
    """``12:3`` → [12, 3]; None when malformed."""
    parts = text.split(":")
    if len(parts) < count:
        return None
    try:
        return [int(p) for p in parts[:count]]
    except ValueError:
        return None


def owned_quote(ctx: Ctx, quote_id: int) -> Quote:
    """A document of the user's organization, or a clear error."""
    quote = get_quote(ctx.session, ctx.org.id, quote_id)
    if quote is None:
        raise Invalid("quotes.error.unknown")
    return quote


def kind_label(ctx: Ctx, kind: str) -> str:
    """``le devis`` / ``the quote``."""
    return ctx.t(f"quotes.kind.{kind}")


# ================================================================== starting a document


def start(ctx: Ctx, kind: str, *, send_intent: bool) -> HandlerReturn:
    """``devis [client]``, ``envoie le devis à Dupont``, ``contrat [client]``, ``devis DEV-2026-0001``."""
    number = find_number(ctx.args)
    if number:
        return reopen(ctx, number)
    draft: dict[str, Any] = {"kind": kind, "values": {}, "client_id": None, "send_intent": send_intent}
    query = client_query(ctx.args)
    if not query:
        return Result([Text(ctx.t("quotes.ask.client", kind=kind_label(ctx, kind)))], next=state(ctx, "client", draft))
    return resolve_client(ctx, draft, query)


@router.command("quote.new", fr=("devis", "nouveau devis", "faire un devis"), en=("quote", "new quote"),
                help_fr="préparer un devis : *devis Dupont* (ou *devis DEV-2026-0001* pour le revoir)",
                help_en="prepare a quote: *quote Dupont* (or *quote DEV-2026-0001* to see it again)")
def quote_new(ctx: Ctx) -> HandlerReturn:
    """Start a quote."""
    return start(ctx, "quote", send_intent=False)


@router.command("quote.send", fr=("envoie le devis", "envoyer le devis", "envoie un devis", "envoyer un devis"),
                en=("send quote", "send the quote", "send a quote"),
                help_fr="*envoie le devis à Dupont* : reprend le brouillon ou en prépare un",
                help_en="*send quote to Dupont*: picks up the draft or prepares one")
def quote_send(ctx: Ctx) -> HandlerReturn:
    """Send a quote: the client's current draft if there is one, else a new one."""
    return start(ctx, "quote", send_intent=True)


@router.command("contract.new", fr=("contrat", "nouveau contrat"), en=("contract", "new contract"),
                help_fr="préparer un contrat de prestation : *contrat Dupont*",
                help_en="prepare a service agreement: *contract Dupont*")
def contract_new(ctx: Ctx) -> HandlerReturn:
    """Start a contract."""
    return start(ctx, "contract", send_intent=False)


@router.command("contract.send", fr=("envoie le contrat", "envoyer le contrat"),
                en=("send contract", "send the contract"),
                help_fr="*envoie le contrat à Dupont* : reprend le brouillon ou en prépare un",
                help_en="*send contract to Dupont*: picks up the draft or prepares one")
def contract_send(ctx: Ctx) -> HandlerReturn:
    """Send a contract: the client's current draft if there is one, else a new one."""
    return start(ctx, "contract", send_intent=True)


def client_rows(ctx: Ctx, clients: list[Client], query: str) -> ListMessage:
    """A list to choose among clients, with a row to create a new one."""
    rows = []
    for client in clients[:9]:
        details = ", ".join(filter(None, (client.company if client.company != client.name else "", client.city,
                                          client.email or "")))
        rows.append(Row(f"quote:client:{client.id}", shorten(client.name, 24),
                        shorten(details, 72) or None))
    rows.append(Row("quote:newclient", shorten(ctx.t("quotes.client.create_row"), 24),
                    shorten(query, 72) or None))
    return ListMessage(body=ctx.t("quotes.client.several", name=query), button=ctx.t("quotes.client.choose"),
                       sections=(Section(shorten(ctx.t("quotes.client.section"), 24), tuple(rows)),))


def resolve_client(ctx: Ctx, draft: dict[str, Any], query: str) -> HandlerReturn:
    """Find the client by name: one → go on; several → a list; none → offer to create it."""
    lookup = find_clients(ctx.session, ctx.org.id, query)
    draft["query"] = query
    if len(lookup.matches) == 1:
        return with_client(ctx, draft, lookup.matches[0])
    if lookup.matches:
        return Result([client_rows(ctx, lookup.matches, query)], next=state(ctx, "pick", draft))
    if lookup.suggestions:
        message = client_rows(ctx, lookup.suggestions, query)
        message = ListMessage(ctx.t("quotes.client.suggest", name=query), message.button, message.sections)
        return Result([message], next=state(ctx, "pick", draft))
    return Result([Buttons(ctx.t("quotes.client.none", name=query), (
        Button("quote:newclient", ctx.t("quotes.button.create_client")),
        Button("quote:abort", ctx.t("quotes.button.cancel")),
    ))], next=state(ctx, "pick", draft))


def with_client(ctx: Ctx, draft: dict[str, Any], client: Client) -> HandlerReturn:
    """The client is known: reopen their draft (when asked to send) or ask what is missing."""
    kind = draft["kind"]
    if draft.get("send_intent"):
        existing = latest_draft_for(ctx.session, ctx.org.id, kind, client.id)
        if existing is not None:
            return show_preview(ctx, existing, note=ctx.t("quotes.preview.existing", number=existing.number))
    draft["client_id"] = client.id
    try:
        settings = load_settings(ctx.org)
    except SettingsProblem as exc:
        return Result([Text(ctx.t("quotes.error.settings", reason=str(exc)))], next=None)
    draft["values"] = fill_defaults(kind, draft.get("values") or {}, client, settings, svc(ctx).today(ctx.user))
    return ask_next(ctx, draft)


def current_client(ctx: Ctx, draft: dict[str, Any]) -> Client:
    """The draft's client, or a clear error when it disappeared."""
    client = get_client(ctx.session, ctx.org.id, int(draft["client_id"])) if draft.get("client_id") else None
    if client is None:
        raise Invalid("quotes.error.client_gone")
    return client


def ask_next(ctx: Ctx, draft: dict[str, Any]) -> HandlerReturn:
    """Ask the first missing variable, or create the document and render its preview."""
    client = current_client(ctx, draft)
    missing = missing_fields(draft["kind"], draft["values"])
    if not missing:
        return finish(ctx, draft, client)
    field = missing[0]
    return Result([question(ctx, draft["kind"], field, client.name)], next=state(ctx, field, draft))


def question(ctx: Ctx, kind: str, field: str, client: str, quote_id: int | None = None) -> OutgoingMessage:
    """The question for one variable (buttons where there is a choice)."""
    if field in CHOICES:
        prefix = f"quote:set:{quote_id}:{field}" if quote_id is not None else f"quote:{field}"
        body = ctx.t(f"quotes.ask.{field}", client=client, kind=kind_label(ctx, kind))
        if field == "complexity":
            settings = load_settings(ctx.org)
            fmt = Formatter(ctx.lang, settings.currency)
            grid = "\n".join("• " + ctx.t("clients.field_line", label=ctx.t(f"quotes.complexity.{c}"),
                                           value=fmt.money(settings.complexity_prices[c])) for c in COMPLEXITIES)
            body = f"{body}\n{grid}"
        buttons = tuple(Button(f"{prefix}:{value}", ctx.t(f"quotes.choice.{field}.{value}"))
                        for value in CHOICES[field])
        return Buttons(body, buttons)
    return Text(ctx.t(f"quotes.ask.{field}", client=client, kind=kind_label(ctx, kind)))


def parse_field(ctx: Ctx, field: str, text: str) -> dict[str, Any]:
    """Read an answer for one variable; returns the changes to apply (JSON-safe values)."""
    text = text.strip()
    today = svc(ctx).today(ctx.user)
    if field in CHOICES:
        value = CHOICE_WORDS[field].get(fold(text).strip(" .!"))
        if value is None:
            raise Invalid("quotes.invalid.choice")
        return {field: value}
    if field == "mission_context":
        if not text or len(text) > 4000:
            raise Invalid("quotes.invalid.text")
        return {field: text}
    if field in ("city", "project"):
        if not text or len(text) > 120:
            raise Invalid("quotes.invalid.text")
        return {field: text}
    if field == "workflow_steps":
        return {field: parse_steps(text)}
    if field == "budget":
        return {field: str(parse_amount(text, ctx.lang))}
    if field == "deadline":
        return {field: parse_date(text, today).isoformat()}
    if field == "email":
        return {field: parse_email(text)}
    if field == "lines":
        if fold(text) in ("aucune", "aucun", "none", "no", "non"):
            return {"lines": None}
        settings = load_settings(ctx.org)
        items = parse_lines(text, ctx.lang, settings.vat_rate)
        return {"lines": [item.as_json() for item in items]}
    if field == "validity":
        digits = fold(text).replace("jours", "").replace("days", "").replace("j", "").strip()
        if digits.isdigit() and 1 <= int(digits) <= 365:
            return {"validity_days": int(digits), "valid_until": None}
        return {"valid_until": parse_date(text, today).isoformat()}
    raise Invalid("quotes.invalid.text")


def finish(ctx: Ctx, draft: dict[str, Any], client: Client) -> HandlerReturn:
    """Create the numbered draft and ask for its preview (rendered after this transaction)."""
    service = svc(ctx)
    try:
        quote = service.create_document(ctx.session, ctx.org, kind=draft["kind"], client=client,
                                        values=draft["values"], lang=ctx.lang, user_id=ctx.user.id,
                                        today=service.today(ctx.user))
    except SettingsProblem as exc:
        return Result([Text(ctx.t("quotes.error.settings", reason=str(exc)))])
    city = draft["values"].get("city")
    if draft["kind"] == "contract" and city and not client.city:
        update_client(ctx.session, client, {"city": city}, ctx.now)  # asked once, remembered
    service.request_job(ctx.session, quote, "render", user_id=ctx.user.id, lang=ctx.lang)
    return Result([], next=state(ctx, "preview", {"quote_id": quote.id}))


def answer_step(ctx: Ctx) -> HandlerReturn:
    """A typed answer to the current question."""
    if ctx.is_button:
        return PASS
    draft = draft_of(ctx)
    assert draft is not None and ctx.state is not None
    field = ctx.state.step
    structured = field in STRUCTURED
    if not structured and defer_to_command(ctx, "free"):
        return PASS
    try:
        changes = parse_field(ctx, field, ctx.inbound.text)
    except Invalid as exc:
        if structured and defer_to_command(ctx, "structured"):
            return PASS
        return Result([Text(f"{explain(ctx, exc)}\n{ctx.t('quotes.hint.cancel')}")])
    draft["values"].update(changes)
    return ask_next(ctx, draft)


for _field in ("mission_context", "workflow_steps", "budget", "deadline", "mission_type", "complexity", "city"):
    router.step(FLOW, _field)(answer_step)


@router.step(FLOW, "client")
def client_step(ctx: Ctx) -> HandlerReturn:
    """The client's name, typed."""
    if ctx.is_button or defer_to_command(ctx, "name"):
        return PASS
    draft = draft_of(ctx)
    assert draft is not None
    query = client_query(ctx.inbound.text)
    if not query:
        return Result([Text(ctx.t("quotes.ask.client", kind=kind_label(ctx, draft["kind"])))])
    return resolve_client(ctx, draft, query)


@router.step(FLOW, "pick")
def pick_step(ctx: Ctx) -> HandlerReturn:
    """While a client list is shown, a typed name searches again."""
    return client_step(ctx)


def choice_action(field: str) -> Any:
    """The handler of a choice button during the questions (``quote:mission_type:audit``)."""

    def handler(ctx: Ctx) -> HandlerReturn:
        draft = draft_of(ctx)
        if draft is None or "values" not in draft or draft.get("client_id") is None:
            return Result([Text(ctx.t("quotes.error.expired"))])
        if ctx.args not in CHOICES[field]:
            return Result([Text(ctx.t("quotes.invalid.choice"))])
        draft["values"][field] = ctx.args
        return ask_next(ctx, draft)

    return handler


router.action("quote:mission_type")(choice_action("mission_type"))
router.action("quote:complexity")(choice_action("complexity"))


@router.action("quote:client")
def pick_client(ctx: Ctx) -> HandlerReturn:
    """A client chosen from the list."""
    draft = draft_of(ctx)
    if draft is None or "kind" not in draft or draft.get("kind") is None:
        return Result([Text(ctx.t("quotes.error.expired"))])
    ids = int_args(ctx.args, 1)
    client = get_client(ctx.session, ctx.org.id, ids[0]) if ids else None
    if client is None:
        return Result([Text(ctx.t("quotes.error.client_gone"))])
    return with_client(ctx, draft, client)


@router.action("quote:abort")
def abort(ctx: Ctx) -> HandlerReturn:
    """Drop the draft being prepared."""
    return Result([Text(ctx.t("cancel.done"))], next=None)


# ================================================================== clients


def ask_client_field(ctx: Ctx, data: dict[str, Any]) -> HandlerReturn:
    """The next question of the client form, or save the client."""
    form = data["client_form"]
    remaining = [f for f in form["fields"] if f not in form["values"]]
    if not remaining:
        return save_client(ctx, data)
    field = remaining[0]
    body = ctx.t(f"clients.ask.{field}", name=form["values"].get("name", ""))
    if field == "name":
        return Result([Text(body)], next=state(ctx, f"client_{field}", data))
    message = Buttons(body, (Button("client:skip", ctx.t("quotes.button.skip")),))
    return Result([message], next=state(ctx, f"client_{field}", data))


def save_client(ctx: Ctx, data: dict[str, Any]) -> HandlerReturn:
    """Create the client; then go back to the document being prepared, if any."""
    form = data.pop("client_form")
    values: dict[str, Any] = {f: form["values"].get(f) or ("" if f not in ("email", "phone") else None)
                              for f in CLIENT_FORM}
    fields = ClientFields(**values)
    try:
        client = create_client(ctx.session, ctx.org.id, fields, ctx.now)
    except Invalid as exc:
        if data.get("kind") is None:
            return Result([Text(explain(ctx, exc))], next=None)
        existing = find_clients(ctx.session, ctx.org.id, fields.name).matches
        if not existing:
            return Result([Text(explain(ctx, exc))], next=None)
        client = existing[0]
    saved = Text(ctx.t("clients.saved", name=client.display_name))
    if data.get("kind") is None:
        return Result([saved, Text(ctx.t("clients.saved_hint", name=client.name))], next=None)
    outcome = with_client(ctx, data, client)
    result = outcome if isinstance(outcome, Result) else Result([])
    return Result([saved, *result.replies], next=result.next)


@router.command("client.add", fr=("client ajouter", "ajouter client", "ajouter un client", "nouveau client"),
                en=("client add", "add client", "add a client", "new client"),
                help_fr="ajouter un client ou prospect : *client ajouter Dupont*",
                help_en="add a client or prospect: *client add Dupont*")
def client_add(ctx: Ctx) -> HandlerReturn:
    """Start the guided client form."""
    values: dict[str, Any] = {}
    name = ctx.args.strip()
    if name:
        values["name"] = name[:200]
    data = {"kind": None, "client_form": {"fields": list(CLIENT_FORM), "values": values}}
    return ask_client_field(ctx, data)


@router.action("quote:newclient")
def new_client_inline(ctx: Ctx) -> HandlerReturn:
    """Create the client the user named, asking only for email and city, then resume the document."""
    draft = draft_of(ctx)
    if draft is None or draft.get("kind") is None:
        return Result([Text(ctx.t("quotes.error.expired"))])
    name = draft.get("query") or ""
    fields = list(CLIENT_INLINE) if name else ["name", *CLIENT_INLINE]
    draft["client_form"] = {"fields": fields, "values": {"name": name} if name else {}}
    return ask_client_field(ctx, draft)


def client_form_step(ctx: Ctx) -> HandlerReturn:
    """An answer in the client form."""
    if ctx.is_button:
        return PASS
    data = draft_of(ctx)
    assert data is not None and ctx.state is not None
    field = ctx.state.step.removeprefix("client_")
    if defer_to_command(ctx, "name" if field == "name" else "free"):
        return PASS
    from handlers.quotes.clients import clean_field

    try:
        value = clean_field(field, ctx.inbound.text)
    except Invalid as exc:
        return Result([Text(f"{explain(ctx, exc)}\n{ctx.t('quotes.hint.cancel')}")])
    data["client_form"]["values"][field] = value
    return ask_client_field(ctx, data)


for _field in CLIENT_FORM:
    router.step(FLOW, f"client_{_field}")(client_form_step)


@router.action("client:skip")
def client_skip(ctx: Ctx) -> HandlerReturn:
    """Leave an optional client field empty."""
    data = draft_of(ctx)
    if data is None or "client_form" not in data or ctx.state is None:
        return Result([Text(ctx.t("quotes.error.expired"))])
    field = ctx.state.step.removeprefix("client_")
    if field == "name":
        return Result([Text(ctx.t("clients.invalid.name"))])
    data["client_form"]["values"][field] = ""
    return ask_client_field(ctx, data)


@router.command("client.list", fr=("clients", "client liste", "liste des clients"), en=("clients", "client list"),
                help_fr="vos clients et prospects", help_en="your clients and prospects")
def client_list(ctx: Ctx) -> HandlerReturn:
    """The organization's clients (the first 20)."""
    from storage.quotes import clients_of

    total = count_clients(ctx.session, ctx.org.id)
    if not total:
        return Text(ctx.t("clients.none"))
    lines = [ctx.t("clients.list_title", count=total), *summarize(clients_of(ctx.session, ctx.org.id, limit=20))]
    if total > 20:
        lines.append(ctx.t("clients.list_more", count=total - 20))
    return Text("\n".join(lines))


@router.command("client.show", fr=("client", "fiche client"), en=("client", "client info"),
                help_fr="la fiche d'un client : *client Dupont*", help_en="a client's details: *client Dupont*")
def client_show(ctx: Ctx) -> HandlerReturn:
    """A client's details, found by a forgiving name."""
    query = client_query(ctx.args)
    if not query:
        return Text(ctx.t("clients.show_usage"))
    lookup = find_clients(ctx.session, ctx.org.id, query)
    if not lookup.matches:
        return Text(ctx.t("clients.not_found", name=query))
    if len(lookup.matches) > 1:
        return Text("\n".join([ctx.t("clients.several", name=query), *summarize(lookup.matches[:10])]))
    client = lookup.matches[0]
    lines = [f"*{client.display_name}*"]
    for field in ("email", "phone", "city", "project_type", "mission_context"):
        value = getattr(client, field)
        if value:
            lines.append(ctx.t("clients.field_line", label=ctx.t(f"clients.field.{field}"), value=value))
    return Text("\n".join(lines))


# ================================================================== preview, edit, send


def show_preview(ctx: Ctx, quote: Quote, note: str | None = None) -> Result:
    """Show a draft's preview now (PDF already rendered) or once rendered."""
    next_state = state(ctx, "preview", {"quote_id": quote.id})
    if quote.pdf_fresh and quote.job is None:
        return Result(svc(ctx).preview_messages(quote, quote.pdf or b"", ctx.lang, note=note), next=next_state)
    svc(ctx).request_job(ctx.session, quote, "render", user_id=ctx.user.id, lang=ctx.lang)
    replies: list[OutgoingMessage] = [Text(note)] if note else []
    return Result(replies, next=next_state)


def reopen(ctx: Ctx, number: str) -> HandlerReturn:
    """``devis DEV-2026-0001``: a draft's preview again, or a sent document and its status."""
    quote = quote_by_number(ctx.session, ctx.org.id, number)
    if quote is None:
        return Text(ctx.t("quotes.error.unknown_number", number=number))
    if quote.status == "draft":
        return show_preview(ctx, quote)
    if quote.status == "cancelled":
        return Text(ctx.t("quotes.error.cancelled", number=quote.number))
    pdf = quote.pdf
    replies: list[OutgoingMessage] = [Text(status_line(ctx, quote))]
    if pdf:
        preview = svc(ctx).preview_messages(quote, pdf, ctx.lang)
        replies.insert(0, preview[0])
    return Result(replies)


def editable_draft(ctx: Ctx, quote_id: int, revision: int | None = None) -> Quote:
    """A draft that may still be changed or sent; clear errors otherwise."""
    quote = owned_quote(ctx, quote_id)
    if quote.status == "cancelled":
        raise Invalid("quotes.error.cancelled", number=quote.number)
    if quote.status != "draft":
        raise Invalid("quotes.error.already_sent", number=quote.number, to=quote.sent_to or "?")
    if svc(ctx).sending_now(quote):
        raise Invalid("quotes.send.in_progress", number=quote.number)
    if revision is not None and revision != quote.revision:
        raise Invalid("quotes.error.outdated", number=quote.number)
    return quote


def request_send(ctx: Ctx, quote: Quote) -> HandlerReturn:
    """Ask for the email if missing, else start sending in the background."""
    if not quote.recipient_email:
        client = quote.data.get("client", {}).get("name", "")
        return Result([Text(ctx.t("quotes.ask.email_for_send", client=client))],
                      next=state(ctx, "email", {"quote_id": quote.id, "then": "send"}))
    svc(ctx).request_job(ctx.session, quote, "send", user_id=ctx.user.id, lang=ctx.lang)
    return Result([Text(ctx.t("quotes.send.started", kind=kind_label(ctx, quote.kind), number=quote.number,
                              to=quote.recipient_email))],
                  next=state(ctx, "preview", {"quote_id": quote.id}))


@router.action("quote:send")
def send_action(ctx: Ctx) -> HandlerReturn:
    """The Send button of a preview."""
    ids = int_args(ctx.args, 2)
    if ids is None:
        return Text(ctx.t("quotes.error.unknown"))
    try:
        quote = editable_draft(ctx, ids[0], ids[1])
    except Invalid as exc:
        if exc.key != "quotes.error.outdated":
            raise
        quote = owned_quote(ctx, ids[0])
        return show_preview(ctx, quote, note=explain(ctx, exc))
    return request_send(ctx, quote)


@router.action("quote:retry")
def retry_action(ctx: Ctx) -> HandlerReturn:
    """Try sending a draft again after a problem."""
    ids = int_args(ctx.args, 1)
    if ids is None:
        return Text(ctx.t("quotes.error.unknown"))
    return request_send(ctx, editable_draft(ctx, ids[0]))


@router.action("quote:cancel")
def cancel_action(ctx: Ctx) -> HandlerReturn:
    """The Cancel button: the draft is cancelled (its number stays used)."""
    ids = int_args(ctx.args, 1)
    if ids is None:
        return Text(ctx.t("quotes.error.unknown"))
    quote = editable_draft(ctx, ids[0])
    svc(ctx).set_status(ctx.session, quote, "cancelled")
    draft = draft_of(ctx)
    ours = draft is not None and draft.get("quote_id") == quote.id
    return Result([Text(ctx.t("quotes.cancelled", kind=kind_label(ctx, quote.kind), number=quote.number))],
                  next=None if ours else KEEP)


@router.action("quote:edit")
def edit_action(ctx: Ctx) -> HandlerReturn:
    """The Edit button: a list of what can be changed."""
    ids = int_args(ctx.args, 1)
    if ids is None:
        return Text(ctx.t("quotes.error.unknown"))
    quote = editable_draft(ctx, ids[0])
    fmt = Formatter(ctx.lang, quote.currency)
    rows = []
    for field in EDIT_FIELDS[quote.kind]:
        current = current_value(ctx, quote, field, fmt)
        rows.append(Row(f"quote:field:{quote.id}:{field}", shorten(ctx.t(f"quotes.field.{field}"), 24),
                        shorten(current, 72) or None))
    message = ListMessage(ctx.t("quotes.edit.body", number=quote.number), ctx.t("quotes.edit.button"),
                          (Section(shorten(ctx.t("quotes.edit.section"), 24), tuple(rows)),))
    return Result([message], next=state(ctx, "preview", {"quote_id": quote.id}))


def current_value(ctx: Ctx, quote: Quote, field: str, fmt: Formatter) -> str:
    """A variable's current value, short, for the edit list."""
    data = quote.data
    if field == "email":
        return quote.recipient_email or ""
    if field == "language":
        return ctx.t(f"quotes.choice.language.{quote.language}")
    if field in ("mission_type", "complexity"):
        return ctx.t(f"quotes.choice.{field}.{data[field]}") if data.get(field) else ""
    if field == "workflow_steps":
        return ", ".join(data.get("workflow_steps") or [])
    if field == "budget":
        return fmt.money(Decimal(str(data["budget"]))) if data.get("budget") else ""
    if field == "deadline":
        from datetime import date

        return fmt.short_date(date.fromisoformat(data["deadline"])) if data.get("deadline") else ""
    if field == "lines":
        return str(len(data.get("lines") or [])) if data.get("lines") else ""
    if field == "validity":
        return fmt.short_date(quote.valid_until) if quote.valid_until else ""
    if field == "city":
        return str(data.get("city") or data.get("client", {}).get("city", ""))
    return str(data.get(field) or "")


@router.action("quote:field")
def field_action(ctx: Ctx) -> HandlerReturn:
    """A variable chosen in the edit list: its question."""
    parts = ctx.args.split(":")
    ids = int_args(ctx.args, 1)
    if ids is None or len(parts) != 2:
        return Text(ctx.t("quotes.error.unknown"))
    quote = editable_draft(ctx, ids[0])
    field = parts[1]
    if field not in EDIT_FIELDS[quote.kind]:
        return Text(ctx.t("quotes.error.unknown"))
    client = quote.data.get("client", {}).get("name", "")
    if field in CHOICES:
        return Result([question(ctx, quote.kind, field, client, quote_id=quote.id)],
                      next=state(ctx, "edit", {"quote_id": quote.id, "field": field}))
    return Result([Text(ctx.t(f"quotes.ask.{field}", client=client, kind=kind_label(ctx, quote.kind)))],
                  next=state(ctx, "edit", {"quote_id": quote.id, "field": field}))


def apply_change(ctx: Ctx, quote: Quote, changes: dict[str, Any]) -> HandlerReturn:
    """Change a draft, remember a missing client email, and render the preview again."""
    service = svc(ctx)
    service.change(ctx.session, quote, changes, service.today(ctx.user))
    if "email" in changes and quote.client_id:
        client = get_client(ctx.session, ctx.org.id, quote.client_id)
        if client is not None and not client.email:
            update_client(ctx.session, client, {"email": changes["email"]}, ctx.now)
    service.request_job(ctx.session, quote, "render", user_id=ctx.user.id, lang=ctx.lang)
    return Result([Text(ctx.t("quotes.edit.updating", number=quote.number))],
                  next=state(ctx, "preview", {"quote_id": quote.id}))


@router.action("quote:set")
def set_action(ctx: Ctx) -> HandlerReturn:
    """A choice button while editing (``quote:set:12:complexity:expert``)."""
    parts = ctx.args.split(":")
    ids = int_args(ctx.args, 1)
    if ids is None or len(parts) != 3 or parts[1] not in CHOICES or parts[2] not in CHOICES[parts[1]]:
        return Text(ctx.t("quotes.error.unknown"))
    quote = editable_draft(ctx, ids[0])
    return apply_change(ctx, quote, {parts[1]: parts[2]})


@router.step(FLOW, "edit")
def edit_step(ctx: Ctx) -> HandlerReturn:
    """The new value of the variable being edited."""
    if ctx.is_button:
        return PASS
    data = draft_of(ctx)
    assert data is not None
    field = str(data.get("field"))
    structured = field in STRUCTURED
    if not structured and defer_to_command(ctx, "free"):
        return PASS
    quote = editable_draft(ctx, int(data["quote_id"]))
    try:
        changes = parse_field(ctx, field, ctx.inbound.text)
    except Invalid as exc:
        if structured and defer_to_command(ctx, "structured"):
            return PASS
        return Result([Text(f"{explain(ctx, exc)}\n{ctx.t('quotes.hint.cancel')}")])
    return apply_change(ctx, quote, changes)


@router.step(FLOW, "email")
def email_step(ctx: Ctx) -> HandlerReturn:
    """The client's email, asked when sending to a client without one."""
    if ctx.is_button:
        return PASS
    data = draft_of(ctx)
    assert data is not None
    quote = editable_draft(ctx, int(data["quote_id"]))
    try:
        email = parse_email(ctx.inbound.text)
    except Invalid as exc:
        if defer_to_command(ctx, "structured"):
            return PASS
        return Result([Text(f"{explain(ctx, exc)}\n{ctx.t('quotes.hint.cancel')}")])
    service = svc(ctx)
    service.change(ctx.session, quote, {"email": email}, service.today(ctx.user))
    if quote.client_id:
        client = get_client(ctx.session, ctx.org.id, quote.client_id)
        if client is not None and not client.email:
            update_client(ctx.session, client, {"email": email}, ctx.now)
    return request_send(ctx, quote)


@router.step(FLOW, "preview")
def preview_step(ctx: Ctx) -> HandlerReturn:
    """Typed words at the preview: *envoyer* sends, *modifier* edits, anything else is a command."""
    if ctx.is_button:
        return PASS
    word = fold(ctx.inbound.text).strip(" .!")
    data = draft_of(ctx)
    if data is None or word not in SEND_WORDS | EDIT_WORDS:
        return PASS
    quote = get_quote(ctx.session, ctx.org.id, int(data["quote_id"]))
    if quote is None:
        return PASS
    ctx.args = f"{quote.id}:{quote.revision}"
    return send_action(ctx) if word in SEND_WORDS else edit_action(ctx)


# ================================================================== lists and statuses


def status_line(ctx: Ctx, quote: Quote) -> str:
    """``DEV-2026-0001 — Boulangerie Dupont — 180,00 € — envoyé le 20/11/2026``."""
    fmt = Formatter(ctx.lang, quote.currency)
    client = quote.data.get("client", {}).get("name", "")
    status = ctx.t(f"quotes.status.{quote.status}")
    when = quote.status_changed_at or quote.sent_at
    if when is not None and quote.status != "draft":
        status = f"{status} ({fmt.short_date(when.date())})"
    return f"• {quote.number} — {client} — {fmt.money(Decimal(quote.total_cents) / 100)} — {status}"


def list_documents(ctx: Ctx, kind: str) -> HandlerReturn:
    """The latest documents of a kind with their status."""
    quotes = recent_quotes(ctx.session, ctx.org.id, kind, limit=10)
    if not quotes:
        return Text(ctx.t(f"quotes.list.none_{kind}"))
    return Text("\n".join([ctx.t(f"quotes.list.title_{kind}"), *(status_line(ctx, q) for q in quotes),
                           "", ctx.t("quotes.list.hint")]))


@router.command("quote.list", fr=("devis liste", "liste des devis", "mes devis"),
                en=("quotes", "quote list", "list quotes"),
                help_fr="les derniers devis et leur statut", help_en="recent quotes and their status")
def quote_list(ctx: Ctx) -> HandlerReturn:
    """Recent quotes."""
    return list_documents(ctx, "quote")


@router.command("contract.list", fr=("contrats", "contrat liste", "liste des contrats"),
                en=("contracts", "contract list"),
                help_fr="les derniers contrats et leur statut", help_en="recent contracts and their status")
def contract_list(ctx: Ctx) -> HandlerReturn:
    """Recent contracts."""
    return list_documents(ctx, "contract")


def mark(ctx: Ctx, status: str) -> HandlerReturn:
    """``devis accepté DEV-2026-0001``."""
    number = find_number(ctx.args)
    if number is None:
        return Text(ctx.t(f"quotes.mark.usage_{status}"))
    quote = quote_by_number(ctx.session, ctx.org.id, number)
    if quote is None:
        return Text(ctx.t("quotes.error.unknown_number", number=number))
    try:
        svc(ctx).set_status(ctx.session, quote, status)
    except Invalid as exc:
        return Text(explain(ctx, exc))
    return Text(ctx.t(f"quotes.mark.{status}", kind=kind_label(ctx, quote.kind), number=quote.number))


@router.command("quote.accepted", fr=("devis accepté", "devis signé", "contrat accepté", "contrat signé"),
                en=("quote accepted", "contract accepted", "contract signed"),
                help_fr="marquer un devis accepté : *devis accepté DEV-2026-0001*",
                help_en="mark a quote accepted: *quote accepted DEV-2026-0001*")
def quote_accepted(ctx: Ctx) -> HandlerReturn:
    """Mark a sent document accepted."""
    return mark(ctx, "accepted")


@router.command("quote.declined", fr=("devis refusé", "contrat refusé"),
                en=("quote declined", "quote rejected", "contract declined"),
                help_fr="marquer un devis refusé : *devis refusé DEV-2026-0001*",
                help_en="mark a quote declined: *quote declined DEV-2026-0001*")
def quote_declined(ctx: Ctx) -> HandlerReturn:
    """Mark a sent document declined."""
    return mark(ctx, "declined")
