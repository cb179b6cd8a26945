"""Home visit pages over HTTP: the patient's list, request form (the window typed in their time
zone, refusals next to the fields) and visit page (cancel while allowed, the tracking link, the
report PDF link); the dispatcher's board, suggestions fragment and assignment (with a point
placed on the map); the doctor's review queue and review page. Refused first: a visitor is sent
to sign in, other roles get the 403 page, a visit the caller may not see is the 404 page."""

from __future__ import annotations

import importlib.util
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update

from carebridge.accounts.models import Role, User
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.visits.models import ReportStatus, Visit, VisitReport, VisitStatus
from carebridge.visits.sealed import REPORT_BODY
from tests.factories.users import MakeUser
from tests.factories.visits import HOME, VISIT_CANARY, on_roster, visit_in
from tests.factories.web import Browser, csrf

PATIENT_PAGES = ("/visits", "/visits/new")
ADMIN_PAGES = ("/dispatch", "/dispatch/board")
DOCTOR_PAGES = ("/visits/reviews",)


async def load(database: Database, visit_id: uuid.UUID) -> Visit:
    async with database.transaction() as db:
        found = await db.scalar(select(Visit).where(Visit.id == visit_id))
        assert found is not None
        return found


def request_form(token: str, **values: str) -> dict[str, str]:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    form = {
        "csrf_token": token,
        "service": "wound_care",
        "address": "12 rue de la République, 69002 Lyon",
        "lat": str(HOME[0]),
        "lng": str(HOME[1]),
        "day": tomorrow,
        "start": "09:00",
        "end": "12:00",
        "access_notes": f"Door code 4821 {VISIT_CANARY}",
        "reason": "Dressing of a leg ulcer",
    }
    form.update(values)
    return form


class TestRefused:
    async def test_a_visitor_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        paths = (*PATIENT_PAGES, *ADMIN_PAGES, *DOCTOR_PAGES, f"/visits/{uuid.uuid4()}")
        for path in paths:
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/signin"), path

    async def test_each_page_is_for_its_role(self, browser: Browser, make_user: MakeUser) -> None:
        pages = {
            Role.patient: PATIENT_PAGES,
            Role.admin: ADMIN_PAGES,
            Role.doctor: DOCTOR_PAGES,
        }
        people = {role: await browser(await make_user(role)) for role in Role}
        for role, me in people.items():
            for owner, paths in pages.items():
                for path in paths:
                    answer = await me.get(path)
                    expected = 200 if role == owner else 403
                    assert answer.status_code == expected, (role, path)
                    assert answer.headers["content-type"].startswith("text/html")

    async def test_someone_elses_visit_is_the_404_page(
        self, browser: Browser, make_user: MakeUser, database: Database, settings: Settings
    ) -> None:
        owner = await make_user(Role.patient)
        nurse = await make_user(Role.nurse)
        visit_id = await visit_in(database, settings, owner, VisitStatus.assigned, nurse=nurse)
        for role in (Role.patient, Role.nurse, Role.doctor):
            other = await browser(await make_user(role))
            for path in (f"/visits/{visit_id}", f"/visits/{visit_id}/review"):
                page = await other.get(path)
                assert page.status_code in (403, 404), (role, path)
                assert VISIT_CANARY not in page.text
            assert (await other.get(f"/visits/{visit_id}")).status_code == 404, role
        stranger = await browser(await make_user(Role.doctor))
        assert (await stranger.get(f"/visits/{visit_id}/review")).status_code == 404
        admin = await browser(await make_user(Role.admin))
        fragment = await admin.get(f"/dispatch/visits/{uuid.uuid4()}/suggestions")
        assert fragment.status_code == 404


