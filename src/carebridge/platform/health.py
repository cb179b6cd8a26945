"""Liveness, readiness and metrics endpoints for orchestrators and monitoring."""

from __future__ import annotations

import asyncio
import hmac
import importlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from carebridge.platform.access import PUBLIC
from carebridge.platform.errors import NotFound, Unauthenticated
from carebridge.platform.migrate import current_revision
from carebridge.platform.problems import PROBLEM_MEDIA_TYPE, Problem, problem_response
from carebridge.platform.registry import METRICS_MODULES
from carebridge.platform.runtime import Runtime

log = structlog.get_logger(__name__)

router = APIRouter(tags=["operations"], dependencies=[PUBLIC])

CHECK_TIMEOUT_SECONDS = 3.0


class Liveness(BaseModel):
    status: str


class CheckResult(BaseModel):
    status: str
    duration_ms: float
    error: str | None = None


class Readiness(BaseModel):
    status: str
    checks: dict[str, CheckResult]


@router.get("/health/live", response_model=Liveness)
async def live() -> Liveness:
    """The process is up and serving requests. Does not touch dependencies."""
    return Liveness(status="ok")


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={
        503: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": "Not ready; code: not_ready (`failing` names the failing checks)",
        }
    },
)
async def ready(request: Request) -> Response:
    """Ready to serve: database reachable, migrations at head, Redis (when configured) and the
    job queue reachable. Answers 503 with the failing checks otherwise."""
    runtime: Runtime = request.app.state.runtime
    checks = await run_checks(runtime)
    failing = sorted(name for name, result in checks.items() if result.status != "ok")
    body = {name: result.model_dump(exclude_none=True) for name, result in checks.items()}
    if failing:
        return problem_response(
            503,
            "not_ready",
            f"Not ready: {', '.join(failing)}",
            title="Service unavailable",
            request=request,
            failing=failing,
            checks=body,
        )
    return Response(
        Readiness(status="ok", checks=checks).model_dump_json(exclude_none=True),
        media_type="application/json",
    )


async def run_checks(runtime: Runtime) -> dict[str, CheckResult]:
    async def migrations() -> None:
        current = await current_revision(runtime.database.engine)
        head = runtime.migrations_head
        if current != head:
            raise RuntimeError(f"database at {current or 'nothing'}, code expects {head}")

    checks: dict[str, Callable[[], Awaitable[Any]]] = {
        "database": runtime.database.ping,
        "job_queue": runtime.jobs.ping,
    }
    if runtime.redis is not None:
        checks["redis"] = runtime.redis.ping
    results = dict(
        zip(
            checks, await asyncio.gather(*(_timed(check) for check in checks.values())), strict=True
        )
    )
    if results["database"].status == "ok":
        results["migrations"] = await _timed(migrations)
    else:
        results["migrations"] = CheckResult(status="skipped", duration_ms=0.0, error="no database")
    return results


async def _timed(check: Callable[[], Awaitable[Any]]) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # a failing dependency is a result here, not an error
        message = str(exc) or type(exc).__name__
        return CheckResult(status="fail", duration_ms=_ms(started), error=message[:300])
    return CheckResult(status="ok", duration_ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def _scrape_domains(runtime: Runtime) -> None:
    for module_path in METRICS_MODULES:
        scrape = importlib.import_module(module_path).scrape
        try:
            async with runtime.database.sessionmaker() as session:
                await asyncio.wait_for(scrape(runtime.metrics, session), CHECK_TIMEOUT_SECONDS)
        except Exception:  # a scrape still answers; the failing part is logged
            log.warning("metrics_scrape_failed", module=module_path, exc_info=True)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, authorization: str | None = Header(default=None)) -> Response:
    """Prometheus metrics (text exposition format)."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    if not settings.metrics_enabled:
        raise NotFound()
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        if not hmac.compare_digest((authorization or "").encode(), expected.encode()):
            raise Unauthenticated("A valid metrics bearer token is required.")
    await _scrape_domains(runtime)
    try:
        runtime.metrics.set_job_counts(await runtime.jobs.counts_by_status())
    except Exception:
        # Metrics still answer when the queue is down (/health/ready reports it), without
        # job counts rather than with stale ones.
        runtime.metrics.jobs.clear()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
