"""Directory pages over HTTP: search with htmx results, a doctor's page, own-profile forms and
the verification queue."""

from __future__ import annotations

import re

import httpx

from carebridge.accounts.models import Role, UserStatus
from tests.factories import MakeUser
from tests.factories.directory import MakeDoctor, tag
from tests.factories.web import csrf, sign_in_browser


class TestSearchPages:
    async def test_anyone_searches_and_htmx_gets_the_results(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        doctor = await make_doctor(
            f"Dr. Page {word}", specialties=["pediatrics"], languages=["fr"], fee=4500
        )
        page = await client.get("/doctors", params={"q": word})
        assert page.status_code == 200
        assert 'hx-get="/doctors/results"' in page.text
        assert f"Dr. Page {word}" in page.text
        assert "45.00 EUR" in page.text
        assert "French" in page.text
        results = await client.get(
            "/doctors/results", params={"q": word, "specialty": "pediatrics", "online": ""}
        )
        assert results.status_code == 200
        assert "<html" not in results.text
        assert f'href="/doctors/{doctor.id}"' in results.text
        nothing = await client.get("/doctors/results", params={"q": word, "specialty": "ent"})
        assert 'id="no-results"' in nothing.text
        bad = await client.get("/doctors/results", params={"language": "klingon"})
        assert 'id="search-error"' in bad.text

    async def test_pages_link_to_the_next_page(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        for n in range(3):
            await make_doctor(f"Dr. Next{n} {word}")
        first = await client.get("/doctors/results", params={"q": word, "limit": 2})
        link = re.search(r'hx-get="(/doctors/results\?[^"]+)"', first.text)
        assert link, first.text
        second = await client.get(link.group(1).replace("&amp;", "&"))
        both = first.text + second.text
        assert all(f"Dr. Next{n} {word}" in both for n in range(3))

    async def test_a_doctor_page_has_the_presence_place(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        doctor = await make_doctor("Dr. Shown", bio="Sees children.", fee=3000)
        page = await client.get(f"/doctors/{doctor.id}")
        assert page.status_code == 200
        assert 'class="presence-controls"' in page.text
        assert "30.00 EUR" in page.text
        hidden = await make_doctor(verified=False)
        missing = await client.get(f"/doctors/{hidden.id}", headers={"accept": "text/html"})
        assert missing.status_code == 404
        assert "<html" in missing.text


class TestProfilePages:
    async def test_pages_for_one_role_refuse_the_others(
        self, client: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        for url in ("/doctor/profile", "/me/profile", "/admin/doctors"):
            response = await client.get(url)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/signin?next=")
        nurse = await make_user(Role.nurse)
        await sign_in_browser(client, nurse.email)
        for url in ("/doctor/profile", "/me/profile", "/admin/doctors"):
            assert (await client.get(url)).status_code == 403

    async def test_a_waiting_doctor_saves_the_profile(
        self, client: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        doctor = await make_user(Role.doctor, UserStatus.pending)
        await sign_in_browser(client, doctor.email)
        page = await client.get("/doctor/profile")
        assert page.status_code == 200
        assert "waiting for verification" in page.text
        form = {
            "csrf_token": csrf(page),
            "specialties": ["cardiology", "geriatrics"],
            "bio": "Hearts of older people.",
            "languages": "en, de",
            "consultation_fee": "50.00",
            "license_number": "LIC-77",
            "time_zone": "Europe/Berlin",
        }
        saved = await client.post("/doctor/profile", data=form)
        assert saved.status_code == 200, saved.text
        assert "Profile saved." in saved.text
        assert 'value="cardiology" checked' in saved.text
        bad = await client.post("/doctor/profile", data={**form, "time_zone": "Mars/Base"})
        assert bad.status_code == 422
        assert "time_zone" in bad.text
        forged = await client.post("/doctor/profile", data={**form, "csrf_token": "guess"})
        assert forged.status_code == 403

    async def test_a_patient_saves_the_health_profile(
        self, client: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        patient = await make_user(Role.patient)
        await sign_in_browser(client, patient.email)
        page = await client.get("/me/profile")
        assert page.status_code == 200
        form = {
            "csrf_token": csrf(page),
            "date_of_birth": "1990-05-17",
            "sex": "male",
            "phone": "+14155550123",
            "address": "1 Main Street",
            "emergency_name": "Jo Doe",
            "emergency_phone": "+14155550199",
        }
        saved = await client.post("/me/profile", data=form)
        assert saved.status_code == 200
        assert 'value="1990-05-17"' in saved.text
        assert "Jo Doe" in saved.text
        bad = await client.post("/me/profile", data={**form, "phone": "not a phone"})
        assert bad.status_code == 422

    async def test_the_admin_verifies_from_the_queue(
        self, client: httpx.AsyncClient, make_user: MakeUser, make_doctor: MakeDoctor
    ) -> None:
        waiting = await make_doctor(f"Dr. Queue {tag()}", verified=False)
        admin = await make_user(Role.admin)
        await sign_in_browser(client, admin.email)
        queue = await client.get("/admin/doctors")
        assert queue.status_code == 200
        assert f'id="queue-{waiting.id}"' in queue.text
        done = await client.post(
            f"/admin/doctors/{waiting.id}/verify", data={"csrf_token": csrf(queue)}
        )
        assert done.status_code == 303
        after = await client.get(done.headers["location"])
        assert "the doctor is listed now" in after.text
        assert f'id="queue-{waiting.id}"' not in after.text
        assert (await client.get(f"/doctors/{waiting.id}")).status_code == 200
        refused = await client.post(
            f"/admin/doctors/{waiting.id}/verify", data={"csrf_token": "guess"}
        )
        assert refused.status_code == 403
