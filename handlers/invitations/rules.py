"""Organization settings of invitations, and the password, name and email rules they drive.

Each rule returns problem codes with parameters; the catalog turns them into sentences in the
user's language (``invitations.rule.<code>``), and the signup page's script checks the same
rules as the user types, with the same sentences.
"""

from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from pathlib import Path
from typing import Any

import email_validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.i18n import Catalog

DEFAULT_SUSPICIOUS = (
    "test", "tests", "testing", "fake", "faux", "example", "exemple", "sample", "demo", "dummy", "null", "none",
    "nobody", "noreply", "no-reply", "donotreply", "spam", "asdf", "qwerty", "azerty", "aaa", "abc", "xxx",
    "foo", "bar", "foobar", "toto", "titi", "temp", "tmp", "trash",
)
PASSWORD_MAX = 128
NAME_MAX = 120
EMAIL_MAX = 254
MESSAGE_MAX = 1000
LOCAL_PART_MIN = 3  # shorter local parts ("jo@") are not searched for in passwords


class PasswordPolicy(BaseModel):
    """Password rules of an organization (defaults: 10 characters, four kinds, not common)."""

    model_config = ConfigDict(extra="forbid")
    min_length: int = Field(default=10, ge=8, le=PASSWORD_MAX)
    upper: bool = True
    lower: bool = True
    digit: bool = True
    special: bool = True
    not_common: bool = True
    not_email: bool = True


class EmailPolicy(BaseModel):
    """Which addresses may be invited."""

    model_config = ConfigDict(extra="forbid")
    allowed_domains: list[str] = Field(default_factory=list)
    suspicious_local_parts: list[str] = Field(default_factory=lambda: list(DEFAULT_SUSPICIOUS))
    check_deliverability: bool = False

    @field_validator("allowed_domains", "suspicious_local_parts")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        cleaned = [item.strip().lower().lstrip("@").rstrip("@") for item in value]
        return [item for item in cleaned if item]


class InvitationSettings(BaseModel):
    """``organizations.settings["invitations"]``: link lifetime, password and email rules."""

    model_config = ConfigDict(extra="forbid")
    ttl_days: int = Field(default=7, ge=1, le=90)
    password: PasswordPolicy = Field(default_factory=PasswordPolicy)
    email: EmailPolicy = Field(default_factory=EmailPolicy)


SETTINGS_KEY = "invitations"


class SettingsInvalid(ValueError):
    """Organization settings that do not validate; the message lists each problem."""


def org_settings(raw: dict[str, Any] | None) -> InvitationSettings:
    """The invitation settings stored on an organization (defaults where unset)."""
    data = (raw or {}).get(SETTINGS_KEY) or {}
    try:
        return InvitationSettings.model_validate(data)
    except ValidationError:
        # A broken stored value must not lock clients out: fall back to the defaults.
        return InvitationSettings()


def parse_settings(data: Any) -> InvitationSettings:
    """Validate settings sent by an admin; SettingsInvalid names each bad field."""
    try:
        return InvitationSettings.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SettingsInvalid("; ".join(problems)) from None


@dataclass(frozen=True)
class Problem:
    """One broken rule: the field, a code, the parameters of its sentence."""

    field: str
    code: str
    params: dict[str, Any] = dataclass_field(default_factory=dict)

    def text(self, catalog: Catalog, lang: str) -> str:
        """The sentence for the user."""
        return catalog.t(f"invitations.rule.{self.code}", lang, **self.params)


# ---------------------------------------------------------------- passwords


class CommonPasswords:
    """The list of common passwords shipped with the project (lower-cased)."""

    def __init__(self, words: frozenset[str]) -> None:
        self.words = words

    @classmethod
    def load(cls, path: Path) -> CommonPasswords:
        """Read a gzip (or plain) file, one password per line."""
        return cls(_load_words(str(path)))

    def __contains__(self, password: object) -> bool:
        return isinstance(password, str) and password.casefold().strip() in self.words

    def at_least(self, length: int) -> list[str]:
        """The entries a password of ``length`` characters or more could match (for the page)."""
        return sorted(w for w in self.words if len(w) >= length)


