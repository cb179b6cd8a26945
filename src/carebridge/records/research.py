"""The de-identified research extract: observations of the patients whose research-sharing
consent holds now (``compliance.consent.holders_of``), under a pseudonym (a keyed hash of their
id), with the day but not the time, and nothing that names anyone (no notes, no author). A
withdrawal takes effect on the next request: the statement reads the consent rows each time."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.compliance.consent import holders_of
from carebridge.compliance.consent_models import ConsentKind
from carebridge.compliance.service import record
from carebridge.platform.context import CallScope
from carebridge.platform.pagination import Page, keyset_page
from carebridge.records.models import Observation

_PSEUDONYM = "research-pseudonym"


class ResearchObservationOut(BaseModel):
    """One de-identified observation: a pseudonym in place of the patient, the day without the
    time, no notes and nothing that names anyone."""

    pseudonym: str = Field(description="Keyed hash of the patient's id: stable, not reversible.")
    kind: str
    value: float
    value2: float | None
    unit: str
    day: str = Field(description="The day it was measured (UTC), YYYY-MM-DD.")


async def research_observations(
    db: AsyncSession, scope: CallScope, actor: Actor, *, cursor: str | None, limit: int
) -> Page[ResearchObservationOut]:
    consenting = holders_of(ConsentKind.research_sharing).scalar_subquery()
    statement = select(Observation).where(Observation.patient_id.in_(consenting))
    page = await keyset_page(
        db, statement, Observation, cursor=cursor, limit=limit, time_column="measured_at"
    )
    items = [
        ResearchObservationOut(
            pseudonym=scope.keyring.keyed_hash(_PSEUDONYM, row.patient_id.bytes).hex(),
            kind=row.kind,
            value=row.value,
            value2=row.value2,
            unit=row.unit,
            day=row.measured_at.date().isoformat(),
        )
        for row in page.items
    ]
    await record(
        db,
        action="research.extract_read",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="research_extract",
        context=scope.origin,
        rows=len(items),
        patients=len({row.patient_id for row in page.items}),
    )
    return Page(items=items, next_cursor=page.next_cursor)
