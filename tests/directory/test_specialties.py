"""The specialties catalog: in every install, open to anyone."""

from __future__ import annotations

import httpx


async def test_the_catalog_is_seeded_by_the_migration_and_open_to_anyone(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/specialties")
    assert response.status_code == 200
    body = response.json()
    slugs = [s["slug"] for s in body]
    assert len(body) >= 30
    assert {"cardiology", "pediatrics", "dermatology", "psychiatry", "ent"} <= set(slugs)
    assert [s["name"] for s in body] == sorted(s["name"] for s in body)
    assert all(s["description"] for s in body)