@lru_cache(maxsize=4)
def _load_words(path: str) -> frozenset[str]:
    raw = Path(path).read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def _is_special(ch: str) -> bool:
    return not ch.isalnum()


def password_problems(
    password: str, confirmation: str | None, *, email: str, policy: PasswordPolicy, common: CommonPasswords
) -> list[Problem]:
    """Every rule the password breaks (empty when it is acceptable)."""
    problems: list[Problem] = []
    if len(password) < policy.min_length:
        problems.append(Problem("password", "too_short", {"min": policy.min_length}))
    if len(password) > PASSWORD_MAX:
        problems.append(Problem("password", "too_long", {"max": PASSWORD_MAX}))
    if policy.upper and not any(unicodedata.category(c) == "Lu" for c in password):
        problems.append(Problem("password", "no_upper"))
    if policy.lower and not any(unicodedata.category(c) == "Ll" for c in password):
        problems.append(Problem("password", "no_lower"))
    if policy.digit and not any(unicodedata.category(c) == "Nd" for c in password):
        problems.append(Problem("password", "no_digit"))
    if policy.special and not any(_is_special(c) for c in password):
        problems.append(Problem("password", "no_special"))
    if policy.not_common and password in common:
        problems.append(Problem("password", "common"))
    local = email.rpartition("@")[0].casefold()
    if policy.not_email and len(local) >= LOCAL_PART_MIN and local in password.casefold():
        problems.append(Problem("password", "contains_email"))
    if confirmation is not None and confirmation != password:
        problems.append(Problem("password_confirm", "mismatch"))
    return problems


def name_problems(name: str) -> list[Problem]:
    """Problems with a person's name as typed in a form."""
    cleaned = name.strip()
    if not cleaned:
        return [Problem("name", "name_required")]
    if len(cleaned) > NAME_MAX:
        return [Problem("name", "name_too_long", {"max": NAME_MAX})]
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        return [Problem("name", "name_invalid")]
    return []


# ---------------------------------------------------------------- emails


@dataclass(frozen=True)
class CheckedEmail:
    """An address that passed the rules, normalized (lower-cased)."""

    address: str
    local_part: str
    domain: str


class EmailRejected(ValueError):
    """An address that breaks a rule."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem


def normalize_email(raw: str, *, check_deliverability: bool = False, field_name: str = "email") -> CheckedEmail:
    """Syntax check and normalization with email-validator (no network unless asked)."""
    text = raw.strip()
    if not text:
        raise EmailRejected(Problem(field_name, "email_required"))
    if len(text) > EMAIL_MAX:
        raise EmailRejected(Problem(field_name, "email_too_long", {"max": EMAIL_MAX}))
    try:
        valid = email_validator.validate_email(text, check_deliverability=check_deliverability)
    except email_validator.EmailUndeliverableError:
        raise EmailRejected(Problem(field_name, "email_undeliverable", {"email": text})) from None
    except email_validator.EmailNotValidError:
        raise EmailRejected(Problem(field_name, "email_invalid", {"email": text})) from None
    address = valid.normalized.lower()
    return CheckedEmail(address, address.rpartition("@")[0], address.rpartition("@")[2])


def check_invitation_email(raw: str, policy: EmailPolicy, *, field_name: str = "email") -> CheckedEmail:
    """The address to invite, or EmailRejected: syntax, allowed domains, suspicious local parts."""
    email = normalize_email(raw, check_deliverability=policy.check_deliverability, field_name=field_name)
    if policy.allowed_domains and email.domain not in policy.allowed_domains:
        raise EmailRejected(Problem(field_name, "email_domain", {
            "domain": email.domain, "allowed": ", ".join(policy.allowed_domains)}))
    base = email.local_part.split("+", 1)[0]
    if base in policy.suspicious_local_parts or email.local_part in policy.suspicious_local_parts:
        raise EmailRejected(Problem(field_name, "email_suspicious", {"local": base}))
    return email
