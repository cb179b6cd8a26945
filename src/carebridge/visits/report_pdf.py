"""The printed report of a home visit: an A4 PDF on :class:`carebridge.platform.pdf.Sheet`. Pure:
data in, bytes out.

What is printed is what the patient may read: the clinic, the patient, the nurse, the date and
the service, the vitals, the interventions, the medications given, the recommendations and the
doctor who signed it off, with the date. The nurse's clinical observations (for the reviewing
doctor), the doctor's feedback to the nurse and rating, the changes they asked for and the
visit's access notes are not printed. A report not signed off yet says so at the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from carebridge.platform.pdf import Sheet


@dataclass(frozen=True)
class PrintedReport:
    clinic_name: str
    clinic_address: str | None
    patient_name: str
    nurse_name: str
    visited_on: datetime
    service: str
    vitals: list[str]  # "Heart rate: 72 /min (14:05)"
    interventions: list[str]
    medications: list[str]  # "Enoxaparin, 40 mg, subcutaneous, at 14:10"
    recommendations: str | None
    signed_by: str | None
    signed_at: datetime | None


def _section(sheet: Sheet, title: str, lines: list[str], empty: str) -> None:
    sheet.line(title, size=12, bold=True, height=7)
    for item in lines or [empty]:
        sheet.line(f"- {item}" if lines else item)
    sheet.pdf.ln(2)


def render_report(data: PrintedReport) -> bytes:
    sheet = Sheet()
    sheet.letterhead(
        f"Home visit report {data.visited_on:%Y-%m-%d}", data.clinic_name, data.clinic_address
    )
    sheet.line("Home visit report", size=14, bold=True, height=7)
    if data.signed_at is None:
        sheet.line("Not signed off yet: this is a draft for the care team.", bold=True)
    sheet.line(f"Patient: {data.patient_name}")
    sheet.line(f"Nurse: {data.nurse_name}")
    sheet.line(f"Date of the visit: {data.visited_on:%d %B %Y}")
    sheet.line(f"Service: {data.service}")
    sheet.rule()
    _section(sheet, "Vital signs", data.vitals, "None measured.")
    _section(sheet, "Care given", data.interventions, "None recorded.")
    _section(sheet, "Medications given", data.medications, "None.")
    sheet.line("Recommendations", size=12, bold=True, height=7)
    sheet.line(data.recommendations or "None.")
    if data.signed_by is not None and data.signed_at is not None:
        sheet.signature(f"Signed off by {data.signed_by} on {data.signed_at:%d %B %Y}")
    return bytes(sheet.pdf.output())
