"""Every doctor's rating is what their visible reviews give.

Earlier demo data set ``rating_average`` and ``rating_count`` without any review behind them
("4.8 from 54 reviews" next to "No reviews yet"). Each profile is recomputed here exactly as
``reviews.service.refresh_rating`` does (the mean of the visible ratings to 2 decimals, their
count; null and 0 without any), so the figures shown are those of reviews people can read.

Revision ID: 0015_ratings_from_reviews
Revises: 0013_keyed_booking_hash
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_ratings_from_reviews"
down_revision: str | None = "0014_known_devices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE doctor_profiles AS p
        SET rating_average = r.average, rating_count = coalesce(r.count, 0)
        FROM doctor_profiles AS d
        LEFT JOIN (
            SELECT doctor_id, round(avg(rating), 2) AS average, count(*) AS count
            FROM reviews WHERE hidden_at IS NULL GROUP BY doctor_id
        ) AS r ON r.doctor_id = d.user_id
        WHERE p.user_id = d.user_id
          AND (p.rating_average IS DISTINCT FROM r.average
               OR p.rating_count <> coalesce(r.count, 0))
        """
    )


def downgrade() -> None:
    # The figures set without reviews cannot come back, and older code reads these as well.
    pass
