"""What a message says: asks, threats, outages, scams, marketing, notices; word lists in `lexicon`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.triage.lexicon import fraud, marketing, notification, request, risk
from integrations.triage.text import compile_terms, sentences

__all__ = ["Cues", "read_cues"]

Span = tuple[int, int]

_ASK = compile_terms(request.ASKS)
_NO_ACTION = compile_terms(request.NO_ACTION)
_NO_REPLY = compile_terms(request.NO_REPLY)
_SIGNATURE = compile_terms(request.SIGNATURE)
_PAYMENT = compile_terms(request.PAYMENT)
_CALL = compile_terms(request.CALL)
_FORMAL = compile_terms(risk.FORMAL_NOTICES)
_SUMMONS = compile_terms(risk.SUMMONS)
_AUTHORITY = compile_terms(risk.AUTHORITIES)
_CONSEQUENCE = compile_terms(risk.CONSEQUENCES)
_OUTAGE = compile_terms(risk.OUTAGES)
_LOW = compile_terms(risk.LOW_PRIORITY)
_IMMEDIACY = compile_terms(risk.IMMEDIACY)
_BLOCKED = compile_terms(risk.ACCOUNT_BLOCKED)
_CHURN = compile_terms(risk.CHURN)
_TENDER = compile_terms(risk.TENDERS)
_ORDER = compile_terms(risk.ORDERS)
_CREDENTIALS = compile_terms(fraud.CREDENTIALS)
_NEGATION = compile_terms(fraud.NEGATIONS)
_PAY_LINK = compile_terms(fraud.PAY_LINKS)
_LURE = compile_terms(fraud.LURES)
_INVOICE = compile_terms(request.INVOICES)
_SETTLED = compile_terms(request.SETTLED)
_FEES = compile_terms(fraud.FEES_TO_RELEASE)
_GIFT = compile_terms(fraud.GIFT_CARDS)
_SECRET_TRANSFER = compile_terms(fraud.CONFIDENTIAL_TRANSFER)
_BANK_CHANGE = compile_terms(fraud.BANK_CHANGE)
_LOTTERY = compile_terms(fraud.LOTTERY)
_INVESTMENT = compile_terms(fraud.INVESTMENT_SCAM)
_PROMO = compile_terms(marketing.PROMOTIONS)
_COLD = compile_terms(marketing.COLD_OUTREACH)
_OPT_OUT = compile_terms(marketing.OPT_OUT)
_UNSOLICITED = compile_terms(marketing.UNSOLICITED_SOURCE)
_SOLICITATION = compile_terms(marketing.SOLICITATIONS)
_SERVICE = compile_terms(marketing.SERVICE_RELATIONSHIP)
_STATUS = compile_terms(notification.STATUS_NOTICES)
_RESOLVED = compile_terms(notification.RESOLVED)
_PRICE = compile_terms(notification.PRICE_CHANGES)
_APPLICATION = compile_terms(notification.APPLICATIONS)
_QUOTE = compile_terms(notification.QUOTE_REQUESTS)
_MEETING = compile_terms(notification.MEETING_CHANGES)
_CALL_ME = re.compile(
    r"(?:je suis|i am|i'm) (?:joignable|reachable|disponible par telephone)|(?:appelez|rappelez)-moi|call me\b"
)
_LINK = re.compile(r"https?://|www\.|<http")
_WORD = re.compile(r"[a-z]{2,}")


@dataclass(frozen=True)
class Cues:
    """Phrases found in the new part of a message (and, for footers, its signature)."""

    ask_sentences: frozenset[Span]
    explicit_asks: bool
    consequence_sentences: frozenset[Span]
    questions: int
    no_action: bool
    no_reply: bool
    signature_asked: bool
    payment_asked: bool
    call_asked: bool
    formal_notice: bool
    consequence: bool
    outage: bool
    low_priority: bool
    immediacy: bool
    account_blocked: bool
    churn: bool
    tender: bool
    order: bool
    credentials: bool
    pay_link: bool
    lure: bool
    invoice: bool
    fees_to_release: bool
    gift_cards: bool
    secret_transfer: int
    bank_change: bool
    lottery: int
    investment: int
    promotions: int
    cold_outreach: int
    opt_out: bool
    unsolicited: bool
    solicitation: bool
    service_relationship: bool
    status_notice: int
    resolved: bool
    price_change: bool
    application: bool
    quote_request: bool
    meeting_change: bool
    links: int

    @property
    def asks(self) -> bool:
        """Whether anything is asked of the reader."""
        return bool(self.ask_sentences)


def _sentence_hits(
    pattern: re.Pattern[str], text: str, spans: list[Span], *, skip_negated: bool = False
) -> set[Span]:
    hits: set[Span] = set()
    for match in pattern.finditer(text):
        span = next(((s, e) for s, e in spans if s <= match.start() < e), (match.start(), match.end()))
        if skip_negated and _NEGATION.search(text, span[0], span[1]):
            continue
        hits.add(span)
    return hits


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len({m.group(0) for m in pattern.finditer(text)})


def read_cues(subject: str, body: str, footer: str) -> Cues:
    """Find the cues in the folded subject, folded new body and folded footer (signature and below)."""
    text = subject + "\n\n" + body
    spans = sentences(text)
    asks = _sentence_hits(_ASK, text, spans)
    question_spans = {
        (s, e)
        for s, e in spans
        if s >= len(subject) and text[s:e].rstrip().endswith("?") and len(_WORD.findall(text[s:e])) >= 3
    }
    consequence_spans = _sentence_hits(_CONSEQUENCE, text, spans)
    # What is asked: ask and question sentences, plus threats ("sans ce document signé ...").
    ask_text = (
        " ".join(text[s:e] for s, e in sorted(asks | question_spans | consequence_spans)) + " " + subject
    )
    everything = text + "\n\n" + footer
    summons = bool(_SUMMONS.search(text)) and bool(_AUTHORITY.search(text))
    return Cues(
        ask_sentences=frozenset(asks | question_spans),
        explicit_asks=bool(asks),
        consequence_sentences=frozenset(consequence_spans),
        questions=len(question_spans),
        no_action=bool(_NO_ACTION.search(text)),
        no_reply=bool(_NO_REPLY.search(everything)),
        signature_asked=bool(_SIGNATURE.search(ask_text)),
        payment_asked=bool(_PAYMENT.search(ask_text)),
        call_asked=bool(_CALL.search(ask_text)) or bool(_CALL_ME.search(text)),
        formal_notice=bool(_FORMAL.search(text)) or summons,
        consequence=bool(consequence_spans),
        outage=bool(_OUTAGE.search(text)),
        low_priority=bool(_LOW.search(text)),
        immediacy=bool(_IMMEDIACY.search(text)),
        account_blocked=bool(_BLOCKED.search(text)),
        churn=bool(_CHURN.search(text)),
        tender=bool(_TENDER.search(text)),
        order=bool(_ORDER.search(text)),
        credentials=bool(_sentence_hits(_CREDENTIALS, text, spans, skip_negated=True)),
        pay_link=bool(_sentence_hits(_PAY_LINK, text, spans, skip_negated=True)),
        lure=bool(_sentence_hits(_LURE, text, spans, skip_negated=True)),
        invoice=bool(_INVOICE.search(text)) and not _SETTLED.search(text),
        fees_to_release=bool(_FEES.search(text)),
        gift_cards=bool(_GIFT.search(text)),
        secret_transfer=_count(_SECRET_TRANSFER, text),
        bank_change=bool(_sentence_hits(_BANK_CHANGE, text, spans, skip_negated=True)),
        lottery=_count(_LOTTERY, text),
        investment=_count(_INVESTMENT, text),
        promotions=_count(_PROMO, everything),
        cold_outreach=_count(_COLD, everything),
        opt_out=bool(_OPT_OUT.search(everything)),
        unsolicited=bool(_UNSOLICITED.search(everything)),
        solicitation=bool(_SOLICITATION.search(everything)),
        service_relationship=bool(_SERVICE.search(everything)),
        status_notice=_count(_STATUS, text),
        resolved=bool(_RESOLVED.search(text)),
        price_change=bool(_PRICE.search(text)),
        application=bool(_APPLICATION.search(text)),
        quote_request=bool(_QUOTE.search(text)),
        meeting_change=bool(_MEETING.search(text)),
        links=len(_LINK.findall(everything)),
    )
