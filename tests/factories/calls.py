"""Helpers of the call tests: a video appointment its doctor may start now (booked through the
API on a round-the-clock schedule), the people around it, and the call routes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from carebridge.accounts.models import Role
from tests.factories.directory import MakeDoctor
from tests.factories.messaging import ROUND_THE_CLOCK, book_soon
from tests.factories.users import MakeUser, Person, TokenFor


class Room:
    """A video appointment's call and the people around it: ``patient``, ``doctor``,
    ``nurse``, ``other_patient``, ``other_doctor``, ``admin``."""

    def __init__(
        self, client: httpx.AsyncClient, appointment: dict[str, Any], people: dict[str, Person]
    ) -> None:
        self.client = client
        self.appointment = appointment
        self.id = appointment["id"]
        self.people = people

    @property
    def url(self) -> str:
        return f"/api/v1/appointments/{self.id}/call"

    async def post(self, who: str, action: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"{self.url}/{action}", json=body, headers=self.people[who].headers
        )

    async def ok(self, who: str, action: str, **body: Any) -> dict[str, Any]:
        answer = await self.post(who, action, **body)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def read(self, who: str) -> dict[str, Any]:
        answer = await self.client.get(self.url, headers=self.people[who].headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def user(self, who: str) -> uuid.UUID:
        return self.people[who].user.id


async def people_around(
    make_doctor: MakeDoctor, make_user: MakeUser, token_for: TokenFor
) -> dict[str, Person]:
    """Besides a doctor: a patient, another patient, a nurse, an administrator, another
    doctor."""
    people = {}
    for name, role in (
        ("patient", Role.patient),
        ("other_patient", Role.patient),
        ("nurse", Role.nurse),
        ("admin", Role.admin),
    ):
        user = await make_user(role)
        people[name] = Person(user, await token_for(user))
    other = await make_doctor(f"Dr {uuid.uuid4().hex[:6]}")
    people["other_doctor"] = Person(other, await token_for(other))
    return people


@pytest.fixture
async def room(
    client: httpx.AsyncClient,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
    scheduled_doctor: Any,
) -> Room:
    """A video appointment starting within minutes: its room is open now."""
    doctor, doctor_headers = await scheduled_doctor(**ROUND_THE_CLOCK)
    people = {"doctor": Person(doctor, doctor_headers)}
    people.update(await people_around(make_doctor, make_user, token_for))
    booked = await book_soon(client, doctor.id, people["patient"].headers, "video")
    return Room(client, booked, people)
