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


# A client says little: subscribe, unsubscribe, ping, pong, a message, a call's signal (a WebRTC
# offer with audio, video and a shared screen is 4-9 KB of SDP). Anything larger or deeper is
# refused before it is parsed (json.loads recurses once per level: 50,000 nested arrays raise
# RecursionError).
MAX_CLIENT_FRAME_CHARS = 16384
MAX_CLIENT_FRAME_DEPTH = 8


def nesting_depth(text: str) -> int:
    """How deeply JSON arrays and objects nest in ``text`` (brackets inside strings do not
    count), stopping as soon as it passes :data:`MAX_CLIENT_FRAME_DEPTH`."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_CLIENT_FRAME_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def client_frame(text: str) -> dict[str, Any] | None:
    """The client's frame as an object with a ``type``, or None when it is not one (not JSON,
    not an object, too large or too deep)."""
    if len(text) > MAX_CLIENT_FRAME_CHARS or nesting_depth(text) > MAX_CLIENT_FRAME_DEPTH:
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None
    return frame


def wire_frame(payload: bytes) -> bytes:
    """The WebSocket text frame as the server sends it (unmasked, uncompressed)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
