"""Client invitations from the chat: invite by email or known client, list, cancel, resend, contacts."""

from __future__ import annotations

import re

from bot.router import Ctx, Result, Router, UserError
from handlers.invitations.lookups import ClientDirectory, FeatureUnavailable, KnownClient
from handlers.invitations.service import InvitationService
from integrations.whatsapp import (
    ROW_DESCRIPTION_LIMIT,
    ROW_TITLE_LIMIT,
    ListMessage,
    OutgoingMessage,
    Row,
    Section,
    Text,
)
from storage import invitations as repo
from storage.invitations import ContactMessage, Invitation

router = Router("invitations")

_OPENING_QUOTES = '"“«„”'
_CLOSING_QUOTES = '"”»“'
_NUMBER = re.compile(r"\d+")
LIST_LIMIT = 15
CONTACTS_LIMIT = 10


def split_message(args: str) -> tuple[str, str | None]:
    """Split ``jean@exemple.fr "Ravi de vous compter parmi nous"`` into the target and the quoted message."""
    for index, char in enumerate(args):
        if char in _OPENING_QUOTES:
            message = args[index + 1 :].rstrip()
            if message and message[-1] in _CLOSING_QUOTES:
                message = message[:-1]
            return args[:index].strip(), message.strip() or None
    return args.strip(), None


def split_target(target: str) -> tuple[str | None, str | None]:
    """The address and the name in ``Jean Dupont jean@exemple.fr`` (either may be missing)."""
    words = target.split()
    emails = [w for w in words if "@" in w]
    if len(emails) > 1:
        raise UserError("invitations.error.two_emails")
    if not emails:
        return None, target.strip() or None
    name = " ".join(w for w in words if w != emails[0]).strip()
    return emails[0].strip("<>,;"), name or None


def _number(ctx: Ctx, usage: str) -> int:
    match = _NUMBER.search(ctx.args)
    if not match:
        raise UserError(usage)
    return int(match.group(0))


def _service(ctx: Ctx) -> InvitationService:
    return ctx.services.get(InvitationService)


def _client_by_name(ctx: Ctx, query: str) -> KnownClient:
    directory = ctx.services.get(ClientDirectory)  # type: ignore[type-abstract]
    try:
        clients = directory.find_clients(ctx.session, ctx.org.id, query)
    except FeatureUnavailable:
        raise UserError("invitations.error.clients_unavailable", name=query) from None
    if not clients:
        raise UserError("invitations.error.no_client", name=query)
    if len(clients) > 1:
        choices = "\n".join(f"• {c.name} — {c.email or '?'}" for c in clients)
        raise UserError("invitations.error.several_clients", name=query, choices=choices)
    client = clients[0]
    if not client.email:
        raise UserError("invitations.error.client_without_email", name=client.name)
    return client


@router.command(
    "invite",
    fr=("inviter",),
    en=("invite",),
    help_fr='inviter un client à créer son compte : *inviter jean@exemple.fr "message"* ou *inviter Dupont*',
    help_en='invite a client to create an account: *invite jean@example.com "message"* or *invite Dupont*',
)
def invite_command(ctx: Ctx) -> Result:
    """Create an invitation for an address or a known client, and send its email."""
    target, message = split_message(ctx.args)
    if not target:
        return Result([Text(ctx.t("invitations.usage.invite"))])
    email, name = split_target(target)
    if email is None:
        client = _client_by_name(ctx, target)
        email, name = client.email, client.name
    assert email is not None
    service = _service(ctx)
    invitation = service.create(ctx.session, ctx.org, email=email, name=name, language=ctx.lang,
                                personal_message=message, created_by=ctx.user, via="chat")
    service.queue_send(ctx.session, ctx.org, invitation, requested_by=ctx.user)
    service.send_after_commit(ctx.session)
    return Result([Text(ctx.t("invitations.chat.queued", id=invitation.id, email=invitation.email))])


@router.action("invite:contact")
def invite_contact_action(ctx: Ctx) -> Result:
    """The ``Inviter`` button under a contact message."""
    if not ctx.args.isdigit():
        return Result([Text(ctx.t("invitations.error.contact_not_found", id=ctx.args))])
    contact = ctx.session.get(ContactMessage, int(ctx.args))
    if contact is None or contact.org_id != ctx.org.id:
        return Result([Text(ctx.t("invitations.error.contact_not_found", id=ctx.args))])
    previous = repo.invitation_of_contact(ctx.session, contact.id)
    if previous is not None:
        status = previous.effective_status(ctx.now)
        if status in ("pending", "used"):
            return Result([Text(ctx.t(f"invitations.error.contact_already_{status}", id=previous.id,
                                      email=previous.email))])
    service = _service(ctx)
    invitation = service.create(ctx.session, ctx.org, email=contact.email, name=contact.name,
                                language=contact.language, contact=contact, created_by=ctx.user, via="contact")
    service.queue_send(ctx.session, ctx.org, invitation, requested_by=ctx.user)
    service.send_after_commit(ctx.session)
    return Result([Text(ctx.t("invitations.chat.queued", id=invitation.id, email=invitation.email))])


@router.action("invite:copy")
def copy_link_action(ctx: Ctx) -> Result:
    """The ``Copier le lien`` button: a link to hand over by hand, as plain text."""
    if not ctx.args.isdigit():
        return Result([Text(ctx.t("invitations.error.not_found", id=ctx.args))])
    invitation, link = _service(ctx).issue_chat_link(ctx.session, ctx.org.id, int(ctx.args))
    expires = _service(ctx).in_words(invitation.expires_at, ctx.lang, ctx.user.timezone)
    return Result([Text(ctx.t("invitations.chat.link_intro", id=invitation.id, email=invitation.email,
                              expires=expires)), Text(link)])