class TestPatient:
    async def test_a_patient_requests_a_visit_in_their_time_zone(
        self, browser: Browser, make_user: MakeUser, database: Database
    ) -> None:
        patient = await make_user(Role.patient)
        async with database.transaction() as db:
            await db.execute(
                update(User).where(User.id == patient.id).values(time_zone="Asia/Tokyo")
            )
        me = await browser(patient)
        listing = await me.get("/visits")
        assert 'id="no-visits"' in listing.text
        assert 'href="/visits/new"' in listing.text
        form = await me.get("/visits/new")
        assert 'data-visit-map="pick"' in form.text
        assert "Asia/Tokyo" in form.text
        assert "No street map is configured" in form.text  # no tile URL in the tests
        assert 'value="wound_care"' in form.text

        sent = await me.post("/visits/new", data=request_form(csrf(form)))
        assert sent.status_code == 303, sent.text[:600]
        match = re.fullmatch(r"/visits/([0-9a-f-]{36})\?done=requested", sent.headers["location"])
        assert match
        visit = await load(database, uuid.UUID(match.group(1)))
        tokyo = ZoneInfo("Asia/Tokyo")
        assert visit.window_start.astimezone(tokyo).strftime("%H:%M") == "09:00"
        assert visit.window_end.astimezone(tokyo).strftime("%H:%M") == "12:00"
        assert (visit.lat, visit.lng) == HOME

        page = await me.get(sent.headers["location"])
        assert page.status_code == 200
        assert "Waiting for a nurse" in page.text
        assert "12 rue de la République" in page.text
        assert VISIT_CANARY in page.text  # their own access notes
        assert 'id="cancel-form"' in page.text
        assert 'id="track-nurse"' not in page.text
        assert "09:00 to 12:00 JST" in page.text
        listing = await me.get("/visits")
        assert f'id="visit-{visit.id}"' in listing.text

    async def test_refusals_are_shown_next_to_their_fields(
        self, browser: Browser, make_user: MakeUser, database: Database
    ) -> None:
        patient = await make_user(Role.patient)
        me = await browser(patient)
        token = csrf(await me.get("/visits/new"))
        empty = await me.post(
            "/visits/new",
            data=request_form(token, service="", address="", lat="91", day="", start="", end=""),
        )
        assert empty.status_code == 422
        assert re.search(r'id="error-service"[^>]*>Service: required', empty.text)
        assert re.search(r'id="error-address"[^>]*>Address: required', empty.text)
        assert re.search(r'id="error-point"[^>]*>Latitude: at most 90', empty.text)
        assert re.search(r'id="error-window"[^>]*>From: required', empty.text)

        yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
        past = await me.post("/visits/new", data=request_form(token, day=yesterday))
        assert past.status_code == 422
        assert re.search(r'id="error-window"[^>]*>The window is already over', past.text)
        assert "12 rue de la République" in past.text  # what was typed is kept
        bad_time = await me.post("/visits/new", data=request_form(token, start="nine"))
        assert bad_time.status_code == 422
        assert 'id="error-window"' in bad_time.text
        async with database.transaction() as db:
            mine = await db.scalar(select(Visit.id).where(Visit.patient_id == patient.id))
        assert mine is None

    async def test_cancel_while_allowed_and_the_links_of_later_statuses(
        self, browser: Browser, make_user: MakeUser, database: Database, settings: Settings
    ) -> None:
        patient = await make_user(Role.patient)
        nurse = await make_user(Role.nurse)
        me = await browser(patient)
        requested = await visit_in(database, settings, patient, VisitStatus.requested)
        review = await me.get(f"/visits/{requested}/review")  # a doctor's page of their visit
        assert review.status_code == 303
        assert review.headers["location"] == f"/visits/{requested}"
        page = await me.get(f"/visits/{requested}")
        cancelled = await me.post(
            f"/visits/{requested}/cancel", data={"csrf_token": csrf(page), "reason": "Away"}
        )
        assert cancelled.status_code == 303
        page = await me.get(cancelled.headers["location"])
        assert "The visit is cancelled." in page.text
        assert "Cancelled" in page.text
        assert "Away" in page.text
        assert 'id="cancel-form"' not in page.text
        again = await me.post(f"/visits/{requested}/cancel", data={"csrf_token": csrf(page)})
        assert again.status_code == 409
        assert 'id="visit-status"' in again.text

        on_the_way = await visit_in(database, settings, patient, VisitStatus.en_route, nurse=nurse)
        page = await me.get(f"/visits/{on_the_way}")
        assert f'href="/visits/{on_the_way}/track"' in page.text
        assert "Nurse on the way" in page.text
        signed = await visit_in(database, settings, patient, VisitStatus.signed_off, nurse=nurse)
        page = await me.get(f"/visits/{signed}")
        assert f'href="/visits/{signed}/report.pdf"' in page.text
        assert 'id="cancel-form"' not in page.text


