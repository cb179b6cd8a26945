"""What erasing a patient does to presence (``platform/erasure.py``): the doctors they follow."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule("doctor_follows", "delete", "keep", "Doctors the patient follows."),
    ErasureRule(
        "doctor_presence",
        "keep",
        "keep",
        "A doctor's presence, not a patient's data.",
        where="FALSE",
    ),
    ErasureRule(
        "presence_connections",
        "keep",
        "keep",
        "A doctor's connections, not a patient's data.",
        where="FALSE",
    ),
)
