"""``courrier clients …`` and ``courrier quotes …``: import clients, list them, document settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

clients_app = typer.Typer(help="Clients and prospects (used by quotes and contracts).", no_args_is_help=True)
quotes_app = typer.Typer(help="Quotes and contracts.", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization slug (default: the default one).")]


def register(app: typer.Typer) -> None:
    """Add the ``clients`` and ``quotes`` command groups to the main CLI."""
    app.add_typer(clients_app, name="clients")
    app.add_typer(quotes_app, name="quotes")


@clients_app.command("import")
def clients_import(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row (name/nom, company/entreprise, email, "
                                               "phone/téléphone, city/ville, project_type, mission_context).")],
    org: OrgOption = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid lines even if some are "
                                                                       "rejected.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file, import nothing.")] = False,
) -> None:
    """Import clients from a CSV file: a report line per rejected line; by default all or nothing."""
    from bot.cli import fail, guarded, services_for, settings_or_exit
    from handlers.quotes.clients import ImportFileError, apply_import, plan_import
    from storage.accounts import org_by_slug

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"Cannot read {file}: {exc.strerror}") from None
    with services_for(settings_or_exit()) as services:
        catalog = services.catalog

        def explain(exc: Any) -> str:
            return str(catalog.t(exc.key, "en", **exc.params))

        count = 0
        try:
            # Planning writes nothing; the accepted lines go in together in this one transaction.
            with services.db.write() as session:
                target = guarded(lambda: org_by_slug(session, org))
                report = plan_import(session, target.id, data, explain)
                apply = not dry_run and (skip_invalid or not report.rejected)
                if apply:
                    count = apply_import(session, target.id, report, services.clock.now())
        except ImportFileError as exc:
            raise fail(f"{file}: {exc}") from None
    for column in report.ignored_columns:
        typer.echo(f"note: column {column!r} is not a client field; ignored")
    for line, reason, raw in report.rejected:
        typer.echo(f"line {line}: rejected ({raw.get('name') or 'no name'}): {reason}")
    if report.rejected and not skip_invalid:
        typer.echo(f"{len(report.rejected)} line(s) rejected, {len(report.accepted)} valid: nothing imported. "
                   "Fix the lines above, or pass --skip-invalid to import only the valid ones.")
        raise typer.Exit(1)
    if dry_run:
        typer.echo(f"Dry run: {len(report.accepted)} client(s) would be imported.")
        return
    typer.echo(f"Imported {count} client(s) into {target.name!r}"
               + (f"; {len(report.rejected)} line(s) skipped." if report.rejected else "."))


@clients_app.command("list")
def clients_list(org: OrgOption = None) -> None:
    """List an organization's clients."""
    from bot.cli import guarded, services_for, settings_or_exit
    from storage.accounts import org_by_slug
    from storage.quotes import clients_of

    with services_for(settings_or_exit()) as services, services.db.session() as session:
        target = guarded(lambda: org_by_slug(session, org))
        for client in clients_of(session, target.id):
            typer.echo(f"#{client.id}\t{client.display_name}\t{client.email or '-'}\t{client.city or '-'}")


@quotes_app.command("list")
def quotes_list(org: OrgOption = None, limit: Annotated[int, typer.Option(help="How many.")] = 20) -> None:
    """List recent quotes and contracts with their status."""
    from bot.cli import guarded, services_for, settings_or_exit
    from storage.accounts import org_by_slug
    from storage.quotes import recent_quotes

    with services_for(settings_or_exit()) as services, services.db.session() as session:
        target = guarded(lambda: org_by_slug(session, org))
        for quote in recent_quotes(session, target.id, None, limit=limit):
            client = quote.data.get("client", {}).get("name", "")
            typer.echo(f"{quote.number}\t{quote.kind}\t{quote.status}\t{quote.total_cents / 100:.2f} "
                       f"{quote.currency}\t{client}")


@quotes_app.command("settings")
def quotes_settings(
    org: OrgOption = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE (repeatable); JSON values allowed, "
                                                                 "e.g. complexity_prices='{\"simple\": 150, …}'.")
                    ] = None,
) -> None:
    """Show the organization's document settings, or change some with --set KEY=VALUE."""
    from bot.cli import fail, guarded, services_for, settings_or_exit
    from handlers.quotes.settings import SettingsProblem, load_settings, update_settings
    from storage.accounts import org_by_slug

    changes: dict[str, Any] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set expects KEY=VALUE, got {item!r}")
        try:
            changes[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            changes[key.strip()] = value
    with services_for(settings_or_exit()) as services, services.db.write() as session:
        target = guarded(lambda: org_by_slug(session, org))
        try:
            current = update_settings(target, changes) if changes else load_settings(target)
        except SettingsProblem as exc:
            raise fail(f"Invalid document settings, nothing changed: {exc}") from None
        typer.echo(json.dumps(current.as_json(), indent=2, ensure_ascii=False))
