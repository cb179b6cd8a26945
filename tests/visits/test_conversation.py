"""The visit's conversation: the patient and the nurse who accepted the visit write to each other;
a nurse replaced by the dispatcher, or who declines, leaves it and reads nothing written after;
no one else finds it; the visit's end closes it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from carebridge.config import Settings
from carebridge.messaging.models import Conversation
from carebridge.platform.db import Database
from carebridge.visits.models import VisitStatus
from tests.factories.users import Person
from tests.factories.visits import MakeNurse, MakePeople, VisitPeople, visit_body, visit_in
from tests.factories.web import Browser

Json = dict[str, Any]
Headers = dict[str, str]
HTML = {"accept": "text/html"}


async def _accepted(client: httpx.AsyncClient, people: VisitPeople) -> tuple[str, str]:
    """A visit the patient asked for, given to the nurse, who accepted it: its URL and its
    conversation's."""
    asked = await client.post("/api/v1/visits", json=visit_body(), headers=people.patient.headers)
    assert asked.status_code == 201, asked.text
    assert asked.json()["conversation_id"] is None
    url = f"/api/v1/visits/{asked.json()['id']}"
    await _assign(client, url, people.nurse, people.admin.headers)
    accepted = await _move(client, url, "accepted", people.nurse.headers)
    return url, f"/api/v1/conversations/{accepted['conversation_id']}"


async def _assign(client: httpx.AsyncClient, url: str, nurse: Person, admin: Headers) -> None:
    answer = await client.post(
        f"{url}/assign", json={"nurse_id": str(nurse.user.id)}, headers=admin
    )
    assert answer.status_code == 200, answer.text


