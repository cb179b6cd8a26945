"""The call page and the JSON endpoints its script posts (web/calls.py) over HTTP: members
only (anyone else gets the 404 page), the camera allowed on this page alone, and the API's own
answers and refusals for the page (problem+json when asked for JSON). The media itself is
tests/e2e/test_video_call.py's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories.calls import Room
from tests.factories.web import Browser, csrf


async def _page(browser: Browser, room: Room, who: str) -> tuple[httpx.AsyncClient, str]:
    """A signed-in browser of ``who`` on the call page, and the page's CSRF token."""
    client = await browser(room.people[who].user)
    page = await client.get(f"/appointments/{room.id}/call")
    assert page.status_code == 200, page.text[:300]
    return client, csrf(page)


async def _post(
    client: httpx.AsyncClient, room: Room, token: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/appointments/{room.id}/call/{action}",
        json=body,
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )


class TestTheCallPage:
    async def test_anyone_else_gets_the_404_page(self, browser: Browser, room: Room) -> None:
        for who in ("other_patient", "other_doctor", "nurse", "admin"):
            client = await browser(room.people[who].user)
            page = await client.get(f"/appointments/{room.id}/call")
            assert page.status_code == 404, who
            assert "text/html" in page.headers["content-type"]
            assert "Join the call" not in page.text

    async def test_a_visitor_is_sent_to_sign_in(
        self, client: httpx.AsyncClient, room: Room
    ) -> None:
        page = await client.get(f"/appointments/{room.id}/call")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/signin?next=")

    async def test_members_may_use_the_camera_here_only(self, browser: Browser, room: Room) -> None:
        client, _ = await _page(browser, room, "patient")
        page = await client.get(f"/appointments/{room.id}/call")
        assert "camera=(self)" in page.headers["permissions-policy"]
        assert "microphone=(self)" in page.headers["permissions-policy"]
        assert "display-capture=(self)" in page.headers["permissions-policy"]
        assert 'id="join-call"' in page.text
        assert 'id="conversation"' in page.text  # the appointment's conversation beside
        assert 'id="waiting-room"' not in page.text  # the doctor's
        other = await client.get("/appointments")
        assert "camera=()" in other.headers["permissions-policy"]

    async def test_the_doctor_sees_the_waiting_room_and_whom_to_invite(
        self, browser: Browser, room: Room
    ) -> None:
        client, _ = await _page(browser, room, "doctor")
        page = await client.get(f"/appointments/{room.id}/call")
        assert 'id="waiting-room"' in page.text
        assert f'value="{room.user("nurse")}"' in page.text  # invitable
        assert f'value="{room.user("patient")}"' not in page.text  # a member already
        assert 'id="end-call"' in page.text


class TestTheEndpoints:
    async def test_join_admit_stats_leave_answer_as_the_api(
        self, browser: Browser, room: Room
    ) -> None:
        doctor, doctor_token = await _page(browser, room, "doctor")
        patient, patient_token = await _page(browser, room, "patient")
        hosted = await _post(doctor, room, doctor_token, "join")
        assert hosted.status_code == 200, hosted.text
        assert hosted.json()["participant"]["state"] == "in_call"
        waiting = await _post(patient, room, patient_token, "join")
        assert waiting.status_code == 200, waiting.text
        joined = waiting.json()
        assert joined["participant"]["state"] == "waiting"
        peer = joined["participant"]["id"]
        assert joined["topics"] == [f"call.{room.id}", f"call.{room.id}.{peer}"]
        api = await room.read("patient")
        assert set(joined["call"]) == set(api)  # the API's JSON
        assert api["you"]["id"] == peer

        refused = await _post(patient, room, patient_token, "admit", participant_id=peer)
        assert refused.status_code == 403  # the doctor admits
        admitted = await _post(doctor, room, doctor_token, "admit", participant_id=peer)
        assert admitted.status_code == 200, admitted.text
        assert (await room.read("patient"))["you"]["state"] == "in_call"

        sample = {"participant_id": peer, "round_trip_ms": 40, "frames_decoded": 9, "relayed": True}
        reported = await _post(patient, room, patient_token, "stats", **sample)
        assert reported.status_code == 204, reported.text
        record = (await room.read("doctor"))["record"]
        assert record["relayed"] is True

        left = await _post(patient, room, patient_token, "leave", participant_id=peer)
        assert left.status_code == 200, left.text
        again = await _post(patient, room, patient_token, "leave", participant_id=peer)
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["code"] == "not_in_call"

    async def test_the_doctor_invites_and_ends(self, browser: Browser, room: Room) -> None:
        doctor, token = await _page(browser, room, "doctor")
        invited = await _post(doctor, room, token, "invite", user_id=str(room.user("nurse")))
        assert invited.status_code == 200, invited.text
        nurse = await browser(room.people["nurse"].user)
        assert (await nurse.get(f"/appointments/{room.id}/call")).status_code == 200
        assert (await _post(doctor, room, token, "join")).status_code == 200
        ended = await _post(doctor, room, token, "end")
        assert ended.status_code == 200, ended.text
        assert ended.json()["ended_at"] is not None

    async def test_a_non_member_is_not_found(self, browser: Browser, room: Room) -> None:
        other = await browser(room.people["other_patient"].user)
        token = csrf(await other.get("/appointments"))
        answer = await _post(other, room, token, "join")
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
