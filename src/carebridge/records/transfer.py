"""Moving a record in and out as CSV: the patient imports observations from a file (a device's
or another app's export) and exports any section.

Import: the file as a whole is checked first (at most ``MAX_IMPORT_BYTES``, UTF-8, the header
``IMPORT_COLUMNS``, every line with that many columns, at most ``MAX_IMPORT_ROWS`` rows): a file
that fails answers 422 and nothing is written. Then each row is measured as a reading entered
by hand is (``observations.measure``); a row that fails is reported with its line and reason
and the others are written, source ``import``, in one multi-row insert, with one audit row for
the whole import (its row count).

Export: one section's rows as CSV, notes opened with the keyring. Observations come out in the
import's columns (canonical unit, UTC times), so an export imports again as it was. The other
sections are read from their tables here, so the export does not wait for their services.
A text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is written
with a leading ``'``, which the import takes off again.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import SealedColumn
from carebridge.platform.errors import CareBridgeError, Invalid, TooLarge
from carebridge.platform.models import Model
from carebridge.records import access
from carebridge.records.models import (
    Allergy,
    Condition,
    Immunization,
    Medication,
    Observation,
    Section,
    Source,
    Symptom,
)
from carebridge.records.observations import measure, new_row
from carebridge.records.policy import Subject
from carebridge.records.schemas import NOTE_LENGTH
from carebridge.records.sealed import (
    ALLERGY_NOTE,
    CONDITION_NOTE,
    IMMUNIZATION_NOTE,
    MEDICATION_INSTRUCTIONS,
    OBSERVATION_NOTE,
    SYMPTOM_NOTE,
)
from carebridge.records.transfer_schemas import ImportReport, Rejected
from carebridge.records.vitals import Kind

IMPORT_COLUMNS = ("kind", "value", "value2", "unit", "measured_at", "note")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
_FUTURE_SLACK = timedelta(minutes=5)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class ExportSection(StrEnum):
    observations = "observations"
    medications = "medications"
    symptoms = "symptoms"
    allergies = "allergies"
    conditions = "conditions"
    immunizations = "immunizations"


# -- import ---------------------------------------------------------------------------------------


def _whole_file(data: bytes) -> list[tuple[int, list[str]]]:
    """The file's data lines with their line numbers, or 422 for a file that is not one."""
    if len(data) > MAX_IMPORT_BYTES:
        raise TooLarge(
            f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB: split it.",
            code="import_too_large",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            "The file is not UTF-8 text: save it as CSV UTF-8.", code="import_not_utf8"
        ) from exc
    if "\x00" in text:
        raise Invalid("The file is not a CSV file.", code="import_not_csv")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise Invalid("The file is empty.", code="import_empty")
        if tuple(c.strip().lower() for c in header) != IMPORT_COLUMNS:
            raise Invalid(
                f"The first line must be the header {','.join(IMPORT_COLUMNS)}.",
                code="import_bad_header",
            )
        lines = []
        for fields in reader:
            if not fields or fields == [""]:
                continue  # a blank line
            if len(fields) != len(IMPORT_COLUMNS):
                raise Invalid(
                    f"Line {reader.line_num} has {len(fields)} columns; every line has "
                    f"{len(IMPORT_COLUMNS)}.",
                    code="import_bad_line",
                    line=reader.line_num,
                )
            lines.append((reader.line_num, fields))
            if len(lines) > MAX_IMPORT_ROWS:
                raise Invalid(
                    f"At most {MAX_IMPORT_ROWS} rows at once: split the file.",
                    code="import_too_many_rows",
                )
    except csv.Error as exc:
        raise Invalid(
            f"The file is not valid CSV (line {reader.line_num}).", code="import_not_csv"
        ) from exc
    return lines


