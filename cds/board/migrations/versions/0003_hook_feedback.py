"""the CDS Hooks service's feedback on its cards

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hook_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=80), nullable=False),
    sa.Column('card', sa.String(length=80), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('accepted_suggestions', sa.JSON(), nullable=False),
    sa.Column('override_system', sa.String(length=200), nullable=True),
    sa.Column('override_code', sa.String(length=80), nullable=True),
    sa.Column('override_display', sa.String(length=200), nullable=True),
    sa.Column('user_comment', sa.Text(), nullable=True),
    sa.Column('outcome_at', sa.String(length=40), nullable=False),
    sa.Column('client', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('hook_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hook_feedback_card'), ['card'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hook_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hook_feedback_card'))
    op.drop_table('hook_feedback')
