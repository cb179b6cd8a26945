"""Prescription pages: the doctor writes and issues one from the appointment's page; the patient
opens it and downloads the PDF; someone else's is a 404 page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from carebridge.accounts.models import User
from tests.factories.prescriptions import CANARY, MakeConsultation
from tests.factories.web import csrf, sign_in_browser

HTML = {"accept": "text/html"}
Browser = Callable[[User], Awaitable[httpx.AsyncClient]]
Json = dict[str, Any]


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[Browser]:
    opened: list[httpx.AsyncClient] = []

    async def open_as(user: User) -> httpx.AsyncClient:
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
            headers=HTML,
        )
        opened.append(other)
        signed = await sign_in_browser(other, user.email)
        assert signed.status_code == 303, signed.text
        return other

    yield open_as
    for other in opened:
        await other.aclose()


async def test_the_doctor_writes_and_issues_from_the_appointment(
    consultation: MakeConsultation, browser: Browser
) -> None:
    visit = await consultation()
    doctor = await browser(visit.doctor.user)
    appointment = await doctor.get(f"/appointments/{visit.appointment.id}")
    assert 'id="prescribe-link"' in appointment.text
    form = await doctor.get(f"/appointments/{visit.appointment.id}/prescriptions/new")
    assert form.status_code == 200
    token = csrf(form)
    fields = {
        "csrf_token": token,
        "diagnosis": f"Sinusitis {CANARY}",
        "line1_name": "Amoxicillin",
        "line1_strength": "500 mg",
        "line1_frequency": "three times a day",
        "line1_refills": "0",
    }
    bad = await doctor.post(
        f"/appointments/{visit.appointment.id}/prescriptions",
        data={**fields, "line1_refills": "40"},
    )
    assert bad.status_code == 422
    assert "Amoxicillin" in bad.text  # the form comes back filled in

    saved = await doctor.post(f"/appointments/{visit.appointment.id}/prescriptions", data=fields)
    assert saved.status_code == 303
    page = await doctor.get(saved.headers["location"])
    assert CANARY in page.text
    assert 'id="issue"' in page.text
    path = saved.headers["location"].split("?")[0]
    issued = await doctor.post(f"{path}/act", data={"csrf_token": csrf(page), "move": "issue"})
    assert issued.status_code == 303
    after = await doctor.get(issued.headers["location"])
    assert 'id="code"' in after.text
    assert 'id="pdf-pending"' in after.text


async def test_the_patient_sees_and_downloads_theirs(
    consultation: MakeConsultation, issued: Callable[..., Awaitable[Json]], browser: Browser
) -> None:
    visit = await consultation()
    done = await issued(visit)
    patient = await browser(visit.patient.user)
    listing = await patient.get("/prescriptions")
    assert f"/prescriptions/{done['id']}" in listing.text
    page = await patient.get(f"/prescriptions/{done['id']}")
    assert page.status_code == 200
    assert "Amoxicillin" in page.text
    assert 'id="issue"' not in page.text
    assert 'id="cancel"' not in page.text
    pdf = await patient.get(f"/prescriptions/{done['id']}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"

    stranger = await consultation()
    other = await browser(stranger.patient.user)
    assert (await other.get(f"/prescriptions/{done['id']}")).status_code == 404
    assert (await other.get(f"/prescriptions/{done['id']}/pdf")).status_code == 404
    refused = await patient.get(f"/appointments/{visit.appointment.id}/prescriptions/new")
    assert refused.status_code == 403


async def test_the_form_says_what_to_fix_in_its_own_words(
    consultation: MakeConsultation, browser: Browser
) -> None:
    """Errors name the form's fields as the doctor sees them ("Medication 2"), not the
    schema's locations ("lines 0 refills"), in plain words, not pydantic's."""
    visit = await consultation()
    doctor = await browser(visit.doctor.user)
    url = f"/appointments/{visit.appointment.id}/prescriptions"
    form = await doctor.get(f"{url}/new")
    fields = {"csrf_token": csrf(form), "line1_name": "Amoxicillin", "line1_refills": "13"}
    first = await doctor.post(url, data=fields)
    assert first.status_code == 422
    assert "Medication 1: at most 12 refills" in first.text
    second = await doctor.post(
        url,
        data={
            "csrf_token": csrf(form),
            "line2_name": "Ibuprofen",
            "line2_refills": "many",
            "line3_name": "x" * 201,
            "diagnosis": "d" * 4001,
        },
    )
    assert second.status_code == 422
    assert "Medication 2: a whole number of refills" in second.text
    assert "Medication 3 name: at most 200 characters" in second.text
    assert "Diagnosis: at most 4000 characters" in second.text
    for schema_words in ("lines", "Input should", "String should", "refills:"):
        assert schema_words not in second.text.replace('name="line', ""), schema_words
