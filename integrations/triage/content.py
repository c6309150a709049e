"""What a message says: asks, threats, outages, scams, marketing, notices; word lists in `lexicon`."""

from __future__ import annotations

import re
from functools import cached_property

from integrations.triage.lexicon import fraud, marketing, notification, request, risk
from integrations.triage.text import Terms, compile_terms, is_reply_subject, sentences, word_prefixes

__all__ = ["Cues", "read_cues"]

Span = tuple[int, int]

_ASK = compile_terms(request.ASKS)
_NO_ACTION = compile_terms(request.NO_ACTION)
_FYI = compile_terms(request.FYI)
_NO_REPLY = compile_terms(request.NO_REPLY)
_SIGNATURE = compile_terms(request.SIGNATURE)
_PAYMENT = compile_terms(request.PAYMENT)
_CALL = compile_terms(request.CALL)
_FORMAL = compile_terms(risk.FORMAL_NOTICES)
_SUMMONS = compile_terms(risk.SUMMONS)
_AUTHORITY = compile_terms(risk.AUTHORITIES)
_CONSEQUENCE = compile_terms(risk.CONSEQUENCES)
_OUTAGE = compile_terms(risk.OUTAGES)
_AVERTED = re.compile(r"\b(?:eviter|prevenir|avoid|prevent|to ensure no)\b[\w' ]{0,18}$")
_SEVERE = compile_terms(risk.SEVERE_CONSEQUENCES)
_PLANNED = re.compile(
    r"\b(?:pendant|durant) (?:environ |approximativement |au plus )?(?:\d+|une|deux|trois|quatre|quelques) (?:heures?|minutes?)\b"
    r"|\bfor (?:about |approximately |around |up to )?(?:\d+|one|two|three|four|a few) (?:hours?|minutes?)\b"
    r"|\b(?:maintenance|intervention|travaux) (?:programmee?s?|planifiee?s?)|\bplanned (?:maintenance|works?)\b"
)
_SCHEDULE = compile_terms(notification.SCHEDULES)
_DEADLINE_WORDS = compile_terms(
    ("date limite", "dernier delai", "au plus tard", "deadline", "no later than", "cut-off", "cutoff")
)
_LOW = compile_terms(risk.LOW_PRIORITY)
_OUR_SYSTEM = compile_terms(risk.OUR_SYSTEM)
_IMMEDIACY = compile_terms(risk.IMMEDIACY)
_BLOCKED = compile_terms(risk.ACCOUNT_BLOCKED)
_CHURN = compile_terms(risk.CHURN)
_TENDER = compile_terms(risk.TENDERS)
_ORDER = compile_terms(risk.ORDERS)
_CREDENTIALS = compile_terms(fraud.CREDENTIALS)
_CARD_DATA = compile_terms(fraud.CARD_DATA)
_NEGATION = compile_terms(fraud.NEGATIONS)
_PAY_LINK = compile_terms(fraud.PAY_LINKS)
_LURE = compile_terms(fraud.LURES)
_INVOICE = compile_terms(request.INVOICES)
_SETTLED = compile_terms(request.SETTLED)
_FEES = compile_terms(fraud.FEES_TO_RELEASE)
_GIFT = compile_terms(fraud.GIFT_CARDS)
_UNTRACEABLE = compile_terms(fraud.UNTRACEABLE_PAYMENTS)
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
_RESOLVED = compile_terms(notification.RESOLVED)
_PRICE = compile_terms(notification.PRICE_CHANGES)
_APPLICATION = compile_terms(notification.APPLICATIONS)
_QUOTE = compile_terms(notification.QUOTE_REQUESTS)
_MEETING = compile_terms(notification.MEETING_CHANGES)
_CALL_ME = re.compile(
    r"(?:je suis|i am|i'm) (?:joignable|reachable|disponible par telephone)|(?:appelez|rappelez)-moi|call me\b"
)
# "Si la déclaration a été déposée entre-temps, …": a supposition, not a report that it was.
_CONDITIONAL = re.compile(r"\s*(?:si|s'il|if|au cas ou|in case|lorsque|once)\b")
# Something tried before "rien à faire" (in vain): "j'ai redémarré la box, rien à faire".
_IN_VAIN = re.compile(r"\b(?:j'ai|on a|nous avons|j'avais|on avait|nous avions|i've|i have|we've|we have|tried|essaye)\b")
_CLAUSE_END = re.compile(r"\s*(?:[.!;,\n]|$)")
_SELF_SUMMONED = re.compile(r"\b(?:je suis|j'ai ete|je serai|i am|i'm|i have been|i've been|i was)\s+(?:moi-meme\s+)?$")
_LINK = re.compile(r"https?://|www\.|<http")
_WORD = re.compile(r"[a-z]{2,}")


