"""A WebRTC peer that is not a browser: one member's side of a call, speaking the protocol of
docs/calls.md with aiortc, through the public API and the WebSocket only.

``CallPeer`` joins (``POST .../call/join``), opens the gateway's socket with a ticket,
subscribes to both topics of the join answer, offers to everyone in the call when it comes in
(its join answered ``in_call``, or ``participant.joined`` with its own id), answers offers,
takes ``candidate`` signals (a browser trickles them; aiortc puts its own in the SDP and sends
none), closes a connection on ``participant.left`` or ``hangup``, sends a synthetic video track
and counts the frames it receives from each remote peer. ``post_stats`` reports quality (every
``stats_every`` seconds, 5 by default, as a client does); ``leave`` hangs up.

The ICE configuration is the join answer's: its ICE servers (aiortc uses one STUN and one TURN
URL, the first ``turn:`` with transport udp or tcp) and its ``ice_transport_policy``, which aiortc
1.16 honours: with ``relay`` it gathers relayed candidates only (no host or server-reflexive
ones), so every candidate pair goes through the TURN server.

Nothing here knows who is on the other side: an aiortc peer or a browser."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame
from websockets.asyncio.client import ClientConnection, connect

log = logging.getLogger(__name__)


class SyntheticVideo(VideoStreamTrack):
    """Small frames (160x120, 30 per second) whose brightness changes with each frame: cheap to
    encode, and never the same picture twice."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(self.width, self.height, "yuv420p")
        luma = (16 + self.sent * 3) % 220
        for index, plane in enumerate(frame.planes):
            value = luma if index == 0 else 128
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


@dataclass
class Remote:
    """This peer's connection with one other peer of the call."""

    peer_id: str
    connection: RTCPeerConnection
    lock: asyncio.Lock
    offerer: bool


def ice_configuration(join: dict[str, Any]) -> RTCConfiguration:
    """``RTCConfiguration`` of a join (or pre-call check) answer."""
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in join["ice_servers"]
    ]
    policy = RTCIceTransportPolicy(join.get("ice_transport_policy", "all"))
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


def ice_candidate(data: dict[str, Any]) -> RTCIceCandidate | None:
    """An ``RTCIceCandidate`` of a ``candidate`` signal (``RTCIceCandidate.toJSON()``); None
    for the end-of-candidates one (an empty ``candidate``)."""
    line = str(data.get("candidate") or "")
    if not line:
        return None
    candidate = candidate_from_sdp(line.removeprefix("a=").removeprefix("candidate:"))
    candidate.sdpMid = data.get("sdpMid")
    candidate.sdpMLineIndex = data.get("sdpMLineIndex")
    return candidate


