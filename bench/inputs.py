"""Cost of the NUL check every router runs (``platform/inputs.py: refuse_nul``) per request, as
a ratio against the same FastAPI app without it.

Both apps answer a booking-shaped JSON POST with a query parameter, called through ASGI in this
process (no sockets), alternating rounds so that the machine's drift touches both alike.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from carebridge.platform.inputs import NO_NUL

REQUESTS = 4000
ROUNDS = 5
BODY = {
    "doctor_id": "3f1b1d3e-8a1c-4c1e-9c1e-1b1d3e8a1c4c",
    "starts_at": "2026-12-10T10:00:00+01:00",
    "type": "video",
    "reason": "A cough for a week, worse at night.",
}


class Booking(BaseModel):
    doctor_id: str
    starts_at: str
    type: str
    reason: str | None = None


def app(*, checked: bool) -> FastAPI:
    router = APIRouter()

    @router.post("/appointments")
    async def book(body: Booking, limit: int = 10) -> dict[str, bool]:
        return {"ok": True}

    built = FastAPI()
    built.include_router(router, dependencies=[NO_NUL] if checked else [])
    return built


async def cpu_per_request(target: FastAPI) -> float:
    """Process CPU time per request, in microseconds."""
    transport = httpx.ASGITransport(app=target)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(300):  # warm-up
            await client.post("/appointments?limit=5", json=BODY)
        started = time.process_time()
        for _ in range(REQUESTS):
            await client.post("/appointments?limit=5", json=BODY)
        return (time.process_time() - started) / REQUESTS * 1e6


async def measure() -> None:
    bare, checked = app(checked=False), app(checked=True)
    rounds: dict[str, list[float]] = {"without": [], "with refuse_nul": []}
    for _ in range(ROUNDS):
        rounds["without"].append(await cpu_per_request(bare))
        rounds["with refuse_nul"].append(await cpu_per_request(checked))
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    for name, median in medians.items():
        print(f"{name:>16}: {median:6.0f} µs/request (rounds: {[round(v) for v in rounds[name]]})")
    print(f"ratio: {medians['with refuse_nul'] / medians['without']:.2f}")


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
