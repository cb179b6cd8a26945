"""Whose record a route reads: ``OwnRecord`` (the patient's own, under ``/records``) and
``PatientRecord`` (a clinician's reading of ``/patients/{patient_id}/records``: 404 without a
basis of ``policy``). Every section's routes take one or the other and hand it to the service,
which checks the section and audits."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from carebridge.accounts.actors import ClinicianActor, PatientActor
from carebridge.platform.deps import Scope, Session
from carebridge.records import access
from carebridge.records.policy import Subject, own


async def own_record(actor: PatientActor) -> Subject:
    return own(actor)


async def patient_record(
    patient_id: uuid.UUID, actor: ClinicianActor, db: Session, scope: Scope
) -> Subject:
    return await access.subject_for(db, scope, actor, patient_id)


OwnRecord = Annotated[Subject, Depends(own_record)]
PatientRecord = Annotated[Subject, Depends(patient_record)]
