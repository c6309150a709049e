"""``courrier invoices send|status|report|resume``: bulk invoice mailing from a folder."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from handlers.invoices.runner import Progress, format_eta

invoices_app = typer.Typer(help="Bulk invoice mailing (a folder of PDFs and a CSV manifest).", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization slug (default: the default one).")]


def register(app: typer.Typer) -> None:
    """Add the ``invoices`` command group to the main CLI."""
    app.add_typer(invoices_app, name="invoices")


class ProgressBar:
    """A one-line progress bar on stderr: count, rate and time left."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total = total
        self.width = width
        self.tty = sys.stderr.isatty()
        self._last = -1

    def __call__(self, progress: Progress) -> None:
        done = progress.done
        filled = self.width * done // max(1, progress.total)
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{progress.total} "
                f"sent {progress.sent} failed {progress.failed} · {progress.rate:.1f}/s · "
                f"ETA {format_eta(progress.eta)}")
        if self.tty:
            sys.stderr.write("\r" + line)
            if done >= progress.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        else:
            step = done * 10 // max(1, progress.total)
            if step != self._last:
                self._last = step
                sys.stderr.write(line + "\n")
                sys.stderr.flush()


def _run(services: Any, service: Any, batch_id: int) -> int:
    total = service.status(None, batch_id).total
    stop = threading.Event()
    try:
        outcome = service.run(batch_id, stop=stop, on_progress=ProgressBar(total))
    except KeyboardInterrupt:
        stop.set()
        typer.echo("\nInterrupted: resume with `courrier invoices send --resume "
                   f"{batch_id}`.", err=True)
        return 130
    typer.echo(service.report_text(batch_id, "en"))
    if outcome.kind == "busy":
        typer.echo(f"Batch {batch_id} is being sent by another process.", err=True)
        return 3
    if outcome.kind == "paused":
        until = outcome.until.isoformat() if outcome.until else "-"
        typer.echo(f"Paused ({service.status(None, batch_id).pause_reason}) until {until}; the server resumes "
                   f"it by itself, or run `courrier invoices send --resume {batch_id}`.")
        return 4
    status = service.status(None, batch_id)
    return 1 if status.failed else 0


