"""The ``courrier`` command line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

import bot
from bot.settings import Settings, SettingsError, load_settings
from handlers.invoices import cli as invoice_commands
from handlers.quotes import cli as feature_commands

log = logging.getLogger("courrier")

app = typer.Typer(help="Courrier: your email, triaged and acted on from WhatsApp.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
users_app = typer.Typer(help="Who may talk to the bot.", no_args_is_help=True)
secrets_app = typer.Typer(help="Encryption keys for secrets at rest.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(users_app, name="users")
app.add_typer(secrets_app, name="secrets")
app.add_typer(token_app, name="api-token")
feature_commands.register(app)
invoice_commands.register(app)

DEMO_KEY_FILE = Path("var/secret.key")
T = TypeVar("T")


def configure_logging(level: str = "INFO") -> None:
    """Plain logs on stderr; phone numbers, names and texts are only ever logged at DEBUG."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "pywa", "pywa_async"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error on stderr and return the exit to raise."""
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    """Settings, or a readable error and exit code 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise fail(str(exc)) from None


@contextmanager
def services_for(settings: Settings, *, migrate: bool = True) -> Iterator[Any]:
    """Services wired from settings, database migrated, disposed at the end."""
    from bot.bootstrap import build_services, prepare_database

    try:
        services = build_services(settings)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    try:
        if migrate:
            prepare_database(services)
        yield services
    finally:
        services.db.dispose()


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``, turning account errors into clear messages."""
    from storage.accounts import AccountError

    try:
        return fn()
    except AccountError as exc:
        raise fail(str(exc)) from None


# ------------------------------------------------------------------ serving


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Web processes (distributed mode only).")] = 1,
) -> None:
    """Run the web server with the in-process worker and scheduler."""
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    if not settings.key_bytes():
        raise fail(
            "No encryption key configured: secrets at rest need COURRIER_SECRET_KEYS "
            "(generate one with `courrier secrets generate-key`). `make demo` creates a local key file."
        )
    from bot.distributed import check_distributed, is_distributed

    if is_distributed(settings):
        try:
            check_distributed(settings)
        except SettingsError as exc:
            raise fail(str(exc)) from None
        _run_web_processes(settings, host, port, workers)
        return
    if workers != 1:
        raise fail("--workers above 1 needs the distributed mode (COURRIER_BROKER_URL and PostgreSQL).")
    _run_server(settings, host, port)


def _run_web_processes(settings: Settings, host: str, port: int, workers: int) -> None:
    """Distributed mode: N web processes that only verify, store and enqueue."""
    import uvicorn

    with services_for(settings):  # migrate once, before the processes start
        pass
    os.environ["COURRIER_SKIP_MIGRATIONS"] = "1"
    uvicorn.run("bot.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower(), access_log=False, proxy_headers=True)


def _run_server(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from bot.app import create_app

    # Hand the interpreter lock over more often than every 5 ms, so a handler running in a worker
    # thread never holds up the event loop's acknowledgements for long.
    sys.setswitchinterval(0.001)
    with services_for(settings) as services:
        application = create_app(settings, services)
        uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower(),
                    access_log=False, proxy_headers=True)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare everything, do not start.")] = False,
) -> None:
    """Prepare a demo organization and admin on embedded defaults, then serve on 127.0.0.1."""
    from bot.demo import prepare_demo
    from storage.secretbox import generate_key

    overrides: dict[str, Any] = {}
    base = settings_or_exit()
    if not base.key_bytes():
        if not DEMO_KEY_FILE.exists():
            DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(generate_key() + "\n")
            typer.echo(f"Generated a local encryption key in {DEMO_KEY_FILE} (mode 0600).")
        overrides["secret_keys_file"] = DEMO_KEY_FILE
    overrides["public_url"] = base.public_url if "COURRIER_PUBLIC_URL" in os.environ else f"http://127.0.0.1:{port}"
    # The sandbox enforces the 24-hour window: outside it, digests and alerts show as this template's teaser.
    overrides["whatsapp_digest_template"] = base.whatsapp_digest_template or "courrier_digest"
    settings = settings_or_exit(**overrides)
    configure_logging(settings.log_level)
    with services_for(settings) as services:
        info = prepare_demo(services)
    url = f"{settings.public_url}/sandbox?user={info.admin_id}"
    typer.secho("\nCourrier demo is ready.", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"  Organization : {info.org_name}")
    typer.echo(f"  Admin        : {info.admin_name}, phone {info.admin_phone}")
    typer.echo(f"  Sandbox chat : {url}")
    typer.echo(f"  Terminal chat: courrier chat --as {info.admin_phone}")
    typer.echo("  Try: aide, statut, moi, langue en\n")
    if not no_serve:
        _run_server(settings, "127.0.0.1", port)


