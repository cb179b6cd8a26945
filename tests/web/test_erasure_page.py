"""The patient's "Delete my account" page over HTTP: what goes and what is held, asking,
the date, cancelling; care still ahead is explained, not a 500; other roles are refused."""

from __future__ import annotations

import httpx

from carebridge.accounts.models import Role
from tests.factories import MakeUser
from tests.factories.web import Browser, csrf

PAGE = "/account/erasure"


async def test_ask_then_keep_the_account(browser: Browser, make_user: MakeUser) -> None:
    patient = await make_user(Role.patient)
    page_of = await browser(patient)
    account = await page_of.get("/account")
    assert 'href="/account/erasure"' in account.text
    page = await page_of.get(PAGE)
    assert page.status_code == 200
    assert 'id="erasure-held"' in page.text
    assert "medical record" in page.text
    asked = await page_of.post(PAGE, data={"csrf_token": csrf(page)})
    assert asked.status_code == 303
    scheduled = await page_of.get(asked.headers["location"])
    assert 'id="erasure-scheduled"' in scheduled.text
    assert 'id="erasure-due"' in scheduled.text
    kept = await page_of.post(f"{PAGE}/cancel", data={"csrf_token": csrf(scheduled)})
    assert kept.status_code == 303
    after = await page_of.get(kept.headers["location"])
    assert "will not be erased" in after.text
    assert 'id="erasure-ask"' in after.text


async def test_a_refusal_is_explained(browser: Browser, make_user: MakeUser) -> None:
    patient = await make_user(Role.patient)
    page_of = await browser(patient)
    page = await page_of.get(PAGE)
    await page_of.post(PAGE, data={"csrf_token": csrf(page)})
    again = await page_of.post(PAGE, data={"csrf_token": csrf(page)})
    # Scheduled already: the page shows the schedule (no second request), with the reason.
    assert again.status_code == 409
    assert "already scheduled" in again.text


async def test_other_roles_are_refused(browser: Browser, make_user: MakeUser) -> None:
    doctor = await make_user(Role.doctor)
    page_of = await browser(doctor)
    assert (await page_of.get(PAGE)).status_code == 403


async def test_signed_out_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get(PAGE)
    assert answer.status_code == 303
