"""Cached listings: served from the cache, and dropped when what they show changes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.directory.service import NAMESPACE, listing_changed
from carebridge.platform.cache import Cache, MemoryBackend, RedisBackend, cache_of
from carebridge.platform.db import Database
from tests.factories import SignIn
from tests.factories.directory import DOCTOR, GOOD_DOCTOR, MakeDoctor, tag


async def found(client: httpx.AsyncClient, word: str, **params: object) -> list[str]:
    response = await client.get("/api/v1/doctors", params={"q": word, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def sneak_bio(database: Database, doctor_id: object, bio: str) -> None:
    """Change a profile behind the service's back: no invalidation."""
    async with database.transaction() as db:
        await db.execute(
            update(DoctorProfile).where(DoctorProfile.user_id == doctor_id).values(bio=bio)
        )


class TestListings:
    async def test_a_listing_is_served_from_the_cache(
        self, client: httpx.AsyncClient, database: Database, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        first = await make_doctor(bio=word)
        assert await found(client, word) == [str(first.id)]
        second = await make_doctor(bio="not yet")
        await sneak_bio(database, second.id, word)
        assert await found(client, word) == [str(first.id)], "the cached answer"
        assert len(await found(client, f"  {word.upper()} ")) == 1, "same normalised query"
        assert len(await found(client, word, limit=5)) == 2, "another query is not cached yet"

    async def test_a_profile_update_shows_at_once(
        self, client: httpx.AsyncClient, sign_in: SignIn, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        listed = await make_doctor(bio=word)
        admin = await sign_in(Role.admin)
        doctor = await sign_in(Role.doctor)
        await client.put(DOCTOR, json=GOOD_DOCTOR, headers=doctor.headers)
        await client.post(f"/api/v1/admin/doctors/{doctor.user_id}/verify", headers=admin.headers)
        assert await found(client, word) == [str(listed.id)]
        await client.put(DOCTOR, json={**GOOD_DOCTOR, "bio": word}, headers=doctor.headers)
        assert sorted(await found(client, word)) == sorted([str(listed.id), str(doctor.user_id)])

    async def test_a_verification_shows_at_once(
        self, client: httpx.AsyncClient, sign_in: SignIn, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        waiting = await make_doctor(bio=word, verified=False)
        admin = await sign_in(Role.admin)
        assert await found(client, word) == []
        await client.post(f"/api/v1/admin/doctors/{waiting.id}/verify", headers=admin.headers)
        assert await found(client, word) == [str(waiting.id)]

    async def test_listing_changed_drops_listings_after_commit_only(
        self, client: httpx.AsyncClient, database: Database, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        await make_doctor(bio=word)
        other = await make_doctor(bio="later")
        assert len(await found(client, word)) == 1
        await sneak_bio(database, other.id, word)

        async def change_then_fail() -> None:
            async with database.transaction() as db:
                listing_changed(db)
                raise RuntimeError("rolled back: nothing to drop")

        with pytest.raises(RuntimeError):
            await change_then_fail()
        assert len(await found(client, word)) == 1
        async with database.transaction() as db:
            listing_changed(db)  # what the presence domain calls on a status change
        assert len(await found(client, word)) == 2

    async def test_specialties_and_online_listings_are_cached_too(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        await client.get("/api/v1/specialties")
        await client.get("/api/v1/doctors/online")
        backend = cache_of(app).backend
        assert isinstance(backend, MemoryBackend)
        assert len(backend) == 2


class TestCache:
    async def test_entries_expire_and_the_size_is_bounded(self) -> None:
        backend = MemoryBackend(max_entries=2)
        cache = Cache(backend, ttl_seconds=0.05)
        calls: list[str] = []

        def producer(value: str) -> Callable[[], Awaitable[bytes]]:
            async def produce() -> bytes:
                calls.append(value)
                return value.encode()

            return produce

        assert await cache.get_or_set("ns", "a", producer("a1")) == b"a1"
        assert await cache.get_or_set("ns", "a", producer("a2")) == b"a1"
        await asyncio.sleep(0.06)
        assert await cache.get_or_set("ns", "a", producer("a3")) == b"a3"
        await cache.get_or_set("ns", "b", producer("b"))
        await cache.get_or_set("ns", "c", producer("c"))
        assert len(backend) == 2  # "a" was the least recently used
        assert calls == ["a1", "a3", "b", "c"]

    async def test_concurrent_misses_share_one_computation(self) -> None:
        cache = Cache(MemoryBackend(100), ttl_seconds=30)
        calls = 0

        async def slow() -> bytes:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return b"answer"

        answers = await asyncio.gather(*(cache.get_or_set("ns", "k", slow) for _ in range(20)))
        assert answers == [b"answer"] * 20
        assert calls == 1

    async def test_a_failed_computation_is_not_shared(self) -> None:
        cache = Cache(MemoryBackend(100), ttl_seconds=30)

        async def failing() -> bytes:
            await asyncio.sleep(0.01)
            raise ValueError("bad input")

        async def fine() -> bytes:
            return b"ok"

        results = await asyncio.gather(
            cache.get_or_set("ns", "k", failing),
            cache.get_or_set("ns", "k", fine),
            return_exceptions=True,
        )
        assert isinstance(results[0], ValueError)
        assert results[1] == b"ok"

    async def test_a_ttl_of_zero_turns_the_cache_off(self) -> None:
        cache = Cache(MemoryBackend(100), ttl_seconds=0)
        values = iter([b"1", b"2"])

        async def produce() -> bytes:
            return next(values)

        assert await cache.get_or_set("ns", "k", produce) == b"1"
        assert await cache.get_or_set("ns", "k", produce) == b"2"


@pytest.mark.redis
class TestRedis:
    async def test_processes_share_entries_and_invalidations(self) -> None:
        from redis.asyncio import Redis

        url = os.environ["CAREBRIDGE_REDIS_URL"]
        one, two = Redis.from_url(url), Redis.from_url(url)
        prefix = f"carebridge-test:{tag()}:"
        first = Cache(RedisBackend(one, prefix), ttl_seconds=30)
        second = Cache(RedisBackend(two, prefix), ttl_seconds=30)

        async def produce(value: bytes) -> bytes:
            return value

        try:
            assert await first.get_or_set(NAMESPACE, "k", lambda: produce(b"v1")) == b"v1"
            assert await second.get_or_set(NAMESPACE, "k", lambda: produce(b"v2")) == b"v1"
            await first.invalidate(NAMESPACE)
            assert await second.get_or_set(NAMESPACE, "k", lambda: produce(b"v3")) == b"v3"
            assert await first.get_or_set(NAMESPACE, "k", lambda: produce(b"v4")) == b"v3"
        finally:
            async for key in one.scan_iter(f"{prefix}*"):
                await one.delete(key)
            await one.aclose()
            await two.aclose()

    async def test_listings_through_redis_show_changes_at_once(
        self, settings: Settings, database: Database, make_doctor: MakeDoctor
    ) -> None:
        redis_settings = settings.model_copy(
            update={"redis_url": os.environ["CAREBRIDGE_REDIS_URL"]}
        )
        app = create_app(redis_settings, database=database)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client,
        ):
            assert isinstance(cache_of(app).backend, RedisBackend)
            word = tag()
            first = await make_doctor(bio=word)
            waiting = await make_doctor(bio=word, verified=False)
            assert await found(client, word) == [str(first.id)]
            await sneak_bio(database, first.id, f"{word} changed")
            assert await found(client, word) == [str(first.id)]  # served by Redis
            async with database.transaction() as db:
                await db.execute(
                    update(DoctorProfile)
                    .where(DoctorProfile.user_id == waiting.id)
                    .values(verified_at=DoctorProfile.created_at)
                )
                listing_changed(db)
            assert sorted(await found(client, word)) == sorted([str(first.id), str(waiting.id)])
