"""The signaling protocol of docs/calls.md over a real server and a real coturn, with WebRTC
peers that are not browsers (aiortc, tests/factories/webrtc_peer.py): media flows both ways
through the TURN relay (the server hands out ``relay`` as the ICE transport policy), signals
pass only between two peers in the same call, and a reload's new peer gets the media back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import Role
from carebridge.scheduling.models import Appointment
from tests.factories.realtime import Live, Member, serving, subscribe
from tests.factories.scheduling import written_appointment
from tests.factories.turn import TurnServer
from tests.factories.webrtc_peer import CallPeer

FRAMES = 30  # a second of video at 30 frames per second
MARK = "not-for-you"  # the sdpMid of signals that must go nowhere
QUIET = 0.5  # how long a socket that must get nothing is watched


@dataclass
class Appointments:
    """Two video appointments whose rooms are open now, each of its own patient and doctor."""

    live: Live
    first: tuple[str, Member, Member]  # appointment id, patient, doctor
    second: tuple[str, Member, Member]
    peers: list[CallPeer]

    def peer(self, member: Member, appointment_id: str, name: str) -> CallPeer:
        peer = CallPeer(self.live.url, member.headers, appointment_id, name=name)
        self.peers.append(peer)
        return peer


@pytest.fixture
async def live(
    database_url: str, tmp_path: Path, engine: AsyncEngine, turn_server: TurnServer
) -> AsyncIterator[Live]:
    """The application served by uvicorn, handing out the test coturn, relay only."""
    async with serving(
        database_url,
        tmp_path,
        turn_urls=turn_server.urls,
        turn_secret=SecretStr(turn_server.secret),
        call_ice_transport_policy="relay",
    ) as served:
        yield served
        async with served.database.transaction() as db:  # before the people go
            made = served.made
            await db.execute(
                delete(Appointment).where(
                    or_(Appointment.patient_id.in_(made), Appointment.doctor_id.in_(made))
                )
            )


async def _appointment(live: Live, n: int) -> tuple[str, Member, Member]:
    patient = await live.member(Role.patient, f"Pat {n}")
    doctor = await live.doctor(f"Dr. Call {n}")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    row = written_appointment(doctor.user_id, patient.user_id, "scheduled", starts)
    async with live.database.transaction() as db:
        db.add(row)
    return str(row.id), patient, doctor


@pytest.fixture
async def calls(live: Live) -> AsyncIterator[Appointments]:
    found = Appointments(live, await _appointment(live, 1), await _appointment(live, 2), [])
    yield found
    await asyncio.gather(*(peer.close() for peer in found.peers), return_exceptions=True)


async def _in_call(calls: Appointments) -> tuple[CallPeer, CallPeer]:
    """The patient joins and waits, the doctor joins and admits them."""
    appointment_id, patient_member, doctor_member = calls.first
    patient = calls.peer(patient_member, appointment_id, "patient")
    assert (await patient.join())["participant"]["state"] == "waiting"
    doctor = calls.peer(doctor_member, appointment_id, "doctor")
    assert (await doctor.join())["participant"]["state"] == "in_call"
    await doctor.admit(patient.peer_id)
    return patient, doctor


def _marked(frame: dict[str, Any]) -> bool:
    return frame.get("event") == "signal" and frame["data"]["data"].get("sdpMid") == MARK


async def _nothing_reaches(*peers: CallPeer) -> None:
    await asyncio.sleep(QUIET)
    for peer in peers:
        assert [e for e in peer.events if _marked(e)] == [], peer.name


def _refused(answer: dict[str, Any], code: str) -> None:
    assert answer["type"] == "error", answer
    assert (answer["code"], answer["of"]) == (code, "signal"), answer


CANDIDATE = {"candidate": "", "sdpMid": MARK, "sdpMLineIndex": 0}


class TestMedia:
    async def test_media_flows_both_ways_through_the_relay(
        self, calls: Appointments, turn_server: TurnServer
    ) -> None:
        patient, doctor = await _in_call(calls)

        assert await patient.frames_from(doctor.peer_id, FRAMES) >= FRAMES
        assert await doctor.frames_from(patient.peer_id, FRAMES) >= FRAMES
        assert patient.join_answer["ice_transport_policy"] == "relay"
        for peer, other in ((patient, doctor), (doctor, patient)):
            gathered = peer.local_candidates(other.peer_id)
            assert {c.type for c in gathered} == {"relay"}, peer.name
            assert all(c.port in turn_server.relay_ports for c in gathered), peer.name
            assert peer.selected_pair(other.peer_id) == ("relay", "relay"), peer.name
        sent = {p.name: await p.post_stats() for p in (patient, doctor)}

        record = (await doctor.call())["record"]
        assert record["relayed"] is True
        assert record["connected_at"] is not None
        by_peer = {entry["id"]: entry["quality"] for entry in record["participants"]}
        for peer in (patient, doctor):
            quality = by_peer[peer.peer_id]
            assert quality["samples"] >= 1
            assert quality["relayed"] is True
            assert quality["frames_decoded"] >= sent[peer.name]["frames_decoded"] >= FRAMES
        assert (await patient.call())["record"] is None  # the doctor's to read


class TestRefusals:
    async def test_only_members_read_the_room_and_only_its_peer_its_signals(
        self, calls: Appointments
    ) -> None:
        live = calls.live
        appointment_id, _, _ = calls.first
        patient, doctor = await _in_call(calls)
        stranger = await live.member(Role.patient, "Not in it")
        socket = await live.open(stranger)
        try:
            frames = await subscribe(socket, f"call.{appointment_id}")
            assert frames[-1]["type"] == "error"
            assert frames[-1]["code"] == "forbidden_topic"
            assert [f["type"] for f in frames] == ["error"]  # no snapshot
        finally:
            await socket.close()
        for reader, owner in ((doctor, patient), (patient, doctor)):
            answer = await reader.send_frame(
                {"type": "subscribe", "topic": f"call.{appointment_id}.{owner.peer_id}"}
            )
            assert (answer["type"], answer["code"]) == ("error", "forbidden_topic"), answer

    async def test_signals_pass_only_between_two_peers_in_the_call(
        self, calls: Appointments
    ) -> None:
        appointment_id, patient_member, doctor_member = calls.first
        patient = calls.peer(patient_member, appointment_id, "patient")
        await patient.join()
        doctor = calls.peer(doctor_member, appointment_id, "doctor")
        await doctor.join()
        # A waiting peer signals nobody, and nobody signals it.
        _refused(await patient.signal(doctor.peer_id, "candidate", CANDIDATE), "not_in_call")
        _refused(await doctor.signal(patient.peer_id, "candidate", CANDIDATE), "not_in_call")
        # A peer that is no one's.
        _refused(await doctor.signal(str(uuid.uuid4()), "candidate", CANDIDATE), "not_in_call")
        await doctor.admit(patient.peer_id)
        await patient.event(lambda e: e.get("event") == "participant.joined")

        # Someone else's peer id as `from`.
        forged = await patient.signal(
            patient.peer_id, "candidate", CANDIDATE, **{"from": doctor.peer_id}
        )
        _refused(forged, "not_in_call")

        # A peer of another call, named with either appointment.
        other_id, _, other_doctor_member = calls.second
        other = calls.peer(other_doctor_member, other_id, "other doctor")
        await other.join()
        _refused(await patient.signal(other.peer_id, "candidate", CANDIDATE), "not_in_call")
        _refused(
            await patient.signal(other.peer_id, "candidate", CANDIDATE, appointment_id=other_id),
            "not_in_call",
        )
        _refused(await other.signal(doctor.peer_id, "candidate", CANDIDATE), "not_in_call")
        await _nothing_reaches(patient, doctor, other)

        # What passes: a signal between the two peers in the call.
        answer = await patient.signal(doctor.peer_id, "candidate", CANDIDATE)
        assert answer == {"type": "ack", "of": "signal", "delivered": True, "id": answer["id"]}
        got = await doctor.event(_marked)
        assert got["topic"] == f"call.{appointment_id}.{doctor.peer_id}"
        assert got["data"]["from"] == patient.peer_id
        assert got["data"]["user_id"] == str(patient_member.user_id)

        # A peer that left.
        left = await patient.http.post(
            f"{patient.url}/leave", json={"participant_id": patient.peer_id}
        )
        assert left.status_code == 200, left.text
        await doctor.event(lambda e: e.get("event") == "participant.left")
        seen = len([e for e in doctor.events if _marked(e)])
        _refused(await patient.signal(doctor.peer_id, "candidate", CANDIDATE), "not_in_call")
        _refused(await doctor.signal(patient.peer_id, "candidate", CANDIDATE), "not_in_call")
        await asyncio.sleep(QUIET)
        assert len([e for e in doctor.events if _marked(e)]) == seen

    async def test_malformed_signals_are_bad_frames(self, calls: Appointments) -> None:
        patient, doctor = await _in_call(calls)
        bogus = await patient.signal(doctor.peer_id, "bogus", CANDIDATE)
        frame = {
            "type": "signal",
            "appointment_id": patient.appointment_id,
            "from": patient.peer_id,
            "kind": "candidate",
            "data": CANDIDATE,
        }
        no_recipient = await patient.send_frame(frame)
        not_an_id = await patient.signal("doctor", "candidate", CANDIDATE)
        for answer in (bogus, no_recipient, not_an_id):
            assert (answer["type"], answer["code"], answer["of"]) == (
                "error",
                "bad_frame",
                "signal",
            ), answer
        await _nothing_reaches(doctor)


class TestReload:
    async def test_a_reloaded_peer_gets_the_media_back(self, calls: Appointments) -> None:
        appointment_id, patient_member, _ = calls.first
        before, doctor = await _in_call(calls)
        await doctor.frames_from(before.peer_id, FRAMES)
        await before.close()  # the page goes away without leaving

        after = calls.peer(patient_member, appointment_id, "patient reloaded")
        assert (await after.join())["participant"]["state"] == "in_call"  # no second wait
        assert after.peer_id != before.peer_id

        assert await after.frames_from(doctor.peer_id, FRAMES) >= FRAMES
        assert await doctor.frames_from(after.peer_id, FRAMES) >= FRAMES
        left = await doctor.event(
            lambda e: (
                e.get("event") == "participant.left"
                and e["data"]["participant_id"] == before.peer_id
            )
        )
        assert left["data"]["reason"] == "rejoined"
        await doctor.wait_for(lambda: before.peer_id not in doctor.remotes, timeout=5)
        assert set(doctor.remotes) == {after.peer_id}
        assert after.selected_pair(doctor.peer_id) == ("relay", "relay")
