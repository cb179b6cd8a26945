"""Reading the audit trail: the admin API and the admin page search by actor (email or id),
action (or its beginning), object and time, newest first in pages; only administrators may, and
each search is itself on the trail."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from tests.factories import MakeUser, SignIn
from tests.factories.web import Browser, sign_in_browser

API = "/api/v1/admin/audit-events"
HTML = {"accept": "text/html"}
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Trail:
    """Events of one user at known times: 60 ``probe.edit`` on documents, one a minute from
    START, then one ``probe.view`` of a user; and one ``probe.edit`` by somebody else."""

    actor: User
    other: User
    document: str


@pytest.fixture
async def trail(database: Database, make_user: MakeUser) -> Trail:
    actor, other = await make_user(Role.patient), await make_user(Role.doctor)
    document = str(uuid.uuid4())
    rows = [
        AuditEvent(
            at=START + timedelta(minutes=n),
            actor_id=actor.id,
            actor_role="patient",
            action="probe.edit",
            resource_type="document",
            resource_id=document if n == 7 else str(uuid.uuid4()),
            outcome="success",
            details={"n": n},
        )
        for n in range(60)
    ]
    rows.append(
        AuditEvent(
            at=START + timedelta(hours=2),
            actor_id=actor.id,
            actor_role="patient",
            action="probe.view",
            resource_type="user",
            resource_id=str(other.id),
            outcome="denied",
        )
    )
    rows.append(
        AuditEvent(
            at=START + timedelta(hours=3),
            actor_id=other.id,
            action="probe.edit",
            resource_type="document",
            resource_id=document,
            outcome="success",
        )
    )
    async with database.transaction() as db:
        db.add_all(rows)
    return Trail(actor, other, document)


async def viewed(database: Database, admin_id: uuid.UUID) -> list[AuditEvent]:
    async with database.sessionmaker() as db:
        statement = select(AuditEvent).where(
            AuditEvent.action == "audit.viewed", AuditEvent.actor_id == admin_id
        )
        return list((await db.scalars(statement)).all())


class TestTheApi:
    async def test_only_administrators(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        assert (await client.get(API)).status_code == 401
        for role in (Role.patient, Role.doctor):
            me = await sign_in(role)
            assert (await client.get(API, headers=me.headers)).status_code == 403

    async def test_filters_and_pages(
        self, client: httpx.AsyncClient, sign_in: SignIn, trail: Trail, database: Database
    ) -> None:
        admin = await sign_in(Role.admin)

        async def ask(**params: object) -> dict[str, object]:
            answer = await client.get(API, headers=admin.headers, params=params)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        by_email = await ask(actor=trail.actor.email.upper(), limit=100)
        items = by_email["items"]
        assert isinstance(items, list)
        assert len(items) == 61
        assert items[0]["action"] == "probe.view"  # newest first
        assert items[0]["actor_email"] == trail.actor.email
        assert [e["details"]["n"] for e in items[1:4]] == [59, 58, 57]
        by_id = await ask(actor=str(trail.actor.id), limit=100)
        assert by_id["items"] == items

        assert [
            e["action"] for e in (await ask(actor=str(trail.actor.id), action="probe.v"))["items"]
        ] == ["probe.view"]
        assert (
            len(
                (await ask(action="probe.", resource_type="document", resource_id=trail.document))[
                    "items"
                ]
            )
            == 2
        )
        window = await ask(
            actor=trail.actor.email,
            **{
                "from": (START + timedelta(minutes=10)).isoformat(),
                "to": (START + timedelta(minutes=12)).isoformat(),
            },
        )
        assert [e["details"]["n"] for e in window["items"]] == [12, 11, 10]
        assert (await ask(actor="nobody@example.org"))["items"] == []
        assert (await ask(action="probe%"))["items"] == []  # a prefix, not a pattern

        pages, cursor = [], None
        while True:
            page = await ask(
                actor=trail.actor.email, limit=25, **({"cursor": cursor} if cursor else {})
            )
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [25, 25, 11]
        assert [e["id"] for p in pages for e in p] == [e["id"] for e in items]

        recorded = await viewed(database, admin.user_id)
        assert len(recorded) == 10  # every search, every page
        filters = [r.details["filters"] for r in recorded]
        assert {"actor": str(trail.actor.id)} in filters  # the id, never the email
        assert {"actor": "no such account"} in filters
        assert all(trail.actor.email not in str(r.details) for r in recorded)

    async def test_bad_filters_are_refused(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        admin = await sign_in(Role.admin)
        backwards = await client.get(
            API,
            headers=admin.headers,
            params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        )
        assert backwards.status_code == 422
        naive = await client.get(API, headers=admin.headers, params={"from": "2026-03-02T00:00:00"})
        assert naive.status_code == 422
        bad_cursor = await client.get(API, headers=admin.headers, params={"cursor": "nope"})
        assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (422, "bad_cursor")


def rows_of(page: httpx.Response) -> list[str]:
    table = re.search(r'<table id="audit-events">(.*?)</table>', page.text, re.S)
    assert table, page.text[-3000:]
    return re.findall(r"<code>([^<]+)</code>", table.group(1))


class TestThePage:
    async def test_only_administrators(
        self, client: httpx.AsyncClient, make_user: MakeUser, browser: Browser
    ) -> None:
        anonymous = await client.get("/admin/audit")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/signin?next=%2Fadmin%2Faudit"
        for role in (Role.patient, Role.doctor, Role.nurse):
            someone = await browser(await make_user(role))
            assert (await someone.get("/admin/audit", headers=HTML)).status_code == 403

    async def test_an_admin_searches_and_pages_and_is_recorded(
        self, client: httpx.AsyncClient, make_user: MakeUser, trail: Trail, database: Database
    ) -> None:
        admin = await make_user(Role.admin)
        await sign_in_browser(client, admin.email)
        page = await client.get("/admin/audit", params={"actor": trail.actor.email})
        assert page.status_code == 200
        assert rows_of(page)[0] == "probe.view"
        assert len(rows_of(page)) == 50
        assert trail.actor.email in page.text
        assert 'value="' + trail.actor.email + '"' in page.text  # the form keeps the search
        next_url = re.search(r'<a href="([^"]+)" id="next-page"', page.text)
        assert next_url
        second = await client.get(next_url.group(1).replace("&amp;", "&"))
        assert len(rows_of(second)) == 11
        assert 'id="next-page"' not in second.text

        window = await client.get(
            "/admin/audit",
            params={
                "actor": str(trail.actor.id),
                "action": "probe.ed",
                "from": "2026-03-01T09:10",
                "to": "2026-03-01T09:11:00",
            },
        )
        assert window.status_code == 200
        assert "n: 11" in window.text
        assert "n: 10" in window.text
        assert len(rows_of(window)) == 2

        nothing = await client.get("/admin/audit", params={"action": "no.such.action"})
        assert 'id="no-events"' in nothing.text
        backwards = await client.get(
            "/admin/audit", params={"from": "2026-03-02T00:00", "to": "2026-03-01T00:00"}
        )
        assert backwards.status_code == 422
        assert "the From time is after the To time" in backwards.text
        assert len(await viewed(database, admin.id)) == 4  # each search; not the refused one
