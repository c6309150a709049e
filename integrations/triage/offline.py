"""The embedded rule-based classifier: reads sender, thread, deadline, stakes and asks, offline."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from integrations.mime import ParsedEmail
from integrations.triage.amount import find_amounts
from integrations.triage.bulk import BulkProfile, analyze_bulk
from integrations.triage.content import Cues, read_cues
from integrations.triage.deadline import (
    Deadline,
    business_horizon_days,
    find_deadlines,
    horizon_days,
    pick_deadline,
)
from integrations.triage.model import Action, Amount, Priority, TriageContext, TriageResult
from integrations.triage.sender import (
    AUTH_FAILED,
    DISPLAY_MISMATCH,
    FREE_MAIL_COMPANY,
    LOOKALIKE,
    MANAGER_IMPERSONATION,
    REPLY_TO_ELSEWHERE,
    Relation,
    SenderProfile,
    analyze_sender,
    registrable_domain,
)
from integrations.triage.summary import format_deadline, summarize
from integrations.triage.text import fold, url_domains
from integrations.triage.thread import Thread, split_thread
from integrations.triage.traps import find_traps

__all__ = ["OfflineClassifier", "apply_feedback"]

_ORDER = (Priority.SPAM, Priority.INFORMATIVE, Priority.IMPORTANT, Priority.CRITICAL)
_FYI = re.compile(
    r"\bfyi\b|pour info|for your information|a titre d'information|rien a faire|nothing to do|je m'en occupe|i'm on it|i'll handle"
)
_FORWARD = re.compile(r"^\s*(?:tr|fwd?|wg|rv)\s*:", re.IGNORECASE)
_CONTRACT = re.compile(
    r"contrat|contract|\bsow\b|avenant|engagement de confidentialite|\bnda\b|bon de commande|charte|accord"
)
_INVOICE = re.compile(r"factur|invoice|honoraires|cotisations")
_CODES = re.compile(r"\bcodes?\b")
_DOCUMENTS = re.compile(
    r"\bcv\b|pieces|documents?|attestations?|releves|justificatifs?|rapport|note d'une page|report\b|chiffres"
)


@dataclass(frozen=True)
class _Reading:
    """Everything read from one message, before the decision."""

    email: ParsedEmail
    sent: datetime
    thread: Thread
    sender: SenderProfile
    bulk: BulkProfile
    cues: Cues
    deadline: Deadline | None
    horizon: int | None
    amounts: tuple[Amount, ...]
    foreign_links: int
    traps: tuple[str, ...]
    folded_subject: str
    folded_body: str


@dataclass
class _Verdict:
    priority: Priority
    topic: str
    reasons: list[str]
    phishing: bool = False


def apply_feedback(
    priority: Priority, address: str, context: TriageContext, *, phishing: bool = False
) -> tuple[Priority, str | None]:
    """Move a priority by the manager's votes: one level per net vote on the sender, half that on the domain."""
    sender_votes = context.sender_feedback.get(address.lower(), 0)
    domain = address.rpartition("@")[2].lower()
    domain_votes = context.domain_feedback.get(domain, 0) or context.domain_feedback.get(
        registrable_domain(domain), 0
    )
    shift = max(-2, min(2, sender_votes))
    reason = "sender feedback" if sender_votes else None
    if domain_votes and abs(shift) < 2:
        step = int(domain_votes / 2)  # two votes on a domain weigh one on a sender
        if step:
            shift = max(-2, min(2, shift + max(-1, min(1, step))))
            reason = reason or "domain feedback"
    if shift == 0:
        return priority, None
    index = max(0, min(len(_ORDER) - 1, _ORDER.index(priority) + shift))
    moved = _ORDER[index]
    if phishing and _ORDER.index(moved) > _ORDER.index(Priority.IMPORTANT):
        moved = Priority.IMPORTANT
    return moved, reason