class TestDispatcher:
    async def test_the_board_suggests_and_assigns(
        self, browser: Browser, make_user: MakeUser, database: Database, settings: Settings
    ) -> None:
        patient = await make_user(Role.patient)
        nurse = await make_user(Role.nurse)
        await on_roster(database, nurse)
        placed = await visit_in(database, settings, patient, VisitStatus.requested)
        unplaced = await visit_in(database, settings, patient, VisitStatus.requested, point=None)
        admin = await browser(await make_user(Role.admin))
        board = await admin.get("/dispatch")
        assert board.status_code == 200
        for visit_id in (placed, unplaced):
            assert f'id="dispatch-{visit_id}"' in board.text
        assert 'hx-get="/dispatch/board"' in board.text
        assert f'"id": "{nurse.id}"' in board.text  # on the map's data
        # The notification's link opens the visit's suggestions as the board loads.
        linked = await admin.get(f"/dispatch?visit={unplaced}")
        opener = re.search(rf'<button[^>]*id="suggest-{unplaced}"[^>]*>', linked.text)
        assert opener
        assert 'hx-trigger="click, load"' in opener.group(0)
        fragment = await admin.get("/dispatch/board")
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert f'id="dispatch-{placed}"' in fragment.text

        panel = await admin.get(f"/dispatch/visits/{placed}/suggestions")
        assert f'id="assign-{placed}-{nurse.id}"' in panel.text
        assert "km" in panel.text
        assigned = await admin.post(
            f"/dispatch/visits/{placed}/assign",
            data={"csrf_token": csrf(panel), "nurse_id": str(nurse.id)},
        )
        assert assigned.status_code == 303
        visit = await load(database, placed)
        assert (visit.status, visit.nurse_id) == (VisitStatus.assigned.value, nurse.id)
        board = await admin.get(assigned.headers["location"])
        assert "Nurse assigned" in board.text
        assert f'id="dispatch-{placed}"' not in board.text

        panel = await admin.get(f"/dispatch/visits/{unplaced}/suggestions")
        assert f'data-place-visit="{unplaced}"' in panel.text
        nobody = await admin.post(
            f"/dispatch/visits/{unplaced}/assign",
            data={"csrf_token": csrf(panel), "nurse_id": str(uuid.uuid4())},
        )
        assert nobody.status_code == 422
        assert "No such nurse on the visit roster" in nobody.text
        assigned = await admin.post(
            f"/dispatch/visits/{unplaced}/assign",
            data={
                "csrf_token": csrf(panel),
                "nurse_id": str(nurse.id),
                "lat": "45.75",
                "lng": "4.85",
            },
        )
        assert assigned.status_code == 303
        visit = await load(database, unplaced)
        assert (visit.status, visit.lat, visit.lng) == (VisitStatus.assigned.value, 45.75, 4.85)


class TestDoctor:
    async def test_the_review_queue_and_page(
        self, browser: Browser, make_user: MakeUser, database: Database, settings: Settings
    ) -> None:
        patient = await make_user(Role.patient)
        nurse = await make_user(Role.nurse)
        doctor = await make_user(Role.doctor)
        me = await browser(doctor)
        queue = await me.get("/visits/reviews")
        assert 'id="no-ordered"' in queue.text
        visit_id = await visit_in(database, settings, patient, VisitStatus.completed, nurse=nurse)
        async with database.transaction() as db:
            report = VisitReport(
                visit_id=visit_id,
                status=ReportStatus.submitted.value,
                nurse_id=nurse.id,
                submitted_at=datetime.now(UTC),
            )
            scope = CallScope.system(settings)
            await scope.unlock(db, patient.id)
            report.body_sealed = scope.keyring.seal(
                REPORT_BODY, report, '{"interventions": []}', patient=patient.id
            )
            db.add(report)
        queue = await me.get("/visits/reviews")
        assert f'href="/visits/{visit_id}/review"' in queue.text
        page = await me.get(f"/visits/{visit_id}/review")
        assert page.status_code == 200
        assert patient.name in page.text
        if importlib.util.find_spec("carebridge.visits.report") is None:
            assert 'id="report-unavailable"' in page.text
            return
        assert 'id="sign-off-form"' in page.text
        assert 'id="changes-form"' in page.text
        form = {"csrf_token": csrf(page), "decision": "sign_off", "feedback": "Clear notes"}
        unrated = await me.post(f"/visits/{visit_id}/review", data=form)
        assert unrated.status_code == 422
        assert 'id="sign-off-form"' in unrated.text
        signed = await me.post(f"/visits/{visit_id}/review", data={**form, "rating": "5"})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/visits/reviews?done=sign_off"
        assert (await load(database, visit_id)).status == VisitStatus.signed_off.value
        queue = await me.get(signed.headers["location"])
        assert "Report signed off" in queue.text
        assert f'href="/visits/{visit_id}/review"' not in queue.text
