"""ICE servers for a call, with TURN credentials in coturn's REST scheme (``use-auth-secret``):
the user name is ``<expiry as Unix seconds>:<user id>`` and the password the base64 HMAC-SHA1 of
that name under the secret CareBridge shares with coturn. coturn refuses the name once its expiry
has passed, and a password signed with any other secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime

from pydantic import BaseModel


class IceServer(BaseModel):
    """One entry of ``RTCConfiguration.iceServers``."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def turn_username(user_id: uuid.UUID, expires_at: datetime) -> str:
    return f"{int(expires_at.timestamp())}:{user_id}"


def ice_servers(
    stun_urls: list[str],
    turn_urls: list[str],
    secret: str | None,
    user_id: uuid.UUID,
    expires_at: datetime,
) -> list[IceServer]:
    """The STUN servers as they are, and the TURN servers with a credential for ``user_id``
    that lapses at ``expires_at``. No TURN server is offered without a secret."""
    servers = [IceServer(urls=stun_urls)] if stun_urls else []
    if turn_urls and secret:
        username = turn_username(user_id, expires_at)
        password = turn_password(secret, username)
        servers.append(IceServer(urls=turn_urls, username=username, credential=password))
    return servers
