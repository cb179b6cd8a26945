"""Cost of CareBridge's HTTP stack per request, as a ratio against a bare FastAPI app.

Both apps answer the same trivial JSON route and are called directly through ASGI in this
process (no sockets), so the ratio isolates what our middleware, error handling and routing add.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.access import PUBLIC
from carebridge.platform.logging import configure_logging

REQUESTS = 5000
ROUNDS = 5


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def call(app: Any, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def per_request_seconds(app: Any) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(REQUESTS):
            assert await call(app, "/health/live") == 200
        timings.append((time.perf_counter() - started) / REQUESTS)
    return statistics.median(timings)


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # the route under test touches no database
            environment="test",
            data_dir=Path(tmp),
            secret_key="b" * 40,
            encryption_key="c" * 40,
            database_url="postgresql://bench@127.0.0.1:9/bench",
            log_level="WARNING",
            _env_file=None,
        )
        configure_logging(settings)
        ours = create_app(settings)
        ours.state.runtime = None  # lifespan not needed: /health/live reads nothing
        reference = bare_app()
        reference.router.dependencies.append(PUBLIC)
        base = await per_request_seconds(reference)
        full = await per_request_seconds(ours)
    print(f"bare FastAPI   {base * 1e6:8.1f} µs/request")
    print(f"CareBridge     {full * 1e6:8.1f} µs/request")
    print(f"ratio          {full / base:8.2f}x (middleware, logging, metrics, headers)")


def main() -> None:
    asyncio.run(run())