# ------------------------------------------------------------------ database


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = settings_or_exit()
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    typer.echo("Database is up to date.")


# ------------------------------------------------------------------ organizations


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    slug: Annotated[str | None, typer.Option(help="Short unique id (default: from the name).")] = None,
) -> None:
    """Add an organization."""
    from storage.accounts import create_org

    with services_for(settings_or_exit()) as services, services.db.write() as session:
        org = guarded(lambda: create_org(session, name, slug))
        typer.echo(f"Created organization {org.name!r} (slug {org.slug}).")


@org_app.command("list")
def org_list() -> None:
    """List organizations."""
    from sqlalchemy import select

    from storage.models import Organization

    with services_for(settings_or_exit()) as services, services.db.session() as session:
        for org in session.scalars(select(Organization).order_by(Organization.id)):
            typer.echo(f"{org.slug}\t{org.name}{'  (default)' if org.is_default else ''}")


# ------------------------------------------------------------------ users

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization slug (default: the default one).")]


@users_app.command("add")
def users_add(
    phone: Annotated[str, typer.Argument(help="Phone number in international form, e.g. +33612345678.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make them an administrator.")] = False,
    org: OrgOption = None,
    lang: Annotated[str | None, typer.Option(help="fr or en (default: follows how they write).")] = None,
) -> None:
    """Register a user by phone number."""
    from storage.accounts import add_user, org_by_slug

    if lang not in (None, "fr", "en"):
        raise fail("--lang must be fr or en")
    with services_for(settings_or_exit()) as services, services.db.write() as session:
        user = guarded(lambda: add_user(session, org_by_slug(session, org), name=name, phone=phone,
                                        admin=admin, language=lang))
        typer.echo(f"Registered user #{user.id} ({'admin' if admin else 'manager'}).")


@users_app.command("invite")
def users_invite(
    name: Annotated[str, typer.Option(help="Full name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make them an administrator.")] = False,
    org: OrgOption = None,
) -> None:
    """Print a one-time join code (valid 24 h) for someone known only by WhatsApp username."""
    from storage.accounts import create_join_code, org_by_slug

    with services_for(settings_or_exit()) as services, services.db.write() as session:
        target = guarded(lambda: org_by_slug(session, org))
        code = create_join_code(session, target, name=name, admin=admin, now=services.clock.now())
    typer.echo("Ask them to send this to the Courrier WhatsApp number within 24 hours:")
    typer.echo(f"  rejoindre {code}   (or: join {code})")
    typer.echo(code)


@users_app.command("list")
def users_list(org: OrgOption = None) -> None:
    """List the users of an organization."""
    from storage.accounts import org_by_slug, users_of

    with services_for(settings_or_exit()) as services, services.db.session() as session:
        target = guarded(lambda: org_by_slug(session, org))
        for user in users_of(session, target.id):
            ident = user.phone or (f"@{user.username}" if user.username else user.wa_user_id or "?")
            typer.echo(f"#{user.id}\t{user.role}\t{ident}\t{user.name}")


