"""Demo data for invitations: one contact message to invite from the chat (``contacts``, then ``inviter``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.services import Services
from storage.invitations import ContactMessage
from storage.models import Organization, User


def demo_contact(services: Services, session: Session, org: Organization, admin: User) -> None:
    """Add a sample contact message to the demo organization, once."""
    if session.scalars(select(ContactMessage.id).where(ContactMessage.org_id == org.id)).first() is not None:
        return
    session.add(ContactMessage(
        org_id=org.id, name="Jean Dupont", email="jean.dupont@exemple.fr", subject="Devis pour une toiture",
        message="Bonjour,\nPourriez-vous me faire un devis pour la réfection de ma toiture (80 m²) ?\nMerci.",
        language="fr", source="form", created_at=services.clock.now(),
    ))
