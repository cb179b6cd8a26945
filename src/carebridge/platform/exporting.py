"""The shape of a patient's data export, shared by every domain's ``export.py``.

A domain lists its module in ``registry.EXPORT_MODULES``; the module exposes
``async def export_patient(db, scope, patient_id) -> DomainExport``: one JSON document (named after
the domain: ``records.json``) and the patient's files. The compliance domain gathers them into the
ZIP (``compliance/export.py``); nothing here knows a domain.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import inspect as inspect_row

from carebridge.platform.crypto import Row, SealedColumn
from carebridge.platform.storage import FileMissing, SealedStorage

# How a domain opens one sealed value of a row (``scope.keyring.open_text``): the domain passes
# its own, so that opening stays with the domain that sealed it.
Opener = Callable[[SealedColumn, Row], str | None]


@dataclass(frozen=True)
class ExportFile:
    """A file of the patient's, under ``path`` inside the ZIP (``files/records/<id>-name.pdf``)."""

    path: str
    data: bytes


class SealedFile(NamedTuple):
    """A file of the patient's in the sealed storage: its row's id and name, where it is stored
    and the associated data it was sealed with."""

    object_id: uuid.UUID
    filename: str | None
    key: str
    associated_data: bytes


@dataclass
class DomainExport:
    """What one domain holds about the patient: ``document`` becomes ``<domain>.json``;
    ``summary`` is a few readable lines for the export's PDF summary (the domain knows what
    matters in its data; the counts are added for every domain)."""

    document: dict[str, list[dict[str, Any]] | dict[str, Any] | None]
    files: list[ExportFile] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    async def add_sealed_files(
        self, storage: SealedStorage, folder: str, found: Iterable[SealedFile]
    ) -> None:
        """Open each file into ``files/<folder>/``; one missing from the storage is left out
        (its row, in the document, still says what it was)."""
        for item in found:
            try:
                data = await storage.get(item.key, associated_data=item.associated_data)
            except FileMissing:
                continue
            path = f"files/{folder}/{file_name(item.object_id, item.filename)}"
            self.files.append(ExportFile(path, data))


def plain(value: Any) -> Any:
    """A column's value as JSON can hold it: ids, instants and amounts as strings."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def row_of(
    row: object,
    open_text: Opener,
    *,
    sealed: Iterable[SealedColumn] = (),
    omit: Iterable[str] = (),
) -> dict[str, Any]:
    """One ORM row as a dict of its columns: ``sealed`` columns opened with ``open_text`` (named
    without ``_sealed``), ``omit`` left out (secrets, hashes, storage keys); other bytes (hashes,
    ciphertexts) are never exported."""
    opened = {column.column: column for column in sealed}
    left_out = set(omit)
    values: dict[str, Any] = {}
    for attribute in inspect_row(row).mapper.column_attrs:
        name = attribute.key
        if name in left_out:
            continue
        if name in opened:
            values[name.removesuffix("_sealed")] = open_text(opened[name], row)
            continue
        value = getattr(row, name)
        if isinstance(value, bytes | memoryview):
            continue
        values[name] = plain(value)
    return values


def rows_of(
    rows: Iterable[object],
    open_text: Opener,
    *,
    sealed: Iterable[SealedColumn] = (),
    omit: Iterable[str] = (),
) -> list[dict[str, Any]]:
    kept, left_out = tuple(sealed), tuple(omit)
    return [row_of(row, open_text, sealed=kept, omit=left_out) for row in rows]


def file_name(object_id: uuid.UUID, filename: str | None) -> str:
    """A file's name inside the ZIP: its id first (unique), then its name without any folder."""
    base = (filename or "file").replace("\\", "/").rsplit("/", 1)[-1].strip(". ") or "file"
    return f"{object_id}-{base[:120]}"
