"""Tables of the personal health record (domain ``records``).

Every row belongs to one patient (``patient_id``) and says who wrote it (``recorded_by_id``: the
patient, a clinician, or nobody for an import). Free-text notes are sealed with the keyring
(``records/sealed.py``); values that trends and flags compute over (an observation's value, a
symptom's severity) stay plain so PostgreSQL can aggregate them. Who may read which section is
``records/policy.py``; grants and emergency openings are rows here so that the rule is one query.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Time,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Model


class Section(StrEnum):
    """The parts of a record a grant can share one by one."""

    observations = "observations"
    medications = "medications"
    symptoms = "symptoms"
    allergies = "allergies"
    conditions = "conditions"
    immunizations = "immunizations"
    documents = "documents"


class Source(StrEnum):
    """Who put an observation in the record."""

    patient = "patient"
    clinician = "clinician"
    visit = "visit"  # a nurse's home visit report
    import_ = "import"  # a CSV file the patient imported


class Flag(StrEnum):
    """Where a value falls against its kind's documented ranges (``records/vitals.py``)."""

    normal = "normal"
    low = "low"
    high = "high"
    critical_low = "critical_low"
    critical_high = "critical_high"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Observation(Model):
    """One measurement in its kind's canonical unit (``value``; ``value2`` is the diastolic of a
    blood pressure), with the unit the person entered it in, the flag it earned and the time zone
    of the patient when it was measured (the trends bucket by it)."""

    __tablename__ = "record_observations"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    value2: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    entered_unit: Mapped[str] = mapped_column(String(16))
    flag: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint(_in("source", Source), name="source"),
        CheckConstraint(_in("flag", Flag), name="flag"),
        # The series and the latest values read this index alone (value and value2 included).
        Index(
            "ix_record_observations_series",
            "patient_id",
            "kind",
            "measured_at",
            postgresql_include=["value", "value2"],
        ),
    )


class Medication(Model):
    """A medicine the patient takes: ``times`` are local times of day in the patient's current
    time zone, ``weekdays`` ISO weekdays (1 = Monday; empty = every day)."""

    __tablename__ = "record_medications"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    dose: Mapped[str | None] = mapped_column(String(100))
    route: Mapped[str | None] = mapped_column(String(50))
    times: Mapped[list[time]] = mapped_column(ARRAY(Time()), server_default="{}")
    weekdays: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger()), server_default="{}")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    reminders: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    prescribed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    prescription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="SET NULL")
    )
    prescription_line_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("prescription_lines.id", ondelete="SET NULL")
    )
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    instructions_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    stopped_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
        CheckConstraint("cardinality(times) <= 12", name="times_count"),
        CheckConstraint("weekdays <@ ARRAY[1,2,3,4,5,6,7]::smallint[]", name="weekdays"),
        Index("ix_record_medications_patient", "patient_id", "created_at"),
        # A prescription's line is added to the list once.
        Index(
            "uq_record_medications_line",
            "patient_id",
            "prescription_line_id",
            unique=True,
            postgresql_where=text("prescription_line_id IS NOT NULL"),
        ),
    )


class DoseStatus(StrEnum):
    due = "due"  # reminded (or shown), not marked yet
    taken = "taken"
    skipped = "skipped"


class MedicationDose(Model):
    """One scheduled dose: the local date and time it was due at in the patient's time zone of
    that moment, the instant that was (``due_at``), whether it was reminded and how it was marked.
    One row per medication and local slot, so a reminder goes out once even when the time zone
    changes or two workers run."""

    __tablename__ = "record_medication_doses"

    medication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_medications.id", ondelete="CASCADE")
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    local_time: Mapped[time] = mapped_column(Time())
    time_zone: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), server_default="due")
    reminded_at: Mapped[datetime | None]
    marked_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", DoseStatus), name="status"),
        CheckConstraint(
            "(status = 'due') = (marked_at IS NULL)", name="marked_when_taken_or_skipped"
        ),
        Index(
            "uq_record_medication_doses_slot",
            "medication_id",
            "local_date",
            "local_time",
            unique=True,
        ),
        Index("ix_record_medication_doses_patient", "patient_id", "due_at"),
    )


class Symptom(Model):
    """A diary entry: a symptom of the catalog (``code``) or free text, how bad, since when."""

    __tablename__ = "record_symptoms"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    severity: Mapped[int] = mapped_column(SmallInteger)
    onset_at: Mapped[datetime]
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("severity BETWEEN 0 AND 10", name="severity"),
        CheckConstraint("duration_minutes IS NULL OR duration_minutes >= 0", name="duration"),
        Index("ix_record_symptoms_patient", "patient_id", "onset_at"),
    )


class Allergy(Model):
    __tablename__ = "record_allergies"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    substance: Mapped[str] = mapped_column(String(200))
    reaction: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(24))  # mild, moderate, severe, unknown
    noted_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("severity IN ('mild', 'moderate', 'severe', 'unknown')", name="severity"),
        Index("ix_record_allergies_patient", "patient_id", "created_at"),
    )


class Condition(Model):
    """The problem list; ``status`` follows FHIR's clinical status of a Condition."""

    __tablename__ = "record_conditions"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    onset_on: Mapped[date | None] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved')",
            name="status",
        ),
        CheckConstraint(
            "resolved_on IS NULL OR onset_on IS NULL OR resolved_on >= onset_on", name="dates"
        ),
        Index("ix_record_conditions_patient", "patient_id", "created_at"),
    )


class Immunization(Model):
    __tablename__ = "record_immunizations"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    vaccine: Mapped[str] = mapped_column(String(200))
    dose_number: Mapped[int | None] = mapped_column(SmallInteger)
    given_on: Mapped[date] = mapped_column(Date)
    lot: Mapped[str | None] = mapped_column(String(64))
    given_by: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("dose_number IS NULL OR dose_number BETWEEN 1 AND 20", name="dose_number"),
        Index("ix_record_immunizations_patient", "patient_id", "given_on"),
    )


class RecordDocument(Model):
    """A lab result, a letter or an image: the file is in the storage, sealed with the keyring
    (``SealedStorage``, associated data ``record-document:<id>``)."""

    __tablename__ = "record_documents"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    dated_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint(
            "category IN ('lab_result', 'letter', 'imaging', 'report', 'other')", name="category"
        ),
        Index("ix_record_documents_patient", "patient_id", "created_at"),
    )


class RecordGrant(Model):
    """A patient's sharing of some sections of their record with one clinician until
    ``expires_at``, or until revoked. At most one grant per clinician is unrevoked: a new one
    replaces it."""

    __tablename__ = "record_grants"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    grantee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sections: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("cardinality(sections) >= 1", name="sections"),
        CheckConstraint("grantee_id <> patient_id", name="not_self"),
        Index(
            "uq_record_grants_open",
            "patient_id",
            "grantee_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_record_grants_grantee", "grantee_id", "patient_id"),
    )


class EmergencyAccess(Model):
    """A doctor's "break the glass": the record opened without a care relationship or a grant,
    for ``CAREBRIDGE_RECORD_EMERGENCY_MINUTES``, with a written reason (sealed)."""

    __tablename__ = "record_emergency_accesses"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_record_emergency_accesses_doctor", "doctor_id", "patient_id", "expires_at"),
    )
