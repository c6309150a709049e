"""Organizations, users, join codes, API tokens and rate limits."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import ApiToken, JoinCode, Organization, RateEvent, User

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class AccountError(ValueError):
    """Invalid input for an account operation (bad phone, duplicate slug, unknown org)."""


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a text (tokens and codes are stored this way, never in clear)."""
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_phone(raw: str) -> str:
    """E.164 form of a phone number typed with spaces, dots, dashes or a 00 prefix."""
    cleaned = re.sub(r"[\s.\-()]", "", raw.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not cleaned.startswith("+"):
        cleaned = "+" + cleaned
    if not _E164.match(cleaned):
        raise AccountError(f"{raw!r} is not a phone number in international form, e.g. +33612345678")
    return cleaned


def slugify(name: str) -> str:
    """A URL-safe slug from an organization name."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    return slug[:63] or "org"


def default_org(session: Session) -> Organization | None:
    """The organization created at first start."""
    return session.scalars(select(Organization).where(Organization.is_default.is_(True))).first()


def ensure_default_org(session: Session, name: str) -> Organization:
    """Create the default organization if there is none yet."""
    org = default_org(session)
    if org is None:
        org = Organization(slug=slugify(name), name=name, is_default=True, settings={})
        if session.scalars(select(Organization).where(Organization.slug == org.slug)).first():
            org.slug = f"{org.slug}-{secrets.token_hex(2)}"
        session.add(org)
        session.flush()
    return org


def create_org(session: Session, name: str, slug: str | None = None) -> Organization:
    """Add an organization; its slug must be unique."""
    slug = slug or slugify(name)
    if not _SLUG.match(slug):
        raise AccountError(f"{slug!r} is not a valid slug (lower-case letters, digits and dashes)")
    if session.scalars(select(Organization).where(Organization.slug == slug)).first():
        raise AccountError(f"an organization with slug {slug!r} already exists")
    org = Organization(slug=slug, name=name, settings={})
    session.add(org)
    session.flush()
    return org


def org_by_slug(session: Session, slug: str | None) -> Organization:
    """An organization by slug, or the default one when slug is None."""
    org = default_org(session) if slug is None else session.scalars(
        select(Organization).where(Organization.slug == slug)
    ).first()
    if org is None:
        raise AccountError(f"no organization {slug!r}" if slug else "no default organization yet")
    return org


def add_user(
    session: Session,
    org: Organization,
    *,
    name: str,
    phone: str | None = None,
    admin: bool = False,
    language: str | None = None,
    wa_user_id: str | None = None,
) -> User:
    """Register a user by phone (and/or WhatsApp user id)."""
    e164 = normalize_phone(phone) if phone else None
    if e164 and session.scalars(select(User).where(User.phone == e164)).first():
        raise AccountError("this phone number is already registered")
    user = User(
        org_id=org.id,
        name=name,
        phone=e164,
        role="admin" if admin else "manager",
        language=language,
        wa_user_id=wa_user_id,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, *, phone: str | None, user_id: str | None) -> User | None:
    """The registered user behind a WhatsApp sender: by user id first, then by phone."""
    if user_id:
        user = session.scalars(select(User).where(User.wa_user_id == user_id)).first()
        if user:
            return user
    if phone:
        return session.scalars(select(User).where(User.phone == phone)).first()
    return None


def users_of(session: Session, org_id: int, *, admins_only: bool = False) -> list[User]:
    """Active users of an organization."""
    stmt = select(User).where(User.org_id == org_id, User.active.is_(True))
    if admins_only:
        stmt = stmt.where(User.role == "admin")
    return list(session.scalars(stmt.order_by(User.id)))


def create_join_code(
    session: Session, org: Organization, *, name: str, admin: bool, now: datetime, ttl: timedelta = timedelta(hours=24)
) -> str:
    """A fresh 6-digit join code (only its hash is stored), valid ``ttl``."""
    while True:
        code = f"{secrets.randbelow(1_000_000):06d}"
        digest = sha256_hex(code)
        clash = session.scalars(select(JoinCode).where(JoinCode.code_hash == digest)).first()
        if clash is None:
            break
        if clash.used_at is not None or clash.expires_at <= now:
            session.delete(clash)
            session.flush()
            break
    session.add(
        JoinCode(org_id=org.id, code_hash=digest, name=name, role="admin" if admin else "manager",
                 expires_at=now + ttl)
    )
    session.flush()
    return code


def redeem_join_code(session: Session, code: str, now: datetime) -> JoinCode | None:
    """The live join code matching ``code``, marked used; None if unknown, used or expired."""
    digest = sha256_hex(code.strip())
    join = session.scalars(
        select(JoinCode).where(JoinCode.code_hash == digest, JoinCode.used_at.is_(None)).with_for_update()
    ).first()
    if join is None or join.expires_at <= now:
        return None
    join.used_at = now
    return join


def create_api_token(session: Session, org: Organization, name: str) -> str:
    """A new admin API token; returns it in clear once, stores its hash."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(org_id=org.id, name=name, token_hash=sha256_hex(token)))
    session.flush()
    return token


def token_org(session: Session, token: str, now: datetime) -> Organization | None:
    """The organization an API token belongs to, or None when unknown or revoked."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == sha256_hex(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    row.last_used_at = now
    return session.get(Organization, row.org_id)


def rate_hit(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one hit on ``key``; False when ``limit`` hits already happened within ``window``."""
    since = now - window
    session.execute(delete(RateEvent).where(RateEvent.key == key, RateEvent.at < since))
    count = session.scalar(select(func.count()).select_from(RateEvent).where(RateEvent.key == key)) or 0
    if count >= limit:
        return False
    session.add(RateEvent(key=key, at=now))
    return True
