"""The demo's data: an organization and an admin on embedded defaults (features add to it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.services import Services
from handlers.invitations.demo import demo_contact
from storage.accounts import add_user, create_org
from storage.models import Organization, User

DEMO_SLUG = "demo"
DEMO_ORG_NAME = "Atelier Démo"
DEMO_ADMIN_NAME = "Awa Démo"
DEMO_ADMIN_PHONE = "+33600000001"

# Features add their own demo data here (sample mailbox, clients…): fn(services, session, org, admin).
DEMO_STEPS: list[Callable[[Services, Session, Organization, User], None]] = [demo_contact]


@dataclass(frozen=True)
class DemoInfo:
    """What the demo prints."""

    org_name: str
    admin_id: int
    admin_name: str
    admin_phone: str


def prepare_demo(services: Services) -> DemoInfo:
    """Create (once) the demo organization and its admin, then run the features' demo steps."""
    with services.db.write() as session:
        org = session.scalars(select(Organization).where(Organization.slug == DEMO_SLUG)).first()
        if org is None:
            org = create_org(session, DEMO_ORG_NAME, DEMO_SLUG)
        admin = session.scalars(select(User).where(User.phone == DEMO_ADMIN_PHONE)).first()
        if admin is None:
            admin = add_user(session, org, name=DEMO_ADMIN_NAME, phone=DEMO_ADMIN_PHONE, admin=True)
        for step in DEMO_STEPS:
            step(services, session, org, admin)
        return DemoInfo(org.name, admin.id, admin.name, DEMO_ADMIN_PHONE)