class CallPeer:
    """One member's peer in the call of appointment ``appointment_id`` on the server at
    ``base_url``, signed in with bearer ``headers``."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        appointment_id: str | uuid.UUID,
        *,
        name: str = "peer",
        video: Callable[[], MediaStreamTrack] = SyntheticVideo,
        stats_every: float | None = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.appointment_id = str(appointment_id)
        self.name = name
        self.video = video
        self.stats_every = stats_every  # seconds between quality samples (None: never)
        self.http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10)
        self.join_answer: dict[str, Any] = {}
        self.peer_id = ""
        self.state = ""
        self.socket: ClientConnection | None = None
        self.remotes: dict[str, Remote] = {}
        self.frames: Counter[str] = Counter()  # frames received, by remote peer id
        self.events: list[dict[str, Any]] = []  # every event frame received, in order
        self.errors: list[dict[str, Any]] = []  # error frames nobody waited for
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    # -- the API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"/api/v1/appointments/{self.appointment_id}/call"

    async def join(self) -> dict[str, Any]:
        """Join the call (waiting, or in it), open the socket and subscribe to both topics;
        offer to everyone in the call if this peer is in it already."""
        answer = await self.http.post(f"{self.url}/join")
        answer.raise_for_status()
        self.join_answer = answer.json()
        self.peer_id = self.join_answer["participant"]["id"]
        self.state = self.join_answer["participant"]["state"]
        await self._open()
        for topic in self.join_answer["topics"]:
            await self._subscribe(topic)
        if self.state == "in_call":
            await self._offer_to_everyone()
        if self.stats_every is not None:
            self._spawn(self._report_every(self.stats_every))
        return self.join_answer

    async def call(self) -> dict[str, Any]:
        """``GET .../call``: the room, and for its doctor the record."""
        answer = await self.http.get(self.url)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    async def admit(self, participant_id: str) -> None:
        answer = await self.http.post(f"{self.url}/admit", json={"participant_id": participant_id})
        answer.raise_for_status()

    async def post_stats(self) -> dict[str, Any]:
        """One quality sample of every connection: what a client posts every 5 s."""
        body: dict[str, Any] = {"participant_id": self.peer_id}
        body["frames_decoded"] = sum(self.frames.values())
        pairs = [self.selected_pair(peer) for peer in self.remotes]
        if any(pair is not None for pair in pairs):
            body["relayed"] = any(pair is not None and "relay" in pair for pair in pairs)
        round_trips = [rtt for peer in self.remotes if (rtt := await self._round_trip(peer))]
        if round_trips:
            body["round_trip_ms"] = 1000 * max(round_trips)
        answer = await self.http.post(f"{self.url}/stats", json=body)
        answer.raise_for_status()
        return body

    async def _report_every(self, seconds: float) -> None:
        """A sample every few seconds, waiting or not: it also says the member is still
        there (the sweep takes out a silent one)."""
        while self.state != "left":
            await asyncio.sleep(seconds)
            with contextlib.suppress(httpx.HTTPError):
                await self.post_stats()

    async def leave(self) -> None:
        """Hang up: ``POST .../call/leave``, then close everything."""
        self.state = "left"
        if self.peer_id:
            answer = await self.http.post(
                f"{self.url}/leave", json={"participant_id": self.peer_id}
            )
            answer.raise_for_status()
        await self.close()

    async def close(self) -> None:
        """Close the connections and the socket without leaving (a closed tab, a reload)."""
        for peer in list(self.remotes):
            await self._drop(peer)
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.aclose()

    # -- what tests (and a browser test) wait for ---------------------------------------------

    async def wait_for(self, ready: Callable[[], bool], timeout: float = 20) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(ready)

        await asyncio.wait_for(until(), timeout)

    async def frames_from(self, peer_id: str, count: int, timeout: float = 20) -> int:
        """Wait until ``count`` frames came from ``peer_id``; the number received."""
        await self.wait_for(lambda: self.frames[peer_id] >= count, timeout)
        return self.frames[peer_id]

    async def event(
        self, want: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        """The first event frame (received so far or later) that ``want`` accepts."""
        await self.wait_for(lambda: any(want(e) for e in self.events), timeout)
        return next(e for e in self.events if want(e))

    def selected_pair(self, peer_id: str) -> tuple[str, str] | None:
        """The types (local, remote) of the candidate pair in use with ``peer_id``, e.g.
        ``("relay", "relay")``; None before one is nominated. aiortc exposes no candidate-pair
        stats, so this reads aioice's nominated pair."""
        remote = self.remotes.get(peer_id)
        if remote is None:
            return None
        for transceiver in remote.connection.getTransceivers():
            ice = transceiver.receiver.transport.transport
            nominated = getattr(getattr(ice, "_connection", None), "_nominated", {})
            for pair in nominated.values():
                return (pair.local_candidate.type, pair.remote_candidate.type)
        return None

    def local_candidates(self, peer_id: str) -> list[RTCIceCandidate]:
        """The candidates this peer gathered for ``peer_id`` (with ``relay``: the addresses the
        TURN server relays from)."""
        remote = self.remotes[peer_id]
        gatherers = [
            transceiver.receiver.transport.transport.iceGatherer
            for transceiver in remote.connection.getTransceivers()
        ]
        return [c for gatherer in gatherers for c in gatherer.getLocalCandidates()]

    # -- the socket ---------------------------------------------------------------------------

    async def _open(self) -> None:
        ticket = await self.http.post("/api/v1/ws/ticket")
        ticket.raise_for_status()
        ws_url = self.base_url.replace("http", "ws", 1) + "/api/v1/ws"
        self.socket = await connect(f"{ws_url}?ticket={ticket.json()['ticket']}", open_timeout=5)
        self._reader = asyncio.create_task(self._read(self.socket))

    async def send_frame(self, frame: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Send a client frame with a fresh ``id``; its ``ack`` or ``error`` frame."""
        assert self.socket is not None, "join first"
        frame_id = uuid.uuid4().hex
        reply = asyncio.get_running_loop().create_future()
        self._replies[frame_id] = reply
        try:
            await self.socket.send(json.dumps({**frame, "id": frame_id}))
            return await asyncio.wait_for(reply, timeout)
        finally:
            self._replies.pop(frame_id, None)

    async def signal(
        self, to: str, kind: str, data: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        """A signal to peer ``to``; the server's answer (``ack`` or ``error``). ``extra``
        overrides fields of the frame (a test sends someone else's ``from``)."""
        frame = {
            "type": "signal",
            "appointment_id": self.appointment_id,
            "from": self.peer_id,
            "to": to,
            "kind": kind,
            "data": data,
            **extra,
        }
        return await self.send_frame(frame)

    async def _subscribe(self, topic: str) -> None:
        answer = await self.send_frame({"type": "subscribe", "topic": topic})
        if answer["type"] != "subscribed":
            raise AssertionError(f"{self.name}: subscribe {topic}: {answer}")

    async def _read(self, socket: ClientConnection) -> None:
        async for raw in socket:
            frame: dict[str, Any] = json.loads(raw)
            kind = frame["type"]
            if kind == "ping":
                await socket.send('{"type": "pong"}')
            elif kind in ("ack", "error", "subscribed") and frame.get("id") in self._replies:
                self._replies[frame["id"]].set_result(frame)
            elif kind == "error":
                self.errors.append(frame)
            elif kind in ("event", "snapshot"):
                self.events.append(frame)
                self._spawn(self._on_event(frame))
                await self._notify()

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # one bad signal must not stop the peer
                log.exception("%s: handling a frame failed", self.name)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the protocol -----------------------------------------------------------------------

    async def _on_event(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "event":
            return
        event, data = frame["event"], frame["data"]
        if event == "signal":
            await self._on_signal(data)
        elif event == "participant.joined" and data["id"] == self.peer_id:
            self.state = "in_call"
            await self._offer_to_everyone()
        elif event == "participant.left":
            if data["participant_id"] == self.peer_id:
                self.state = "left"
            await self._drop(data["participant_id"])
        elif event == "call.ended":
            for peer in list(self.remotes):
                await self._drop(peer)

    async def _offer_to_everyone(self) -> None:
        """Point 4 of the protocol: the peer that comes in offers to each peer in the call."""
        room = await self.call()
        for participant in room["participants"]:
            if participant["state"] == "in_call" and participant["id"] != self.peer_id:
                self._spawn(self._offer(participant["id"]))

    def _remote(self, peer_id: str, offerer: bool) -> Remote:
        """The connection with ``peer_id``, made with this peer's video track."""
        if peer_id in self.remotes:
            return self.remotes[peer_id]
        connection = RTCPeerConnection(ice_configuration(self.join_answer))
        connection.addTrack(self.video())
        remote = Remote(peer_id, connection, asyncio.Lock(), offerer)
        self.remotes[peer_id] = remote

        @connection.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._spawn(self._count(peer_id, track))

        return remote

    async def _count(self, peer_id: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.frames[peer_id] += 1
                await self._notify()

    async def _offer(self, peer_id: str) -> None:
        remote = self._remote(peer_id, offerer=True)
        async with remote.lock:
            # aiortc gathers every candidate in setLocalDescription: they are in the SDP.
            await remote.connection.setLocalDescription(await remote.connection.createOffer())
            await self._send_description(peer_id, remote.connection)

    async def _send_description(self, peer_id: str, connection: RTCPeerConnection) -> None:
        description = connection.localDescription
        data = {"type": description.type, "sdp": description.sdp}
        answer = await self.signal(peer_id, description.type, data)
        if answer["type"] != "ack":
            log.warning("%s: %s to %s refused: %s", self.name, description.type, peer_id, answer)

    async def _on_signal(self, signal: dict[str, Any]) -> None:
        sender, kind, data = signal["from"], signal["kind"], signal["data"]
        if kind == "hangup":
            await self._drop(sender)
            return
        if kind == "offer":
            remote = self._remote(sender, offerer=False)
        elif sender in self.remotes:
            remote = self.remotes[sender]
        else:
            return  # an answer or candidate of a connection already closed
        async with remote.lock:
            connection = remote.connection
            if kind in ("offer", "answer"):
                description = RTCSessionDescription(sdp=data["sdp"], type=data["type"])
                await connection.setRemoteDescription(description)
                if kind == "offer":
                    await connection.setLocalDescription(await connection.createAnswer())
                    await self._send_description(sender, connection)
            elif kind == "candidate":  # a trickled one; None: the end of the candidates
                await connection.addIceCandidate(ice_candidate(data))

    async def _drop(self, peer_id: str) -> None:
        remote = self.remotes.pop(peer_id, None)
        if remote is not None:
            await remote.connection.close()
            await self._notify()

    async def _round_trip(self, peer_id: str) -> float | None:
        """Seconds, from the RTCP reports of the other side (``remote-inbound-rtp``)."""
        remote = self.remotes.get(peer_id)
        if remote is None:
            return None
        report = await remote.connection.getStats()
        for stats in report.values():
            if getattr(stats, "type", "") == "remote-inbound-rtp":
                rtt = getattr(stats, "roundTripTime", None)
                if rtt:
                    return float(rtt)
        return None
