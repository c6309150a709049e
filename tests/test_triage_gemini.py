"""The Gemini adapter against a local fake of generateContent: verdicts, guards, and fallback on any error."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from bot.bootstrap import build_classifier, build_services
from bot.settings import SettingsError, load_settings
from integrations.mime import parse_email
from integrations.triage import Action, Classifier, OfflineClassifier, Priority, TriageContext, TriageResult
from integrations.triage.gemini import LIMITS, GeminiClassifier
from tests.conftest import make_settings
from tests.fake_gemini import FakeGemini, Reply, answer, error, verdict
from tests.triage_support import CONTEXT, MONDAY_9, message

KEY = "test-key-0123456789"
MODEL = "gemini-2.5-flash"

CRITICAL = message(
    "Paul Girard <paul@northwind.test>",
    "Contrat à signer aujourd'hui",
    "Bonjour Khady, merci de nous retourner le contrat signé avant 17h aujourd'hui, sinon nous perdons "
    "le créneau. Montant : 2 450 000 FCFA.",
)
PHISHING = message(
    "Banque du Fleuve <securite@banquedufleuve-secure.test>",
    "URGENT : votre compte sera suspendu",
    "Votre compte sera suspendu aujourd'hui. Connectez-vous ici pour confirmer vos identifiants : "
    "https://banquedufleuve-secure.test/login?user=khady",
)
REPLY_TO_ELSEWHERE = message(
    "Jean Kone <jean@prospect-co.test>",
    "Rappel urgent",
    "Bonjour, merci de me rappeler aujourd'hui avant 16h au sujet du projet.",
    reply_to="jean.kone@autre-domaine.test",
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def gemini(fake: FakeGemini) -> Iterator[GeminiClassifier]:
    fake.reset()
    classifier = GeminiClassifier(KEY, MODEL, fake.url, timeout=5.0, fallback=OfflineClassifier())
    yield classifier
    classifier.close()


def offline(email_: object, context: TriageContext = CONTEXT) -> TriageResult:
    return OfflineClassifier().classify(email_, context)  # type: ignore[arg-type]


# ------------------------------------------------------------------ a valid answer


def test_valid_answer_becomes_the_result(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(
        Reply(
            body=verdict(
                priority="critical",
                summary="Northwind attend le contrat signé avant 17h aujourd'hui (2 450 000 FCFA)",
                action="sign",
                deadline="2026-03-02T17:00:00+00:00",
                deadline_text="avant 17h aujourd'hui",
                amounts=[{"value": "2450000", "currency": "xof", "text": "2 450 000 FCFA"}],
                reasons=["known client", "deadline today", "signature requested"],
            )
        )
    )
    result = gemini.classify(CRITICAL, CONTEXT)
    assert result.classifier == "gemini"
    assert result.priority is Priority.CRITICAL and result.action is Action.SIGN
    assert result.summary.startswith("Northwind attend le contrat")
    assert result.deadline == datetime.fromisoformat("2026-03-02T17:00:00+00:00")
    assert result.deadline is not None and str(result.deadline.tzinfo) == "Africa/Dakar"
    assert result.deadline_text == "avant 17h aujourd'hui"
    assert [(a.value, a.currency, a.text) for a in result.amounts] == [
        (Decimal("2450000"), "XOF", "2 450 000 FCFA")
    ]
    assert result.reasons == ("known client", "deadline today", "signature requested")
    assert not any(r.startswith("fallback") for r in result.reasons)


def test_request_names_the_model_key_and_asks_for_schema_json(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(Reply(body=verdict()))
    gemini.classify(CRITICAL, CONTEXT)
    assert len(fake.seen) == 1
    seen = fake.seen[0]
    assert seen.path == f"/v1beta/models/{MODEL}:generateContent"
    assert seen.headers.get("x-goog-api-key") == KEY
    assert KEY not in seen.raw.decode()  # the key travels in the header only
    config = seen.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert set(schema["required"]) == {
        "priority", "summary", "action", "deadline", "deadline_text", "amounts", "reasons"
    }  # fmt: skip
    assert schema["properties"]["priority"]["enum"] == ["critical", "important", "informative", "spam"]
    assert schema["properties"]["action"]["enum"] == ["reply", "call", "sign", "pay", "read", "ignore"]
    assert set(schema["properties"]["amounts"]["items"]["properties"]) == {"value", "currency", "text"}
    assert "triage" in seen.body["systemInstruction"]["parts"][0]["text"]
    prompt = seen.prompt
    assert "Subject: Contrat à signer aujourd'hui" in prompt
    assert "paul@northwind.test" in prompt
    assert "known client: Northwind Traders" in prompt
    assert "Africa/Dakar" in prompt and "French" in prompt
    assert MONDAY_9.isoformat() in prompt


def test_body_sent_is_truncated_newest_part_without_attachments_or_link_paths(
    fake: FakeGemini, gemini: GeminiClassifier
) -> None:
    secret = b"PAYLOAD-OF-THE-ATTACHMENT-" * 40
    newest = "Bonjour, voici le point demandé. " + " ".join(f"mot{i}" for i in range(3000))
    body = (
        "Lien : https://portail.example.test/reset?token=SECRET-TOKEN-42&email=khady%40x.test\n"
        + newest
        + "\n\nLe lun. 2 mars 2026 à 08:00, Khady Mbaye <khady@mbaye-conseil.test> a écrit :\n"
        "> HISTORIQUE-CITE que personne ne doit voir\n"
    )
    msg = EmailMessage()
    msg["From"] = "Paul Girard <paul@northwind.test>"
    msg["To"] = "khady@mbaye-conseil.test"
    msg["Subject"] = "Point"
    msg["Date"] = format_datetime(MONDAY_9)
    msg["Message-ID"] = "<long@northwind.test>"
    msg.set_content(body)
    msg.add_attachment(secret, maintype="application", subtype="pdf", filename="devis-signe.pdf")
    email_ = parse_email(msg.as_bytes())
    fake.queue(Reply(body=verdict()))
    result = gemini.classify(email_, CONTEXT)
    assert result.classifier == "gemini"
    raw = fake.seen[0].raw.decode()
    prompt = fake.seen[0].prompt
    assert "PAYLOAD-OF-THE-ATTACHMENT" not in raw
    assert base64.b64encode(secret)[:40].decode() not in raw
    assert "devis-signe.pdf (application/pdf)" in prompt  # the name only, said to be without contents
    assert "mot10 " in prompt and "mot2999" not in prompt
    assert "more characters not sent" in prompt
    assert len(prompt) < LIMITS["body"] + 2500
    assert "HISTORIQUE-CITE" not in raw
    assert "[link: portail.example.test]" in prompt and "SECRET-TOKEN-42" not in raw


def test_links_are_sent_as_host_names(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(Reply(body=verdict(priority="spam", action="ignore", summary="Hameçonnage probable")))
    gemini.classify(PHISHING, CONTEXT)
    prompt = fake.seen[0].prompt
    assert "[link: banquedufleuve-secure.test]" in prompt
    assert "user=khady" not in prompt
    assert "Warning signs on the sender: lookalike domain, display name mismatch" in prompt


# ------------------------------------------------------------------ every failure falls back


def _blocked() -> dict[str, object]:
    return {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 800, "totalTokenCount": 800},
        "modelVersion": MODEL,
    }


FAILURES = {
    "invalid JSON": (Reply(body=answer('{"priority": "critical", "summary": "oops"')), "invalid JSON"),
    "prose instead of JSON": (Reply(body=answer("This email looks critical to me.")), "invalid JSON"),
    "unknown priority": (Reply(body=verdict(priority="urgent")), "schema mismatch"),
    "missing fields": (Reply(body=answer(json.dumps({"priority": "critical"}))), "schema mismatch"),
    "empty summary": (Reply(body=verdict(summary="  ")), "schema mismatch"),
    "bad deadline": (Reply(body=verdict(deadline="demain 17h")), "schema mismatch"),
    "bad amount": (
        Reply(body=verdict(amounts=[{"value": "beaucoup", "currency": "XOF", "text": "2 450 000 FCFA"}])),
        "schema mismatch",
    ),
    "JSON array": (Reply(body=answer("[1, 2]")), "schema mismatch"),
    "429": (Reply(429, error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")), "rate limited (429)"),
    "500": (Reply(500, error(500, "INTERNAL", "Internal error")), "server error (500)"),
    "503": (Reply(503, error(503, "UNAVAILABLE", "The model is overloaded")), "server error (503)"),
    "403 bad key": (Reply(403, error(403, "PERMISSION_DENIED", "API key not valid")), "HTTP error (403)"),
    "HTML error page": (Reply(502, b"<html>Bad gateway</html>"), "server error (502)"),
    "blocked prompt": (Reply(body=_blocked()), "refused (SAFETY)"),
    "safety finish": (Reply(body=answer("", finish="SAFETY")), "refused (SAFETY)"),
    "no candidates": (Reply(body={"candidates": [], "usageMetadata": {}}), "empty answer"),
    "cut short": (Reply(body=answer('{"priority": "crit', finish="MAX_TOKENS")), "answer cut short (MAX_TOKENS)"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_any_failure_falls_back_to_the_offline_verdict(
    fake: FakeGemini, gemini: GeminiClassifier, case: str
) -> None:
    reply, kind = FAILURES[case]
    fake.queue(reply)
    result = gemini.classify(CRITICAL, CONTEXT)
    expected = offline(CRITICAL)
    assert result.classifier == "offline"
    assert result.reasons == (*expected.reasons, f"fallback: gemini {kind}")
    assert (result.priority, result.summary, result.action, result.deadline, result.amounts) == (
        expected.priority, expected.summary, expected.action, expected.deadline, expected.amounts
    )  # fmt: skip
    assert len(fake.seen) == 1  # no retry: the offline verdict is immediate


def test_timeout_falls_back(fake: FakeGemini) -> None:
    fake.reset()
    classifier = GeminiClassifier(KEY, MODEL, fake.url, timeout=0.3, fallback=OfflineClassifier())
    fake.queue(Reply(body=verdict(priority="spam"), hold=True))
    try:
        result = classifier.classify(CRITICAL, CONTEXT)
    finally:
        fake.release()
        classifier.close()
    assert result.classifier == "offline"
    assert result.priority is Priority.CRITICAL
    assert result.reasons[-1] == "fallback: gemini timeout"
    assert fake.seen[0].headers.get("X-Server-Timeout") == "1"


def test_unreachable_server_falls_back() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed as soon as the block ends: nothing listens there
    classifier = GeminiClassifier(KEY, MODEL, f"http://127.0.0.1:{port}", timeout=2.0, fallback=OfflineClassifier())
    try:
        result = classifier.classify(CRITICAL, CONTEXT)
    finally:
        classifier.close()
    assert result.classifier == "offline"
    assert result.reasons[-1] == "fallback: gemini network error"


def test_fallback_logs_the_kind_without_personal_data(
    fake: FakeGemini, gemini: GeminiClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    fake.queue(Reply(500, error(500, "INTERNAL", "Internal error")))
    with caplog.at_level("INFO"):
        gemini.classify(CRITICAL, CONTEXT)
    text = caplog.text
    assert "server error (500)" in text
    for private in ("paul@northwind.test", "Paul Girard", "Contrat", "khady", KEY):
        assert private not in text


# ------------------------------------------------------------------ guards from the offline reading


def test_phishing_flagged_offline_stays_spam_whatever_gemini_says(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    assert "phishing" in offline(PHISHING).reasons
    fake.queue(Reply(body=verdict(priority="critical", action="call", summary="La banque bloque le compte")))
    result = gemini.classify(PHISHING, CONTEXT)
    assert result.classifier == "gemini"
    assert result.priority is Priority.SPAM and result.action is Action.IGNORE
    assert "guard: offline phishing signs kept" in result.reasons
    assert result.deadline is None


def test_sender_with_warning_signs_is_never_made_critical(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    assert offline(REPLY_TO_ELSEWHERE).priority is Priority.IMPORTANT
    fake.queue(Reply(body=verdict(priority="critical", action="call", summary="Rappeler Jean avant 16h")))
    result = gemini.classify(REPLY_TO_ELSEWHERE, CONTEXT)
    assert result.priority is Priority.IMPORTANT
    assert "guard: not critical (reply-to elsewhere)" in result.reasons


def test_offline_critical_is_not_dropped_below_important(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(Reply(body=verdict(priority="informative", action="read", summary="Contrat pour information")))
    result = gemini.classify(CRITICAL, CONTEXT)
    assert result.priority is Priority.IMPORTANT
    assert "guard: offline reading is critical" in result.reasons


def test_gemini_may_lower_and_raise_where_no_guard_applies(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(Reply(body=verdict(priority="important", action="reply")))
    assert gemini.classify(CRITICAL, CONTEXT).priority is Priority.IMPORTANT
    unknown = message("Awa Diop <awa.diop@nouveau-client.test>", "Panne", "Notre site est en panne, rappelez-moi.")
    fake.queue(Reply(body=verdict(priority="critical", action="call")))
    assert gemini.classify(unknown, CONTEXT).priority is Priority.CRITICAL


def test_manager_feedback_moves_gemini_verdicts_too(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    context = TriageContext(**{**CONTEXT.__dict__, "sender_feedback": {"paul@northwind.test": -1}})
    fake.queue(Reply(body=verdict(priority="important", action="reply")))
    result = gemini.classify(CRITICAL, context)
    assert result.priority is Priority.INFORMATIVE and "sender feedback" in result.reasons
    fake.queue(Reply(body=verdict(priority="informative", action="read")))
    other = message("Lea <lea@northwind.test>", "Compte rendu", "Voici le compte rendu de la réunion.")
    context = TriageContext(**{**CONTEXT.__dict__, "sender_feedback": {"lea@northwind.test": 1}})
    result = gemini.classify(other, context)
    assert result.priority is Priority.IMPORTANT and "sender feedback" in result.reasons


def test_amounts_not_in_the_message_are_dropped_and_offline_amounts_kept(
    fake: FakeGemini, gemini: GeminiClassifier
) -> None:
    fake.queue(
        Reply(
            body=verdict(
                amounts=[
                    {"value": "9999", "currency": "EUR", "text": "9 999 €"},  # not in the message
                ]
            )
        )
    )
    result = gemini.classify(CRITICAL, CONTEXT)
    assert [(a.value, a.currency) for a in result.amounts] == [(Decimal("2450000"), "XOF")]


def test_deadline_long_before_the_message_is_ignored(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(Reply(body=verdict(deadline="2025-11-01T00:00:00+00:00", deadline_text="facture du 01/11")))
    result = gemini.classify(CRITICAL, CONTEXT)
    assert result.classifier == "gemini" and result.deadline is None and result.deadline_text is None


def test_a_date_alone_means_six_pm_in_the_managers_zone(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    context = TriageContext(**{**CONTEXT.__dict__, "timezone": "Europe/Paris"})
    fake.queue(Reply(body=verdict(deadline="2026-03-06", deadline_text="avant vendredi")))
    result = gemini.classify(CRITICAL, context)
    assert result.deadline is not None and result.deadline.isoformat() == "2026-03-06T18:00:00+01:00"


def test_long_summary_is_one_line_within_the_limit(fake: FakeGemini, gemini: GeminiClassifier) -> None:
    fake.queue(Reply(body=verdict(summary="Ligne un\nligne deux " + "x" * 300)))
    result = gemini.classify(CRITICAL, CONTEXT)
    assert "\n" not in result.summary and len(result.summary) <= 160 and result.summary.endswith("…")


def test_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="API key"):
        GeminiClassifier("  ", MODEL, None, timeout=1.0, fallback=OfflineClassifier())


# ------------------------------------------------------------------ settings and composition root


def test_gemini_mode_without_a_key_is_a_startup_error_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURRIER_GEMINI_API_KEY", raising=False)
    with pytest.raises(SettingsError, match="COURRIER_GEMINI_API_KEY is required when COURRIER_TRIAGE=gemini"):
        load_settings(_env_file=None, triage="gemini")
    with pytest.raises(SettingsError, match="COURRIER_GEMINI_API_URL"):
        load_settings(_env_file=None, gemini_api_url="generativelanguage.googleapis.com")
    with pytest.raises(SettingsError, match="COURRIER_GEMINI_TIMEOUT"):
        load_settings(_env_file=None, gemini_timeout=0)


def test_build_classifier_picks_the_configured_one(fake: FakeGemini, db_url: str) -> None:
    assert isinstance(build_classifier(make_settings(db_url)), OfflineClassifier)
    settings = make_settings(
        db_url, triage="gemini", gemini_api_key=KEY, gemini_api_url=fake.url, gemini_model="gemini-x-test"
    )
    classifier = build_classifier(settings)
    assert isinstance(classifier, GeminiClassifier)
    fake.reset()
    fake.queue(Reply(body=verdict()))
    assert classifier.classify(CRITICAL, CONTEXT).classifier == "gemini"
    assert fake.seen[0].model == "gemini-x-test"
    classifier.close()
    services = build_services(settings)
    try:
        assert isinstance(services.get(Classifier), GeminiClassifier)  # type: ignore[type-abstract]
    finally:
        services.get(Classifier).close()  # type: ignore[type-abstract, attr-defined]
        services.db.dispose()
