"""Health record API: the patient's CSV import of observations and CSV export of a section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile

from carebridge.platform.deps import Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import Forbidden, Invalid, TooLarge, Unauthenticated
from carebridge.platform.problems import problem_responses
from carebridge.records import transfer
from carebridge.records.deps import OwnRecord
from carebridge.records.transfer import ExportSection
from carebridge.records.transfer_schemas import ImportReport

router = APIRouter(tags=["records"])

_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The section as CSV (UTF-8)."}
}


@router.post(
    "/records/import",
    response_model=ImportReport,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid, TooLarge),
)
async def import_observations(
    file: Annotated[UploadFile, File(description="A CSV file (`text/csv`), at most 2 MB.")],
    subject: OwnRecord,
    db: Session,
    scope: Scope,
) -> ImportReport:
    """Patient: import readings from a CSV file (UTF-8) with the header
    `kind,value,value2,unit,measured_at,note` and at most 20,000 rows; `measured_at` is ISO 8601
    with its offset, `unit` a UCUM code the kind accepts (its canonical one when empty). Each
    valid row becomes an observation with source `import`; the answer lists the rows left out
    with their line and reason (`impossible_value`, `unknown_kind`, `unknown_unit`, `bad_time`,
    ...). A file that is not one answers 422 and writes nothing: `import_not_utf8`,
    `import_not_csv`, `import_empty`, `import_bad_header`, `import_bad_line` (with `line`),
    `import_too_many_rows`; 413 `import_too_large`. An export of the observations imports as
    it is."""
    data = await file.read(transfer.MAX_IMPORT_BYTES + 1)
    return await transfer.import_csv(db, scope, subject, data)


@router.get(
    "/records/export",
    response_class=Response,
    responses={**_CSV, **problem_responses(Unauthenticated, Forbidden, Invalid)},
)
async def export_section(
    section: ExportSection, subject: OwnRecord, db: Session, scope: Scope
) -> Response:
    """Patient: one section of your record as a CSV file to save (notes included). The
    observations come out in the import's columns (canonical units, UTC times)."""
    exported = await transfer.export_csv(db, scope, subject, section)
    return file_response(exported.content, "text/csv; charset=utf-8", exported.filename)
