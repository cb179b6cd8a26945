"""The directory API: specialties, doctor search and profiles, nurse and patient profiles, and
the admin verification of doctors."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebridge.accounts.actors import AdminActor, AnyDoctor, AnyNurse, PatientActor
from carebridge.directory import admin, patients, search, service
from carebridge.directory.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    AdminDoctorOut,
    AdminDoctorPage,
    DoctorOut,
    DoctorPage,
    DoctorProfileIn,
    DoctorProfileOut,
    DoctorQuery,
    NurseProfileIn,
    NurseProfileOut,
    PatientProfileIn,
    PatientProfileOut,
    SpecialtyOut,
)
from carebridge.platform.access import PUBLIC
from carebridge.platform.cache import CacheDep
from carebridge.platform.context import Context
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["directory"])
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"At most {MAX_PAGE_SIZE}.")]
_SPECIALTIES = TypeAdapter(list[SpecialtyOut])
_SIGNED_IN = problem_responses(Unauthenticated, Forbidden, Invalid)


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


async def doctor_query(request: Request) -> DoctorQuery:
    """The search's filters, validated in one step: FastAPI's per-field handling of a query
    model cost more than the whole cached answer (see docs/performance.md)."""
    try:
        return DoctorQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        ) from exc


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI parameters of a query model read by hand (as FastAPI would document them)."""
    schema = model.model_json_schema()
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {k: v for k, v in field.items() if k != "description"},
            **({"description": field["description"]} if "description" in field else {}),
        }
        for name, field in schema["properties"].items()
    ]


async def _specialties_json(db: AsyncSession) -> bytes:
    specialties = await service.list_specialties(db)
    return _SPECIALTIES.dump_json(_SPECIALTIES.validate_python(specialties, from_attributes=True))


@router.get("/specialties", response_model=list[SpecialtyOut], dependencies=[PUBLIC])
async def list_specialties(runtime: RuntimeDep, cache: CacheDep) -> Response:
    """The specialties catalog, by name. Open to anyone. Use a `slug` to filter doctors
    (`/doctors?specialty=cardiology`) or to fill in a doctor's profile."""
    body = await service.cached_listing(cache, runtime.database, "specialties", _specialties_json)
    return _json(body)


@router.get(
    "/doctors",
    response_model=DoctorPage,
    dependencies=[PUBLIC],
    responses=problem_responses(Invalid),
    openapi_extra={"parameters": query_parameters(DoctorQuery)},
)
async def search_doctors(
    query: Annotated[DoctorQuery, Depends(doctor_query)], runtime: RuntimeDep, cache: CacheDep
) -> Response:
    """Find verified doctors. Open to anyone: patients browse before they sign up.

    `q` searches names, specialties, languages and bios; the last word matches as a prefix, so
    it works as type-ahead. Results are ranked: a search that is exactly a specialty or a
    doctor's name lists those doctors first. Filters combine: `specialty` (a slug from
    `/specialties`), `online=true` (online now; `false` for everyone else), `language` (ISO
    639-1), `min_rating`, `max_fee` (in minor units of the clinic's currency, the `currency`
    of every fee: `max_fee=5000` is up to 50.00 EUR). `sort`: `relevance` (the default with `q`),
    `name` (the default without), `fee` (lowest first) or `rating` (highest first).

    Pages hold `limit` doctors (1 to 50; more is refused with 422); pass `next_cursor` back as
    `cursor` for the next page, with the same filters. Answers may be up to a few seconds old
    (`CAREBRIDGE_CACHE_TTL_SECONDS`); changes to profiles, verification and presence show at
    once. Codes: `validation_error` (a bad parameter: unknown `sort`, language code, negative
    fee, `limit` over 50), `bad_cursor`, `unknown_specialty`."""

    async def build(db: AsyncSession) -> bytes:
        page = await search.search(db, query, runtime.settings.currency)
        return page.model_dump_json().encode()

    key = f"doctors:{query.cache_key()}"
    return _json(await service.cached_listing(cache, runtime.database, key, build))


