"""API keys note where they were last used from, beside when.

Revision ID: 0018_api_key_last_ip
Revises: 0017_names_not_blank
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_api_key_last_ip"
down_revision: str | None = "0017_names_not_blank"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("last_used_ip", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "last_used_ip")
