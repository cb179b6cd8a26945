"""Booking requests are hashed with a key: forget the unkeyed hashes.

``appointments.request_hash`` held the plain SHA-256 of the booking request, the reason for the
visit included, so a copy of the database confirmed a guessed reason. New hashes are keyed
(HMAC-SHA256 under a key of the keyring, 40 bytes with the key id); the old ones (32 bytes) cannot
be made keyed without the request, so they are cleared. A request repeated with an Idempotency-Key
used before this migration is then answered ``idempotency_key_reused`` (the key stays taken, so
nothing is booked twice) instead of the first result.

Revision ID: 0013_keyed_booking_hash
Revises: 0012_prescriptions
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_keyed_booking_hash"
down_revision: str | None = "0012_prescriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE appointments SET request_hash = NULL "
        "WHERE request_hash IS NOT NULL AND octet_length(request_hash) = 32"
    )


def downgrade() -> None:
    # What was cleared cannot come back, and keyed hashes are no worse for older code: it only
    # compares them, and finds them different.
    pass
