"""Who really sent a message: relationship, lookalike domains, display-name spoofing, Reply-To elsewhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from integrations.mime import ParsedEmail
from integrations.triage.lexicon import senders as words
from integrations.triage.model import Party, TriageContext
from integrations.triage.text import fold, is_reply_subject

__all__ = [
    "Relation",
    "SenderProfile",
    "analyze_sender",
    "edit_distance",
    "lookalike_of",
    "registrable_domain",
]

LOOKALIKE = "lookalike domain"
DISPLAY_MISMATCH = "display name mismatch"
REPLY_TO_ELSEWHERE = "reply-to elsewhere"
FREE_MAIL_COMPANY = "free-mail sender claiming a company"
AUTH_FAILED = "sender authentication failed"
MANAGER_IMPERSONATION = "impersonates the manager"


class Relation(StrEnum):
    """How the sender relates to the organisation."""

    INTERNAL = "internal"
    CLIENT = "known client"
    SUPPLIER = "known supplier"
    VIP = "vip"
    CORRESPONDENT = "correspondent"
    UNKNOWN = "unknown sender"


@dataclass(frozen=True)
class SenderProfile:
    """What the headers tell about the sender."""

    relation: Relation
    party: Party | None
    domain: str
    trusted: bool
    via_platform: bool
    freemail: bool
    vip: bool
    flags: tuple[str, ...]
    impersonated: str | None
    in_conversation: bool
    own_thread_only: bool
    display_name: str
    vouched: bool = False


_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "gouv", "ac", "edu", "or", "ne", "go", "sch"})
_GENERIC_NAME_WORDS = frozenset(
    {
        "groupe", "group", "cabinet", "sarl", "sas", "sa", "ltd", "inc", "societe", "company", "compagnie", "ets",
        "etablissements", "the", "le", "la", "les", "du", "de", "des", "et", "and", "d", "l", "of", "sasu", "suarl",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9]+")
_HOMOGLYPHS = (
    ("rn", "m"),
    ("vv", "w"),
    ("0", "o"),
    ("1", "l"),
    ("3", "e"),
    ("5", "s"),
    ("!", "i"),
    ("|", "l"),
)
_COMPANY = re.compile(r"(?<![\w])(?:" + "|".join(words.COMPANY_WORDS) + r")(?![\w])")
_VIA = re.compile("|".join(words.VIA_PATTERNS))
_BRANDS = re.compile(r"(?<![\w])(?:" + "|".join(re.escape(b) for b in words.BRANDS) + r")(?![\w])")
_AUTH_FAIL = re.compile(r"\b(?:dmarc|spf|dkim)=(?:fail|softfail)\b", re.IGNORECASE)


@lru_cache(maxsize=8192)
def registrable_domain(domain: str) -> str:
    """The organisation's part of a host name: mail.sahel.test -> sahel.test, x.co.uk -> x.co.uk."""
    labels = [label for label in domain.lower().strip(".").split(".") if label]
    if len(labels) <= 2:
        return ".".join(labels)
    if labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _label(domain: str) -> str:
    registrable = registrable_domain(domain)
    return registrable.split(".", 1)[0]


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().strip(">").strip()


@lru_cache(maxsize=8192)
def _squash(label: str) -> str:
    text = fold(label)
    for source, target in _HOMOGLYPHS:
        text = text.replace(source, target)
    return re.sub(r"[^a-z]", "", text)


