"""How frames reach one socket without making a broadcast wait for it.

``TransportSink`` writes the pre-encoded frame straight to the connection's transport when the
server is uvicorn's websockets-sansio protocol (what ``carebridge serve`` runs): one
``transport.write`` per socket, no task, no await, no per-socket encoding. Any other ASGI server
gets ``QueueSink``: a bounded queue and one writer task per connection (never one per send).
Either way a client whose buffer stays full is reported slow and dropped by the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from carebridge.platform.middleware import SERVER_SEND_KEY


class Sink(Protocol):
    def write(self, frame: bytes, payload: bytes) -> bool:
        """Queue a frame; False when the client is too slow and must be dropped."""
        ...

    def abort(self) -> None:
        """Cut the connection at once (a stuck client)."""
        ...

    async def aclose(self) -> None: ...


class TransportSink:
    def __init__(self, protocol: Any, buffer_limit: int, slow_seconds: float) -> None:
        self.protocol = protocol
        self.transport: asyncio.Transport = protocol.transport
        self.limit = buffer_limit
        self.slow_seconds = slow_seconds
        self.full_since: float | None = None

    def write(self, frame: bytes, payload: bytes) -> bool:
        protocol = self.protocol
        if protocol.close_sent or protocol.disconnected or self.transport.is_closing():
            return True  # closing: the connection's own loop removes it
        pending = self.transport.get_write_buffer_size()
        if pending > self.limit:
            now = time.monotonic()
            if self.full_since is None:
                self.full_since = now
            elif now - self.full_since > self.slow_seconds or pending > 4 * self.limit:
                return False
        else:
            self.full_since = None
        self.transport.write(frame)
        return True

    def abort(self) -> None:
        self.transport.abort()

    async def aclose(self) -> None:
        return None


def server_protocol(scope: Mapping[str, Any]) -> Any | None:
    """uvicorn's sansio protocol behind this connection, if that is what serves it and it
    negotiated no extension (a compressed connection must go through the server)."""
    send = scope.get(SERVER_SEND_KEY)
    protocol = getattr(send, "__self__", None)
    if protocol is None or type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    connection = getattr(protocol, "conn", None)
    if getattr(connection, "extensions", None) != [] or not hasattr(protocol, "transport"):
        return None
    return protocol


class QueueSink:
    def __init__(
        self,
        send_text: Callable[[str], Awaitable[None]],
        max_frames: int,
        abort: Callable[[], None],
    ) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(max_frames)
        self.send_text = send_text
        self._abort = abort
        self.pump = asyncio.create_task(self._pump())

    def write(self, frame: bytes, payload: bytes) -> bool:
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            return False
        return True

    async def _pump(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                payload = await self.queue.get()
                await self.send_text(payload.decode())

    def abort(self) -> None:
        self.pump.cancel()
        self._abort()

    async def aclose(self) -> None:
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pump
