"""Web push to a local push service; the test decrypts what it received (RFC 8291)."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from carebridge.config import Settings
from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel, Delivery, DeliveryStatus, PushSubscription
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from tests.factories import SignIn, work

PUSHED = register_kind(
    Kind("test_push", "Test pushes", defaults=frozenset({Channel.in_app, Channel.push}))
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushService:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.reply = 201


@pytest.fixture
def push_service() -> Iterator[tuple[PushService, str]]:
    state = PushService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers), body))
            self.send_response(state.reply)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def browser_keys() -> tuple[ec.EllipticCurvePrivateKey, str, bytes]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return private, b64(public), os.urandom(16)


async def test_push_is_encrypted_for_the_device_and_a_gone_device_is_removed(
    client: httpx.AsyncClient,
    database: Database,
    sign_in: SignIn,
    settings: Settings,
    push_service: tuple[PushService, str],
    jobs: None,
) -> None:
    service, base = push_service
    me = await sign_in()
    key = await client.get("/api/v1/push/vapid-public-key", headers=me.headers)
    assert key.status_code == 200
    assert len(base64.urlsafe_b64decode(key.json()["public_key"] + "==")) == 65
    private, p256dh, auth = browser_keys()
    subscribed = await client.post(
        "/api/v1/push/subscriptions",
        headers=me.headers,
        json={"endpoint": f"{base}/push/device-1", "keys": {"p256dh": p256dh, "auth": b64(auth)}},
    )
    assert subscribed.status_code == 201, subscribed.text

    async with database.transaction() as db:
        nid = await notify(
            db,
            me.user_id,
            PUSHED.name,
            "Dr Chen is online",
            "Tap to start a visit",
            link="/doctors/chen",
        )
    assert nid is not None
    await work(settings, database)
    ((headers, body),) = service.received
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    assert int(headers["ttl"]) > 0
    payload = json.loads(
        http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm")
    )
    assert payload["title"] == "Dr Chen is online"
    assert payload["link"] == "/doctors/chen"

    service.reply = 410
    async with database.transaction() as db:
        gone = await notify(db, me.user_id, PUSHED.name, "Again", "B")
    assert gone is not None
    await work(settings, database)
    async with database.sessionmaker() as db:
        left = await db.scalar(
            select(func.count())
            .select_from(PushSubscription)
            .where(PushSubscription.user_id == me.user_id)
        )
        row = await db.scalar(
            select(Delivery).where(
                Delivery.notification_id == gone, Delivery.channel == Channel.push
            )
        )
    assert left == 0
    assert row is not None
    assert row.status == DeliveryStatus.dead


async def test_subscriptions_belong_to_their_owner(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me, other = await sign_in(), await sign_in()
    _, p256dh, auth = browser_keys()
    sub = (
        await client.post(
            "/api/v1/push/subscriptions",
            headers=me.headers,
            json={
                "endpoint": "https://push.example.org/x",
                "keys": {"p256dh": p256dh, "auth": b64(auth)},
            },
        )
    ).json()
    assert (
        await client.delete(f"/api/v1/push/subscriptions/{sub['id']}", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/push/subscriptions/{sub['id']}", headers=me.headers)
    ).status_code == 204
    bad = await client.post(
        "/api/v1/push/subscriptions",
        headers=me.headers,
        json={"endpoint": "javascript:alert(1)", "keys": {"p256dh": p256dh, "auth": b64(auth)}},
    )
    assert bad.status_code == 422
