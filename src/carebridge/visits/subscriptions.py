"""Visits supply the health record's question: does this nurse have an open visit to this
patient (``records/hooks.py``)."""

from __future__ import annotations

from carebridge.records.hooks import NURSE_IN_CARE
from carebridge.visits.service import nurse_in_care

NURSE_IN_CARE.supply(nurse_in_care)
