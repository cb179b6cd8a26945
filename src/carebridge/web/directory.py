"""Directory pages: the doctor search (htmx type-ahead), a doctor's page, the doctor's and the
patient's own profile forms, and the admin's verification queue. Forms post back to the same
services as the API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ConfigDict, ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.directory import admin, patients, search, service
from carebridge.directory.codes import LANGUAGES
from carebridge.directory.schemas import DoctorProfileIn, DoctorQuery, PatientProfileIn
from carebridge.messaging import service as messaging
from carebridge.platform.access import PUBLIC
from carebridge.platform.cache import CacheDep
from carebridge.platform.context import Context
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.platform.money import amount_example, format_money, major_amount, parse_amount
from carebridge.reviews import service as reviews
from carebridge.web.callers import WebAdmin, WebAnyDoctor, WebPatient, WebVisitor
from carebridge.web.forms import FormLanguage, FormModel, Label
from carebridge.web.pages import clinic_currency, redirect, render
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)
FormStr = Annotated[str, Form()]


# Each form's words for its fields (others are called as the schema names them).
SEARCH = FormLanguage({"q": "Search", "min_rating": "Rating", "limit": "Doctors per page"})
DOCTOR_PROFILE = FormLanguage(
    {
        "specialties": Label("Specialties", "specialties"),
        "bio": "About you",
        "languages": Label("Languages", "languages"),
        "photo_url": "Photo URL",
    }
)
HEALTH_PROFILE = FormLanguage(
    {
        "emergency_contact": "Emergency contact",
        "emergency_contact.name": "Emergency contact name",
        "emergency_contact.phone": "Emergency contact phone",
    }
)


def language_names(codes: list[str]) -> str:
    return ", ".join(LANGUAGES.get(code, code) for code in codes)


def _page_values(**values: Any) -> dict[str, Any]:
    return {"language_names": language_names, **values}


def fee_text(amount: int | None, currency: str) -> str:
    """A fee as a form field shows it: major units, "45.50"."""
    return "" if amount is None else major_amount(amount, currency)


def typed_fee(text: str, currency: str, label: str) -> int | None:
    """The minor units of a fee typed in major units; None when left empty."""
    if not text.strip():
        return None
    try:
        return parse_amount(text, currency)
    except ValueError:
        raise Invalid(
            f"{label}: an amount such as {amount_example(currency)}", code="bad_amount"
        ) from None


# -- the search ---------------------------------------------------------------------------------

# Pages take the highest fee in major units ("fee_up_to=50" is up to 50.00 EUR); the API's
# ``max_fee`` (minor units) is not read from a page's address.
_PAGE_ONLY = ("fee_up_to", "max_fee")


async def _results(request: Request, db: Session) -> dict[str, Any]:
    params = {k: v for k, v in request.query_params.items() if v.strip()}
    currency = clinic_currency(request)
    found: dict[str, Any] = {"page": None, "params": params, "error": None, "fee_up_to": None}
    try:
        max_fee = typed_fee(params.get("fee_up_to", ""), currency, "Fee up to")
        query = DoctorQuery.model_validate(
            {k: v for k, v in params.items() if k not in _PAGE_ONLY} | {"max_fee": max_fee}
        )
        found["page"] = await search.search(db, query, currency)
    except (CareBridgeError, ValidationError) as exc:
        return found | {"error": SEARCH.explain(exc)}
    following = {k: v for k, v in params.items() if k not in ("cursor", "max_fee")}
    return found | {"params": following, "fee_up_to": format_money(max_fee, currency) or None}


async def _languages(request: Request, cache: CacheDep) -> list[tuple[str, str]]:
    """The language filter's choices: what the listed doctors speak, by name."""
    runtime = request.app.state.runtime
    codes = await service.cached_languages(cache, runtime.database)
    return sorted(((code, LANGUAGES.get(code, code)) for code in codes), key=lambda c: c[1])


@router.get("/doctors", dependencies=[PUBLIC])
async def doctors_page(
    request: Request, actor: WebVisitor, db: Session, cache: CacheDep
) -> Response:
    found = await _results(request, db)
    specialties = await service.list_specialties(db)
    return render(
        request,
        "directory/search.html",
        actor,
        specialties=specialties,
        results=found,
        language_choices=await _languages(request, cache),
        currency=clinic_currency(request),
        **_page_values(),
    )


@router.get("/doctors/results", dependencies=[PUBLIC])
async def doctors_results(request: Request, actor: WebVisitor, db: Session) -> Response:
    """The result list alone, for htmx (type-ahead, filters, next page)."""
    found = await _results(request, db)
    return render(request, "directory/_results.html", actor, results=found, **_page_values())


@router.get("/doctors/{doctor_id}", dependencies=[PUBLIC])
async def doctor_page(
    request: Request, doctor_id: uuid.UUID, actor: WebVisitor, db: Session
) -> Response:
    doctor = await service.get_doctor(db, doctor_id, clinic_currency(request))
    latest = await reviews.public_reviews(db, doctor_id, cursor=None, limit=5)
    may_message = actor is not None and await messaging.may_message(db, actor, doctor_id)
    return render(
        request,
        "directory/doctor.html",
        actor,
        doctor=doctor,
        reviews=latest,
        may_message=may_message,
        **_page_values(),
    )


