"""Help and cancel: the two escapes that work in every conversation state."""

from __future__ import annotations

from bot.router import Ctx, Result, Router
from integrations.whatsapp import Text

router = Router("help")


@router.command(
    "help",
    fr=("aide", "commandes"),
    en=("help", "commands"),
    help_fr="la liste des commandes",
    help_en="the list of commands",
)
def help_command(ctx: Ctx) -> Result:
    """List every command the user may use, one line each, in their language."""
    lines = [ctx.t("help.title")]
    for command in ctx.services.commands.visible():
        if command.admin_only and not ctx.user.is_admin:
            continue
        aliases = command.aliases.get(ctx.lang) or next(iter(command.aliases.values()))
        lines.append(f"• *{aliases[0]}* — {command.help[ctx.lang]}")
    lines.append("")
    lines.append(ctx.t("help.footer"))
    # Help never ends a flow: the user can go on answering where they were.
    return Result([Text("\n".join(lines))])


@router.command(
    "cancel",
    fr=("annuler",),
    en=("cancel",),
    help_fr="abandonne l'action en cours",
    help_en="drop what is in progress",
)
def cancel_command(ctx: Ctx) -> Result:
    """End the active conversation, if any."""
    if ctx.state is None:
        return Result([Text(ctx.t("cancel.nothing"))], next=None)
    return Result([Text(ctx.t("cancel.done"))], next=None)