class OfflineClassifier:
    """Triage without any network or model: explicit rules over what the message says and who sent it."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    def classify(self, email: ParsedEmail, context: TriageContext) -> TriageResult:
        """Classify one parsed message in the mailbox owner's context."""
        reading = self._read(email, context)
        verdict = _decide(reading)
        priority, feedback_reason = apply_feedback(
            verdict.priority, email.from_addr, context, phishing=verdict.phishing
        )
        if feedback_reason:
            verdict.reasons.append(feedback_reason)
            verdict.priority = priority
            if (
                priority is not Priority.SPAM
                and verdict.topic in ("phishing", "scam", "marketing")
                and not verdict.phishing
            ):
                verdict.topic = "reply" if priority in (Priority.CRITICAL, Priority.IMPORTANT) else "info"
        action = _action(verdict, reading)
        zone = _zone(context.timezone)
        actionable = verdict.priority in (Priority.CRITICAL, Priority.IMPORTANT)
        deadline = reading.deadline.when.astimezone(zone) if actionable and reading.deadline else None
        deadline_phrase = (
            format_deadline(deadline, reading.sent.astimezone(zone), context.language) if deadline else None
        )
        summary = summarize(
            verdict.topic,
            _who(reading),
            email.subject,
            context.language,
            deadline=deadline_phrase,
            amount=reading.amounts[0] if reading.amounts and verdict.priority is not Priority.SPAM else None,
        )
        return TriageResult(
            priority=verdict.priority,
            summary=summary,
            action=action,
            deadline=deadline,
            deadline_text=reading.deadline.text if deadline and reading.deadline else None,
            amounts=reading.amounts,
            reasons=tuple(dict.fromkeys(verdict.reasons)),
        )

    def _read(self, email: ParsedEmail, context: TriageContext) -> _Reading:
        sent = email.date or self._clock()
        thread = split_thread(email.text)
        body = thread.newest
        forwarded = bool(thread.quoted) and (thread.forwarded or bool(_FORWARD.match(email.subject)))
        if forwarded and not _FYI.search(fold(body)):
            # A forward is read with the forwarded text: it says what the note asks about,
            # unless the note only passes it on for information.
            body = (body + "\n\n" + thread.quoted).strip()
        folded_subject = fold(email.subject)
        folded_body = fold(body)
        folded_footer = fold(thread.signature)
        sender = analyze_sender(email, context)
        bulk = analyze_bulk(email, folded_subject, folded_body + "\n" + folded_footer)
        cues = read_cues(folded_subject, folded_body, folded_footer)
        combined = email.subject + "\n\n" + body
        deadlines = find_deadlines(combined, sent, folded=folded_subject + "\n\n" + folded_body)
        asked = set(cues.ask_sentences | cues.consequence_sentences)
        # "The committee signs off at 5 pm today. If the DPA is not back by then, …": the threat
        # points back at the time given just before it.
        for start, end in cues.consequence_sentences:
            previous = max((span for span in cues.spans if span[1] <= start), default=None)
            if previous is not None and _BY_THEN.search(cues.text, start, end):
                asked.add(previous)
        deadline = pick_deadline(deadlines, asked=asked, excluded=set(cues.schedule_sentences) - asked)
        horizon = horizon_days(deadline.when, sent) if deadline else None
        amounts = find_amounts(combined, folded=folded_subject + "\n\n" + folded_body)
        own = {registrable_domain(sender.domain)} | {
            registrable_domain(d) for d in context.organization_domains
        }
        own |= {
            registrable_domain(p.domain) for p in (*context.known_clients, *context.suppliers) if p.domain
        }
        foreign = sum(
            1 for host in url_domains(body + "\n" + thread.signature) if registrable_domain(host) not in own
        )
        return _Reading(
            email,
            sent,
            thread,
            sender,
            bulk,
            cues,
            deadline,
            horizon,
            amounts,
            foreign,
            find_traps(email, body + "\n" + thread.signature),
            folded_subject,
            folded_body,
        )


