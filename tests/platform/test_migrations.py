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


async def test_concurrent_migrators_wait_for_each_other(owner_engine: AsyncEngine) -> None:
    import asyncio

    from sqlalchemy import func, select

    from carebridge.platform.migrate import MIGRATION_LOCK_KEY, upgrade

    async with owner_engine.connect() as holder:
        await holder.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
        waiting = asyncio.create_task(upgrade(owner_engine))
        done, _ = await asyncio.wait({waiting}, timeout=0.5)
        assert not done, "upgrade ran while another process held the migration lock"
        await holder.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
        await holder.commit()
    assert await asyncio.wait_for(waiting, timeout=30) == head_revision()


def test_the_quick_head_agrees_with_alembic() -> None:
    from carebridge.platform.migrate import alembic_head_revision

    assert head_revision() == alembic_head_revision()


# What a revision may import: the migration tools, the standard library and the platform's
# migration helpers. Values from live code (domain lists, settings, a library's schema) are
# copied into the revision, so a later change to them cannot change what an old revision does.
_REVISION_IMPORTS = frozenset({"alembic", "sqlalchemy", "structlog", "carebridge.platform.migrate"})


def test_revisions_import_no_live_values() -> None:
    import ast
    import sys
    from pathlib import Path

    import carebridge.platform.migrations as migrations

    versions = Path(migrations.__file__).parent / "versions"
    offending: dict[str, list[str]] = {}
    for revision in sorted(versions.glob("*.py")):
        tree = ast.parse(revision.read_text(encoding="utf-8"))
        imported = [
            name
            for node in ast.walk(tree)
            for name in (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
        ]
        allowed = [
            name
            for name in imported
            if name in _REVISION_IMPORTS
            or name.split(".")[0] in _REVISION_IMPORTS
            or name.split(".")[0] in sys.stdlib_module_names
            or name == "__future__"
        ]
        if wrong := sorted(set(imported) - set(allowed)):
            offending[revision.name] = wrong
    assert offending == {}