@router.get(
    "/doctors/online",
    response_model=DoctorPage,
    dependencies=[PUBLIC],
    responses=problem_responses(Invalid),
)
async def online_doctors(
    runtime: RuntimeDep,
    cache: CacheDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response:
    """Verified doctors who are online or busy (in a consultation) now, by name, each with its
    `status`. Open to anyone. Cursor-paginated like `/doctors` (code `bad_cursor`)."""

    async def build(db: AsyncSession) -> bytes:
        page = await search.online_now(db, cursor, limit, runtime.settings.currency)
        return page.model_dump_json().encode()

    key = f"online:{limit}:{cursor or ''}"
    return _json(await service.cached_listing(cache, runtime.database, key, build))


@router.get("/doctors/me/profile", response_model=DoctorProfileOut, responses=_SIGNED_IN)
async def get_my_doctor_profile(
    actor: AnyDoctor, db: Session, runtime: RuntimeDep
) -> DoctorProfileOut:
    """Your profile as a doctor, with its verification. Doctors waiting for approval may read
    and fill it in: an administrator verifies it (the license number is required)."""
    return await service.get_own_doctor_profile(db, actor, runtime.settings.currency)


@router.put("/doctors/me/profile", response_model=DoctorProfileOut, responses=_SIGNED_IN)
async def put_my_doctor_profile(
    body: DoctorProfileIn, actor: AnyDoctor, db: Session, context: Context, runtime: RuntimeDep
) -> DoctorProfileOut:
    """Replace your profile (fields left out are cleared). Changing the license number of a
    verified profile takes it out of the listings until it is verified again. Verification and
    ratings cannot be sent (422). The fee is in minor units of the clinic's one currency (the
    `currency` of every answer); leave `currency` out. Codes: `validation_error` (bad time zone,
    language, photo URL not https), `wrong_currency` (a currency other than the clinic's),
    `unknown_specialty`."""
    return await service.update_doctor_profile(db, actor, body, context, runtime.settings.currency)


@router.get(
    "/doctors/{doctor_id}",
    response_model=DoctorOut,
    dependencies=[PUBLIC],
    responses=problem_responses(NotFound),
)
async def get_doctor(doctor_id: uuid.UUID, db: Session, runtime: RuntimeDep) -> DoctorOut:
    """One verified doctor with presence. Open to anyone; a doctor who is not verified (or
    whose account is not active) is not found."""
    return await service.get_doctor(db, doctor_id, runtime.settings.currency)


@router.get("/nurses/me/profile", response_model=NurseProfileOut, responses=_SIGNED_IN)
async def get_my_nurse_profile(actor: AnyNurse, db: Session) -> NurseProfileOut:
    """Your profile as a nurse (nurses waiting for approval too)."""
    return await service.get_own_nurse_profile(db, actor)


@router.put("/nurses/me/profile", response_model=NurseProfileOut, responses=_SIGNED_IN)
async def put_my_nurse_profile(
    body: NurseProfileIn, actor: AnyNurse, db: Session
) -> NurseProfileOut:
    """Replace your nurse profile (fields left out are cleared)."""
    return await service.update_nurse_profile(db, actor, body)


@router.get("/patients/me/profile", response_model=PatientProfileOut, responses=_SIGNED_IN)
async def get_my_patient_profile(
    actor: PatientActor, db: Session, scope: Scope
) -> PatientProfileOut:
    """Your profile as a patient. Only you read it; each read is recorded in the audit trail."""
    return await patients.get_patient_profile(db, scope, actor, actor.id)


@router.put("/patients/me/profile", response_model=PatientProfileOut, responses=_SIGNED_IN)
async def put_my_patient_profile(
    body: PatientProfileIn, actor: PatientActor, db: Session, scope: Scope
) -> PatientProfileOut:
    """Replace your patient profile (fields left out are cleared). `phone` is your account's
    phone number (E.164). Date of birth, address and emergency contact are stored encrypted."""
    return await patients.update_patient_profile(db, scope, actor, body)


@router.get(
    "/admin/doctors",
    response_model=AdminDoctorPage,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def admin_list_doctors(
    actor: AdminActor,
    db: Session,
    verified: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> AdminDoctorPage:
    """Doctor accounts, newest first. `verified=false` is the verification queue (including
    doctors who have not filled in a profile yet)."""
    return await admin.list_doctors(db, verified=verified, cursor=cursor, limit=limit)


@router.post(
    "/admin/doctors/{doctor_id}/verify",
    response_model=AdminDoctorOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict),
)
async def admin_verify_doctor(
    doctor_id: uuid.UUID, actor: AdminActor, db: Session, context: Context
) -> AdminDoctorOut:
    """Verify a doctor (their license was checked): the profile is listed from now on, and an
    account still waiting for approval is approved. Recorded in the audit trail. Codes:
    `profile_incomplete` (no license number yet), `user_disabled`."""
    return await admin.verify_doctor(db, actor, doctor_id, context)
