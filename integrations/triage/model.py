"""The triage port's own data types: priorities, actions, context, results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from integrations.mime import ParsedEmail

__all__ = [
    "Action",
    "Amount",
    "Classifier",
    "Party",
    "Priority",
    "TriageContext",
    "TriageResult",
    "result_to_json",
]


class Priority(StrEnum):
    """How soon the manager must look at a message."""

    CRITICAL = "critical"
    IMPORTANT = "important"
    INFORMATIVE = "informative"
    SPAM = "spam"


class Action(StrEnum):
    """The one thing the manager is expected to do."""

    REPLY = "reply"
    CALL = "call"
    SIGN = "sign"
    PAY = "pay"
    READ = "read"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Amount:
    """A sum of money found in a message, with its ISO currency code and its text as written."""

    value: Decimal
    currency: str
    text: str


@dataclass(frozen=True)
class Party:
    """A known organisation: a client, a supplier or a partner."""

    name: str
    domain: str
    role: str = ""


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _zone_from_location(location: str) -> str:
    """The time zone of the first known city named in a free-text location, or ''."""
    from integrations.triage.lexicon.calendar import CITY_TIME_ZONES
    from integrations.triage.text import fold

    folded = fold(location)
    return next((zone for city, zone in CITY_TIME_ZONES.items() if city in folded), "")


def _parties(items: Any) -> tuple[Party, ...]:
    parties: list[Party] = []
    for item in items if isinstance(items, list | tuple) else ():
        if isinstance(item, str):
            parties.append(Party(name=item, domain=item.lower()))
            continue
        if not isinstance(item, Mapping):
            continue
        domains = item.get("domains")
        names = [d for d in domains if isinstance(d, str)] if isinstance(domains, list) else []
        if _str(item.get("domain")):
            names.insert(0, _str(item.get("domain")))
        for domain in names or [""]:
            parties.append(
                Party(name=_str(item.get("name")), domain=domain.lower().strip(), role=_str(item.get("role")))
            )
    return tuple(parties)


@dataclass(frozen=True)
class TriageContext:
    """What the classifier knows about the mailbox owner and their relations."""

    organization_name: str = ""
    organization_domains: tuple[str, ...] = ()
    manager_addresses: tuple[str, ...] = ()
    known_clients: tuple[Party, ...] = ()
    suppliers: tuple[Party, ...] = ()
    vips: tuple[str, ...] = ()
    correspondents: frozenset[str] = frozenset()
    sender_feedback: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    domain_feedback: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    language: str = "fr"
    timezone: str = "Europe/Paris"
    manager_name: str = ""
    shared_addresses: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TriageContext:
        """Build a context from the shape of triage-dev/context.json (extra keys are tolerated)."""
        org = _mapping(data.get("organization"))
        manager = _mapping(data.get("manager"))
        domains = [_str(org.get("domain"))]
        extra = org.get("domains")
        if isinstance(extra, list):
            domains.extend(_str(d) for d in extra)
        shared = tuple(_str(a).lower() for a in org.get("shared_addresses", ()) or () if _str(a))
        managers = [_str(manager.get("email")).lower()]
        if isinstance(manager.get("emails"), list):
            managers.extend(_str(a).lower() for a in manager["emails"])
        language = _str(data.get("language")) or _str(manager.get("language")) or "fr"
        timezone = _str(data.get("timezone")) or _str(org.get("timezone")) or _str(manager.get("timezone"))
        timezone = timezone or _zone_from_location(_str(org.get("location")))
        vips = data.get("vips", ())
        return cls(
            organization_name=_str(org.get("name")),
            organization_domains=tuple(dict.fromkeys(d.lower() for d in domains if d)),
            manager_addresses=tuple(dict.fromkeys(a for a in managers if a)),
            known_clients=_parties(data.get("known_clients", ())),
            suppliers=_parties(data.get("suppliers", ())),
            vips=tuple(_str(v).lower() for v in vips if _str(v)) if isinstance(vips, list) else (),
            language="en" if language.lower().startswith("en") else "fr",
            timezone=timezone or "Europe/Paris",
            manager_name=_str(manager.get("name")),
            shared_addresses=shared,
        )


@dataclass(frozen=True)
class TriageResult:
    """The verdict on one message and what the manager should do about it."""

    priority: Priority
    summary: str
    action: Action
    deadline: datetime | None
    deadline_text: str | None
    amounts: tuple[Amount, ...]
    reasons: tuple[str, ...]
    auto_action: str | None = None
    classifier: str = "offline"


def result_to_json(email: ParsedEmail, result: TriageResult) -> dict[str, Any]:
    """The JSON shape shared with the handlers and the evaluation tools."""
    return {
        "message_id": email.message_id,
        "priority": result.priority.value,
        "summary": result.summary,
        "action": result.action.value,
        "deadline": result.deadline.isoformat() if result.deadline else None,
        "amounts": [{"value": str(a.value), "currency": a.currency, "text": a.text} for a in result.amounts],
        "reasons": list(result.reasons),
    }


class Classifier(Protocol):
    """Anything that can triage a parsed message in a context."""

    def classify(self, email: ParsedEmail, context: TriageContext) -> TriageResult:
        """Return the priority, summary, action, deadline, amounts and reasons for one message."""
        ...
