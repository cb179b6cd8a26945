"""The ZIP of a patient's data export: every domain of ``registry.EXPORT_MODULES`` contributes one
JSON document and its files; a manifest says what is inside; ``summary.pdf`` is a readable digest.

The JSON documents are the portable form (GDPR Article 20) until CareBridge has its FHIR R4
interface: then a FHIR Bundle joins them (the manifest's ``fhir`` note says so meanwhile).
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform import patient_keys
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, ExportFile
from carebridge.platform.pdf import Sheet
from carebridge.platform.registry import EXPORT_MODULES

FORMAT_VERSION = 1
FHIR_NOTE = (
    "CareBridge does not offer a FHIR R4 interface yet. Until it does, the JSON documents of "
    "this archive are the portable form of your data; a FHIR R4 Bundle will be added to "
    "exports once the interface exists."
)


@dataclass(frozen=True)
class Contribution:
    """One domain's part: its document's name (``records``) and what it exported."""

    name: str
    export: DomainExport


def document_name(module_path: str) -> str:
    """``carebridge.records.export`` gives ``records``, unless the module names its ``DOCUMENT``."""
    module = importlib.import_module(module_path)
    named: str | None = getattr(module, "DOCUMENT", None)
    return named or module_path.split(".")[1]


async def collect(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> list[Contribution]:
    """Every domain's contribution, in the registry's order. Everything sealed in it is the
    patient's, under their data keys: loaded once here (never made: a patient without a key
    has nothing sealed)."""
    await patient_keys.unlock(db, scope.keyring, [patient_id], create=False)
    found = []
    for path in EXPORT_MODULES:
        module = importlib.import_module(path)
        export: DomainExport = await module.export_patient(db, scope, patient_id)
        found.append(Contribution(document_name(path), export))
    return found


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode()


def manifest(
    export_id: uuid.UUID, patient_id: uuid.UUID, at: datetime, parts: list[Contribution]
) -> dict[str, Any]:
    return {
        "format": "carebridge-export",
        "format_version": FORMAT_VERSION,
        "export_id": str(export_id),
        "patient_id": str(patient_id),
        "generated_at": at.isoformat(),
        "documents": {
            f"{part.name}.json": {
                key: len(value) if isinstance(value, list) else int(value is not None)
                for key, value in part.export.document.items()
            }
            for part in parts
        },
        "files": [file.path for part in parts for file in part.export.files],
        "summary": "summary.pdf",
        "fhir": FHIR_NOTE,
    }


def _count_line(part: Contribution) -> str:
    counts = [
        f"{key.replace('_', ' ')}: {len(value)}"
        for key, value in part.export.document.items()
        if isinstance(value, list)
    ]
    return ", ".join(counts) or "profile"


def summary_pdf(clinic_name: str, name: str, at: datetime, parts: list[Contribution]) -> bytes:
    """A readable digest: who, when, and how much of what each document holds."""
    sheet = Sheet()
    sheet.letterhead("Your CareBridge data", clinic_name, None)
    sheet.line("Your data export", size=14, bold=True, height=7)
    sheet.line(f"For: {name}")
    sheet.line(f"Generated: {at:%Y-%m-%d %H:%M} UTC")
    sheet.rule()
    for part in parts:
        sheet.line(f"{part.name}.json", bold=True)
        for line in part.export.summary:
            sheet.line(line, size=9)
        sheet.line(_count_line(part), size=9)
        if part.export.files:
            sheet.line(f"{len(part.export.files)} file(s) under files/{part.name}/", size=9)
    sheet.rule()
    sheet.line(FHIR_NOTE, size=9)
    return bytes(sheet.pdf.output())


def _zip(entries: list[ExportFile]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            archive.writestr(entry.path, entry.data)
    return buffer.getvalue()


async def archive(
    parts: list[Contribution],
    *,
    export_id: uuid.UUID,
    patient_id: uuid.UUID,
    patient_name: str,
    clinic_name: str,
    at: datetime,
) -> bytes:
    """The ZIP's bytes (rendered and compressed in a thread: CPU-bound)."""

    def build() -> bytes:
        entries = [
            ExportFile("manifest.json", _json(manifest(export_id, patient_id, at, parts))),
            *(ExportFile(f"{part.name}.json", _json(part.export.document)) for part in parts),
            ExportFile("summary.pdf", summary_pdf(clinic_name, patient_name, at, parts)),
            *(file for part in parts for file in part.export.files),
        ]
        return _zip(entries)

    return await asyncio.to_thread(build)
