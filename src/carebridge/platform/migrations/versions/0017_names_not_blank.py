"""Names are never blank: a check on ``users.name`` and ``api_keys.name``.

The API and the pages refuse a name of only spaces since this release (``platform/inputs.py``,
``Name``); the database now holds the same rule. A name saved blank before (it showed as nothing,
in the admin tables too) becomes the local part of the account's email address, and an API key's
"API key <prefix>", so the check can hold.

Revision ID: 0017_names_not_blank
Revises: 0016_clinic_currency
Create Date: 2026-12-10 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_names_not_blank"
down_revision: str | None = "0016_clinic_currency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(r"UPDATE users SET name = split_part(email, '@', 1) WHERE name !~ '\S'")
    op.create_check_constraint(op.f("ck_users_name_not_blank"), "users", r"name ~ '\S'")
    op.execute(r"UPDATE api_keys SET name = 'API key ' || prefix WHERE name !~ '\S'")
    op.create_check_constraint(op.f("ck_api_keys_name_not_blank"), "api_keys", r"name ~ '\S'")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_name_not_blank"), "api_keys", type_="check")
    op.drop_constraint(op.f("ck_users_name_not_blank"), "users", type_="check")