# ------------------------------------------------------------------ secrets and tokens


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a fresh 256-bit key for COURRIER_SECRET_KEYS."""
    from storage.secretbox import generate_key

    typer.echo(generate_key())


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the first key of COURRIER_SECRET_KEYS."""
    from storage.metadata import metadata
    from storage.secretbox import SecretBoxError, rotate_all

    with services_for(settings_or_exit()) as services:
        box = services.secrets
        if box is None:
            raise fail("No key configured: set COURRIER_SECRET_KEYS (new key first, old keys after).")
        try:
            with services.db.write() as session:
                count = rotate_all(session, box, list(metadata.sorted_tables))
        except SecretBoxError as exc:
            raise fail(f"Rotation stopped, nothing changed: {exc}") from None
    typer.echo(f"Re-encrypted {count} secret(s) under key {box.current_id}.")


@token_app.command("create")
def api_token_create(
    name: Annotated[str, typer.Option(help="What the token is for.")],
    org: OrgOption = None,
) -> None:
    """Create an admin API token; it is printed once, alone on the last line."""
    from storage.accounts import create_api_token, org_by_slug

    with services_for(settings_or_exit()) as services, services.db.write() as session:
        target = guarded(lambda: org_by_slug(session, org))
        token = create_api_token(session, target, name)
    typer.echo(f"API token for {target.name!r} (keep it secret, it is shown only once):")
    typer.echo(token)


# ------------------------------------------------------------------ mailboxes


@app.command()
def sync(
    mailbox: Annotated[int | None, typer.Option("--mailbox", help="Only this mailbox id (see the API or `boîtes`).")]
    = None,
) -> None:
    """Sync linked mailboxes now (every enabled one, or one) and print the outcome of each."""
    from sqlalchemy import select

    from handlers.mailboxes.service import MailboxService
    from storage.mail import Mailbox

    settings = settings_or_exit()
    configure_logging(settings.log_level)
    with services_for(settings) as services:
        with services.db.session() as session:
            query = select(Mailbox.id).order_by(Mailbox.id)
            query = query.where(Mailbox.id == mailbox) if mailbox is not None else query.where(Mailbox.enabled.is_(True))
            ids = list(session.scalars(query))
        if mailbox is not None and not ids:
            raise fail(f"No mailbox with id {mailbox}.")
        if not ids:
            typer.echo("No linked mailbox to sync.")
            return
        service = services.get(MailboxService)
        failed = 0
        for mailbox_id in ids:
            outcome = service.sync(mailbox_id)
            line = f"#{mailbox_id} {outcome.address}: {outcome.status}, {outcome.new} new message(s)"
            if outcome.error:
                line += f" — {outcome.error}"
            failed += outcome.status in ("error", "needs_relink")
            typer.echo(line)
        service.wait_idle()
    if failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------ terminal chat


@app.command()
def chat(
    as_phone: Annotated[str | None, typer.Option("--as", help="Chat as this registered phone number.")] = None,
) -> None:
    """Chat with the bot in the terminal, through the sandbox and the real pipeline."""
    settings = settings_or_exit()
    configure_logging("WARNING")
    if not settings.sandbox_enabled:
        raise fail("The terminal chat uses the sandbox: unset COURRIER_WHATSAPP_TOKEN (or set COURRIER_SANDBOX=true).")
    from bot.chat import run_chat

    with services_for(settings) as services:
        run_chat(services, as_phone)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Processes in this worker.")] = 2,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "chat,sync,bulk",
) -> None:
    """Run a Celery worker (distributed mode): messages, syncs, triage, digests, bulk sends."""
    from bot.bootstrap import build_services
    from bot.distributed import QUEUES, check_distributed, make_celery, register_tasks

    settings = settings_or_exit()
    try:
        check_distributed(settings)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    unknown = set(queues.split(",")) - set(QUEUES)
    if unknown:
        raise fail(f"unknown queue(s) {', '.join(sorted(unknown))}; known: {', '.join(QUEUES)}")
    configure_logging(settings.log_level)
    with services_for(settings):  # migrate before taking work
        pass
    celery = make_celery(settings)
    register_tasks(celery, settings, build_services)
    import socket

    # A node name of its own, so several workers on one host never share a broker-side queue.
    node = f"courrier-{os.getpid()}@{socket.gethostname()}"
    celery.worker_main(["worker", f"--concurrency={concurrency}", f"--queues={queues}", f"--hostname={node}",
                        f"--loglevel={settings.log_level}", "--without-gossip", "--without-mingle",
                        "--without-heartbeat"])


