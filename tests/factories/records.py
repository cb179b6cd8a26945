"""Factories for health record tests: reading bodies, and a patient's record with a clinician
on each basis of ``records/policy.py``."""

from __future__ import annotations

from typing import Any

import httpx

Json = dict[str, Any]

# A private word a record's notes carry: it may appear in no answer to anyone not entitled.
RECORD_CANARY = "zqrecord-hepatitis-c-4e2d"


def observation_body(**overrides: Any) -> Json:
    values: Json = {"kind": "heart_rate", "value": 72, "note": f"after a walk {RECORD_CANARY}"}
    values.update(overrides)
    return values


async def add_observation(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> Json:
    answer = await client.post(
        "/api/v1/records/observations", json=observation_body(**overrides), headers=headers
    )
    assert answer.status_code == 201, answer.text
    result: Json = answer.json()
    return result
