"""The consent pages: the app asks before anything else (every page sends a person with a
required document to accept to /consents, until they accept; signing out still works), a
person's consents page withdraws research sharing, the admins' page publishes a version, and
the sign-up form asks for the current documents once there are some."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.consent_models import ConsentEvent
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser, SignIn
from tests.factories.web import Browser, csrf

HTML = {"accept": "text/html"}


async def publish(client: httpx.AsyncClient, sign_in: SignIn, *kinds: str) -> dict[str, Any]:
    admin = await sign_in(Role.admin)
    made: dict[str, Any] = {}
    for kind in kinds:
        body = {
            "kind": kind,
            "title": f"The {kind}",
            "body": f"Read <b>this</b> {kind}.\n\nAnd this.",
        }
        answer = await client.post(
            "/api/v1/admin/consent-documents", json=body, headers=admin.headers
        )
        assert answer.status_code == 201, answer.text
        made[kind] = answer.json()
    return made


class TestAskedBeforeAnythingElse:
    async def test_nothing_published_nothing_asked(
        self, make_user: MakeUser, browser: Browser
    ) -> None:
        patient = await browser(await make_user(Role.patient))
        assert (await patient.get("/home", headers=HTML)).status_code == 200

    async def test_every_page_waits_for_acceptance(
        self,
        client: httpx.AsyncClient,
        sign_in: SignIn,
        make_user: MakeUser,
        browser: Browser,
        database: Database,
    ) -> None:
        await publish(client, sign_in, "terms_of_service", "telehealth_consent", "research_sharing")
        user = await make_user(Role.patient)
        patient = await browser(user)
        for path in ("/home", "/account", "/records", "/doctors", "/appointments"):
            answer = await patient.get(path, headers=HTML)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/consents"), path
        assert (await patient.get("/home")).headers["location"] == "/consents?next=%2Fhome"
        # A page's fragments and scripts are refused, not sent to a page inside the page.
        for headers in ({"hx-request": "true"}, {"sec-fetch-mode": "cors"}):
            fragment = await patient.get("/notifications/bell", headers=headers)
            assert fragment.status_code == 403

        page = await patient.get("/consents?next=%2Fhome", headers=HTML)
        assert page.status_code == 200
        assert "The terms_of_service" in page.text
        assert "The telehealth_consent" in page.text
        assert "The research_sharing" not in page.text  # optional: not asked here
        assert "Read &lt;b&gt;this&lt;/b&gt;" in page.text  # shown as written, never as HTML
        fields = re.findall(r'name="document" value="([^"]+)"', page.text)
        assert sorted(fields) == ["telehealth_consent:1", "terms_of_service:1"]

        forged = await patient.post("/consents", data={"document": fields, "next": "/home"})
        assert forged.status_code == 403  # no form token

        accepted = await patient.post(
            "/consents",
            data={"document": fields, "next": "/home", "csrf_token": csrf(page)},
            headers={"user-agent": "ConsentBrowser/1.0"},
        )
        assert accepted.status_code == 303
        onward = await patient.get(accepted.headers["location"])
        assert (onward.status_code, onward.headers["location"]) == (303, "/home")
        assert (await patient.get("/home", headers=HTML)).status_code == 200
        async with database.sessionmaker() as db:
            rows = (
                await db.scalars(select(ConsentEvent).where(ConsentEvent.user_id == user.id))
            ).all()
        assert {(r.kind, r.user_agent) for r in rows} == {
            ("terms_of_service", "ConsentBrowser/1.0"),
            ("telehealth_consent", "ConsentBrowser/1.0"),
        }

    async def test_a_stale_version_is_asked_again_and_sign_out_works(
        self, client: httpx.AsyncClient, sign_in: SignIn, make_user: MakeUser, browser: Browser
    ) -> None:
        await publish(client, sign_in, "terms_of_service")
        doctor = await browser(await make_user(Role.doctor))
        page = await doctor.get("/consents", headers=HTML)
        stale = await doctor.post(
            "/consents",
            data={"document": "terms_of_service:9", "csrf_token": csrf(page)},
            headers=HTML,
        )
        assert stale.status_code == 409
        assert "not the current one" in stale.text
        signed_out = await doctor.post("/signout", data={"csrf_token": csrf(page)})
        assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/")


class TestMyConsents:
    async def test_a_patient_withdraws_research_sharing(
        self, client: httpx.AsyncClient, sign_in: SignIn, make_user: MakeUser, browser: Browser
    ) -> None:
        await publish(client, sign_in, "research_sharing")
        patient = await browser(await make_user(Role.patient))
        page = await patient.get("/account/consents", headers=HTML)
        assert page.status_code == 200
        assert "not given" in page.text
        accepted = await patient.post(
            "/account/consents/accept",
            data={"document": "research_sharing:1", "csrf_token": csrf(page)},
        )
        assert accepted.status_code == 303
        page = await patient.get("/account/consents", headers=HTML)
        assert 'id="withdraw-research_sharing"' in page.text
        withdrawn = await patient.post(
            "/account/consents/research_sharing/withdraw", data={"csrf_token": csrf(page)}
        )
        assert withdrawn.status_code == 303
        page = await patient.get(withdrawn.headers["location"], headers=HTML)
        assert "withdrawn on" in page.text
        required = await patient.post(
            "/account/consents/terms_of_service/withdraw",
            data={"csrf_token": csrf(page)},
            headers=HTML,
        )
        assert required.status_code == 409
        assert "erased" in required.text


class TestAdminPage:
    async def test_only_administrators(self, make_user: MakeUser, browser: Browser) -> None:
        for role in (Role.patient, Role.doctor, Role.nurse):
            someone = await browser(await make_user(role))
            assert (await someone.get("/admin/consents", headers=HTML)).status_code == 403

    async def test_an_admin_publishes_a_version(
        self, make_user: MakeUser, browser: Browser
    ) -> None:
        admin = await browser(await make_user(Role.admin))
        page = await admin.get("/admin/consents", headers=HTML)
        assert page.status_code == 200
        assert 'id="no-consent-documents"' in page.text
        empty = await admin.post(
            "/admin/consents",
            data={"kind": "terms_of_service", "title": "", "body": "", "csrf_token": csrf(page)},
            headers=HTML,
        )
        assert empty.status_code == 422
        published = await admin.post(
            "/admin/consents",
            data={
                "kind": "privacy_notice",
                "title": "Privacy notice",
                "body": "We keep your data safe.",
                "roles": ["patient", "doctor"],
                "csrf_token": csrf(page),
            },
        )
        assert published.status_code == 303
        assert published.headers["location"] == "/admin/consents?published=privacy_notice:1"
        # The admin is not among its roles: their own pages are not stopped.
        page = await admin.get(published.headers["location"], headers=HTML)
        assert page.status_code == 200
        assert "patient, doctor" in page.text


class TestSignUp:
    async def test_the_form_asks_for_the_current_documents(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        await publish(client, sign_in, "terms_of_service", "telehealth_consent")
        visitor = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
        async with visitor:
            page = await visitor.get("/signup")
            assert 'id="consent-terms_of_service"' in page.text
            form = {
                "name": "New Patient",
                "email": "consenting.patient@example.org",
                "password": PASSWORD,
                "role": "patient",
                "csrf_token": csrf(page),
            }
            refused = await visitor.post("/signup", data={**form, "consent": "terms_of_service:1"})
            assert refused.status_code == 422
            assert "telehealth_consent" in refused.text
            created = await visitor.post(
                "/signup",
                data={**form, "consent": ["terms_of_service:1", "telehealth_consent:1"]},
            )
            assert created.status_code == 303, created.text[-2000:]
            doctor = {**form, "email": "consenting.doctor@example.org", "role": "doctor"}
            # A box for patients ticked by a doctor accepts nothing, and is not needed.
            created = await visitor.post(
                "/signup",
                data={**doctor, "consent": ["terms_of_service:1", "telehealth_consent:1"]},
            )
            assert created.status_code == 303