@app.command()
def scheduler() -> None:
    """Run a scheduler candidate (distributed mode): one leader enqueues due work, others stand by."""
    import signal

    from bot.distributed import Enqueuer, LeaderScheduler, check_distributed, make_celery

    settings = settings_or_exit()
    try:
        check_distributed(settings)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    configure_logging(settings.log_level)
    with services_for(settings) as services:
        leader = LeaderScheduler(services, Enqueuer(make_celery(settings)))
        signal.signal(signal.SIGTERM, lambda *_: leader.stop())
        signal.signal(signal.SIGINT, lambda *_: leader.stop())
        typer.echo(f"scheduler candidate {leader.identity} waiting for leadership")
        leader.run()


@app.command()
def triage(
    path: Annotated[Path, typer.Argument(help="An mbox file, a Maildir (cur/ and new/), or a folder of .eml files.",
                                         show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per message, one per line.")] = False,
    context: Annotated[Path | None, typer.Option("--context", help="JSON file with organization, known_clients and "
                                                 "suppliers (the shape of tests/data/triage-dev/context.json).")] = None,
) -> None:
    """Triage the messages of a mailbox on disk with the configured classifier; needs no database or key."""
    import json

    from bot.bootstrap import build_classifier
    from integrations.triage import TriageContext
    from integrations.triage.batch import (
        TABLE_HEADER,
        InputError,
        load_context,
        read_sources,
        table_line,
        triage_sources,
    )

    settings = settings_or_exit()
    configure_logging("WARNING")
    try:
        ctx = load_context(context) if context is not None else TriageContext(
            language=settings.default_language, timezone=settings.timezone, organization_name=settings.organization_name)
        kind, sources, notes = read_sources(path)
        classifier = build_classifier(settings)
    except InputError as exc:
        raise fail(str(exc)) from None
    except SettingsError as exc:
        raise fail(str(exc)) from None
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    counts: dict[str, int] = {}
    unreadable = unclassified = 0
    if not as_json:
        typer.echo(TABLE_HEADER)
    try:
        for outcome in triage_sources(sources, classifier, ctx):
            if outcome.row is None:
                unreadable += 1
                typer.secho(f"skipped {outcome.source.label}: {outcome.failure}", err=True, fg=typer.colors.YELLOW)
                continue
            if outcome.failure:
                unclassified += 1
                typer.secho(f"{outcome.source.label}: {outcome.failure}", err=True, fg=typer.colors.YELLOW)
            priority = str(outcome.row["priority"] or "unclassified")
            counts[priority] = counts.get(priority, 0) + 1
            typer.echo(json.dumps(outcome.row, ensure_ascii=False) if as_json else table_line(outcome))
    finally:
        close = getattr(classifier, "close", None)
        if callable(close):
            close()
    total = sum(counts.values())
    order = ("critical", "important", "informative", "spam", "unclassified")
    summary = ", ".join(f"{counts[p]} {p}" for p in order if counts.get(p))
    typer.echo(f"{total} message(s) from {kind} {path}" + (f": {summary}" if summary else ""), err=as_json)
    if unreadable:
        raise fail(f"{unreadable} message file(s) could not be read (see above); the others were triaged.")
    if unclassified:
        raise fail(f"{unclassified} message(s) could not be classified (see above).", code=1)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(bot.__version__)


def main() -> None:
    """Entry point of the ``courrier`` console script."""
    try:
        app()
    except SettingsError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        sys.exit(2)
