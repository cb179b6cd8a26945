"""A clinic has one currency: doctor profiles lose theirs.

Fees stay integers in minor units, now of the clinic's currency, ``CAREBRIDGE_CURRENCY``, which
``carebridge migrate`` (and ``serve``'s auto-migration) hands to this migration. Amounts cannot
be converted between currencies without a rate, so:

- fees already in the clinic's currency are kept as they are;
- when some fees are in the clinic's currency and others are not, the others are cleared (the
  doctor shows no fee until they enter it again) and a warning names how many per currency;
- when fees exist but none is in the clinic's currency, the migration stops and changes nothing:
  the setting was most likely forgotten (a clinic whose doctors all charge in USD, migrated with
  the default EUR). Set ``CAREBRIDGE_CURRENCY`` and migrate again.

Appointments and payments keep their own ``currency`` column: each records what was charged.

Revision ID: 0016_clinic_currency
Revises: 0015_ratings_from_reviews
Create Date: 2026-12-10 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from alembic import context, op

from carebridge.platform.migrate import MigrationRefused

revision: str = "0016_clinic_currency"
down_revision: str | None = "0015_ratings_from_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = structlog.get_logger(__name__)


# CAREBRIDGE_CURRENCY's default when this revision was written (frozen: a later default must not
# change what this revision does).
DEFAULT_CURRENCY = "EUR"


def clinic_currency() -> str:
    """The currency ``upgrade()`` was given; the setting's default of then when none was."""
    given = context.config.attributes.get("clinic_currency")
    return str(given or DEFAULT_CURRENCY)


def upgrade() -> None:
    clinic = clinic_currency()
    rows = op.get_bind().execute(
        sa.text(
            "SELECT currency, count(*) FROM doctor_profiles "
            "WHERE consultation_fee IS NOT NULL GROUP BY currency"
        )
    )
    fees = {str(currency): int(count) for currency, count in rows}
    others = {currency: count for currency, count in fees.items() if currency != clinic}
    if others and clinic not in fees:
        named = ", ".join(f"{count} in {currency}" for currency, count in sorted(others.items()))
        raise MigrationRefused(
            f"doctor fees are {named}, none in {clinic} (CAREBRIDGE_CURRENCY): set "
            "CAREBRIDGE_CURRENCY to the clinic's currency and migrate again; nothing was changed"
        )
    if others:
        op.execute(
            sa.text(
                "UPDATE doctor_profiles SET consultation_fee = NULL "
                "WHERE consultation_fee IS NOT NULL AND currency IS DISTINCT FROM :clinic"
            ).bindparams(clinic=clinic)
        )
        log.warning("doctor_fees_cleared", clinic_currency=clinic, cleared=others)
    op.drop_constraint(op.f("ck_doctor_profiles_fee_currency"), "doctor_profiles", type_="check")
    op.drop_constraint(op.f("ck_doctor_profiles_currency"), "doctor_profiles", type_="check")
    op.drop_column("doctor_profiles", "currency")


def downgrade() -> None:
    op.add_column("doctor_profiles", sa.Column("currency", sa.String(length=3), nullable=True))
    op.execute(
        sa.text(
            "UPDATE doctor_profiles SET currency = :clinic WHERE consultation_fee IS NOT NULL"
        ).bindparams(clinic=clinic_currency())
    )
    op.create_check_constraint(
        op.f("ck_doctor_profiles_currency"), "doctor_profiles", "currency ~ '^[A-Z]{3}$'"
    )
    op.create_check_constraint(
        op.f("ck_doctor_profiles_fee_currency"),
        "doctor_profiles",
        "consultation_fee IS NULL OR currency IS NOT NULL",
    )
