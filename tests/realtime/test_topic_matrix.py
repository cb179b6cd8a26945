"""The authorization matrix's real-time part over real sockets: a running server (uvicorn, on a
database of the test's own), the owner's world made on it, and one WebSocket per actor. Every
topic rule registered with the gateway is walked (so a topic added later is covered): each
actor subscribes to the owner's topic; those the registry entitles (``TOPICS``; everyone signed
in for a ``PUBLIC_TOPICS`` one) get in, every other actor gets the ``forbidden_topic`` error
frame and nothing of the owner's. A topic the registry does not know fails with what to add."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection

from carebridge.platform.realtime.topics import HOOKS, Identity, TopicRule, register_topic
from tests.factories.directory import doctor_maker
from tests.factories.ownership import (
    PUBLIC_TOPICS,
    TOPICS,
    OwnerWorld,
    make_all,
    missing_topics,
    owner_topic,
    owner_world,
    private_words,
)
from tests.factories.passkeys import public_origin
from tests.factories.realtime import Live, serving, subscribe
from tests.factories.users import tokens_for, user_maker

Wrong = tuple[str, str, str, str]


@pytest.fixture
async def live_world(fresh_url: str, tmp_path: Path) -> AsyncIterator[tuple[Live, OwnerWorld]]:
    """A server on a database of this test's own (dropped afterwards), and the owner's world
    made on it through its API, every object of the registry included."""
    # The public URL the tests' passkeys answer for (a passkey is one of the registry's objects).
    async with serving(fresh_url, tmp_path, public_base_url=public_origin()) as live:
        make_user = user_maker(live.database)
        world = await owner_world(
            live.http,
            live.database,
            doctor_maker(live.database, make_user),
            make_user,
            tokens_for(live.database, live.app.state.runtime.settings),
        )
        await make_all(world)
        yield live, world


async def _sockets(live: Live, world: OwnerWorld) -> dict[str, ClientConnection]:
    sockets = {}
    for actor, person in world.people.items():
        answer = await live.http.post("/api/v1/ws/ticket", headers=person.headers)
        assert answer.status_code == 201, answer.text
        sockets[actor] = await live.socket(answer.json()["ticket"])
    return sockets


async def topic_walk(
    live: Live, world: OwnerWorld, rules: Sequence[TopicRule]
) -> tuple[int, list[Wrong]]:
    """Each rule's owner topic subscribed to by each actor over its own socket."""
    sockets = await _sockets(live, world)
    secrets = private_words(world)
    tried, wrong = 0, []
    try:
        for rule in rules:
            topic, entitled = owner_topic(world, rule.pattern)
            for actor, socket in sockets.items():
                frames = await subscribe(socket, topic)
                tried += 1
                last = frames[-1]
                if actor in entitled:
                    if last["type"] != "subscribed":
                        wrong.append((topic, actor, "refused the entitled", json.dumps(last)))
                    continue
                # The refusal names the topic the client asked for: that tells it nothing new.
                text = json.dumps(frames).replace(topic, "<topic>")
                if (last["type"], last.get("code")) != ("error", "forbidden_topic"):
                    wrong.append((topic, actor, "let in", text[:200]))
                elif len(frames) > 1 or any(word in text for word in secrets):
                    wrong.append((topic, actor, "sent more than the refusal", text[:200]))
    finally:
        for socket in sockets.values():
            await socket.close()
    return tried, wrong


async def test_every_topic_over_a_real_socket(live_world: tuple[Live, OwnerWorld]) -> None:
    live, world = live_world
    rules = list(HOOKS.rules)
    assert {rule.pattern for rule in rules} >= {"user.", "doctors.presence"}
    assert missing_topics([rule.pattern for rule in rules]) == []
    assert (await live.http.post("/api/v1/ws/ticket")).status_code == 401  # anonymous: no socket
    tried, wrong = await topic_walk(live, world, rules)
    print(
        f"authorization matrix: {len(rules)} topics x {len(world.people)} actors over real "
        f"sockets = {tried} subscriptions, {len(wrong)} wrong"
    )
    assert tried == len(rules) * len(world.people)
    assert wrong == []


async def _anyone(db: AsyncSession, identity: Identity, topic: str) -> bool:
    return True  # a rule that forgot to check whose object the topic names


@pytest.fixture
def leaky_topic() -> Iterator[str]:
    """A prefix topic registered with a rule that lets everyone in; gone afterwards."""
    pattern = f"probe{uuid.uuid4().hex[:6]}."
    register_topic(pattern, _anyone)
    try:
        yield pattern
    finally:
        HOOKS.rules[:] = [rule for rule in HOOKS.rules if rule.pattern != pattern]
        TOPICS.pop(pattern, None)


async def test_a_topic_without_a_factory_or_with_a_leaky_rule_fails_the_walk(
    live_world: tuple[Live, OwnerWorld], leaky_topic: str
) -> None:
    """A new topic the registry does not know is reported with what to add; once registered
    (as naming the owner's appointment), its rule letting everyone in is caught on the socket
    for every actor the policy does not entitle."""
    live, world = live_world
    assert missing_topics([rule.pattern for rule in HOOKS.rules]) == [
        f"topic {leaky_topic!r}: add it to TOPICS in tests/factories/ownership.py (the FACTORIES "
        "parameter of the object it names and who may subscribe), or to PUBLIC_TOPICS with the "
        "reason"
    ]
    assert leaky_topic not in PUBLIC_TOPICS
    TOPICS[leaky_topic] = ("appointment_id", frozenset({"owner_patient", "owner_doctor", "admin"}))
    probe = [rule for rule in HOOKS.rules if rule.pattern == leaky_topic]
    tried, wrong = await topic_walk(live, world, probe)
    assert tried == len(world.people)
    let_in = sorted(actor for _, actor, what, _ in wrong if what == "let in")
    assert let_in == ["nurse", "other_doctor", "other_patient"]
