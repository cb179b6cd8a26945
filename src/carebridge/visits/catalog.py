"""The services a nurse performs at home: each with a stable ``code`` (stored on the visit and in
a nurse's skills), a label, a typical duration and what the nurse brings.

A nurse may be assigned a visit only for a service among their skills (``visits/roster.py``);
the dispatcher's suggestions rank by it (``visits/suggestions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    code: str
    label: str
    minutes: int
    description: str


CATALOG: tuple[Service, ...] = (
    Service("wound_care", "Wound care", 45, "Cleaning and dressing a wound, with photos."),
    Service("injection", "Injection", 20, "An injection the patient's doctor prescribed."),
    Service("blood_draw", "Blood draw", 30, "Blood taken at home for laboratory tests."),
    Service(
        "post_operative_check",
        "Post-operative check",
        45,
        "Vital signs, the wound and pain after an operation.",
    ),
    Service("elderly_care", "Elderly care", 60, "A check of an older person's health at home."),
    Service("catheter_care", "Catheter care", 30, "Changing or checking a urinary catheter."),
    Service("iv_therapy", "IV therapy", 90, "An infusion given at home."),
    Service("vitals_check", "Vital signs check", 30, "Blood pressure, pulse, temperature, SpO₂."),
    Service("medication_review", "Medication review", 40, "Going through medicines at home."),
    Service("palliative_care", "Palliative care", 60, "Comfort care and symptom relief."),
)

BY_CODE: dict[str, Service] = {service.code: service for service in CATALOG}
CODES: tuple[str, ...] = tuple(BY_CODE)


def find(code: str) -> Service | None:
    return BY_CODE.get(code)
