"""The call API's bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from carebridge.video.turn import IceServer


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdmitIn(_In):
    participant_id: uuid.UUID = Field(description="The waiting peer to let in.")


class InviteIn(_In):
    user_id: uuid.UUID = Field(description="An active nurse or doctor of the clinic.")


class LeaveIn(_In):
    participant_id: uuid.UUID | None = Field(
        default=None, description="Your peer that leaves; your live one when left out."
    )


class StatsIn(_In):
    """One sample of ``RTCPeerConnection.getStats()``, every few seconds while in the call (it
    also tells CareBridge the member is still there). Every measure may be left out."""

    participant_id: uuid.UUID
    round_trip_ms: float | None = Field(default=None, ge=0, le=60_000)
    packet_loss: float | None = Field(
        default=None, ge=0, le=1, description="Fraction of the packets lost since the last."
    )
    frames_decoded: int | None = Field(default=None, ge=0, le=2**31 - 1)
    relayed: bool | None = Field(default=None, description="Media goes through a TURN relay.")


class ParticipantOut(BaseModel):
    id: uuid.UUID = Field(description="The peer id: signals are addressed to it.")
    user_id: uuid.UUID
    name: str
    role: str
    state: str = Field(description="waiting, in_call or left")
    joined_at: datetime
    admitted_at: datetime | None
    left_at: datetime | None
    left_reason: str | None


class QualityOut(BaseModel):
    """What a member's client reported, summed up."""

    samples: int
    round_trip_ms_avg: float | None
    round_trip_ms_max: float | None
    packet_loss_max: float | None
    frames_decoded: int | None = Field(description="The highest count reported (a counter).")
    relayed: bool | None


class RecordEntry(ParticipantOut):
    seconds: float = Field(description="Time in the call (admitted to left, or now).")
    quality: QualityOut


class CallRecord(BaseModel):
    """Who joined and left when, how long, whether it was relayed and how it went: the
    appointment's doctor reads it."""

    connected_at: datetime | None
    ended_at: datetime | None
    seconds: float
    relayed: bool
    participants: list[RecordEntry]


class CallOut(BaseModel):
    appointment_id: uuid.UUID
    opens_at: datetime
    closes_at: datetime = Field(description="Or earlier, when the appointment is completed.")
    open: bool = Field(description="Whether members may join now.")
    ended_at: datetime | None
    participants: list[ParticipantOut] = Field(description="Those waiting or in the call now.")
    you: ParticipantOut | None = Field(description="Your live peer, if you joined.")
    record: CallRecord | None = Field(description="For the appointment's doctor only.")


class IceOut(BaseModel):
    ice_servers: list[IceServer] = Field(description="RTCConfiguration.iceServers")
    ice_transport_policy: str = Field(
        description="RTCConfiguration.iceTransportPolicy: 'all', or 'relay' (TURN only)."
    )
    credentials_expire_at: datetime


class JoinOut(IceOut):
    participant: ParticipantOut = Field(description="Your peer in this call.")
    call: CallOut
    topics: list[str] = Field(
        description="Subscribe to both: the room's events, and the signals sent to your peer."
    )
