"""Tables of the directory: specialties, and the profiles of doctors, nurses and patients.

``doctor_profiles.search_vector`` is kept up to date by database triggers (migration
0010_directory), not by the application: the name it indexes lives on ``users`` and the
specialties in ``doctor_specialties``, and a trigger sees every change to them whichever code
path makes it (the accounts pages, an admin, a bulk load).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model

_VERIFIED = text("verified_at IS NOT NULL")


class Specialty(Model):
    """The catalog: seeded by the migration, the same in every install."""

    __tablename__ = "specialties"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(400))

    __table_args__ = (CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug"),)


doctor_specialties = Table(
    "doctor_specialties",
    Base.metadata,
    Column(
        "doctor_id",
        ForeignKey("doctor_profiles.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("specialty_id", ForeignKey("specialties.id", ondelete="CASCADE"), primary_key=True),
    # Filtering by specialty starts from the specialty: (specialty_id, doctor_id).
    Index("ix_doctor_specialties_specialty", "specialty_id", "doctor_id"),
)


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class DoctorProfile(_Timestamps, Base):
    __tablename__ = "doctor_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    bio: Mapped[str] = mapped_column(Text, server_default="")
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default="{}")
    years_of_experience: Mapped[int | None] = mapped_column(SmallInteger)
    # Minor units of the clinic's one currency (CAREBRIDGE_CURRENCY); no currency per doctor.
    consultation_fee: Mapped[int | None] = mapped_column(Integer)
    license_number: Mapped[str | None] = mapped_column(String(64))
    clinic_address: Mapped[str | None] = mapped_column(String(500))
    photo_url: Mapped[str | None] = mapped_column(String(2048))
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    # Set only by an administrator's verification; cleared when the license number changes.
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Maintained by the reviews domain; never written from a client's input.
    rating_average: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    rating_count: Mapped[int] = mapped_column(server_default="0")
    # Written by the triggers of migration 0010 (name A, specialties A, languages B, bio C).
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, server_default=text("''::tsvector"), deferred=True
    )

    __table_args__ = (
        CheckConstraint("years_of_experience BETWEEN 0 AND 80", name="years"),
        CheckConstraint("consultation_fee >= 0", name="fee"),
        CheckConstraint("photo_url LIKE 'https://%'", name="photo_https"),
        CheckConstraint("rating_average BETWEEN 0 AND 5", name="rating"),
        CheckConstraint("rating_count >= 0", name="rating_count"),
        Index("ix_doctor_profiles_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_doctor_profiles_languages", "languages", postgresql_using="gin"),
        Index("ix_doctor_profiles_fee", "consultation_fee", postgresql_where=_VERIFIED),
        Index("ix_doctor_profiles_rating", "rating_average", postgresql_where=_VERIFIED),
        # The approval queue: profiles not verified yet, oldest first.
        Index(
            "ix_doctor_profiles_unverified",
            "created_at",
            postgresql_where=text("verified_at IS NULL"),
        ),
    )


class NurseProfile(_Timestamps, Base):
    __tablename__ = "nurse_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    bio: Mapped[str] = mapped_column(Text, server_default="")
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default="{}")
    years_of_experience: Mapped[int | None] = mapped_column(SmallInteger)
    license_number: Mapped[str | None] = mapped_column(String(64))
    service_area: Mapped[str | None] = mapped_column(String(500))
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")

    __table_args__ = (CheckConstraint("years_of_experience BETWEEN 0 AND 80", name="years"),)


class PatientProfile(_Timestamps, Base):
    """Personal data: only the patient reads it. Date of birth, address and emergency contact
    are encrypted with the keyring (the patient's id and the field name as associated data)."""

    __tablename__ = "patient_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sex: Mapped[str | None] = mapped_column(String(16))
    date_of_birth_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    emergency_contact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("sex IN ('female', 'male', 'intersex', 'undisclosed')", name="sex"),
    )
