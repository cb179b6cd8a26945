"""API keys for external systems (labs, pharmacies, other health systems).

A key looks like ``cbk_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole
key is compared in constant time. Callers send it as ``X-API-Key``; routes declare
``ApiKeyCaller("scope:action")``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.hooks import record
from carebridge.accounts.models import ApiKey
from carebridge.platform.access import answers, caller
from carebridge.platform.context import RequestContext
from carebridge.platform.deps import Session
from carebridge.platform.errors import Forbidden, NotFound, Unauthenticated
from carebridge.platform.inputs import not_blank

SCOPE_PATTERN = r"^[a-z][a-z_]{1,30}:(read|write)$"
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (cbk_...)")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, not_blank(120)]
    scopes: list[str] = Field(min_length=1, max_length=20)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, scopes: list[str]) -> list[str]:
        for scope in scopes:
            if not re.match(SCOPE_PATTERN, scope):
                raise ValueError(f"scope {scope!r} must look like 'fhir:read'")
        return scopes


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
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


async def create_key(
    db: AsyncSession, actor: Actor, body: ApiKeyCreate, context: RequestContext
) -> ApiKeyCreated:
    prefix = secrets.token_hex(4)
    key = f"cbk_{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = (
        datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    )
    row = ApiKey(
        name=body.name.strip(),
        prefix=prefix,
        key_hash=_hash(key),
        scopes=sorted(set(body.scopes)),
        created_by=actor.id,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    await db.refresh(row)
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


async def authenticate_key(db: AsyncSession, key: str) -> ApiClient:
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
    # Note the use at most once a minute per key, not on every request.
    await db.execute(
        update(ApiKey)
        .where(
            ApiKey.id == row.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - timedelta(minutes=1)),
        )
        .values(last_used_at=now)
    )
    return ApiClient(key_id=row.id, name=row.name, scopes=frozenset(row.scopes))


def ApiKeyCaller(scope: str) -> Any:
    """``Annotated[ApiClient, ...]`` for a route open to API keys holding ``scope``."""

    @caller
    @answers((401, "invalid_api_key"), (403, "missing_scope"))
    async def api_key_caller(
        db: Session, key: Annotated[str | None, Depends(_header)]
    ) -> ApiClient:
        if not key:
            raise Unauthenticated(
                "Send the API key in the X-API-Key header.", code="invalid_api_key"
            )
        client = await authenticate_key(db, key)
        if scope not in client.scopes:
            raise Forbidden(f"This API key lacks the scope {scope}.", code="missing_scope")
        return client

    return Annotated[ApiClient, Depends(api_key_caller)]
