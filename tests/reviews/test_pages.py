"""Review pages over HTTP: the patient reviews from the appointment's page, the doctor replies,
the doctor's public page shows the latest reviews escaped, an admin hides one from the list."""

from __future__ import annotations

import httpx

from carebridge.accounts.models import Role
from tests.factories import MakeUser, TokenFor
from tests.factories.reviews import MakeAppointment, MakeCast, post_review
from tests.factories.web import Browser, csrf

HTML = {"accept": "text/html"}


async def test_pages_refuse_anonymous_and_strangers(
    client: httpx.AsyncClient, cast: MakeCast, make_user: MakeUser, browser: Browser
) -> None:
    c = await cast()
    url = f"/appointments/{c.appointment.id}/review"
    anonymous = await client.get(url)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/signin?next=")
    stranger = await browser(await make_user(Role.patient))
    assert (await stranger.get(url, headers=HTML)).status_code == 404
    as_patient = await browser(await make_user(Role.patient))
    assert (await as_patient.get("/admin/reviews", headers=HTML)).status_code == 403


async def test_patient_reviews_and_edits_from_the_appointment_page(
    cast: MakeCast, browser: Browser
) -> None:
    c = await cast()
    patient = await browser(c.patient.user)
    appointment = await patient.get(f"/appointments/{c.appointment.id}")
    assert 'id="review-link"' in appointment.text
    page = await patient.get(f"/appointments/{c.appointment.id}/review")
    assert page.status_code == 200
    assert 'id="review-form"' in page.text
    bad = await patient.post(
        f"/appointments/{c.appointment.id}/review",
        data={"csrf_token": csrf(page), "comment": "no stars"},
    )
    assert bad.status_code == 422
    assert "no stars" in bad.text  # the form keeps what was typed
    saved = await patient.post(
        f"/appointments/{c.appointment.id}/review",
        data={"csrf_token": csrf(page), "rating": "4", "comment": "Listened <b>well</b>"},
    )
    assert saved.status_code == 303, saved.text
    shown = await patient.get(saved.headers["location"])
    assert "Listened &lt;b&gt;well&lt;/b&gt;" in shown.text
    assert "Save changes" in shown.text
    edited = await patient.post(
        f"/appointments/{c.appointment.id}/review",
        data={"csrf_token": csrf(shown), "rating": "2", "comment": ""},
    )
    assert edited.status_code == 303
    again = await patient.get(edited.headers["location"])
    assert "2/5" in again.text
    assert "Listened" not in again.text


async def test_not_completed_has_no_form(
    make_appointment: MakeAppointment, cast: MakeCast, browser: Browser
) -> None:
    c = await cast()
    pending = await make_appointment(c.doctor.user, c.patient.user, status="scheduled")
    patient = await browser(c.patient.user)
    page = await patient.get(f"/appointments/{pending.id}/review")
    assert page.status_code == 200
    assert 'id="review-form"' not in page.text
    assert 'id="review-not-yet"' in page.text
    refused = await patient.post(
        f"/appointments/{pending.id}/review", data={"csrf_token": csrf(page), "rating": "5"}
    )
    assert refused.status_code == 409


async def test_doctor_replies_once(
    client: httpx.AsyncClient, cast: MakeCast, browser: Browser
) -> None:
    c = await cast()
    assert (await post_review(client, c, 3, "Late by 20 minutes")).status_code == 201
    doctor = await browser(c.doctor.user)
    page = await doctor.get(f"/appointments/{c.appointment.id}/review")
    assert 'id="reply-form"' in page.text
    assert 'id="review-form"' not in page.text
    sent = await doctor.post(
        f"/appointments/{c.appointment.id}/review/reply",
        data={"csrf_token": csrf(page), "reply": "Sorry, <i>an emergency</i>."},
    )
    assert sent.status_code == 303, sent.text
    after = await doctor.get(sent.headers["location"])
    assert "Sorry, &lt;i&gt;an emergency&lt;/i&gt;." in after.text
    assert 'id="reply-form"' not in after.text
    twice = await doctor.post(
        f"/appointments/{c.appointment.id}/review/reply",
        data={"csrf_token": csrf(page), "reply": "Again"},
    )
    assert twice.status_code == 409


async def test_profile_page_shows_reviews_escaped_and_not_hidden_ones(
    client: httpx.AsyncClient,
    cast: MakeCast,
    make_user: MakeUser,
    token_for: TokenFor,
    browser: Browser,
) -> None:
    c = await cast()
    other = await cast(doctor=c.doctor)
    assert (await post_review(client, c, 5, "<script>alert(1)</script>")).status_code == 201
    rude = (await post_review(client, other, 1, "Something rude")).json()
    page = await client.get(f"/doctors/{c.doctor.user.id}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert "Something rude" in page.text
    assert "3.0 from 2 reviews" in page.text

    admin = await browser(await make_user(Role.admin))
    listing = await admin.get("/admin/reviews")
    assert listing.status_code == 200
    assert f'id="moderate-{rude["id"]}"' in listing.text
    hidden = await admin.post(
        f"/admin/reviews/{rude['id']}/hide",
        data={"csrf_token": csrf(listing), "reason": "Abusive"},
    )
    assert hidden.status_code == 303, hidden.text
    after = await client.get(f"/doctors/{c.doctor.user.id}")
    assert "Something rude" not in after.text
    assert "5.0 from 1 review<" in after.text