async def _move(client: httpx.AsyncClient, url: str, to: str, headers: Headers) -> Json:
    answer = await client.post(f"{url}/transitions", json={"to": to}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


async def _send(
    client: httpx.AsyncClient, thread: str, text: str, headers: Headers
) -> httpx.Response:
    return await client.post(
        f"{thread}/messages", json={"client_id": str(uuid.uuid4()), "text": text}, headers=headers
    )


async def _texts(client: httpx.AsyncClient, thread: str, headers: Headers) -> list[str]:
    answer = await client.get(f"{thread}/messages", headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["text"] for item in answer.json()["items"]]


async def test_the_patient_and_the_nurse_write_to_each_other_after_acceptance(
    client: httpx.AsyncClient, visit_people: MakePeople, roster_nurse: MakeNurse
) -> None:
    people = await visit_people()
    url, thread = await _accepted(client, people)
    seen = (await client.get(url, headers=people.patient.headers)).json()
    conversation_id = seen["conversation_id"]
    assert thread == f"/api/v1/conversations/{conversation_id}"
    assert (await client.get(url, headers=people.nurse.headers)).json()[
        "conversation_id"
    ] == conversation_id
    # The dispatcher sees the visit, not a conversation they are not in.
    assert (await client.get(url, headers=people.admin.headers)).json()["conversation_id"] is None
    listed = await client.get("/api/v1/visits", headers=people.patient.headers)
    assert listed.json()["items"][0]["conversation_id"] == conversation_id

    about = (await client.get(thread, headers=people.patient.headers)).json()
    assert about["kind"] == "visit"
    assert about["visit_id"] == seen["id"]
    assert about["doctor_id"] is None
    assert about["may_write"] is True
    assert {(m["user_id"], m["role"]) for m in about["members"]} == {
        (str(people.patient.user.id), "patient"),
        (str(people.nurse.user.id), "nurse"),
    }

    sent = await _send(client, thread, "The entry code is 4821.", people.patient.headers)
    assert sent.status_code == 201, sent.text
    replied = await _send(client, thread, "Noted, see you at ten.", people.nurse.headers)
    assert replied.status_code == 201, replied.text
    assert await _texts(client, thread, people.nurse.headers) == [
        "The entry code is 4821.",
        "Noted, see you at ten.",
    ]
    assert await _texts(client, thread, people.patient.headers) == [
        "The entry code is 4821.",
        "Noted, see you at ten.",
    ]

    # Another nurse, the dispatcher (not a member) and a doctor find no messages.
    other = await roster_nurse()
    for outsider in (other.headers, people.admin.headers, people.doctor.headers):
        assert (await client.get(f"{thread}/messages", headers=outsider)).status_code == 404
        assert (await _send(client, thread, "Hello", outsider)).status_code == 404


async def test_a_replaced_nurse_leaves_the_conversation_and_the_new_one_joins(
    client: httpx.AsyncClient, visit_people: MakePeople, roster_nurse: MakeNurse
) -> None:
    people = await visit_people()
    url, thread = await _accepted(client, people)
    assert (await _send(client, thread, "Before", people.nurse.headers)).status_code == 201

    second = await roster_nurse()
    await _assign(client, url, second, people.admin.headers)
    # The first nurse is out at once; the second is in once they accept.
    assert (await client.get(url, headers=people.nurse.headers)).status_code == 404
    assert (await client.get(thread, headers=people.nurse.headers)).status_code == 404
    assert (await _send(client, thread, "Still here?", people.nurse.headers)).status_code == 404
    assert (await client.get(thread, headers=second.headers)).status_code == 404
    moved = await _move(client, url, "accepted", second.headers)
    assert thread.endswith(moved["conversation_id"])

    assert (await _send(client, thread, "After", people.patient.headers)).status_code == 201
    assert await _texts(client, thread, second.headers) == ["Before", "After"]
    assert (await client.get(f"{thread}/messages", headers=people.nurse.headers)).status_code == 404
    members = (await client.get(thread, headers=people.patient.headers)).json()["members"]
    assert {m["user_id"] for m in members} == {str(people.patient.user.id), str(second.user.id)}

    # A decline takes the nurse out too; the patient keeps the conversation.
    await _move(client, url, "requested", second.headers)
    assert (await client.get(thread, headers=second.headers)).status_code == 404
    still = (await client.get(url, headers=people.patient.headers)).json()["conversation_id"]
    assert thread.endswith(still)


async def test_the_visits_end_closes_the_conversation(
    client: httpx.AsyncClient, visit_people: MakePeople
) -> None:
    people = await visit_people()
    url, thread = await _accepted(client, people)
    await _move(client, url, "cancelled", people.patient.headers)
    refused = await _send(client, thread, "Are you coming?", people.patient.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "conversation_closed"
    about = (await client.get(thread, headers=people.nurse.headers)).json()
    assert about["closed_at"] is not None
    assert about["may_write"] is False


async def test_the_conversation_pages_show_a_home_visits_conversation(
    client: httpx.AsyncClient, visit_people: MakePeople, browser: Browser
) -> None:
    people = await visit_people()
    _, thread = await _accepted(client, people)
    assert (await _send(client, thread, "Ring twice", people.patient.headers)).status_code == 201
    nurse = await browser(people.nurse.user)
    inbox = await nurse.get("/conversations", headers=HTML)
    assert inbox.status_code == 200, inbox.text
    assert "Home visit" in inbox.text
    page = await nurse.get(thread.removeprefix("/api/v1"), headers=HTML)
    assert page.status_code == 200, page.text
    assert "The conversation of a home visit" in page.text
    assert "Ring twice" in page.text


@pytest.mark.parametrize(
    ("kind", "with_visit", "with_doctor"),
    [("visit", False, False), ("visit", True, True), ("care", True, True), ("care", False, False)],
)
async def test_the_database_holds_a_visit_conversations_shape(
    database: Database,
    settings: Settings,
    visit_people: MakePeople,
    kind: str,
    with_visit: bool,
    with_doctor: bool,
) -> None:
    """A visit's conversation names its visit and no doctor; any other names a doctor and no
    visit."""
    people = await visit_people()
    visit_id = await visit_in(database, settings, people.patient.user, VisitStatus.requested)
    with pytest.raises(IntegrityError, match="ck_conversations_"):
        async with database.transaction() as db:
            db.add(
                Conversation(
                    kind=kind,
                    visit_id=visit_id if with_visit else None,
                    patient_id=people.patient.user.id,
                    doctor_id=people.doctor.user.id if with_doctor else None,
                )
            )