@invoices_app.command("send")
def send(
    folder: Annotated[Path | None, typer.Argument(help="Folder with manifest.csv and the PDFs.")] = None,
    mailbox: Annotated[int | None, typer.Option("--mailbox", help="Mailbox id (default: the default one).")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject template, e.g. 'Votre facture {{ invoice_number }}' "
                                                     "(default: subject.txt in the folder).")] = None,
    body: Annotated[Path | None, typer.Option(help="Body template file (default: body.txt in the folder).")] = None,
    lang: Annotated[str, typer.Option(help="Language of default templates and reports (fr|en).")] = "fr",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the batch, send nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking for confirmation.")] = False,
    resume: Annotated[int | None, typer.Option("--resume", help="Continue batch BATCH where it stopped.")] = None,
    org: OrgOption = None,
) -> None:
    """Check a batch, then (confirmed) send it within the mailbox's limits, exactly once per invoice."""
    from bot.cli import configure_logging, fail, guarded, services_for, settings_or_exit
    from handlers.invoices.service import BatchExists, BatchNotFound, InvoiceService
    from storage.accounts import org_by_slug

    settings = settings_or_exit()
    configure_logging(settings.log_level)
    with services_for(settings) as services:
        service: InvoiceService = services.get(InvoiceService)
        with services.db.session() as session:
            target = guarded(lambda: org_by_slug(session, org))
            org_id = target.id
        if resume is not None:
            try:
                if not service.resume(org_id, resume):
                    status = service.status(org_id, resume)
                    if status.status == "draft" and yes:
                        service.confirm(org_id, resume)
                    elif status.status == "done":
                        typer.echo(service.report_text(resume, lang, org_id))
                        return
                    else:
                        raise fail(f"Batch {resume} is {status.status}; nothing to resume.")
            except BatchNotFound:
                raise fail(f"No batch {resume}.") from None
            raise typer.Exit(_run(services, service, resume))
        if folder is None:
            raise fail("Give the batch folder (or --resume BATCH).")
        if not folder.is_dir():
            raise fail(f"{folder} is not a folder.")
        body_text = None
        if body is not None:
            try:
                body_text = body.read_text("utf-8")
            except OSError as exc:
                raise fail(f"Cannot read {body}: {exc.strerror}") from None
        manifest, box = service.check(org_id, folder, mailbox, subject=subject, body=body_text, lang=lang)
        for problem in manifest.problems:
            typer.echo(service.explain(problem, lang))
        if not manifest.valid or box is None:
            typer.echo(f"{len(manifest.problems)} problem(s): nothing sent. Fix them and run again.", err=True)
            raise typer.Exit(1)
        size_mb = manifest.total_bytes / 1048576
        limits = service.limits(box.provider, box.address)
        minutes = len(manifest.rows) / max(limits.messages_per_minute, 1e-9)
        typer.echo(f"{len(manifest.rows)} invoice(s), {size_mb:.1f} MB of PDFs, from mailbox #{box.id} "
                   f"({box.provider}); at {limits.messages_per_minute:g} emails/min this takes at least "
                   f"{format_eta(minutes * 60)}"
                   + (f"; daily cap {limits.daily_messages} messages" if limits.daily_messages else "")
                   + (f"; daily cap {limits.daily_recipients} recipients" if limits.daily_recipients else "") + ".")
        if dry_run:
            typer.echo("Dry run: the batch is valid; nothing was sent.")
            return
        if not yes and not typer.confirm("Send them now?", default=False):
            typer.echo("Nothing sent.")
            raise typer.Exit(1)
        try:
            batch_id = service.create(org_id, manifest, box, lang=lang, confirmed=True)
        except BatchExists as exc:
            raise fail(f"This folder was already made into batch {exc.batch_id} ({exc.status}): "
                       f"use `courrier invoices send --resume {exc.batch_id}` or `courrier invoices status "
                       f"{exc.batch_id}`.") from None
        typer.echo(f"Batch {batch_id} created.")
        raise typer.Exit(_run(services, service, batch_id))


@invoices_app.command("status")
def status(batch: Annotated[int, typer.Argument(help="Batch id.")], org: OrgOption = None) -> None:
    """Where a batch stands: totals, rate, pause."""
    from bot.cli import fail, guarded, services_for, settings_or_exit
    from handlers.invoices.service import BatchNotFound, InvoiceService
    from storage.accounts import org_by_slug

    with services_for(settings_or_exit()) as services:
        service: InvoiceService = services.get(InvoiceService)
        with services.db.session() as session:
            org_id = guarded(lambda: org_by_slug(session, org)).id
        try:
            current = service.status(org_id, batch)
        except BatchNotFound:
            raise fail(f"No batch {batch}.") from None
        typer.echo(f"Batch {batch}: {current.status}"
                   + (f" ({current.pause_reason} until {current.paused_until})" if current.pause_reason else ""))
        typer.echo(service.report_text(batch, "en", org_id))


@invoices_app.command("report")
def report(
    batch: Annotated[int, typer.Argument(help="Batch id.")],
    as_csv: Annotated[bool, typer.Option("--csv", help="Per-row CSV on stdout.")] = False,
    org: OrgOption = None,
) -> None:
    """The batch's report: totals and failures, or every row as CSV."""
    from bot.cli import fail, guarded, services_for, settings_or_exit
    from handlers.invoices.service import BatchNotFound, InvoiceService
    from storage.accounts import org_by_slug

    with services_for(settings_or_exit()) as services:
        service: InvoiceService = services.get(InvoiceService)
        with services.db.session() as session:
            org_id = guarded(lambda: org_by_slug(session, org)).id
        try:
            text = service.report_csv(org_id, batch) if as_csv else service.report_text(batch, "en", org_id)
        except BatchNotFound:
            raise fail(f"No batch {batch}.") from None
        typer.echo(text, nl=not as_csv)
