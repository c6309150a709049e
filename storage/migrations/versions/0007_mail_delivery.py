"""mail delivery: when each stored message's new-mail event reached the subscribers

A sync stores a page of messages, hands them to the new-mail subscribers (the triage), then marks
them delivered and advances the cursor. A sync cut short between the two (the process stopped)
leaves rows with ``delivered_at`` NULL; the next sync fetches them again and delivers them, counting
the replays in ``delivery_attempts`` so that a message whose delivery keeps failing is given up.
Rows stored before this revision were delivered when they were stored.

Revision ID: 0007_mail_delivery
Revises: 0006_invoices
Create Date: 2026-11-22 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0007_mail_delivery'
down_revision: str | Sequence[str] | None = '0006_invoices'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivery_attempts', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE mail_messages SET delivered_at = synced_at")


def downgrade() -> None:
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.drop_column('delivery_attempts')
        batch_op.drop_column('delivered_at')