def _sentence_hits(
    terms: Terms, text: str, spans: list[Span], prefixes: frozenset[str], *, skip_negated: bool = False
) -> set[Span]:
    hits: set[Span] = set()
    for match in terms.finditer(text, prefixes):
        span = next(((s, e) for s, e in spans if s <= match.start() < e), (match.start(), match.end()))
        if skip_negated and _NEGATION.pattern.search(text, span[0], span[1]):
            continue
        hits.add(span)
    return hits


class Cues:
    """Phrases found in the new part of a message (and, for footers, its signature), each looked up on first use."""

    def __init__(self, subject: str, body: str, footer: str) -> None:
        self.text = subject + "\n\n" + body
        self.subject = subject
        self.everything = self.text + "\n\n" + footer
        self.spans = sentences(self.text)
        self.prefixes = word_prefixes(self.everything)

    def _has(self, terms: Terms) -> bool:
        return terms.search(self.text, self.prefixes) is not None

    def _has_all(self, terms: Terms) -> bool:
        return terms.search(self.everything, self.prefixes) is not None

    def _count(self, terms: Terms, text: str) -> int:
        return len({m.group(0) for m in terms.finditer(text, self.prefixes)})

    def _hits(self, terms: Terms, *, skip_negated: bool = False) -> set[Span]:
        return _sentence_hits(terms, self.text, self.spans, self.prefixes, skip_negated=skip_negated)

    def _has_affirmed(self, terms: Terms) -> bool:
        return bool(self._hits(terms, skip_negated=True))

    # What is asked.
    @cached_property
    def _asks(self) -> set[Span]:
        # "Ne répondez pas à ce message" is the machine saying replies go nowhere, and "rien à valider
        # de ton côté : …" says nothing is asked: neither sentence is a request.
        text = self.text
        return {
            (s, e) for s, e in self._hits(_ASK)
            if not (_NO_REPLY.pattern.search(text, s, e) and len(_WORD.findall(text, s, e)) <= 8)
            and not _NO_ACTION.pattern.search(text, s, e)
        }

    @cached_property
    def _questions(self) -> set[Span]:
        start = len(self.subject)
        text = self.text
        return {
            (s, e)
            for s, e in self.spans
            if s >= start and text[s:e].rstrip().endswith("?") and len(_WORD.findall(text, s, e)) >= 3
        }

    @cached_property
    def ask_sentences(self) -> frozenset[Span]:
        """Sentences that ask something, questions included."""
        return frozenset(self._asks | self._questions)

    @property
    def asks(self) -> bool:
        """Whether anything is asked of the reader."""
        return bool(self.ask_sentences)

    @property
    def explicit_asks(self) -> bool:
        """Whether a request is worded as one (not only a question)."""
        return bool(self._asks)

    @cached_property
    def schedule_sentences(self) -> frozenset[Span]:
        """Sentences about the sender's own plans (deliveries, visits, events), unless they name a
        deadline ("la date limite … est fixée au 20/11 à 15h00, heure à laquelle aura lieu l'ouverture")."""
        return frozenset(self._hits(_SCHEDULE) - self._hits(_DEADLINE_WORDS))

    @cached_property
    def consequence_sentences(self) -> frozenset[Span]:
        """Sentences that say what happens otherwise.

        Not a threat the message says is withdrawn ("the suspension scheduled for tomorrow has been
        cancelled"), nor, in a reply whose new text says so, the old threat its subject repeats.
        """
        withdrawn = self._resolved_spans
        hits = self._hits(_CONSEQUENCE) - withdrawn
        if withdrawn and is_reply_subject(self.subject):
            hits = {(s, e) for s, e in hits if s >= len(self.subject)}
        return frozenset(hits)

    @property
    def consequence(self) -> bool:
        """Whether a loss, penalty or threat is stated."""
        return bool(self.consequence_sentences)

    @cached_property
    def asked_text(self) -> str:
        """What is asked: ask and question sentences, threats ("sans ce document signé ...") and the subject."""
        text = self.text
        chosen = sorted(self.ask_sentences | self.consequence_sentences)
        return " ".join(text[s:e] for s, e in chosen) + " " + self.subject

    @cached_property
    def signature_asked(self) -> bool:
        """A signature is asked for."""
        return _SIGNATURE.search(self.asked_text, self.prefixes) is not None

    @cached_property
    def payment_asked(self) -> bool:
        """A payment is asked for."""
        return _PAYMENT.search(self.asked_text, self.prefixes) is not None

    @cached_property
    def call_asked(self) -> bool:
        """A phone call is asked for."""
        return (
            _CALL.search(self.asked_text, self.prefixes) is not None or _CALL_ME.search(self.text) is not None
        )

    @cached_property
    def no_action(self) -> bool:
        """The message says nothing is expected ("pour votre information" only when it asks nothing)."""
        stated = any(self._says_no_action(m) for m in _NO_ACTION.finditer(self.text, self.prefixes))
        return stated or (not self.explicit_asks and self._has(_FYI))

    def _says_no_action(self, match: re.Match[str]) -> bool:
        """False for "rien à faire" that means "to no avail" after something tried ("j'ai redémarré la
        tablette, rien à faire") and for one option of a list described in brackets ("Option A –
        rester au nouveau tarif (rien à faire)")."""
        if not match.group(0).startswith("rien"):
            return True
        start = match.start()
        if self.text[max(0, start - 2) : start].strip() == "(":
            return False
        # In vain, the phrase closes a clause after a comma: "…, rien à faire." (not "…, rien à faire
        # de votre part", nor "nous avons tout réglé : rien à faire").
        if not _CLAUSE_END.match(self.text, match.end()) or not self.text[:start].rstrip().endswith(","):
            return True
        sentence = next((s for s, e in self.spans if s <= start < e), start)
        return _IN_VAIN.search(self.text, sentence, start) is None

    # Stakes.
    @cached_property
    def formal_notice(self) -> bool:
        """A formal legal or tax notice, or a summons by an authority."""
        return self.formal_notice_start is not None

    @cached_property
    def formal_notice_start(self) -> int | None:
        """Where the formal notice is stated: its first mention in the body, else in the subject."""
        text = self.text
        body = len(self.subject)
        found = [m.start() for m in _FORMAL.finditer(text, self.prefixes)]
        if not found:
            # "Je suis convoqué au ministère" explains the sender's own absence: the summons is not ours.
            summoned = [
                m.start()
                for m in _SUMMONS.finditer(text, self.prefixes)
                if not _SELF_SUMMONED.search(text, max(0, m.start() - 25), m.start())
            ]
            found = summoned if summoned and self._has(_AUTHORITY) else []
        if not found:
            return None
        return min((p for p in found if p >= body), default=min(found))

    @cached_property
    def severe(self) -> bool:
        """A suspension, a termination or legal action is threatened. A cut that lasts a stated time
        ("le courant sera coupé pendant environ trois heures") is planned work, not a threat."""
        text = self.text
        return any(not _PLANNED.search(text, s, e) for s, e in self._hits(_SEVERE))

    @cached_property
    def outage(self) -> bool:
        """Something in production is down or blocked. The subject of a reply names what the thread
        was about, so there only the new text counts ("RE: URGENT - site en panne" above "c'est reparti")."""
        if not _OUTAGE.possible(self.prefixes):
            return False
        start = len(self.subject) if is_reply_subject(self.subject) else 0
        text = self.text
        # "Pour éviter toute interruption de service, réglez à échéance" warns; it reports nothing.
        return any(
            not _AVERTED.search(text, max(0, m.start() - 30), m.start())
            for m in _OUTAGE.pattern.finditer(text, start)
        )

    @cached_property
    def our_system(self) -> bool:
        """The sender says the thing at issue is something the reader delivered or runs."""
        return self._has(_OUR_SYSTEM)

    @cached_property
    def low_priority(self) -> bool:
        """The sender says it is not urgent."""
        return self._has(_LOW)

    @cached_property
    def immediacy(self) -> bool:
        """'As soon as possible' and its kin."""
        return self._has(_IMMEDIACY)

    @cached_property
    def account_blocked(self) -> bool:
        """An account or card is blocked, or fraud is reported."""
        return self._has(_BLOCKED)

    @cached_property
    def churn(self) -> bool:
        """A client says it may leave."""
        return self._has(_CHURN)

    @cached_property
    def tender(self) -> bool:
        """A call for tenders."""
        return self._has(_TENDER)

    @cached_property
    def order(self) -> bool:
        """A purchase order."""
        return self._has(_ORDER)

    # Phishing and scams.
    @cached_property
    def credentials(self) -> bool:
        """Asks for passwords, codes or card details (disclaimers excluded)."""
        return self._has_affirmed(_CREDENTIALS)

    @cached_property
    def card_data_asked(self) -> bool:
        """A sentence asks for card data (number, expiry date, security code), disclaimers excluded."""
        return bool(self._hits(_CARD_DATA, skip_negated=True) & self.ask_sentences)

    @cached_property
    def pay_link(self) -> bool:
        """Asks to pay or renew through a link."""
        return self._has_affirmed(_PAY_LINK)

    @cached_property
    def lure(self) -> bool:
        """A credential-phishing pretext (full mailbox, expiring password, shared file)."""
        return self._has_affirmed(_LURE)

    @cached_property
    def fees_to_release(self) -> bool:
        """A fee to release funds, a parcel or winnings, asked for (a receipt for fees paid asks nothing)."""
        return self._has(_FEES) and (self.asks or self.consequence)

    @cached_property
    def untraceable_payment(self) -> bool:
        """Payment by money transfer to a phone number or a wire service (disclaimers excluded)."""
        return self._has_affirmed(_UNTRACEABLE)

    @cached_property
    def gift_cards(self) -> bool:
        """Gift cards are asked for."""
        return self._has(_GIFT)

    @cached_property
    def secret_transfer(self) -> int:
        """How many signs of a confidential-transfer (CEO fraud) request."""
        return self._count(_SECRET_TRANSFER, self.text)

    @cached_property
    def bank_change(self) -> bool:
        """New bank details are announced."""
        return self._has_affirmed(_BANK_CHANGE)

    @cached_property
    def lottery(self) -> int:
        """How many lottery or inheritance signs."""
        return self._count(_LOTTERY, self.text)

    @cached_property
    def investment(self) -> int:
        """How many investment-scam signs."""
        return self._count(_INVESTMENT, self.text)

    # Marketing.
    @cached_property
    def promotions(self) -> int:
        """How many promotional phrases."""
        return self._count(_PROMO, self.everything)

    @cached_property
    def cold_outreach(self) -> int:
        """How many cold-prospecting phrases."""
        return self._count(_COLD, self.everything)

    @cached_property
    def opt_out(self) -> bool:
        """An unsubscribe or opt-out line."""
        return self._has_all(_OPT_OUT)

    @cached_property
    def unsolicited(self) -> bool:
        """Says the address came from a directory or a bought list."""
        return self._has_all(_UNSOLICITED)

    @cached_property
    def solicitation(self) -> bool:
        """Admits being a solicitation rather than a bill or notice."""
        return self._has_all(_SOLICITATION)

    @cached_property
    def service_relationship(self) -> bool:
        """Says the reader is a user or customer of the sender."""
        return self._has_all(_SERVICE)

    # Notices and everyday requests.

    @cached_property
    def resolved(self) -> bool:
        """An incident is said to be fixed or closed."""
        return bool(self._resolved_spans)

    @cached_property
    def _resolved_spans(self) -> set[Span]:
        text = self.text
        return {
            (s, e)
            for s, e in _sentence_hits(_RESOLVED, text, self.spans, self.prefixes)
            if not _CONDITIONAL.match(text, s, e)
        }

    @cached_property
    def notice_withdrawn(self) -> bool:
        """A formal notice said to be settled after it is stated ("la mise en demeure est levée, le
        paiement ayant été reçu"). What was settled before the notice ("un acompte a été réglé le 10
        mars") is its history, not its end."""
        start = self.formal_notice_start
        return start is not None and any(s >= start for s, _ in self._resolved_spans)

    @cached_property
    def price_change(self) -> bool:
        """A change of prices is announced."""
        return self._has(_PRICE)

    @cached_property
    def application(self) -> bool:
        """A job application."""
        return self._has(_APPLICATION)

    @cached_property
    def quote_request(self) -> bool:
        """A request for a quote or proposal."""
        return self._has(_QUOTE)

    @cached_property
    def meeting_change(self) -> bool:
        """A meeting is cancelled or moved."""
        return self._has(_MEETING)

    @cached_property
    def invoice(self) -> bool:
        """An invoice to pay (not a receipt)."""
        return self._has(_INVOICE) and not self._has(_SETTLED)

    @cached_property
    def links(self) -> int:
        """How many links."""
        return len(_LINK.findall(self.everything))


def read_cues(subject: str, body: str, footer: str) -> Cues:
    """Cues of the folded subject, folded new body and folded footer (signature and below)."""
    return Cues(subject, body, footer)
