"""mail backlog: messages a first sync or a resync stored from their headers alone

A mailbox's first sync (and a resync after an IMAP UIDVALIDITY change) stores the backlog's
metadata from headers and structure only, without downloading or parsing bodies, so that linking a
mailbox of thousands of messages answers in seconds. Those rows carry ``backlog`` until
``MailboxService.deliver_backlog`` has fetched each body and handed it to the new-mail subscribers.
Rows stored before this revision were delivered with their bodies.

Revision ID: 0008_mail_backlog
Revises: 0007_mail_delivery
Create Date: 2026-11-22 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_mail_backlog'
down_revision: str | Sequence[str] | None = '0007_mail_delivery'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backlog', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_mail_messages_mailbox_pending', ['mailbox_id', 'delivered_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_messages_mailbox_pending')
        batch_op.drop_column('backlog')
