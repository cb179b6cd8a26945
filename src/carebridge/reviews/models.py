"""Reviews of completed appointments: one per appointment, by its patient. The doctor's rating
average and count on ``doctor_profiles`` are recomputed in the same transaction as every change
that affects them (a new review, an edited rating, a review hidden by an admin)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Model


class Review(Model):
    __tablename__ = "reviews"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), unique=True
    )
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)  # plain text, escaped on output
    edited_at: Mapped[datetime | None]
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
    hidden_at: Mapped[datetime | None]
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    hidden_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        CheckConstraint("length(comment) <= 2000", name="comment_length"),
        CheckConstraint("length(reply) <= 2000", name="reply_length"),
        CheckConstraint("hidden_at IS NULL OR hidden_reason IS NOT NULL", name="hidden_reason"),
        # A doctor's visible reviews, newest first (the profile page and the rating).
        Index(
            "ix_reviews_doctor_visible",
            "doctor_id",
            "created_at",
            postgresql_where=text("hidden_at IS NULL"),
        ),
    )
