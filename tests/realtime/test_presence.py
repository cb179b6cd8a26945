"""Doctors' presence, live: the status switch, the ``doctors.presence`` topic (snapshot then
deltas), the grace period after a doctor's last socket closes, and following a doctor."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select, text, update
from websockets.asyncio.client import ClientConnection

from carebridge.accounts.models import Role, User
from carebridge.notifications.models import Notification
from tests.factories.realtime import Live, Member, Serve, next_frame, subscribe

TOPIC = "doctors.presence"


def is_status_of(doctor: Member, status: str) -> Any:
    def want(frame: dict[str, Any]) -> bool:
        return (
            frame["type"] == "event"
            and frame["topic"] == TOPIC
            and frame["data"]["doctor_id"] == str(doctor.user_id)
            and frame["data"]["status"] == status
        )

    return want


async def notices(live: Live, patient: Member) -> int:
    """How many 'doctor online' notifications the patient has."""
    async with live.database.transaction() as db:
        count = await db.scalar(
            select(func.count()).where(
                Notification.recipient_id == patient.user_id,
                Notification.kind == "doctor_online",
            )
        )
    return int(count or 0)


def snapshot_of(frames: list[dict[str, Any]]) -> dict[str, str]:
    assert frames[0]["type"] == "snapshot", frames
    return {d["doctor_id"]: d["status"] for d in frames[0]["data"]["doctors"]}


class TestStatusSwitch:
    async def test_only_doctors_set_a_status(self, live: Live) -> None:
        patient = await live.member()
        assert (
            await live.http.put("/api/v1/doctors/me/status", json={"status": "online"})
        ).status_code == 401
        refused = await live.http.put(
            "/api/v1/doctors/me/status", json={"status": "online"}, headers=patient.headers
        )
        assert refused.status_code == 403
        doctor = await live.doctor()
        bad = await live.http.put(
            "/api/v1/doctors/me/status", json={"status": "away"}, headers=doctor.headers
        )
        assert bad.status_code == 422

    async def test_every_subscriber_gets_the_delta_and_late_ones_the_snapshot(
        self, live: Live
    ) -> None:
        doctor = await live.doctor("Dr. Ada Live")
        patients = [await live.member() for _ in range(3)]
        sockets: list[ClientConnection] = [await live.open(p) for p in patients]
        try:
            for socket in sockets:
                assert str(doctor.user_id) not in snapshot_of(await subscribe(socket, TOPIC))
            changed = await live.set_status(doctor, "online")
            frames = [await next_frame(s, is_status_of(doctor, "online")) for s in sockets]
            assert {f["seq"] for f in frames} == {changed["version"]}
            assert frames[0]["data"]["name"] == "Dr. Ada Live"

            async with await live.open(await live.member()) as late:
                assert snapshot_of(await subscribe(late, TOPIC))[str(doctor.user_id)] == "online"
            await live.set_status(doctor, "busy")
            for socket in sockets:
                await next_frame(socket, is_status_of(doctor, "busy"))
        finally:
            for socket in sockets:
                await socket.close()

    async def test_same_status_twice_publishes_once(self, live: Live) -> None:
        doctor = await live.doctor()
        async with await live.open(await live.member()) as socket:
            await subscribe(socket, TOPIC)
            first = await live.set_status(doctor, "online")
            again = await live.set_status(doctor, "online")
            assert again["version"] == first["version"]
            await live.set_status(doctor, "offline")
            frames = [await next_frame(socket, lambda f: f["type"] == "event") for _ in range(2)]
        assert [f["data"]["status"] for f in frames] == ["online", "offline"]

    async def test_unverified_doctors_stay_out_of_the_list(self, live: Live) -> None:
        hidden = await live.member(Role.doctor)  # approved account but no verified profile
        async with live.database.transaction() as db:
            await db.execute(
                update(User).where(User.id == hidden.user_id).values(approved_at=func.now())
            )
        async with await live.open(await live.member()) as socket:
            await subscribe(socket, TOPIC)
            await live.set_status(hidden, "online")
            shown = await live.doctor()
            await live.set_status(shown, "online")
            frame = await next_frame(socket, lambda f: f["type"] == "event")
            assert frame["data"]["doctor_id"] == str(shown.user_id)
            assert str(hidden.user_id) not in snapshot_of(await subscribe(socket, TOPIC))


class TestGracePeriod:
    async def test_last_socket_closing_takes_the_doctor_offline_after_the_grace(
        self, live: Live
    ) -> None:
        doctor = await live.doctor()
        async with await live.open(await live.member()) as watcher:
            await subscribe(watcher, TOPIC)
            doctor_socket = await live.open(doctor)
            await live.set_status(doctor, "online")
            await next_frame(watcher, is_status_of(doctor, "online"))
            closed_at = asyncio.get_running_loop().time()
            await doctor_socket.close()
            await next_frame(watcher, is_status_of(doctor, "offline"), timeout=10)
            waited = asyncio.get_running_loop().time() - closed_at
        assert waited >= 0.6  # FAST grace period
        status = await live.http.get("/api/v1/doctors/me/status", headers=doctor.headers)
        assert status.json()["status"] == "offline"
        assert status.json()["last_online_at"] is not None

    async def test_reconnecting_within_the_grace_keeps_the_doctor_online(self, live: Live) -> None:
        doctor = await live.doctor()
        async with await live.open(await live.member()) as watcher:
            await subscribe(watcher, TOPIC)
            first = await live.open(doctor)
            await live.set_status(doctor, "online")
            await next_frame(watcher, is_status_of(doctor, "online"))
            await first.close()
            async with await live.open(doctor):  # a page reload
                await asyncio.sleep(1.5)  # well past the grace period
                events = []
                while True:
                    try:
                        events.append(
                            await next_frame(watcher, lambda f: f["type"] == "event", 0.2)
                        )
                    except TimeoutError:
                        break
        assert events == []
        status = await live.http.get("/api/v1/doctors/me/status", headers=doctor.headers)
        assert status.json()["status"] == "online"


class TestFollow:
    async def test_who_may_follow(self, live: Live) -> None:
        doctor = await live.doctor()
        other_doctor = await live.doctor()
        url = f"/api/v1/doctors/{doctor.user_id}/follow"
        assert (await live.http.post(url)).status_code == 401
        assert (await live.http.post(url, headers=other_doctor.headers)).status_code == 403
        patient = await live.member()
        unknown = f"/api/v1/doctors/{patient.user_id}/follow"  # not a doctor
        assert (await live.http.post(unknown, headers=patient.headers)).status_code == 404
        assert (await live.http.post(url, headers=patient.headers)).status_code == 204
        assert (await live.http.post(url, headers=patient.headers)).status_code == 204
        listed = (await live.http.get("/api/v1/me/following", headers=patient.headers)).json()
        assert [d["doctor_id"] for d in listed["items"]] == [str(doctor.user_id)]
        assert (await live.http.delete(url, headers=patient.headers)).status_code == 204
        listed = (await live.http.get("/api/v1/me/following", headers=patient.headers)).json()
        assert listed["items"] == []

    async def test_flapping_doctor_notifies_each_follower_once(self, live: Live) -> None:
        doctor = await live.doctor("Dr. Flap")
        followers = [await live.member() for _ in range(3)]
        bystander = await live.member()
        for patient in followers:
            response = await live.http.post(
                f"/api/v1/doctors/{doctor.user_id}/follow", headers=patient.headers
            )
            assert response.status_code == 204
        async with await live.open(followers[0]) as socket:
            await subscribe(socket, f"user.{followers[0].user_id}")
            for _ in range(3):
                await live.set_status(doctor, "online")
                await live.set_status(doctor, "offline")
            created = await next_frame(socket, lambda f: f.get("event") == "notification.created")
        assert created["data"]["title"] == "Dr. Flap is online"
        async with live.database.transaction() as db:
            counts = dict(
                (
                    await db.execute(
                        select(Notification.recipient_id, func.count())
                        .where(Notification.kind == "doctor_online")
                        .group_by(Notification.recipient_id)
                    )
                ).all()
            )
        assert {p.user_id: counts.get(p.user_id) for p in followers} == {
            p.user_id: 1 for p in followers
        }
        assert bystander.user_id not in counts

    async def test_busy_is_not_announced(self, live: Live) -> None:
        doctor = await live.doctor()
        patient = await live.member()
        await live.http.post(f"/api/v1/doctors/{doctor.user_id}/follow", headers=patient.headers)
        await live.set_status(doctor, "busy")
        assert await notices(live, patient) == 0

    async def test_the_window_allows_a_new_notice_later(self, serve: Serve) -> None:
        async with serve(presence_follow_window_minutes=1) as live:
            doctor = await live.doctor()
            patient = await live.member()
            await live.http.post(
                f"/api/v1/doctors/{doctor.user_id}/follow", headers=patient.headers
            )
            await live.set_status(doctor, "online")
            await live.set_status(doctor, "offline")
            async with live.database.transaction() as db:  # the window has passed
                await db.execute(
                    text(
                        "UPDATE doctor_follows SET last_notified_at = now() - interval '2 minutes'"
                        " WHERE patient_id = :p"
                    ),
                    {"p": patient.user_id},
                )
            await live.set_status(doctor, "online")
            assert await notices(live, patient) == 2


class TestDoctorPageControls:
    async def test_badge_only_for_listed_doctors(self, live: Live) -> None:
        doctor = await live.doctor("Dr. Badge")
        patient = await live.member()
        shown = await live.http.get(f"/doctors/{doctor.user_id}/presence")
        assert shown.status_code == 200
        assert "Offline" in shown.text
        assert 'id="follow"' not in shown.text  # anonymous visitors cannot follow
        await live.set_status(doctor, "online")
        assert "Online now" in (await live.http.get(f"/doctors/{doctor.user_id}/presence")).text
        # Anyone else's id tells nothing, not even a name.
        hidden = await live.http.get(f"/doctors/{patient.user_id}/presence")
        assert hidden.status_code == 404
        assert "Test person" not in hidden.text