@lru_cache(maxsize=4096)
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two short strings."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def lookalike_of(domain: str, known: str) -> bool:
    """Whether `domain` imitates `known` (typo, homoglyph, extra words, other TLD) without being it."""
    if not domain or not known:
        return False
    reg, known_reg = registrable_domain(domain), registrable_domain(known)
    if reg == known_reg:
        return False
    if f".{known_reg}." in f".{domain.lower().strip('.')}.":
        return True  # the known domain used as a prefix of another one (client.test.evil.test)
    label, known_label = _label(reg), _label(known_reg)
    if label == known_label:
        return True  # same name under another TLD
    if len(known_label) >= 4 and known_label in domain.lower().split(".")[:-2]:
        return True  # the known name as a label of another domain (bank.fr-alerte.test)
    squashed, known_squashed = _squash(label), _squash(known_label)
    if len(known_squashed) < 4:
        return False
    if squashed == known_squashed:
        return True
    tokens = _tokens(label)
    known_tokens = _tokens(known_label)
    if known_tokens and known_tokens < tokens:
        return True
    if len(known_squashed) >= 6 and known_squashed in squashed:
        return True
    limit = 1 if len(known_squashed) < 9 else 2
    return (
        abs(len(squashed) - len(known_squashed)) <= limit and edit_distance(squashed, known_squashed) <= limit
    )


@lru_cache(maxsize=1024)
def _name_tokens(name: str) -> frozenset[str]:
    return frozenset(t for t in _TOKEN.findall(fold(name)) if t not in _GENERIC_NAME_WORDS and len(t) > 1)


@lru_cache(maxsize=4096)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(fold(text)))


def _claims(folded_display: str, party: Party) -> bool:
    """Whether a (folded) display name claims to be this party, by its name or its domain's name."""
    shown = _tokens(folded_display)
    squashed_display = _squash(folded_display)
    label = _squash(_label(party.domain)) if party.domain else ""
    if label and len(label) >= 5 and label in squashed_display:
        return True
    tokens = _name_tokens(party.name)
    if not tokens:
        return False
    if len(tokens) == 1:
        return next(iter(tokens)) in shown
    hits = len(tokens & shown)
    return hits >= 2 and hits >= 0.6 * len(tokens)


def _belongs(domain: str, known: str) -> bool:
    return bool(known) and (
        domain == known
        or domain.endswith("." + known)
        or registrable_domain(domain) == registrable_domain(known)
    )


def _is_freemail(domain: str) -> bool:
    label = _label(domain)
    return label in words.FREE_MAIL_DOMAINS or any(hint in label for hint in words.FREE_MAIL_HINTS)


def _msgid_domain(message_id: str) -> str:
    return message_id.strip("<> ").rpartition("@")[2].lower()


@lru_cache(maxsize=64)
def _parties(
    clients: tuple[Party, ...], suppliers: tuple[Party, ...], org_domains: tuple[str, ...], org_name: str
) -> tuple[tuple[Party, Relation], ...]:
    parties = [(p, Relation.CLIENT) for p in clients if p.domain]
    parties.extend((p, Relation.SUPPLIER) for p in suppliers if p.domain)
    parties.extend((Party(org_name, d, "organization"), Relation.INTERNAL) for d in org_domains)
    return tuple(parties)


def _known_parties(context: TriageContext) -> tuple[tuple[Party, Relation], ...]:
    return _parties(
        context.known_clients, context.suppliers, context.organization_domains, context.organization_name
    )


