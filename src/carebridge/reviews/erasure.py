"""What erasing a patient does to their reviews (``platform/erasure.py``): the words they wrote
go; the rating stays in the doctor's average, attached to no one."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "reviews",
        "clear",
        "delete",
        "The comment is the patient's words; the rating counts in the doctor's average.",
        clear={"comment": "NULL"},
    ),
)
