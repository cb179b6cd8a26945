"""Forms speak their own language: an error names the field as the form labels it and says what
to fix in plain words ("Email: a valid email address"), never the schema's location and
pydantic's message ("body.email: value is not a valid email address: ...")."""

from __future__ import annotations

import html

import httpx

from carebridge.accounts.models import Role
from tests.factories import PASSWORD, MakeUser
from tests.factories.directory import MakeDoctor
from tests.factories.web import csrf, sign_in_browser

SCHEMA_WORDS = ("Input should", "String should", "Value error", "body.", "value is not")


async def submit(
    client: httpx.AsyncClient, form_url: str, fields: dict[str, str], action: str | None = None
) -> httpx.Response:
    """The form at ``form_url`` filled in with ``fields`` (and its token) and sent."""
    form = await client.get(form_url)
    return await client.post(action or form_url, data={"csrf_token": csrf(form), **fields})


def says(page: httpx.Response, *messages: str) -> None:
    assert page.status_code == 422, page.status_code
    assert page.headers["content-type"].startswith("text/html")
    text = html.unescape(page.text)
    for message in messages:
        assert message in text, (message, text[-3000:])
    for words in SCHEMA_WORDS:
        assert words not in text, words


async def test_sign_up_and_sign_in(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    empty = await submit(client, "/signup", {})
    says(empty, "Full name: required", "Email: required", "Password: required")
    wrong = await submit(
        client,
        "/signup",
        {"name": "   ", "email": "no-at-sign", "password": PASSWORD, "time_zone": "Mars/Olympus"},
    )
    says(
        wrong,
        "Full name: required",
        "Email: a valid email address",
        "Time zone: must be an IANA time zone such as Europe/Berlin",
    )
    assert 'value="no-at-sign"' in wrong.text  # what was typed stays
    says(await submit(client, "/signin", {}), "Email: required", "Password: required")
    typo = await submit(client, "/signin", {"email": "nobody", "password": "x"})
    says(typo, "Email: a valid email address")


async def test_the_account_profile_refuses_a_blank_name(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.patient)
    await sign_in_browser(client, user.email)
    fields = {"name": " \t ", "phone": "12", "time_zone": "UTC"}
    blank = await submit(client, "/account", fields, "/account/profile")
    says(blank, "Name: required", "Phone: must be an international number starting with +")
    after = await client.get("/account")
    assert user.name in after.text  # nothing was saved


async def test_the_booking_form(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_doctor: MakeDoctor,
) -> None:
    doctor = await make_doctor("Dr. Words")
    patient = await make_user(Role.patient)
    await sign_in_browser(client, patient.email)
    fields = {"type": "video", "reason": "r" * 2001}
    booked = await submit(client, f"/doctors/{doctor.id}", fields, f"/doctors/{doctor.id}/book")
    says(booked, "Time: required", "Reason for the visit: at most 2000 characters")


async def test_the_health_and_doctor_profiles(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_doctor: MakeDoctor,
) -> None:
    patient = await make_user(Role.patient)
    await sign_in_browser(client, patient.email)
    health = await submit(
        client,
        "/me/profile",
        {"date_of_birth": "1800-01-01", "emergency_name": "  ", "emergency_phone": "+14155550199"},
    )
    says(
        health,
        "Date of birth: must be a date between 1900-01-01 and today",
        "Emergency contact name: required",
    )
    doctor = await make_doctor("Dr. Form Words")
    await submit(client, "/me/profile", {}, "/signout")
    await sign_in_browser(client, doctor.email)
    fields = {"years_of_experience": "120", "languages": "en, klingon", "time_zone": "UTC"}
    bad = await submit(client, "/doctor/profile", fields)
    says(
        bad,
        "Years of experience: at most 80",
        "Languages: 'klingon' is not an ISO 639-1 language code",
    )
