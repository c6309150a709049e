"""`courrier triage PATH`: mbox, Maildir and .eml folders, JSON lines or a table, clear errors, any classifier."""

from __future__ import annotations

import csv
import json
import mailbox
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from integrations.mime import parse_email
from integrations.triage import OfflineClassifier, TriageContext
from tests.fake_gemini import FakeGemini, Reply, verdict
from tests.triage_support import MONDAY_9

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "triage-dev"
KEYS = {"message_id", "priority", "summary", "action", "deadline", "amounts", "reasons"}
MALFORMED = (
    b"From: broken\r\nSubject: =?utf-8?q?unterminated\r\nDate: not a date\r\nMessage-ID: <broken@test>\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    b"--B\r\nContent-Type: text/plain; charset=x-unknown-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"@@@not base64@@@\r\n"
)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh machine: no COURRIER_ setting, no .env, an empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURRIER_", "GOOGLE_", "GEMINI_"))}
    env["HOME"] = str(tmp_path)
    return env


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke the CLI in-process from an empty folder with no COURRIER_ setting."""
    for name in list(os.environ):
        if name.startswith("COURRIER_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, ["triage", *args], env=env or {})

    return invoke


def mail(n: int, subject: str, body: str, *, sender: str = "Paul Girard <paul@northwind.test>") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "khady@mbaye-conseil.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(MONDAY_9)
    msg["Message-ID"] = f"<m{n}@northwind.test>"
    msg.set_content(body)
    return msg.as_bytes()


def rows(output: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    for line in lines:
        assert set(line) == KEYS
    return lines


def labels() -> dict[str, str]:
    with (DEV / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return {row["message_id"]: row["priority"] for row in csv.DictReader(handle)}


# ------------------------------------------------------------------ the dev set, as a fresh machine runs it


def test_dev_set_through_the_cli_matches_the_classifier(tmp_path: Path) -> None:
    work = tmp_path / "fresh"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "triage", str(DEV), "--json", "--context", str(DEV / "context.json")],
        cwd=work, env=clean_env(tmp_path), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    found = rows(done.stdout.decode("utf-8"))
    expected = labels()
    ids = [str(r["message_id"]) for r in found]
    assert sorted(ids) == sorted(expected)  # every labelled message once, nothing else
    context = TriageContext.from_json(json.loads((DEV / "context.json").read_text(encoding="utf-8")))
    classifier = OfflineClassifier()
    direct = {}
    for file in sorted(DEV.glob("*.eml")):
        email = parse_email(file.read_bytes())
        direct[email.message_id] = classifier.classify(email, context).priority.value
    assert {r["message_id"]: r["priority"] for r in found} == direct
    assert list(work.iterdir()) == []  # no database, no key file, nothing written
    assert "60 message(s) from eml-folder" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_bad_path_is_a_clear_error_with_exit_code_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "triage", str(tmp_path / "nowhere")],
        cwd=tmp_path, env=clean_env(tmp_path), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "nowhere does not exist" in err and "Traceback" not in err
    assert done.stdout == b""


# ------------------------------------------------------------------ mailbox formats


def test_mbox_file(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    box.add(mail(1, "Contrat à signer aujourd'hui", "Merci de signer le contrat avant 17h aujourd'hui."))
    box.add(mail(2, "Compte rendu", "From the meeting: nothing to do.\nFrom now on we meet on Mondays."))
    box.add(MALFORMED)
    box.flush()
    box.close()
    result = run(str(path), "--json")
    assert result.exit_code == 0, result.output
    found = rows(result.stdout)
    assert [r["message_id"] for r in found] == ["<m1@northwind.test>", "<m2@northwind.test>", "<broken@test>"]
    assert found[0]["priority"] in ("critical", "important")
    broken = found[2]
    assert broken["priority"] in ("critical", "important", "informative", "spam")
    assert any(str(r).startswith("parse warning: ") for r in broken["reasons"])  # type: ignore[attr-defined]
    assert "3 message(s) from mbox" in result.stderr


def test_mbox_lines_starting_with_from_inside_a_body_do_not_split_it(run: Callable[..., Result], tmp_path: Path) -> None:
    first = mail(1, "Un", "Bonjour.\n")
    second = mail(2, "Deux", "Ligne.\n")
    raw = (
        b"From paul@northwind.test Mon Mar  2 09:00:00 2026\n" + first.replace(b"Bonjour.", b"Bonjour.\nFrom me, hello")
        + b"\nFrom paul@northwind.test Mon Mar  2 09:05:00 2026\n" + second.replace(b"Ligne.", b">From quoted")
        + b"\n"
    )  # fmt: skip
    path = tmp_path / "raw.mbox"
    path.write_bytes(raw)
    result = run(str(path), "--json")
    assert result.exit_code == 0, result.output
    assert [r["message_id"] for r in rows(result.stdout)] == ["<m1@northwind.test>", "<m2@northwind.test>"]


def test_maildir(run: Callable[..., Result], tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    box.add(mailbox.MaildirMessage(mail(1, "Nouveau", "Pouvez-vous me rappeler ?")))
    seen = mailbox.MaildirMessage(mail(2, "Déjà lu", "Pour info."))
    seen.set_subdir("cur")
    seen.add_flag("S")
    box.add(seen)
    box.add_folder("Sent").add(mailbox.MaildirMessage(mail(3, "Envoyé", "Mon message.")))
    result = run(str(root), "--json")
    assert result.exit_code == 0, result.output
    assert sorted(r["message_id"] for r in rows(result.stdout)) == ["<m1@northwind.test>", "<m2@northwind.test>"]
    assert "Maildir subfolders not read: .Sent" in result.stderr
    result = run(str(root / ".Sent"), "--json")
    assert [r["message_id"] for r in rows(result.stdout)] == ["<m3@northwind.test>"]


def test_folder_of_eml_is_read_recursively_and_an_unreadable_file_does_not_stop_the_run(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    root = tmp_path / "export"
    (root / "2026" / "03").mkdir(parents=True)
    (root / ".cache").mkdir()
    (root / "a.eml").write_bytes(mail(1, "Un", "Bonjour."))
    (root / "2026" / "03" / "b.EML").write_bytes(mail(2, "Deux", "Bonjour."))
    (root / ".cache" / "c.eml").write_bytes(mail(3, "Caché", "Bonjour."))
    (root / "notes.txt").write_text("not a message")
    (root / "gone.eml").symlink_to(root / "missing-target.eml")
    (root / "z.eml").write_bytes(MALFORMED)
    result = run(str(root), "--json")
    assert result.exit_code == 2
    assert [r["message_id"] for r in rows(result.stdout)] == [
        "<m1@northwind.test>", "<broken@test>", "<m2@northwind.test>"
    ]  # fmt: skip
    assert "skipped gone.eml: cannot read" in result.stderr
    assert "1 message file(s) could not be read" in result.stderr
    assert "Traceback" not in result.output


def test_single_eml_file_and_table_output(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(mail(1, "Contrat à signer aujourd'hui", "Merci de signer le contrat avant 17h aujourd'hui."))
    result = run(str(path), "--context", str(DEV / "context.json"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PRIORITY", "ACTION", "DEADLINE", "SOURCE", "SUMMARY"]
    assert "one.eml" in lines[1]
    assert lines[-1].startswith("1 message(s) from eml")


def test_empty_mbox_and_empty_maildir_triage_nothing(run: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "empty.mbox").write_bytes(b"")
    mailbox.Maildir(str(tmp_path / "md"), create=True)
    for path in (tmp_path / "empty.mbox", tmp_path / "md"):
        result = run(str(path), "--json")
        assert result.exit_code == 0 and result.stdout == "", result.output


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mbox", "does not exist"),
        (lambda d: d, "holds no .eml files"),
    ],
)
def test_unusable_path(run: Callable[..., Result], tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    result = run(str(make(folder)), "--json")
    assert result.exit_code == 2 and message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ('{"known_clients": [', "is not valid JSON (line 1, column"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"known_clients": "acme.test"}', "'known_clients' must be a list"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_bad_context_file(run: Callable[..., Result], tmp_path: Path, content: str | bytes | None, message: str) -> None:
    context = tmp_path / "context.json"
    if isinstance(content, bytes):
        context.write_bytes(content)
    elif content is not None:
        context.write_text(content)
    eml = tmp_path / "one.eml"
    eml.write_bytes(mail(1, "Un", "Bonjour."))
    result = run(str(eml), "--json", "--context", str(context))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "context file" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


def test_gemini_mode_without_key_names_the_setting(run: Callable[..., Result], tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(mail(1, "Un", "Bonjour."))
    result = run(str(eml), env={"COURRIER_TRIAGE": "gemini"})
    assert result.exit_code == 2
    assert "COURRIER_GEMINI_API_KEY is required when COURRIER_TRIAGE=gemini" in result.output


# ------------------------------------------------------------------ the configured classifier


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


def test_gemini_mode_uses_gemini_and_falls_back_per_message(
    run: Callable[..., Result], tmp_path: Path, fake: FakeGemini
) -> None:
    fake.reset()
    fake.queue(Reply(body=verdict(priority="informative", action="read", summary="Pour information")))
    # the second request finds no reply queued: the fake answers 500
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    box.add(mail(1, "Compte rendu", "Voici le compte rendu de la réunion."))
    box.add(mail(2, "Contrat à signer aujourd'hui", "Merci de signer le contrat avant 17h aujourd'hui."))
    box.flush()
    box.close()
    env = {
        "COURRIER_TRIAGE": "gemini",
        "COURRIER_GEMINI_API_KEY": "cli-key",
        "COURRIER_GEMINI_API_URL": fake.url,
        "COURRIER_GEMINI_TIMEOUT": "5",
    }
    result = run(str(path), "--json", env=env)
    assert result.exit_code == 0, result.output
    first, second = rows(result.stdout)
    assert first["summary"] == "Pour information" and not any("fallback" in str(r) for r in first["reasons"])  # type: ignore[attr-defined]
    assert second["reasons"][-1] == "fallback: gemini server error (500)"  # type: ignore[index]
    assert [s.headers.get("x-goog-api-key") for s in fake.seen] == ["cli-key", "cli-key"]


class _Flaky:
    """A classifier that fails on one subject: the run must go on."""

    def classify(self, email, context):  # type: ignore[no-untyped-def]
        if email.subject == "Boum":
            raise RuntimeError("bug")
        return OfflineClassifier().classify(email, context)


def test_a_classifier_error_on_one_message_does_not_stop_the_batch(tmp_path: Path) -> None:
    from integrations.triage.batch import read_sources, triage_sources

    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    for n, subject in enumerate(("Un", "Boum", "Trois"), start=1):
        box.add(mail(n, subject, "Bonjour."))
    box.flush()
    box.close()
    kind, sources, _ = read_sources(path)
    outcomes = list(triage_sources(sources, _Flaky(), TriageContext()))
    assert kind == "mbox" and [o.row["message_id"] for o in outcomes if o.row] == [
        "<m1@northwind.test>", "<m2@northwind.test>", "<m3@northwind.test>"
    ]  # fmt: skip
    failed = outcomes[1]
    assert failed.failure == "classifier error: RuntimeError"
    assert failed.row is not None and failed.row["priority"] is None
    assert outcomes[0].failure is None and outcomes[2].row and outcomes[2].row["priority"]
