"""What the health record asks of the domains above it.

``NURSE_IN_CARE``: whether a nurse has an open home visit to a patient (the ``visits`` domain
supplies it): the ``care`` basis on which a nurse reads and adds to the record
(``records/policy.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.hooks import Supplied

NurseInCare = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[bool]]

NURSE_IN_CARE: Supplied[NurseInCare] = Supplied("records.NURSE_IN_CARE")
