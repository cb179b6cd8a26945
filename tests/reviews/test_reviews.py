"""Reviews over HTTP: who may review, reply and hide; one review per appointment; the edit window;
the doctor's rating recomputed exactly on every change; the public list of a doctor's reviews."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import time_machine
from sqlalchemy import select, update

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from tests.factories import MakeUser, TokenFor
from tests.factories.directory import MakeDoctor
from tests.factories.reviews import MakeAppointment, MakeCast, post_review, rating_of


class TestReviewing:
    async def test_callers_refused(
        self, client: httpx.AsyncClient, cast: MakeCast, make_user: MakeUser, token_for: TokenFor
    ) -> None:
        c = await cast()
        url = f"/api/v1/appointments/{c.appointment.id}/review"
        assert (await client.post(url, json={"rating": 5})).status_code == 401
        as_doctor = await client.post(url, json={"rating": 5}, headers=c.doctor.headers)
        assert as_doctor.status_code == 403
        stranger = await token_for(await make_user(Role.patient))
        other = await client.post(url, json={"rating": 5}, headers=stranger)
        assert other.status_code == 404
        unknown = await client.post(
            f"/api/v1/appointments/{uuid.uuid4()}/review",
            json={"rating": 5},
            headers=c.patient.headers,
        )
        assert unknown.status_code == 404

    async def test_a_completed_appointment_is_reviewed_once(
        self, client: httpx.AsyncClient, database: Database, cast: MakeCast
    ) -> None:
        c = await cast()
        first = await post_review(client, c, 5, "  Very kind and clear.  ")
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["rating"] == 5
        assert body["comment"] == "Very kind and clear."
        assert body["hidden"] is False
        again = await post_review(client, c, 4)
        assert again.status_code == 409
        assert again.json()["code"] == "already_reviewed"
        assert await rating_of(database, c.doctor.user) == (Decimal("5.00"), 1)
        async with database.transaction() as db:
            told = (
                await db.scalars(
                    select(Notification).where(Notification.recipient_id == c.doctor.user.id)
                )
            ).all()
            audited = await db.scalar(
                select(AuditEvent).where(
                    AuditEvent.action == "review.created", AuditEvent.resource_id == body["id"]
                )
            )
        assert [n.kind for n in told] == ["review_received"]
        assert "5 out of 5" in told[0].body
        assert audited is not None
        assert audited.actor_id == c.patient.user.id

    async def test_only_completed_appointments(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        make_appointment: MakeAppointment,
        token_for: TokenFor,
    ) -> None:
        doctor = await make_doctor()
        patient = await make_user(Role.patient)
        headers = await token_for(patient)
        for status in ("scheduled", "cancelled", "no_show", "in_progress"):
            appointment = await make_appointment(doctor, patient, status=status)
            answer = await client.post(
                f"/api/v1/appointments/{appointment.id}/review",
                json={"rating": 3},
                headers=headers,
            )
            assert answer.status_code == 409, status
            assert answer.json()["code"] == "not_completed"

    async def test_bad_input_is_422(self, client: httpx.AsyncClient, cast: MakeCast) -> None:
        c = await cast()
        url = f"/api/v1/appointments/{c.appointment.id}/review"
        for body in (
            {"rating": 0},
            {"rating": 6},
            {},
            {"rating": 4, "comment": "x" * 2001},
            {"rating": 4, "patient_id": str(uuid.uuid4())},
        ):
            answer = await client.post(url, json=body, headers=c.patient.headers)
            assert answer.status_code == 422, body
        assert (await post_review(client, c, 4, "x" * 2000)).status_code == 201


class TestRating:
    async def test_average_exact_after_create_edit_hide_unhide(
        self,
        client: httpx.AsyncClient,
        database: Database,
        cast: MakeCast,
        make_user: MakeUser,
        token_for: TokenFor,
    ) -> None:
        first = await cast()
        second = await cast(doctor=first.doctor)
        assert await rating_of(database, first.doctor.user) == (None, 0)
        five = (await post_review(client, first, 5)).json()
        four = (await post_review(client, second, 4)).json()
        assert await rating_of(database, first.doctor.user) == (Decimal("4.50"), 2)

        edited = await client.patch(
            f"/api/v1/reviews/{four['id']}", json={"rating": 1}, headers=second.patient.headers
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["edited_at"] is not None
        assert await rating_of(database, first.doctor.user) == (Decimal("3.00"), 2)

        admin = await token_for(await make_user(Role.admin))
        hidden = await client.post(
            f"/api/v1/admin/reviews/{five['id']}/hide",
            json={"reason": "Names another patient"},
            headers=admin,
        )
        assert hidden.status_code == 200, hidden.text
        assert hidden.json()["hidden"] is True
        assert await rating_of(database, first.doctor.user) == (Decimal("1.00"), 1)
        twice = await client.post(
            f"/api/v1/admin/reviews/{five['id']}/hide", json={"reason": "again"}, headers=admin
        )
        assert twice.status_code == 409

        shown = await client.post(f"/api/v1/admin/reviews/{five['id']}/unhide", headers=admin)
        assert shown.status_code == 200
        assert await rating_of(database, first.doctor.user) == (Decimal("3.00"), 2)

    async def test_three_reviews_round_to_two_decimals(
        self, client: httpx.AsyncClient, database: Database, cast: MakeCast
    ) -> None:
        first = await cast()
        for rating in (5, 4, 4):
            c = await cast(doctor=first.doctor) if rating != 5 else first
            assert (await post_review(client, c, rating)).status_code == 201
        assert await rating_of(database, first.doctor.user) == (Decimal("4.33"), 3)

    async def test_min_rating_filter_sees_the_new_average(
        self, client: httpx.AsyncClient, cast: MakeCast
    ) -> None:
        tag = "zq" + uuid.uuid4().hex[:10]
        c = await cast(bio=f"Family medicine {tag}")

        async def listed(min_rating: float) -> bool:
            answer = await client.get(
                "/api/v1/doctors", params={"q": tag, "min_rating": min_rating}
            )
            assert answer.status_code == 200, answer.text
            return [d["id"] for d in answer.json()["items"]] == [str(c.doctor.user.id)]

        assert not await listed(4.5)  # cached now: the review must drop that entry
        review = (await post_review(client, c, 5)).json()
        assert await listed(4.5)
        edited = await client.patch(
            f"/api/v1/reviews/{review['id']}", json={"rating": 2}, headers=c.patient.headers
        )
        assert edited.status_code == 200
        assert not await listed(4.5)
        assert await listed(2)


class TestEditing:
    async def test_callers_refused(
        self, client: httpx.AsyncClient, cast: MakeCast, make_user: MakeUser, token_for: TokenFor
    ) -> None:
        c = await cast()
        review = (await post_review(client, c, 4)).json()
        url = f"/api/v1/reviews/{review['id']}"
        assert (await client.patch(url, json={"rating": 5})).status_code == 401
        as_doctor = await client.patch(url, json={"rating": 5}, headers=c.doctor.headers)
        assert as_doctor.status_code == 403
        stranger = await token_for(await make_user(Role.patient))
        assert (await client.patch(url, json={"rating": 5}, headers=stranger)).status_code == 404
        empty = await client.patch(url, json={}, headers=c.patient.headers)
        assert empty.status_code == 422

    async def test_comment_changes_and_clears(
        self, client: httpx.AsyncClient, cast: MakeCast
    ) -> None:
        c = await cast()
        review = (await post_review(client, c, 4, "Good")).json()
        url = f"/api/v1/reviews/{review['id']}"
        changed = await client.patch(url, json={"comment": "Better"}, headers=c.patient.headers)
        assert changed.json()["comment"] == "Better"
        assert changed.json()["rating"] == 4
        cleared = await client.patch(url, json={"comment": None}, headers=c.patient.headers)
        assert cleared.json()["comment"] is None

    async def test_edit_window(
        self, client: httpx.AsyncClient, database: Database, cast: MakeCast, token_for: TokenFor
    ) -> None:
        c = await cast()
        review = (await post_review(client, c, 4)).json()
        url = f"/api/v1/reviews/{review['id']}"
        with time_machine.travel(datetime.now(UTC) + timedelta(days=13), tick=True):
            headers = await token_for(c.patient.user)
            inside = await client.patch(url, json={"rating": 5}, headers=headers)
            assert inside.status_code == 200, inside.text
        with time_machine.travel(datetime.now(UTC) + timedelta(days=15), tick=True):
            headers = await token_for(c.patient.user)
            late = await client.patch(url, json={"rating": 1}, headers=headers)
        assert late.status_code == 409
        assert late.json()["code"] == "edit_window_closed"
        assert await rating_of(database, c.doctor.user) == (Decimal("5.00"), 1)


class TestReplying:
    async def test_callers_refused(
        self,
        client: httpx.AsyncClient,
        cast: MakeCast,
        make_doctor: MakeDoctor,
        token_for: TokenFor,
    ) -> None:
        c = await cast()
        review = (await post_review(client, c, 4)).json()
        url = f"/api/v1/reviews/{review['id']}/reply"
        body = {"reply": "Thank you!"}
        assert (await client.post(url, json=body)).status_code == 401
        assert (await client.post(url, json=body, headers=c.patient.headers)).status_code == 403
        other = await token_for(await make_doctor())
        assert (await client.post(url, json=body, headers=other)).status_code == 404

    async def test_the_doctor_replies_once_and_the_patient_is_told(
        self, client: httpx.AsyncClient, database: Database, cast: MakeCast
    ) -> None:
        c = await cast()
        review = (await post_review(client, c, 4)).json()
        url = f"/api/v1/reviews/{review['id']}/reply"
        replied = await client.post(url, json={"reply": "Thank you!"}, headers=c.doctor.headers)
        assert replied.status_code == 200, replied.text
        assert replied.json()["reply"] == "Thank you!"
        assert replied.json()["replied_at"] is not None
        again = await client.post(url, json={"reply": "Again"}, headers=c.doctor.headers)
        assert again.status_code == 409
        assert again.json()["code"] == "already_replied"
        blank = await client.post(url, json={"reply": "   "}, headers=c.doctor.headers)
        assert blank.status_code in (409, 422)
        async with database.transaction() as db:
            kinds = (
                await db.scalars(
                    select(Notification.kind).where(Notification.recipient_id == c.patient.user.id)
                )
            ).all()
        assert kinds == ["review_replied"]


class TestHiding:
    async def test_callers_refused(
        self, client: httpx.AsyncClient, cast: MakeCast, make_user: MakeUser, token_for: TokenFor
    ) -> None:
        c = await cast()
        review = (await post_review(client, c, 4)).json()
        url = f"/api/v1/admin/reviews/{review['id']}/hide"
        body = {"reason": "spam"}
        assert (await client.post(url, json=body)).status_code == 401
        assert (await client.post(url, json=body, headers=c.patient.headers)).status_code == 403
        assert (await client.post(url, json=body, headers=c.doctor.headers)).status_code == 403
        admin = await token_for(await make_user(Role.admin))
        missing = await client.post(
            f"/api/v1/admin/reviews/{uuid.uuid4()}/hide", json=body, headers=admin
        )
        assert missing.status_code == 404
        no_reason = await client.post(url, json={"reason": " "}, headers=admin)
        assert no_reason.status_code == 422


class TestPublicList:
    async def test_visible_reviews_newest_first_first_names_only(
        self,
        client: httpx.AsyncClient,
        database: Database,
        cast: MakeCast,
        make_user: MakeUser,
        token_for: TokenFor,
    ) -> None:
        first = await cast()
        async with database.transaction() as db:
            await db.execute(
                update(User)
                .where(User.id == first.patient.user.id)
                .values(name="Alice Liddell-Hart")
            )
        second = await cast(doctor=first.doctor)
        third = await cast(doctor=first.doctor)
        old = (await post_review(client, first, 5, "First")).json()
        hidden = (await post_review(client, second, 1, "Rude words")).json()
        new = (await post_review(client, third, 4, "Third")).json()
        admin = await token_for(await make_user(Role.admin))
        await client.post(
            f"/api/v1/admin/reviews/{hidden['id']}/hide", json={"reason": "abuse"}, headers=admin
        )
        url = f"/api/v1/doctors/{first.doctor.user.id}/reviews"
        page = await client.get(url, params={"limit": 1})  # anonymous: the page is public
        assert page.status_code == 200, page.text
        assert [r["id"] for r in page.json()["items"]] == [new["id"]]
        rest = await client.get(url, params={"limit": 1, "cursor": page.json()["next_cursor"]})
        items = rest.json()["items"]
        assert [r["id"] for r in items] == [old["id"]]
        assert items[0]["patient_first_name"] == "Alice"
        assert "Liddell" not in rest.text
        assert "patient_id" not in items[0]
        assert rest.json()["next_cursor"] is None

    async def test_unknown_or_unlisted_doctor_is_404(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        unlisted = await make_doctor(verified=False)
        for doctor_id in (uuid.uuid4(), unlisted.id):
            answer = await client.get(f"/api/v1/doctors/{doctor_id}/reviews")
            assert answer.status_code == 404
        bad = await client.get(f"/api/v1/doctors/{unlisted.id}/reviews", params={"cursor": "x"})
        assert bad.status_code in (404, 422)