def _line(ctx: Ctx, service: InvitationService, invitation: Invitation) -> str:
    status = invitation.effective_status(ctx.now)
    if status == "pending":
        detail = ctx.t("invitations.list.pending", date=service.short(invitation.expires_at, ctx.lang))
        if invitation.mail_state in ("no_mailbox", "relink", "failed"):
            detail += " · " + ctx.t("invitations.list.not_emailed")
    elif status == "used" and invitation.used_at:
        detail = ctx.t("invitations.list.used", date=service.short(invitation.used_at, ctx.lang))
    elif status == "cancelled" and invitation.cancelled_at:
        detail = ctx.t("invitations.list.cancelled", date=service.short(invitation.cancelled_at, ctx.lang))
    else:
        detail = ctx.t("invitations.list.expired", date=service.short(invitation.expires_at, ctx.lang))
    return ctx.t("invitations.list.line", id=invitation.id, email=invitation.email,
                 status=ctx.t(f"invitations.status.{status}"), detail=detail)


@router.command(
    "invitations",
    fr=("invitations",),
    en=("invitations",),
    help_fr="les invitations envoyées et leur statut",
    help_en="invitations sent and their status",
)
def invitations_command(ctx: Ctx) -> Result:
    """List the organization's latest invitations with their status."""
    service = _service(ctx)
    repo.expire_due(ctx.session, ctx.now, ctx.org.id)
    rows = repo.recent_invitations(ctx.session, ctx.org.id, limit=LIST_LIMIT)
    if not rows:
        return Result([Text(ctx.t("invitations.list.empty"))])
    lines = [ctx.t("invitations.list.title")] + [_line(ctx, service, row) for row in rows]
    lines += ["", ctx.t("invitations.list.footer")]
    return Result([Text("\n".join(lines))])


@router.command(
    "cancel_invitation",
    fr=("annuler invitation", "annuler l'invitation"),
    en=("cancel invitation",),
    help_fr="annuler une invitation : *annuler invitation 12*",
    help_en="cancel an invitation: *cancel invitation 12*",
)
def cancel_invitation_command(ctx: Ctx) -> Result:
    """Cancel an invitation: its links stop working."""
    number = _number(ctx, "invitations.usage.cancel")
    invitation = _service(ctx).cancel(ctx.session, ctx.org.id, number, ctx.user)
    return Result([Text(ctx.t("invitations.chat.cancelled", id=invitation.id, email=invitation.email))])


@router.command(
    "resend_invitation",
    fr=("renvoyer invitation", "renvoyer l'invitation"),
    en=("resend invitation",),
    help_fr="renvoyer une invitation avec un nouveau lien : *renvoyer invitation 12*",
    help_en="resend an invitation with a fresh link: *resend invitation 12*",
)
def resend_invitation_command(ctx: Ctx) -> Result:
    """Send the invitation again with a fresh link; the old links stop working."""
    rest, message = split_message(ctx.args)
    match = _NUMBER.search(rest)
    if not match:
        raise UserError("invitations.usage.resend")
    number = int(match.group(0))
    service = _service(ctx)
    invitation = repo.org_invitation(ctx.session, ctx.org.id, number, lock=True)
    if invitation is None:
        raise UserError("invitations.error.not_found", id=number)
    service.queue_send(ctx.session, ctx.org, invitation, requested_by=ctx.user, personal_message=message)
    service.send_after_commit(ctx.session)
    return Result([Text(ctx.t("invitations.chat.resending", id=invitation.id, email=invitation.email))])


@router.command(
    "contacts",
    fr=("contacts", "messages de contact"),
    en=("contacts", "contact messages"),
    help_fr="les derniers messages reçus par le formulaire de contact",
    help_en="the latest messages from the contact form",
)
def contacts_command(ctx: Ctx) -> Result:
    """List the latest contact messages, with whether each was invited."""
    service = _service(ctx)
    rows = repo.recent_contacts(ctx.session, ctx.org.id, limit=CONTACTS_LIMIT)
    if not rows:
        return Result([Text(ctx.t("invitations.contacts.empty"))])
    lines = [ctx.t("invitations.contacts.title")]
    to_invite: list[Row] = []
    for contact in rows:
        invitation = repo.invitation_of_contact(ctx.session, contact.id)
        if invitation is None or invitation.effective_status(ctx.now) not in ("pending", "used"):
            to_invite.append(Row(f"invite:contact:{contact.id}", _clip(contact.name, ROW_TITLE_LIMIT),
                                 _clip(contact.email, ROW_DESCRIPTION_LIMIT)))
        lines.append(ctx.t(
            "invitations.contacts.line", id=contact.id, date=service.short(contact.created_at, ctx.lang),
            name=contact.name, email=contact.email, subject=contact.subject or "—",
            excerpt=" ".join(contact.message.split())[:120],
        ))
        if invitation is not None:
            status = ctx.t(f"invitations.status.{invitation.effective_status(ctx.now)}")
            lines.append(ctx.t("invitations.contacts.invited", id=invitation.id, status=status))
    lines += ["", ctx.t("invitations.contacts.footer")]
    replies: list[OutgoingMessage] = [Text("\n".join(lines))]
    if to_invite:
        replies.append(ListMessage(ctx.t("invitations.contacts.pick"), ctx.t("invitations.contacts.pick_button"),
                                   (Section(ctx.t("invitations.contacts.pick_section"), tuple(to_invite)),)))
    return Result(replies)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