# -- the doctor's own profile -------------------------------------------------------------------


async def _doctor_form(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    currency = clinic_currency(request)
    profile = await service.get_own_doctor_profile(db, actor, currency)
    specialties = await service.list_specialties(db)
    return render(
        request,
        "directory/doctor_profile.html",
        actor,
        status_code=status_code,
        profile=profile,
        specialties=specialties,
        currency=currency,
        fee=fee_text(profile.consultation_fee, currency),
        **_page_values(**values),
    )


@router.get("/doctor/profile")
async def doctor_profile_page(request: Request, actor: WebAnyDoctor, db: Session) -> Response:
    return await _doctor_form(request, actor, db)


class DoctorProfileForm(FormModel):
    """The doctor's profile form. A field it does not show is passed on as posted, for the
    schema to refuse ("not a field of this form"): a form never sets verification."""

    model_config = ConfigDict(extra="allow", frozen=True)

    bio: str = ""
    years_of_experience: str = ""
    license_number: str = ""
    clinic_address: str = ""
    photo_url: str = ""
    time_zone: str = ""
    specialties: list[str] = []
    languages: str = ""  # codes, separated by spaces or commas
    consultation_fee: str = ""  # in major units: "45.50"

    def texts(self) -> dict[str, str]:
        """The text fields filled in, and any field the form does not show (its last value)."""
        given = self.model_dump(exclude={"specialties", "languages", "consultation_fee"})
        given.pop("csrf_token", None)
        last = {k: str(v[-1] if isinstance(v, list) else v) for k, v in given.items()}
        return {k: v for k, v in last.items() if v.strip()}


@router.post("/doctor/profile", dependencies=[Csrf])
async def save_doctor_profile(
    request: Request,
    actor: WebAnyDoctor,
    db: Session,
    context: Context,
    form: Annotated[DoctorProfileForm, Form()],
) -> Response:
    currency = clinic_currency(request)
    try:
        body = DoctorProfileIn.model_validate(
            {
                **form.texts(),
                "specialties": form.specialties,
                "languages": form.languages.replace(",", " ").split(),
                "consultation_fee": typed_fee(form.consultation_fee, currency, "Consultation fee"),
            }
        )
        await service.update_doctor_profile(db, actor, body, context, currency)
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        return await _doctor_form(request, actor, db, 422, error=DOCTOR_PROFILE.explain(exc))
    return await _doctor_form(request, actor, db, notice="Profile saved.")


# -- the patient's own profile ------------------------------------------------------------------


@router.get("/me/profile")
async def patient_profile_page(
    request: Request, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    profile = await patients.get_patient_profile(db, scope, actor, actor.id)
    return render(request, "directory/patient_profile.html", actor, profile=profile)


@router.post("/me/profile", dependencies=[Csrf])
async def save_patient_profile(
    request: Request,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    date_of_birth: FormStr = "",
    sex: FormStr = "",
    phone: FormStr = "",
    address: FormStr = "",
    emergency_name: FormStr = "",
    emergency_phone: FormStr = "",
) -> Response:
    contact = (
        {"name": emergency_name, "phone": emergency_phone}
        if emergency_name or emergency_phone
        else None
    )
    try:
        body = PatientProfileIn.model_validate(
            {
                "date_of_birth": date_of_birth or None,
                "sex": sex or None,
                "phone": phone,
                "address": address,
                "emergency_contact": contact,
            }
        )
        profile = await patients.update_patient_profile(db, scope, actor, body)
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        current = await patients.get_patient_profile(db, scope, actor, actor.id)
        return render(
            request,
            "directory/patient_profile.html",
            actor,
            profile=current,
            error=HEALTH_PROFILE.explain(exc),
            status_code=422,
        )
    return render(
        request, "directory/patient_profile.html", actor, profile=profile, notice="Saved."
    )


# -- the admin's verification queue -------------------------------------------------------------


async def _queue(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    cursor = request.query_params.get("cursor") or None
    try:
        page = await admin.list_doctors(db, verified=False, cursor=cursor, limit=50)
    except CareBridgeError as exc:
        page = await admin.list_doctors(db, verified=False, cursor=None, limit=50)
        values["error"] = exc.detail
    return render(
        request, "directory/admin_doctors.html", actor, status_code=status_code, page=page, **values
    )


@router.get("/admin/doctors")
async def verification_queue(request: Request, actor: WebAdmin, db: Session) -> Response:
    if request.query_params.get("verified"):
        return await _queue(request, actor, db, notice="Verified: the doctor is listed now.")
    return await _queue(request, actor, db)


@router.post("/admin/doctors/{doctor_id}/verify", dependencies=[Csrf])
async def verify(
    request: Request, doctor_id: uuid.UUID, actor: WebAdmin, db: Session, context: Context
) -> Response:
    try:
        await admin.verify_doctor(db, actor, doctor_id, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _queue(request, actor, db, exc.status, error=exc.detail)
    return redirect("/admin/doctors?verified=1")
