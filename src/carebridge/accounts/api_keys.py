"""API keys for external systems (labs, pharmacies, other health systems).

A key looks like ``cbk_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole
key is compared in constant time. Callers send it as ``X-API-Key``. A route accepts keys only
where its caller says so, with the scope the key needs: ``ApiKeyOr(AnyUser,
scope=ApiKeyScope.appointments_read)`` (a user or a key) or ``ApiKeyCaller(scope)`` (keys only),
each the metadata of an ``Annotated`` caller type.
Every other route answers a key with 401 ``api_key_not_accepted``. A key is no person: it acts
as the integration it was issued to, and each domain's policy says what such a client sees.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor, Keys, any_user, bearer
from carebridge.accounts.hooks import record
from carebridge.accounts.models import ApiKey
from carebridge.platform.access import CALLER_PROBLEMS, answers, caller
from carebridge.platform.context import RequestContext
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Forbidden, NotFound, Unauthenticated
from carebridge.platform.inputs import not_blank
from carebridge.platform.runtime import Runtime

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (cbk_...)")
log = structlog.get_logger("carebridge.api_keys")


class ApiKeyScope(StrEnum):
    """What an integration may do with a key; each is accepted by the routes that declare it
    (``docs/security.md``, "API keys", lists them). A scope is added here only together with
    the routes that accept it."""

    # The clinic's appointments without the reason for the visit, and doctors' open slots.
    appointments_read = "appointments:read"


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, not_blank(120)]
    scopes: list[ApiKeyScope] = Field(min_length=1, max_length=20)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    last_used_ip: str | None = Field(description="Where the key was last used from.")
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself, shown this once.")


@dataclass(frozen=True)
class ApiClient:
    key_id: uuid.UUID
    name: str
    scopes: frozenset[str]


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def issue_key(
    db: AsyncSession,
    name: str,
    scopes: Iterable[str],
    *,
    created_by: uuid.UUID | None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key row and the key itself (which only its hash keeps)."""
    prefix = secrets.token_hex(4)
    key = f"cbk_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name.strip(),
        prefix=prefix,
        key_hash=_hash(key),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    await db.refresh(row)
    return row, key


async def create_key(
    db: AsyncSession, actor: Actor, body: ApiKeyCreate, context: RequestContext
) -> ApiKeyCreated:
    expires_at = (
        datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    )
    row, key = await issue_key(
        db,
        body.name,
        (str(scope) for scope in body.scopes),
        created_by=actor.id,
        expires_at=expires_at,
    )
    await record(
        db,
        action="admin.api_key_created",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="api_key",
        resource_id=row.id,
        context=context,
        scopes=row.scopes,
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)


async def list_keys(db: AsyncSession) -> list[ApiKey]:
    return list((await db.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).all())


async def revoke_key(
    db: AsyncSession, actor: Actor, key_id: uuid.UUID, context: RequestContext
) -> None:
    revoked = await db.scalar(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(ApiKey.id)
    )
    if revoked is None:
        raise NotFound("No such active API key.")
    await record(
        db,
        action="admin.api_key_revoked",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="api_key",
        resource_id=key_id,
        context=context,
    )


async def authenticate_key(db: AsyncSession, key: str, ip: str | None) -> ApiClient:
    """The client of a live key, its use noted (at most once a minute, or when the IP changes)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cbk":
        raise Unauthenticated("The API key is not valid.", code="invalid_api_key")
    now = datetime.now(UTC)
    row = await db.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if (
        row is None
        or not hmac.compare_digest(row.key_hash, _hash(key))
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise Unauthenticated("The API key is not valid.", code="invalid_api_key")
    await db.execute(
        update(ApiKey)
        .where(
            ApiKey.id == row.id,
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at < now - timedelta(minutes=1),
                ApiKey.last_used_ip.is_distinct_from(ip),
            ),
        )
        .values(last_used_at=now, last_used_ip=ip)
    )
    return ApiClient(key_id=row.id, name=row.name, scopes=frozenset(row.scopes))


async def _api_client(
    request: Request, db: AsyncSession, runtime: Runtime, key: str, scope: ApiKeyScope
) -> ApiClient:
    ip = request.client.host if request.client else None
    client = await authenticate_key(db, key, ip)
    await runtime.ratelimiter.hit(
        runtime.settings.api_key_rate_limit,
        "api-key",
        str(client.key_id),
        detail="Too many requests with this API key; slow down.",
    )
    log.info(
        "api_key.used",
        key_id=str(client.key_id),  # not "api_key_*": the log redacts such fields
        key_name=client.name,
        scope=str(scope),
        method=request.method,
        path=request.url.path,
        ip=ip,
        allowed=scope in client.scopes,
    )
    if scope not in client.scopes:
        raise Forbidden(f"This API key lacks the scope {scope}.", code="missing_scope")
    return client


# What a route open to keys answers for a key before it runs, beside its user caller's problems.
_KEY_PROBLEMS = ((401, "invalid_api_key"), (403, "missing_scope"))


def ApiKeyCaller(scope: ApiKeyScope) -> Any:
    """``Annotated[ApiClient, ApiKeyCaller(scope)]``: a route open to API keys holding ``scope``
    only."""

    async def api_key_caller(
        request: Request,
        db: Session,
        runtime: RuntimeDep,
        key: Annotated[str | None, Depends(_header)],
    ) -> ApiClient:
        if not key:
            raise Unauthenticated(
                "Send the API key in the X-API-Key header.", code="invalid_api_key"
            )
        return await _api_client(request, db, runtime, key, scope)

    caller(api_key_caller, api_key_scope=scope)
    answers(*_KEY_PROBLEMS)(api_key_caller)
    return Depends(api_key_caller)


# The user callers ``ApiKeyOr`` can wrap take these parameters (see accounts/actors.py).
_ROLE_CHECK_PARAMETERS = {"actor", "runtime"}


def ApiKeyOr(user: Any, *, scope: ApiKeyScope) -> Any:
    """``Annotated[Actor | ApiClient, ApiKeyOr(AnyUser, scope=...)]``: the user of ``user`` (for
    example ``AnyUser``), or an API key holding ``scope`` when the request sends ``X-API-Key``
    (the key wins when both are sent). The route's service decides what a key may see."""
    check = user.__metadata__[0].dependency
    parameters = set(inspect.signature(check).parameters)
    if check is not any_user and not parameters <= _ROLE_CHECK_PARAMETERS:
        raise TypeError(f"ApiKeyOr cannot wrap {check.__name__}: it takes {sorted(parameters)}")

    async def user_or_api_key(
        request: Request,
        db: Session,
        keys: Keys,
        runtime: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        key: Annotated[str | None, Depends(_header)],
    ) -> Actor | ApiClient:
        if key:
            return await _api_client(request, db, runtime, key, scope)
        actor = await any_user(request, db, keys, credentials)
        if check is any_user:
            return actor
        available = {"actor": actor, "runtime": runtime}
        checked: Actor = await check(**{name: available[name] for name in parameters})
        return checked

    user_or_api_key.__name__ = f"{check.__name__}_or_api_key"
    caller(user_or_api_key, api_key_scope=scope)
    answers(*CALLER_PROBLEMS.get(check, frozenset()), *_KEY_PROBLEMS)(user_or_api_key)
    return Depends(user_or_api_key)
