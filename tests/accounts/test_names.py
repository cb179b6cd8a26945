"""A name is never blank, whichever way it arrives: the command line refuses one, the database
holds the rule for any other writer, and names saved blank before are given one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.accounts.models import Role, User
from carebridge.accounts.service import create_admin
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.errors import Invalid
from carebridge.platform.migrate import upgrade
from tests.factories import PASSWORD, MakeUser
from tests.factories.databases import fresh_database


async def test_the_command_line_refuses_a_blank_admin_name(
    database: Database, settings: Settings
) -> None:
    async with database.transaction() as db:
        with pytest.raises(Invalid) as refused:
            await create_admin(
                db, settings, email="blank@admin.example", name=" \t ", password=PASSWORD
            )
    assert refused.value.error_code == "bad_name"
    async with database.transaction() as db:
        admin = await create_admin(
            db, settings, email="named@admin.example", name="  Ada Admin ", password=PASSWORD
        )
    assert admin.name == "Ada Admin"


async def test_the_database_refuses_a_blank_name(database: Database, make_user: MakeUser) -> None:
    user = await make_user(Role.patient)
    with pytest.raises(IntegrityError, match="ck_users_name_not_blank"):
        async with database.transaction() as db:
            await db.execute(update(User).where(User.id == user.id).values(name=" \n "))


async def test_the_migration_names_the_blank_ones(postgres_server_url: str) -> None:
    with fresh_database(postgres_server_url) as url:
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        try:
            await upgrade(engine, "0016_clinic_currency")
            async with engine.begin() as conn:  # written as the schema of 0015 is
                await conn.execute(
                    text(
                        "INSERT INTO users (id, email, name, role, status, password_hash) "
                        "VALUES (:id, 'jo.blank@x.example', '   ', 'patient', 'active', 'x')"
                    ),
                    {"id": uuid.uuid4()},
                )
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (name, prefix, key_hash, scopes) "
                        "VALUES (' ', 'abcd1234', '\\x00', '[]')"
                    )
                )
            await upgrade(engine)
            async with engine.connect() as conn:
                user = await conn.scalar(text("SELECT name FROM users"))
                key = await conn.scalar(text("SELECT name FROM api_keys"))
            assert (user, key) == ("jo.blank", "API key abcd1234")
        finally:
            await engine.dispose()