def _number(text: str, column: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise Invalid(f"{column} is not a number.", code="bad_number") from None
    if not math.isfinite(number):
        raise Invalid(f"{column} is not a finite number.", code="bad_number")
    return number


def _instant(text: str, now: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "measured_at is not an ISO 8601 time (2026-03-01T08:30:00+01:00).", code="bad_time"
        ) from None
    if at.tzinfo is None:
        raise Invalid("measured_at needs its UTC offset (+01:00, Z).", code="bad_time")
    if at > now + _FUTURE_SLACK:
        raise Invalid("measured_at is in the future.", code="measured_in_future")
    return at.astimezone(UTC)


def _unescaped(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:2] in _FORMULA else text


@dataclass(frozen=True)
class _Row:
    kind: Kind
    value: float
    value2: float | None
    unit: str | None
    measured_at: datetime
    note: str | None


def _parse(fields: Sequence[str], now: datetime) -> _Row:
    kind_text, value, value2, unit, measured_at, note = (f.strip() for f in fields)
    if kind_text not in Kind.__members__:
        raise Invalid(f"Unknown kind `{kind_text[:40]}`.", code="unknown_kind")
    note = _unescaped(note)
    if len(note) > NOTE_LENGTH:
        raise Invalid(f"The note is longer than {NOTE_LENGTH} characters.", code="note_too_long")
    return _Row(
        kind=Kind(kind_text),
        value=_number(value, "value"),
        value2=_number(value2, "value2") if value2 else None,
        unit=unit or None,
        measured_at=_instant(measured_at, now),
        note=note or None,
    )


def _values(row: Observation) -> dict[str, Any]:
    return {column: getattr(row, column) for column in _INSERTED}


_INSERTED = (
    "id", "patient_id", "kind", "value", "value2", "unit", "entered_unit", "flag", "measured_at",
    "time_zone", "source", "recorded_by_id", "note_sealed",
)  # fmt: skip


async def import_csv(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    data: bytes,
    *,
    now: datetime | None = None,
) -> ImportReport:
    """Import a CSV file of observations: the rows that are readings are written, the others
    reported with their line and reason; a file that is not one writes nothing (422)."""
    now = now or datetime.now(UTC)
    lines = _whole_file(data)
    zone = await time_zone_of(db, subject.patient_id)
    written: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    await scope.unlock(db, subject.patient_id)
    for line, fields in lines:
        try:
            parsed = _parse(fields, now)
            measured = measure(parsed.kind, parsed.value, parsed.value2, parsed.unit)
        except CareBridgeError as exc:
            rejected.append(Rejected(line=line, code=exc.error_code, reason=exc.detail))
            continue
        row = new_row(
            scope,
            subject.patient_id,
            parsed.kind,
            measured,
            measured_at=parsed.measured_at,
            time_zone=zone,
            source=Source.import_,
            recorded_by_id=None,
            note=parsed.note,
        )
        written.append(_values(row))
    await access.check_write(
        db, scope, subject, Section.observations, None, "import", rows=len(written)
    )
    if written:
        await db.execute(insert(Observation), written)
    return ImportReport(imported=len(written), rejected=rejected)


# -- export ---------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return " ".join(v.strftime("%H:%M") if isinstance(v, time) else str(v) for v in value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA) else text


@dataclass(frozen=True)
class Sheet:
    """A section's table as CSV: its columns (attributes of the row), the sealed one opened
    under ``sealed_name``, in ``order``."""

    model: type[Model]
    columns: tuple[str, ...]
    sealed: SealedColumn
    sealed_name: str
    order: Callable[[Any], Iterable[Any]]


SHEETS: dict[ExportSection, Sheet] = {
    ExportSection.medications: Sheet(
        Medication,
        (
            "name",
            "dose",
            "route",
            "times",
            "weekdays",
            "starts_on",
            "ends_on",
            "reminders",
            "stopped_at",
            "created_at",
        ),
        MEDICATION_INSTRUCTIONS,
        "instructions",
        lambda m: (m.created_at, m.id),
    ),
    ExportSection.symptoms: Sheet(
        Symptom,
        ("name", "code", "severity", "onset_at", "duration_minutes"),
        SYMPTOM_NOTE,
        "note",
        lambda m: (m.onset_at, m.id),
    ),
    ExportSection.allergies: Sheet(
        Allergy,
        ("substance", "reaction", "severity", "noted_on", "created_at"),
        ALLERGY_NOTE,
        "note",
        lambda m: (m.created_at, m.id),
    ),
    ExportSection.conditions: Sheet(
        Condition,
        ("name", "code", "status", "onset_on", "resolved_on", "created_at"),
        CONDITION_NOTE,
        "note",
        lambda m: (m.created_at, m.id),
    ),
    ExportSection.immunizations: Sheet(
        Immunization,
        ("vaccine", "dose_number", "given_on", "lot", "given_by"),
        IMMUNIZATION_NOTE,
        "note",
        lambda m: (m.given_on, m.id),
    ),
}
OBSERVATIONS = Sheet(
    Observation,
    ("kind", "value", "value2", "unit", "measured_at"),
    OBSERVATION_NOTE,
    "note",
    lambda m: (m.measured_at, m.id),
)


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str


async def export_csv(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    section: ExportSection,
    *,
    now: datetime | None = None,
) -> Export:
    """One section of the record as CSV (audited: ``record.export``)."""
    now = now or datetime.now(UTC)
    await access.check_read(db, scope, subject, Section(section.value))
    sheet = OBSERVATIONS if section == ExportSection.observations else SHEETS[section]
    model: Any = sheet.model
    rows = list(
        await db.scalars(
            select(model)
            .where(model.patient_id == subject.patient_id)
            .order_by(*sheet.order(model))
        )
    )
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*sheet.columns, sheet.sealed_name])
    for row in rows:
        opened = scope.keyring.open_text(sheet.sealed, row)
        writer.writerow([*(_cell(getattr(row, c)) for c in sheet.columns), _cell(opened)])
    await access.audit(db, scope, subject, "record.export", section=section.value, rows=len(rows))
    return Export(
        content=out.getvalue().encode(),
        filename=f"carebridge-{section.value}-{now:%Y-%m-%d}.csv",
    )