_BY_THEN = re.compile(
    r"\b(?:by then|by that (?:time|date|hour)|d'ici la|passe (?:ce delai|cette heure|cette date|ce cap)|"
    r"avant cette (?:heure|date|echeance))\b"
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _who(reading: _Reading) -> str:
    sender = reading.sender
    if sender.party is not None and sender.party.name and sender.relation is not Relation.INTERNAL:
        return sender.party.name
    name = re.split(r"\s+(?:via|par|on behalf of)\s+", sender.display_name, maxsplit=1)[0].strip(" \"'")
    return name or sender.domain or reading.email.from_addr


def _relation_reasons(sender: SenderProfile) -> list[str]:
    reasons: list[str] = []
    if sender.relation is not Relation.UNKNOWN:
        reasons.append(sender.relation.value)
    if sender.vip and sender.relation is not Relation.VIP:
        reasons.append("vip")
    if sender.via_platform:
        reasons.append("sent through a platform for a known party")
    if sender.in_conversation:
        reasons.append("reply in an existing conversation")
    if sender.vouched:
        reasons.append("known party in copy")
    reasons.extend(sender.flags)
    return reasons


def _horizon_reason(horizon: int | None) -> str | None:
    if horizon is None:
        return None
    if horizon <= 0:
        return "deadline today"
    if horizon == 1:
        return "deadline tomorrow"
    if horizon <= 7:
        return "deadline this week or next"
    return "deadline later"


_FLAG_WEIGHTS = {
    LOOKALIKE: 3,
    MANAGER_IMPERSONATION: 3,
    AUTH_FAILED: 3,
    DISPLAY_MISMATCH: 2,
    FREE_MAIL_COMPANY: 2,
    REPLY_TO_ELSEWHERE: 1,
}


def _dangers(r: _Reading, trusted: bool) -> list[str]:
    """What the message asks for that phishing asks for."""
    c = r.cues
    danger: list[str] = []
    if c.credentials:
        danger.append("asks for credentials")
    if c.card_data_asked:
        danger.append("asks for card details")
    if c.fees_to_release:
        danger.append("fee to release funds or a parcel")
    if c.gift_cards:
        danger.append("gift cards")
    if c.untraceable_payment:
        danger.append("payment by money transfer to a phone number")
    if c.secret_transfer >= 2 or (c.secret_transfer and (c.payment_asked or r.amounts)):
        danger.append("confidential transfer request")
    if c.bank_change:
        danger.append("bank details change")
    if c.pay_link and (r.foreign_links or (not trusted and c.links)):
        danger.append("payment link")
    if c.lure and c.links and not trusted:
        danger.append("phishing lure")
    return danger


def _trusted_dangers(r: _Reading) -> list[str]:
    """What even a known address may not ask: credentials on another site; from the company's own
    domain, the hallmarks of CEO fraud (gift cards, a confidential transfer), since that address
    is the one a spoofed From most often shows."""
    c = r.cues
    danger: list[str] = []
    if r.foreign_links and c.credentials:
        danger.append("asks for credentials on an outside site")
    if r.sender.relation is Relation.INTERNAL and not r.sender.in_conversation:
        if c.gift_cards and (c.secret_transfer or _CODES.search(r.folded_body)):
            danger.append("gift cards")
        if c.secret_transfer >= 2 or (c.secret_transfer and (c.payment_asked or r.amounts)):
            danger.append("confidential transfer request")
    return danger


def _decide(r: _Reading) -> _Verdict:
    """The ordered rules: scams, phishing, marketing, automatic replies, notices, urgency, then asks."""
    s, c, b = r.sender, r.cues, r.bulk
    reasons = _relation_reasons(s)
    trusted = s.trusted or (s.in_conversation and not s.flags)
    credible = trusted or not s.flags
    close_relation = s.relation is not Relation.UNKNOWN or s.in_conversation

    scam = not trusted and (c.lottery >= 2 or c.investment >= 2 or (c.lottery > 0 and c.fees_to_release))
    if scam:
        return _Verdict(Priority.SPAM, "scam", [*reasons, "lottery or investment scam"], phishing=True)
    danger = _dangers(r, trusted) if not trusted else _trusted_dangers(r)
    if danger:
        return _Verdict(Priority.SPAM, "phishing", [*reasons, *danger, "phishing"], phishing=True)
    # A known address asking to pay through another site's link: a hijacked mailbox or an
    # invoice-redirection scam is possible, so it is never promoted to critical.
    outside_payment = trusted and r.foreign_links > 0 and c.pay_link
    pushes = c.asks or c.consequence or c.links > 0 or r.deadline is not None or c.payment_asked
    traps = [] if trusted else list(r.traps)
    clean = credible and not r.foreign_links and not traps
    spoofing = sum(_FLAG_WEIGHTS.get(flag, 1) for flag in s.flags) + 3 * len(traps) + (1 if pushes else 0)
    if spoofing >= 4:
        return _Verdict(Priority.SPAM, "phishing", [*reasons, *traps, "phishing"], phishing=True)

    if not trusted:
        score, why = _marketing_score(r)
        if score >= 3:
            return _Verdict(Priority.SPAM, "marketing", [*reasons, *b.reasons, *why])

    if b.auto_reply:
        return _Verdict(Priority.INFORMATIVE, "auto_reply", [*reasons, "automatic reply"])
    if b.calendar_reply:
        return _Verdict(Priority.INFORMATIVE, "calendar_reply", [*reasons, "calendar reply"])

    settled = c.no_action or (c.resolved and not c.ask_sentences)
    if c.formal_notice and not trusted and (s.flags or r.foreign_links):
        return _Verdict(
            Priority.SPAM,
            "phishing",
            [*reasons, "legal threat with an outside link", "phishing"],
            phishing=True,
        )
    # "Ce courriel vous est adressé à titre d'information" does not make a served writ optional.
    if c.formal_notice and not b.bulk and not c.notice_withdrawn:
        summons = (
            "summons" if re.search(r"convo|summon", r.folded_subject + r.folded_body) else "formal_notice"
        )
        return _Verdict(Priority.CRITICAL, summons, [*reasons, "formal notice"])

    horizon = r.horizon
    horizon_reason = _horizon_reason(horizon)
    # A threat to end the contract from a clean address the context does not know (a client's new
    # manager on a personal address) about something the company runs for them: no phisher
    # threatens to leave.
    stranger_churn = (
        c.churn and c.consequence and c.our_system and clean and not trusted and not b.bulk and not settled
    )
    live = not c.resolved and not c.low_priority and not c.no_action
    stakes = c.consequence or c.signature_asked or c.payment_asked or c.order or c.tender
    # Today, or a marked deadline tomorrow morning: any real ask is enough.
    # Later tomorrow: something must be at stake (a signature, a payment, a loss).
    morning = (
        r.deadline is not None and r.deadline.marked and r.deadline.when.astimezone(r.sent.tzinfo).hour <= 12
    )
    # Quotes, applications and meeting moves are the guide's everyday requests, whatever their date.
    everyday = c.quote_request or c.application or c.meeting_change
    if r.deadline is not None and horizon is not None and horizon > 1:
        horizon = business_horizon_days(r.deadline.when, r.sent)
    # A close party's own request with a marked deadline tomorrow ("by tomorrow noon") leaves today
    # to act, stakes stated or not.
    personal = trusted and close_relation and not b.bulk and not b.automated
    tomorrow_ask = (
        personal and c.explicit_asks and not everyday and r.deadline is not None and r.deadline.marked
    )
    urgent = (
        horizon is not None
        and (horizon <= 0 or (horizon == 1 and (stakes or morning or tomorrow_ask)))
        and not (c.low_priority and not c.consequence)
    )
    substantive = c.asks or stakes
    # An automated notice saying "aucune action n'est requise" with nothing asked (a filing receipt):
    # the deadline and consequence it quotes are the ones already met.
    waived = c.no_action and b.automated and not c.explicit_asks
    if urgent and substantive and not (settled and (not c.consequence or waived)) and not b.bulk:
        topic = _topic(r)
        extra = [horizon_reason] if horizon_reason else []
        if c.consequence:
            extra.append("consequence if missed")
        if outside_payment:
            return _Verdict(Priority.IMPORTANT, topic, [*reasons, *extra, "payment link to an outside site"])
        # A signing platform writes automatically, but the request is the known party's own.
        party_signature = s.via_platform and c.signature_asked
        if trusted and close_relation and (c.consequence or not b.automated or party_signature):
            return _Verdict(Priority.CRITICAL, topic, [*reasons, *extra])
        if stranger_churn:
            return _Verdict(Priority.CRITICAL, "churn", [*reasons, *extra, "client threatens to leave"])
        if _credible_stakes_today(r, traps):
            return _Verdict(Priority.CRITICAL, topic, [*reasons, *extra, "credible sender, formal stakes"])
        if _reported_incident(r, clean, trusted, close_relation):
            return _Verdict(Priority.CRITICAL, "outage", [*reasons, *extra, "outage reported"])
        return _Verdict(
            Priority.IMPORTANT, topic, [*reasons, *extra, "unverified sender" if not trusted else "automated"]
        )
    # A close party's own message, leaning to recall: a cut-off today the reader's action is waited
    # for ("la banque prend les remises jusqu'à 15h"), a request to act as soon as it is read, or a
    # request whose miss costs something, even where no ask or no date is spelled out as such.
    if personal and live and not settled and not everyday:
        marked_today = r.deadline is not None and r.deadline.marked and horizon is not None and horizon <= 0
        if marked_today:
            return _Verdict(Priority.CRITICAL, _topic(r), [*reasons, "deadline today"])
        if c.immediacy and (c.explicit_asks or c.call_asked):
            return _Verdict(Priority.CRITICAL, _topic(r), [*reasons, "asked as soon as possible"])
        if c.consequence and c.explicit_asks and horizon is None:
            return _Verdict(Priority.CRITICAL, _topic(r), [*reasons, "consequence if nothing is done"])
    if _reported_incident(r, clean, trusted, close_relation):
        return _Verdict(
            Priority.CRITICAL,
            "outage",
            [*reasons, "outage reported", *(["asked as soon as possible"] if c.immediacy else [])],
        )
    if c.account_blocked and live and trusted and close_relation and (c.asks or urgent) and not settled:
        return _Verdict(Priority.CRITICAL, "blocked", [*reasons, "account or card blocked"])
    escalation = (
        c.severe
        and (c.payment_asked or c.explicit_asks)
        and (horizon is None or horizon <= 15)
        # "Je dois être au tribunal mardi, je ne pourrai pas tenir notre point": a meeting move.
        and not (everyday and not c.payment_asked)
    )
    if escalation and live and trusted and close_relation and not settled and not b.bulk:
        return _Verdict(Priority.CRITICAL, _topic(r), [*reasons, "escalation with a serious consequence"])
    if (c.churn and trusted and s.relation in (Relation.CLIENT, Relation.VIP) and not settled) or stranger_churn:
        return _Verdict(Priority.CRITICAL, "churn", [*reasons, "client threatens to leave"])

    # "Payment received, thank you; the next invoice falls due next month as usual": the
    # message is the receipt, the routine payment weeks away is not a request yet.
    routine_next = (
        c.resolved
        and c.payment_asked
        and horizon is not None
        and horizon > 14
        and not (c.consequence or c.signature_asked or c.quote_request or c.meeting_change or c.application)
    )
    if settled or routine_next:
        topic = "resolved" if c.resolved and not routine_next else _info_topic(r)
        return _Verdict(Priority.INFORMATIVE, topic, [*reasons, "no action needed"])

    important: list[str] = []
    if b.calendar_invite:
        important.append("meeting invitation")
    if c.price_change and (trusted or c.service_relationship):
        important.append("price change")
    if c.application:
        important.append("job application")
    if c.quote_request:
        important.append("quote request")
    if c.tender and r.deadline is not None and credible and not b.bulk:
        important.append("tender")
    if c.meeting_change:
        important.append("meeting change")
    if c.invoice and (
        (trusted and s.relation is Relation.SUPPLIER)
        # An unlisted supplier (the landlord, a coworking space) billing with a due date, with
        # nothing of a scam about it: still a bill to pay.
        or (clean and r.deadline is not None and not b.bulk and (horizon or 0) <= 31)
    ):
        important.append("invoice to pay")
    machine = b.bulk or b.automated
    # A newsletter's dates (a webinar in two weeks) are not the reader's deadlines.
    near_enough = r.deadline is not None and (not b.bulk or (horizon or 0) <= 14)
    if (
        c.asks
        and credible
        and (not machine or (c.explicit_asks and (near_enough or (trusted and not b.bulk))))
    ):
        important.append("request")
    if r.deadline is not None and trusted and not machine and horizon_reason:
        important.append(horizon_reason)
    if important:
        return _Verdict(Priority.IMPORTANT, _topic(r), [*reasons, *important])
    return _Verdict(Priority.INFORMATIVE, _info_topic(r), [*reasons, *b.reasons])


def _reported_incident(r: _Reading, clean: bool, trusted: bool, close_relation: bool) -> bool:
    """Something in production is down (or leaking data) and it is ours to fix: reported by a close
    party, or by a clean sender about a system the company delivered or a service it provides."""
    c = r.cues
    if not c.outage or c.resolved or c.low_priority or c.no_action or r.bulk.bulk:
        return False
    return (trusted and close_relation) or (clean and (c.service_relationship or c.our_system))


def _credible_stakes_today(r: _Reading, traps: list[str]) -> bool:
    """An unknown but clean sender (no spoofing sign, no outside link) with formal stakes due today.

    A contract to sign, a tender or an order whose miss has a stated consequence is critical
    whoever sends it, as long as nothing in the message looks like phishing.
    """
    c, s = r.cues, r.sender
    if s.flags or traps or r.foreign_links or r.bulk.bulk or c.links:
        return False
    formal = c.signature_asked or c.tender or c.order
    # A plain request due today whose miss the sender spells out ("si la livraison ne peut pas
    # avoir lieu …, je dois transférer les patients") is critical from a stranger too; a stranger
    # threatening to cut, suspend or pursue unless paid or renewed is the phishing pattern and is not.
    spelled_out = c.explicit_asks and c.consequence and not c.payment_asked and not c.severe
    # With a known party openly in copy, a stated consequence is enough, threats included.
    vouched = s.vouched and c.consequence and not c.payment_asked
    return (formal and (c.consequence or c.tender)) or spelled_out or vouched


def _marketing_score(r: _Reading) -> tuple[int, list[str]]:
    c, b, s = r.cues, r.bulk, r.sender
    score = 0
    why: list[str] = []
    if b.bulk:
        score += 1
    if c.promotions:
        score += min(c.promotions, 3)
        why.append("promotional offer")
    if c.cold_outreach:
        score += 2 * min(c.cold_outreach, 2)
        why.append("cold sales outreach")
    if c.opt_out:
        score += 1
    if c.unsolicited:
        score += 3
        why.append("list the company never joined")
    if c.solicitation:
        score += 3
        why.append("solicitation disguised as a notice")
    if s.own_thread_only:
        score += 2
        why.append("follow-up to its own unanswered mail")
    if c.service_relationship:
        score -= 3
    if c.quote_request or c.application:
        score -= 3
    if s.in_conversation:
        score -= 3
    return score, why


def _topic(r: _Reading) -> str:
    c = r.cues
    if c.tender:
        return "tender"
    if c.outage and not c.resolved:
        return "outage"
    if c.signature_asked:
        return "contract" if _CONTRACT.search(r.cues.asked_text) else "sign"
    if c.order:
        return "order"
    if c.payment_asked and (c.consequence or _INVOICE.search(r.folded_subject)):
        return "invoice" if _INVOICE.search(r.folded_subject + r.folded_body) else "pay"
    if c.account_blocked and not c.resolved:
        return "blocked"
    if c.churn:
        return "churn"
    if c.application:
        return "application"
    if c.quote_request:
        return "quote"
    if c.meeting_change:
        return "meeting"
    if r.bulk.calendar_invite:
        return "invitation"
    if c.price_change:
        return "price"
    if c.call_asked:
        return "call"
    if _INVOICE.search(r.folded_subject) and r.deadline is not None:
        return "invoice"
    if c.ask_sentences and _DOCUMENTS.search(r.cues.asked_text):
        return "documents"
    return "reply"


def _info_topic(r: _Reading) -> str:
    text = r.folded_subject + " " + r.folded_body
    if re.search(
        r"paiement recu|payment received|remittance|avis de credit|virement recu|vous avez recu un paiement"
        r"|reglement recu|accusons reception de votre (?:virement|paiement|reglement)",
        text,
    ):
        return "payment_received"
    if r.bulk.bulk:
        return "newsletter"
    return "info"


def _action(verdict: _Verdict, r: _Reading) -> Action:
    if verdict.priority is Priority.SPAM:
        return Action.IGNORE
    if verdict.priority is Priority.INFORMATIVE:
        return Action.READ
    c = r.cues
    if c.signature_asked or verdict.topic in ("contract", "sign"):
        return Action.SIGN
    if (
        verdict.topic in ("invoice", "pay")
        or (c.payment_asked and verdict.topic == "formal_notice")
        or "invoice to pay" in verdict.reasons
    ):
        return Action.PAY
    if c.call_asked or verdict.topic == "blocked":
        return Action.CALL
    return Action.REPLY