def analyze_sender(email: ParsedEmail, context: TriageContext) -> SenderProfile:
    """Relationship and spoofing signs for the sender of one message."""
    address = email.from_addr
    domain = _domain_of(address)
    display = email.from_name
    flags: list[str] = []
    impersonated: str | None = None
    parties = _known_parties(context)

    relation = Relation.UNKNOWN
    party: Party | None = None
    for candidate, kind in parties:
        if _belongs(domain, candidate.domain):
            relation, party = kind, candidate
            break

    # A signing or notification platform writing for a known party who gets the replies.
    via_platform = False
    reply_domains = [_domain_of(a) for a in email.reply_to if a]
    if relation is Relation.UNKNOWN:
        for reply_domain in reply_domains:
            for candidate, kind in parties:
                if kind is not Relation.INTERNAL and _belongs(reply_domain, candidate.domain):
                    relation, party, via_platform = kind, candidate, True
                    break
            if via_platform:
                break

    if relation is Relation.UNKNOWN:
        for candidate, _kind in parties:
            if lookalike_of(domain, candidate.domain):
                flags.append(LOOKALIKE)
                impersonated = candidate.name or candidate.domain
                break

    folded_display = fold(display)
    if display and not via_platform:
        # A colleague on the company's own domain who shares a surname with a client or supplier
        # ("Awa Traoré" beside "Cabinet Traoré") does not claim to be that party.
        others = () if relation is Relation.INTERNAL else parties
        for candidate, _kind in others:
            claimed = (
                candidate.name
                and not _belongs(domain, candidate.domain)
                and _claims(folded_display, candidate)
            )
            if claimed and (party is None or party.name != candidate.name):
                flags.append(DISPLAY_MISMATCH)
                impersonated = impersonated or candidate.name
                break
        manager_tokens = _name_tokens(context.manager_name)
        if (
            manager_tokens
            and manager_tokens <= set(_TOKEN.findall(folded_display))
            and address not in context.manager_addresses
            and relation is not Relation.INTERNAL
        ):
            flags.append(MANAGER_IMPERSONATION)
            impersonated = context.manager_name
        shown_address = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", display)
        if shown_address and shown_address.group(0).lower() != address:
            flags.append(DISPLAY_MISMATCH)
        label = _label(domain)
        brand_match = _BRANDS.search(folded_display)
        if brand_match:
            brand_label = brand_match.group(0).replace(" ", "")
            if label != brand_label:
                imitates = brand_label in label.replace("-", "") or brand_label in _squash(label)
                flags.append(LOOKALIKE if imitates else DISPLAY_MISMATCH)
                impersonated = impersonated or brand_match.group(0)

    freemail = _is_freemail(domain)
    if freemail and relation is Relation.UNKNOWN and (_COMPANY.search(folded_display) or impersonated):
        flags.append(FREE_MAIL_COMPANY)

    for reply_domain in reply_domains:
        if via_platform or _belongs(reply_domain, domain):
            continue
        if any(_belongs(reply_domain, p.domain) for p, _ in parties):
            continue
        flags.append(REPLY_TO_ELSEWHERE)
        break

    auth = " ".join(
        v
        for k, v in email.headers.items()
        if k in ("authentication-results", "received-spf", "arc-authentication-results")
    )
    if auth and _AUTH_FAIL.search(auth):
        flags.append(AUTH_FAILED)

    vip = address in context.vips or any(_belongs(domain, v) for v in context.vips if "@" not in v)
    if relation is Relation.UNKNOWN and vip:
        relation = Relation.VIP
    if relation is Relation.UNKNOWN and address in context.correspondents:
        relation = Relation.CORRESPONDENT

    org_domains = context.organization_domains
    ids = [i for i in (email.in_reply_to, *email.references) if i]
    in_conversation = any(any(_belongs(_msgid_domain(i), d) for d in org_domains) for i in ids)
    own_thread_only = (
        is_reply_subject(email.subject)
        and not in_conversation
        and (not ids or all(_belongs(_msgid_domain(i), domain) for i in ids))
    )

    flags = list(dict.fromkeys(flags))
    trusted = relation is not Relation.UNKNOWN and not flags
    # A stranger writing with a known client or supplier openly in copy (an auditor or a lawyer
    # engaged by the client, the client's new procurement officer's assistant…): not trusted, but
    # the party it names can see what it asks. A personal address counts too ("ma messagerie
    # professionnelle n'est pas encore activée", the client's director in copy): what it may ask
    # is limited by the callers (no payment, no link).
    copied = [a for a in (*email.cc, *email.to) if a and "@" in a]
    vouched = (
        relation is Relation.UNKNOWN
        and not flags
        and any(
            _belongs(_domain_of(a), p.domain)
            for a in copied
            for p, kind in parties
            if kind is not Relation.INTERNAL and p.domain
        )
    )
    return SenderProfile(
        relation=relation,
        party=party,
        domain=domain,
        trusted=trusted,
        via_platform=via_platform,
        freemail=freemail,
        vip=vip,
        flags=tuple(flags),
        impersonated=impersonated,
        in_conversation=in_conversation,
        own_thread_only=own_thread_only,
        display_name=display,
        vouched=vouched,
    )
