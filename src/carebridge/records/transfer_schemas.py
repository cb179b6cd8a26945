"""Answers of the record's CSV import."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Rejected(BaseModel):
    line: int = Field(description="The line of the file (the header is line 1).")
    code: str = Field(description="`impossible_value`, `unknown_kind`, `unknown_unit`, ...")
    reason: str


class ImportReport(BaseModel):
    imported: int = Field(description="Rows written as observations (source `import`).")
    rejected: list[Rejected] = Field(description="The rows left out, with why.")
