"""Frames on the wire: JSON envelopes ``{type, topic, event, data, seq}``.

An event is serialised once by its publisher into a *prefix* that ends with ``"seq":``; the broker
appends the topic's sequence number (so every process and every socket gets the same bytes), and
each process encodes the WebSocket frame once per broadcast.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.frames import Frame, Opcode


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_prefix(topic: str, event: str, data: dict[str, Any]) -> bytes:
    return (
        b'{"type":"event","topic":'
        + _dumps(topic)
        + b',"event":'
        + _dumps(event)
        + b',"data":'
        + _dumps(data)
        + b',"seq":'
    )


def complete(prefix: bytes, seq: int) -> bytes:
    return prefix + str(seq).encode() + b"}"


def message(kind: str, **fields: Any) -> bytes:
    """A frame for one socket: ``snapshot``, ``error``, ``pong``, ``subscribed``, ..."""
    return _dumps({"type": kind, **fields})


def wire_frame(payload: bytes) -> bytes:
    """The WebSocket text frame as the server sends it (unmasked, uncompressed)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
