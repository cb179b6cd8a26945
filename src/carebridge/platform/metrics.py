"""Prometheus metrics, one registry per application instance."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool

from carebridge.platform.db import Database

JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


class DatabasePoolCollector(Collector):
    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.database.engine.pool
        if not isinstance(pool, QueuePool):
            return
        gauge = GaugeMetricFamily(
            "carebridge_db_pool_connections", "Database pool connections by state", labels=["state"]
        )
        gauge.add_metric(["checked_out"], pool.checkedout())
        gauge.add_metric(["idle"], pool.checkedin())
        gauge.add_metric(["overflow"], max(pool.overflow(), 0))
        yield gauge
        yield GaugeMetricFamily(
            "carebridge_db_pool_size", "Configured pool size", value=pool.size()
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "carebridge_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "carebridge_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "carebridge_http_requests_in_flight",
            "HTTP requests being served",
            registry=self.registry,
        )
        self._gauges: dict[str, Gauge] = {}
        self.jobs = Gauge(
            "carebridge_jobs",
            "Jobs in the queue by status (read at scrape time)",
            ["status"],
            registry=self.registry,
        )

    def gauge(self, name: str, documentation: str, labels: list[str]) -> Gauge:
        """A gauge that domains fill at scrape time (created once per registry)."""
        existing = self._gauges.get(name)
        if existing is None:
            existing = self._gauges[name] = Gauge(
                name, documentation, labels, registry=self.registry
            )
        return existing

    def watch_database(self, database: Database) -> None:
        self.registry.register(DatabasePoolCollector(database))

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status in {*JOB_STATUSES, *counts}:
            self.jobs.labels(status=status).set(counts.get(status, 0))
