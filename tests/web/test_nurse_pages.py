"""The nurse's home visit pages and the tracking page over HTTP: "My day" (the nurse's visits in
visit order, numbered on the map, Accept and Decline), the active visit (what the nurse needs at
the door, the status buttons the service allows, the time rules' words on those it does not
allow yet), the moves they post, and the tracking page of the patient and the dispatchers.
Refused first: a visitor is sent to sign in, other roles get the 403 page, another nurse's visit
and a track someone may not follow are the 404 page."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.visits.models import Visit, VisitStatus
from tests.factories.apps import serving
from tests.factories.users import MakeUser
from tests.factories.visits import (
    HOME,
    VISIT_CANARY,
    MakePeople,
    VisitPeople,
    on_roster,
    visit_in,
)
from tests.factories.web import Browser, csrf, sign_in_browser

Json = dict[str, Any]


def embedded(page: httpx.Response, name: str) -> Json:
    """The JSON a page gives its script (``<script type="application/json" id=name>``)."""
    match = re.search(
        rf'<script type="application/json" id="{name}">(.*?)</script>', page.text, re.S
    )
    assert match, page.text[:600]
    found: Json = json.loads(match.group(1))
    return found


def button_tag(page: httpx.Response, target: str) -> str:
    """The opening tag of a status button (its attributes: ``disabled``)."""
    found = re.search(rf'<button type="submit" id="move-button-{target}"[^>]*>', page.text)
    assert found, page.text[:600]
    return found.group(0)


async def status_of(database: Database, visit_id: uuid.UUID) -> str:
    async with database.transaction() as db:
        found = await db.scalar(select(Visit.status).where(Visit.id == visit_id))
    return str(found)


async def move(
    browser: httpx.AsyncClient, visit_id: uuid.UUID, to: str, **fields: str
) -> httpx.Response:
    token = csrf(await browser.get("/nurse/visits"))
    data = {"csrf_token": token, "to": to, **fields}
    return await browser.post(f"/nurse/visits/{visit_id}/moves", data=data)


OneVisit = Callable[..., Awaitable[tuple[VisitPeople, uuid.UUID]]]


@pytest.fixture
def one_visit(database: Database, settings: Settings, visit_people: MakePeople) -> OneVisit:
    """The people of a visit (``visit_people``) and their visit in a status, with the nurse."""

    async def make(status: VisitStatus, **options: Any) -> tuple[VisitPeople, uuid.UUID]:
        people = await visit_people()
        visit_id = await visit_in(
            database, settings, people.patient.user, status, nurse=people.nurse.user, **options
        )
        return people, visit_id

    return make


class TestRefused:
    async def test_a_visitor_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        some = uuid.uuid4()
        for path in (
            "/nurse/visits",
            f"/nurse/visits/{some}",
            f"/nurse/visits/{some}/report",
            f"/visits/{some}/track",
        ):
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/signin"), path

    async def test_the_nurse_pages_are_for_nurses(
        self, browser: Browser, make_user: MakeUser, database: Database, one_visit: OneVisit
    ) -> None:
        _, visit_id = await one_visit(VisitStatus.assigned)
        for role in (Role.patient, Role.doctor, Role.admin):
            other = await browser(await make_user(role))
            for path in (
                "/nurse/visits",
                f"/nurse/visits/{visit_id}",
                f"/nurse/visits/{visit_id}/report",
            ):
                answer = await other.get(path)
                assert answer.status_code == 403, (role, path)
                assert answer.headers["content-type"].startswith("text/html")
            posted = await other.post(
                f"/nurse/visits/{visit_id}/moves",
                data={"csrf_token": csrf(await other.get("/signin")), "to": "accepted"},
            )
            assert posted.status_code == 403, role
        assert await status_of(database, visit_id) == "assigned"

    async def test_a_nurse_waiting_for_approval_is_refused(
        self, browser: Browser, make_user: MakeUser
    ) -> None:
        from carebridge.accounts.models import UserStatus

        pending = await browser(await make_user(Role.nurse, UserStatus.pending))
        answer = await pending.get("/nurse/visits")
        assert answer.status_code == 403

    async def test_another_nurses_visit_is_the_404_page(
        self, browser: Browser, make_user: MakeUser, database: Database, one_visit: OneVisit
    ) -> None:
        _, visit_id = await one_visit(VisitStatus.assigned)
        other_nurse = await make_user(Role.nurse)
        await on_roster(database, other_nurse)
        other = await browser(other_nurse)
        for path in (f"/nurse/visits/{visit_id}", f"/nurse/visits/{visit_id}/report"):
            answer = await other.get(path)
            assert answer.status_code == 404, path
            assert VISIT_CANARY not in answer.text
        moved = await move(other, visit_id, "accepted")
        assert moved.status_code == 404
        assert await status_of(database, visit_id) == "assigned"
        day = await other.get("/nurse/visits")
        assert str(visit_id) not in day.text

    async def test_only_the_visits_people_follow_the_nurse(
        self,
        browser: Browser,
        make_user: MakeUser,
        database: Database,
        settings: Settings,
        one_visit: OneVisit,
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.en_route)
        # A doctor who ordered the visit sees it, but not where its nurse is.
        orderer_visit = await visit_in(
            database,
            settings,
            people.patient.user,
            VisitStatus.en_route,
            nurse=people.nurse.user,
            ordered_by=people.doctor.user,
        )
        refused = [await make_user(Role.patient), await make_user(Role.nurse)]
        for user in refused:
            other = await browser(user)
            answer = await other.get(f"/visits/{visit_id}/track")
            assert answer.status_code == 404, user.role
            assert VISIT_CANARY not in answer.text
        doctor = await browser(people.doctor.user)
        assert (await doctor.get(f"/visits/{orderer_visit}/track")).status_code == 404
        for user in (people.patient.user, people.nurse.user, people.admin.user):
            entitled = await browser(user)
            answer = await entitled.get(f"/visits/{visit_id}/track")
            assert answer.status_code == 200, user.role


class TestMyDay:
    async def test_the_visits_in_visit_order_numbered_on_the_map(
        self, browser: Browser, database: Database, settings: Settings, visit_people: MakePeople
    ) -> None:
        people = await visit_people()
        nurse, patient = people.nurse.user, people.patient.user
        now = datetime.now(UTC)
        later = await visit_in(
            database,
            settings,
            patient,
            VisitStatus.accepted,
            nurse=nurse,
            window_start=now + timedelta(days=2),
        )
        first = await visit_in(
            database,
            settings,
            patient,
            VisitStatus.assigned,
            nurse=nurse,
            window_start=now - timedelta(minutes=20),
        )
        unplaced = await visit_in(
            database,
            settings,
            patient,
            VisitStatus.accepted,
            nurse=nurse,
            window_start=now - timedelta(minutes=10),
            point=None,
        )
        gone = await visit_in(database, settings, patient, VisitStatus.cancelled, nurse=nurse)
        far = await visit_in(
            database,
            settings,
            patient,
            VisitStatus.accepted,
            nurse=nurse,
            window_start=now + timedelta(days=30),
        )
        me = await browser(nurse)
        page = await me.get("/nurse/visits")
        assert page.status_code == 200
        text = page.text
        assert text.index(f'id="visit-{first}"') < text.index(f'id="visit-{unplaced}"')
        assert text.index(f'id="visit-{unplaced}"') < text.index(f'id="visit-{later}"')
        assert 'id="later-visits"' in text
        assert text.index('id="later-visits"') < text.index(f'id="visit-{later}"')
        assert str(gone) not in text
        assert str(far) not in text
        assert "3 place Bellecour, Lyon" in text
        points = embedded(page, "day-data")["points"]
        assert [p["number"] for p in points] == [1, 3]  # the unplaced one keeps its number
        assert points[0]["url"] == f"/nurse/visits/{first}"
        assert (points[0]["lat"], points[0]["lng"]) == HOME
        # Accept and Decline on the assigned one only.
        card = text[text.index(f'id="visit-{first}"') : text.index(f'id="visit-{unplaced}"')]
        assert "visit-accept" in card
        assert "visit-decline" in card
        card = text[text.index(f'id="visit-{unplaced}"') : text.index('id="later-visits"')]
        assert "visit-accept" not in card

    async def test_accept(
        self, browser: Browser, database: Database, settings: Settings, visit_people: MakePeople
    ) -> None:
        people = await visit_people()
        nurse, patient = people.nurse.user, people.patient.user
        visit_id = await visit_in(database, settings, patient, VisitStatus.assigned, nurse=nurse)
        me = await browser(nurse)
        accepted = await move(me, visit_id, "accepted", back="day")
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/nurse/visits?done=accepted"
        assert await status_of(database, visit_id) == "accepted"
        page = await me.get(accepted.headers["location"])
        assert "Visit accepted" in page.text
        assert "visit-accept" not in page.text

    async def test_decline(
        self, browser: Browser, database: Database, settings: Settings, visit_people: MakePeople
    ) -> None:
        people = await visit_people()
        nurse, patient = people.nurse.user, people.patient.user
        kept = await visit_in(database, settings, patient, VisitStatus.accepted, nurse=nurse)
        declined_id = await visit_in(database, settings, patient, VisitStatus.assigned, nurse=nurse)
        me = await browser(nurse)
        declined = await move(me, declined_id, "requested", back="day", reason="Off sick")
        assert declined.headers["location"] == "/nurse/visits?done=requested"
        assert await status_of(database, declined_id) == "requested"
        page = await me.get("/nurse/visits?done=requested")
        assert "Visit declined" in page.text
        assert str(declined_id) not in page.text
        assert str(kept) in page.text
        # From the active visit's page too: back to the day, the visit gone from it.
        again = await move(me, kept, "requested")
        assert again.headers["location"] == "/nurse/visits?done=requested"

    async def test_a_move_refused_shows_the_day_again_with_why(
        self, browser: Browser, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.accepted)
        me = await browser(people.nurse.user)
        refused = await move(me, visit_id, "accepted", back="day")
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("text/html")
        assert "cannot be moved to accepted" in refused.text
        assert 'id="today-visits"' in refused.text
        nonsense = await move(me, visit_id, "flying", back="day")
        assert nonsense.status_code == 422
        assert "Move:" in nonsense.text


class TestActiveVisit:
    async def test_what_the_nurse_needs_at_the_door(
        self, browser: Browser, settings: Settings, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.accepted)
        me = await browser(people.nurse.user)
        page = await me.get(f"/nurse/visits/{visit_id}")
        assert page.status_code == 200
        assert people.patient.user.name in page.text
        assert "3 place Bellecour, Lyon" in page.text
        assert f"Ring twice {VISIT_CANARY}" in page.text
        assert f"geo:{HOME[0]},{HOME[1]}" in page.text
        assert 'id="move-button-en_route"' in page.text
        assert 'id="move-button-requested"' in page.text  # decline
        assert 'id="move-button-arrived"' not in page.text
        assert 'id="share-location"' not in page.text  # not on the way yet
        data = embedded(page, "visit-data")
        assert data["topic"] == f"visit.{visit_id}"
        assert data["home"] == {"lat": HOME[0], "lng": HOME[1]}
        assert data["interval_seconds"] == settings.visit_position_seconds
        assert data["tracked"] == ["arrived", "en_route"]

    async def test_setting_off_too_early_says_from_when(
        self, browser: Browser, database: Database, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(
            VisitStatus.accepted, window_start=datetime.now(UTC) + timedelta(days=1)
        )
        me = await browser(people.nurse.user)
        page = await me.get(f"/nurse/visits/{visit_id}")
        assert "disabled" in button_tag(page, "en_route")
        assert "You can set off from" in page.text
        refused = await move(me, visit_id, "en_route")
        assert refused.status_code == 409
        assert "You can set off from" in refused.text
        assert await status_of(database, visit_id) == "accepted"

    async def test_on_my_way_arrived_start_complete(
        self, browser: Browser, database: Database, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.accepted)
        me = await browser(people.nurse.user)
        off = await move(me, visit_id, "en_route")
        assert off.headers["location"] == f"/nurse/visits/{visit_id}?done=en_route"
        page = await me.get(off.headers["location"])
        assert "On your way" in page.text
        assert 'id="share-location"' in page.text
        assert 'id="arrived-offer"' in page.text
        assert 'name="lat"' in page.text
        assert f'href="/visits/{visit_id}/track"' in page.text
        arrived = await move(me, visit_id, "arrived", lat="45.7641", lng="4.8358", accuracy_m="9")
        assert arrived.status_code == 303
        async with database.transaction() as db:
            row = await db.scalar(select(Visit).where(Visit.id == visit_id))
        assert row is not None
        assert row.status == "arrived"
        assert (row.last_lat, row.last_lng, row.last_accuracy_m) == (45.7641, 4.8358, 9)
        # Just arrived: no-show only after the wait, said on the disabled button.
        page = await me.get(f"/nurse/visits/{visit_id}")
        assert "disabled" in button_tag(page, "no_show")
        assert "Wait for the patient until" in page.text
        for step in ("in_progress", "completed"):
            moved = await move(me, visit_id, step)
            assert moved.status_code == 303, step
            assert await status_of(database, visit_id) == step
        page = await me.get(f"/nurse/visits/{visit_id}")
        assert 'id="report-link"' in page.text
        assert 'id="visit-actions"' not in page.text  # nothing left for the nurse to move

    async def test_no_show_after_the_wait(
        self, browser: Browser, database: Database, settings: Settings, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(
            VisitStatus.arrived, arrived_minutes_ago=settings.visit_no_show_minutes + 1
        )
        me = await browser(people.nurse.user)
        page = await me.get(f"/nurse/visits/{visit_id}")
        assert "disabled" not in button_tag(page, "no_show")
        moved = await move(me, visit_id, "no_show")
        assert moved.status_code == 303
        assert await status_of(database, visit_id) == "no_show"


class TestTracking:
    async def test_the_patients_page_starts_from_the_last_position(
        self, browser: Browser, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.accepted)
        nurse = await browser(people.nurse.user)
        await move(nurse, visit_id, "en_route", lat="45.7760", lng="4.8560", accuracy_m="12")
        patient = await browser(people.patient.user)
        page = await patient.get(f"/visits/{visit_id}/track")
        assert page.status_code == 200
        assert "The nurse is on the way" in page.text
        assert people.nurse.user.name in page.text
        data = embedded(page, "track-data")
        assert data["topic"] == f"visit.{visit_id}"
        assert data["status"] == "en_route"
        assert data["home"] == {"lat": HOME[0], "lng": HOME[1]}
        assert data["position"]["lat"] == 45.7760
        assert 1500 < data["position"]["distance_m"] < 2500
        assert data["position"]["near"] is False
        assert data["words"]["arrived"] == "The nurse is at the door"
        assert f'href="/visits/{visit_id}"' in page.text

    async def test_tiles_of_another_server_are_allowed_on_the_map_pages(
        self, settings: Settings, database: Database, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.en_route)
        tiled = settings.model_copy(
            update={"map_tile_url": "https://{s}.tiles.clinic.example/{z}/{x}/{y}.png"}
        )
        app: FastAPI = create_app(tiled, database=database)
        async with serving(app) as browser:
            await sign_in(browser, people.nurse.user)
            pages = {
                "/nurse/visits": "day-data",
                f"/nurse/visits/{visit_id}": "visit-data",
                f"/visits/{visit_id}/track": "track-data",
            }
            for path, name in pages.items():
                page = await browser.get(path)
                assert page.status_code == 200, path
                policy = page.headers["content-security-policy"]
                assert "img-src 'self' data: blob: https://*.tiles.clinic.example;" in policy
                assert "script-src 'self';" in policy
                assert embedded(page, name)["tiles"]["url"] == tiled.map_tile_url
        # The patient's and the dispatcher's maps (web/visits.py, web/visit_dispatch.py) too.
        others = {
            people.patient.user: ("/visits/new", f"/visits/{visit_id}"),
            people.admin.user: ("/dispatch",),
        }
        for user, paths in others.items():
            async with serving(create_app(tiled, database=database)) as browser:
                await sign_in(browser, user)
                for path in paths:
                    page = await browser.get(path)
                    assert page.status_code == 200, path
                    policy = page.headers["content-security-policy"]
                    assert "https://*.tiles.clinic.example;" in policy, path


async def sign_in(browser: httpx.AsyncClient, user: User) -> None:
    assert (await sign_in_browser(browser, user.email)).status_code == 303


class TestReportForm:
    """The report form's routes call the report's use cases (``visits/report.py``)."""

    async def test_write_save_and_submit(
        self, browser: Browser, database: Database, one_visit: OneVisit
    ) -> None:
        people, visit_id = await one_visit(VisitStatus.in_progress)
        me = await browser(people.nurse.user)
        page = await me.get(f"/nurse/visits/{visit_id}/report")
        assert page.status_code == 200
        assert 'id="report-form"' in page.text
        kinds = [k["kind"] for k in embedded(page, "report-kinds")["kinds"]]
        assert kinds[0] == "blood_pressure"
        url = f"/nurse/visits/{visit_id}/report/data"
        json_headers = {"accept": "application/json", "x-csrf-token": csrf(page)}
        loaded = await me.get(url, headers={"accept": "application/json"})
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["status"] == "draft"
        assert "edit" in loaded.json()["actions"]
        report = {
            "vitals": [{"kind": "blood_pressure", "value": 128, "value2": 82, "unit": "mm[Hg]"}],
            "interventions": ["Dressing changed"],
            "medications_given": [{"name": "Paracetamol", "dose": "1 g", "route": "oral"}],
            "observations": f"Healing well {VISIT_CANARY}",
            "recommendations": "Keep the leg raised.",
        }
        unsigned = await me.put(url, json=report, headers={"accept": "application/json"})
        assert unsigned.status_code == 403
        saved = await me.put(url, json=report, headers=json_headers)
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 1
        assert saved.json()["observations"] == report["observations"]
        wrong = {**report, "vitals": [{"kind": "heart_rate", "value": "fast"}]}
        refused = await me.put(url, json=wrong, headers=json_headers)
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_report"
        assert refused.json()["detail"].startswith("Reading 1, value:")
        early = await me.post(f"/nurse/visits/{visit_id}/report/submit", headers=json_headers)
        assert early.status_code == 409  # the visit is not completed yet
        assert (await move(me, visit_id, "completed")).status_code == 303
        submitted = await me.post(f"/nurse/visits/{visit_id}/report/submit", headers=json_headers)
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["status"] == "submitted"
        assert "edit" not in submitted.json()["actions"]

    async def test_another_nurse_reads_nothing(
        self, browser: Browser, make_user: MakeUser, database: Database, one_visit: OneVisit
    ) -> None:
        _, visit_id = await one_visit(VisitStatus.in_progress)
        other_nurse = await make_user(Role.nurse)
        other = await browser(other_nurse)
        token = csrf(await other.get("/nurse/visits"))
        headers = {"accept": "application/json", "x-csrf-token": token}
        url = f"/nurse/visits/{visit_id}/report/data"
        assert (await other.get(url, headers=headers)).status_code == 404
        assert (await other.put(url, json={}, headers=headers)).status_code == 404
        posted = await other.post(f"/nurse/visits/{visit_id}/report/submit", headers=headers)
        assert posted.status_code == 404
