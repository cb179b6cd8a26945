"""Forms speak their own language: an error names the field as the form labels it and says what
to fix in plain words ("Email: a valid email address"), never the schema's location and
pydantic's message ("body.email: value is not a valid email address: ...")."""

from __future__ import annotations

import html

import httpx

from carebridge.accounts.models import Role
from tests.directory.conftest import MakeDoctor, make_doctor  # noqa: F401 - the fixture
from tests.factories import PASSWORD, MakeUser
from tests.web.test_account_pages import csrf, sign_in_browser

SCHEMA_WORDS = ("Input should", "String should", "Value error", "body.", "value is not")


def says(page: httpx.Response, *messages: str) -> None:
    assert page.status_code == 422, page.status_code
    assert page.headers["content-type"].startswith("text/html")
    text = html.unescape(page.text)
    for message in messages:
        assert message in text, (message, text[-3000:])
    for words in SCHEMA_WORDS:
        assert words not in text, words


async def test_sign_up_and_sign_in(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    form = await client.get("/signup")
    empty = await client.post("/signup", data={"csrf_token": csrf(form)})
    says(empty, "Full name: required", "Email: required", "Password: required")
    wrong = await client.post(
        "/signup",
        data={
            "csrf_token": csrf(form),
            "name": "   ",
            "email": "no-at-sign",
            "password": PASSWORD,
            "time_zone": "Mars/Olympus",
        },
    )
    says(
        wrong,
        "Full name: required",
        "Email: a valid email address",
        "Time zone: must be an IANA time zone such as Europe/Berlin",
    )
    assert 'value="no-at-sign"' in wrong.text  # what was typed stays
    signin = await client.post("/signin", data={"csrf_token": csrf(form)})
    says(signin, "Email: required", "Password: required")
    typo = await client.post(
        "/signin", data={"csrf_token": csrf(form), "email": "nobody", "password": "x"}
    )
    says(typo, "Email: a valid email address")


async def test_the_account_profile_refuses_a_blank_name(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.patient)
    await sign_in_browser(client, user.email)
    page = await client.get("/account")
    blank = await client.post(
        "/account/profile",
        data={"csrf_token": csrf(page), "name": " \t ", "phone": "12", "time_zone": "UTC"},
    )
    says(blank, "Name: required", "Phone: must be an international number starting with +")
    after = await client.get("/account")
    assert user.name in after.text  # nothing was saved


async def test_the_booking_form(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_doctor: MakeDoctor,  # noqa: F811
) -> None:
    doctor = await make_doctor("Dr. Words")
    patient = await make_user(Role.patient)
    await sign_in_browser(client, patient.email)
    page = await client.get(f"/doctors/{doctor.id}")
    booked = await client.post(
        f"/doctors/{doctor.id}/book",
        data={"csrf_token": csrf(page), "type": "video", "reason": "r" * 2001},
    )
    says(booked, "Time: required", "Reason for the visit: at most 2000 characters")


async def test_the_health_and_doctor_profiles(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_doctor: MakeDoctor,  # noqa: F811
) -> None:
    patient = await make_user(Role.patient)
    await sign_in_browser(client, patient.email)
    page = await client.get("/me/profile")
    health = await client.post(
        "/me/profile",
        data={
            "csrf_token": csrf(page),
            "date_of_birth": "1800-01-01",
            "emergency_name": "  ",
            "emergency_phone": "+14155550199",
        },
    )
    says(
        health,
        "Date of birth: must be a date between 1900-01-01 and today",
        "Emergency contact name: required",
    )
    doctor = await make_doctor("Dr. Form Words")
    await client.post("/signout", data={"csrf_token": csrf(page)})
    await sign_in_browser(client, doctor.email)
    form = await client.get("/doctor/profile")
    bad = await client.post(
        "/doctor/profile",
        data={
            "csrf_token": csrf(form),
            "years_of_experience": "120",
            "languages": "en, klingon",
            "time_zone": "Europe/Berlin",
        },
    )
    says(
        bad,
        "Years of experience: at most 80",
        "Languages: 'klingon' is not an ISO 639-1 language code",
    )
