from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.platform.migrate import current_revision, head_revision, model_differences


async def test_database_is_migrated_to_head(engine: AsyncEngine) -> None:
    assert head_revision() is not None
    assert await current_revision(engine) == head_revision()


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    differences = await model_differences(engine)
    assert differences == [], (
        "models and migrations differ; write a migration with "
        f"`carebridge makemigration -m ...` and review it: {differences}"
    )
