"""How long the clinic keeps what it must keep of an erased patient (``platform/retention.py``).

An erasure leaves the health data the law requires the clinic to keep under legal hold until
``hold_until`` (``CAREBRIDGE_MEDICAL_RETENTION_YEARS`` after the erasure, as set then); the
daily retention run then deletes it with its files, and the account's tombstone with it
(``governance.erasure.purge_held``, a few patients per transaction, rows another run holds
skipped).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.governance.erasure import purge_held
from carebridge.platform.context import CallScope
from carebridge.platform.retention import DataClass


async def purge_held_medical_data(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Each erased patient's hold ends at its own ``hold_until``: the cutoff is not needed."""
    return await purge_held(db, datetime.now(UTC), dry_run=dry_run)


RETENTION = (
    DataClass(
        name="held_medical_data",
        description="What the law requires the clinic to keep of an erased patient: the health "
        "record and its documents, consultations and calls, prescriptions and their PDFs, home "
        "visits with their reports and photos, payments; then the account's tombstone",
        where="record_*, appointments, calls, prescriptions, payments, home_visits, visit_* "
        "(see each domain's erasure.py), storage",
        setting="medical_retention_years",
        unit="years",
        legal_basis="Medical record retention required by national law (e.g. 10 years after the "
        "last treatment in many EU states; HIPAA leaves it to state law); GDPR Art. 17(3)(b) and "
        "(c) allow keeping it past an erasure request",
        purge=purge_held_medical_data,
    ),
)
