"""Chat commands: ``envoie les factures`` / ``send invoices`` (with a Confirm button), ``factures statut`` / ``invoices status``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.router import Ctx, HandlerReturn, Result, Router
from integrations.whatsapp import Button, Buttons, Text
from storage.db import after_commit
from storage.invoices import ACTIVE, InvoiceBatch, batches_of, counts

if TYPE_CHECKING:
    from handlers.invoices.service import InvoiceService

router = Router("invoices")


def _service(ctx: Ctx) -> InvoiceService:
    from handlers.invoices.service import InvoiceService

    return ctx.services.get(InvoiceService)


def _batch_id(ctx: Ctx) -> int | None:
    text = ctx.args.strip().lstrip("#")
    return int(text) if text.isdigit() else None


@router.command(
    "invoices.send",
    fr=("envoie les factures", "envoyer les factures", "factures envoyer"),
    en=("send invoices", "send the invoices"),
    help_fr="envoie le lot de factures préparé (après confirmation)",
    help_en="send the prepared batch of invoices (after you confirm)",
    admin=True,
)
def send_invoices(ctx: Ctx) -> HandlerReturn:
    """Show the latest prepared batch with a Confirm button."""
    wanted = _batch_id(ctx)
    batches = batches_of(ctx.session, ctx.org.id, 10)
    drafts = [b for b in batches if b.status == "draft" and (wanted is None or b.id == wanted)]
    if not drafts:
        active = next((b for b in batches if b.status in ACTIVE), None)
        if active is not None:
            return Result([Text(ctx.t("invoices.chat.already", batch=active.id, status=active.status))])
        return Result([Text(ctx.t("invoices.chat.none_ready"))])
    batch = drafts[0]
    body = ctx.t("invoices.chat.confirm_ask", batch=batch.id, total=batch.total, provider=batch.provider)
    return Result([Buttons(body, (Button(f"invoice:confirm:{batch.id}", ctx.t("invoices.button.confirm")),
                                  Button(f"invoice:cancel:{batch.id}", ctx.t("invoices.button.cancel"))))])


@router.action("invoice:confirm", admin=True)
def confirm(ctx: Ctx) -> HandlerReturn:
    """The Confirm button: the batch starts in the background, progress comes every 10 %."""
    batch_id = _batch_id(ctx)
    batch = ctx.session.get(InvoiceBatch, batch_id) if batch_id is not None else None
    if batch is None or batch.org_id != ctx.org.id:
        return Result([Text(ctx.t("invoices.chat.not_found"))])
    if batch.status != "draft":
        return Result([Text(ctx.t("invoices.chat.already", batch=batch.id, status=batch.status))])
    batch.status, batch.confirmed_at, batch.user_id = "confirmed", ctx.now, ctx.user.id
    batch.language = ctx.lang
    service = _service(ctx)
    batch_id_value = batch.id
    ctx.session.flush()

    def start() -> None:
        service.start(batch_id_value)

    # Start once this transaction has committed: the runner reads the confirmed row.
    after_commit(ctx.session, start)
    return Result([Text(ctx.t("invoices.chat.started", batch=batch.id, total=batch.total))])


@router.action("invoice:cancel", admin=True)
def cancel(ctx: Ctx) -> HandlerReturn:
    """Drop a prepared batch."""
    batch_id = _batch_id(ctx)
    batch = ctx.session.get(InvoiceBatch, batch_id) if batch_id is not None else None
    if batch is None or batch.org_id != ctx.org.id or batch.status != "draft":
        return Result([Text(ctx.t("invoices.chat.not_found"))])
    batch.status = "cancelled"
    return Result([Text(ctx.t("invoices.chat.cancelled", batch=batch.id))])


@router.command(
    "invoices.status",
    fr=("factures statut", "statut factures", "factures"),
    en=("invoices status", "invoice status", "invoices"),
    help_fr="où en est l'envoi des factures",
    help_en="where the invoice mailing stands",
)
def status(ctx: Ctx) -> HandlerReturn:
    """Counts of the latest (or the given) batch."""
    wanted = _batch_id(ctx)
    batches = batches_of(ctx.session, ctx.org.id, 10)
    batch = next((b for b in batches if wanted is None or b.id == wanted), None)
    if batch is None:
        return Result([Text(ctx.t("invoices.chat.none"))])
    c = counts(ctx.session, batch.id)
    elapsed = float(batch.active_seconds or 0.0)
    rate = c["sent"] / elapsed if elapsed > 0 else 0.0
    text = ctx.t("invoices.chat.status", batch=batch.id, status=batch.status, sent=c["sent"], failed=c["failed"],
                 pending=c["pending"] + c["sending"], total=batch.total, rate=f"{rate:.1f}")
    return Result([Text(text)])
