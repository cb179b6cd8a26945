"""The visit tracking benchmark's short form (``bench/visit_tracking.py``): 10 visits (20
sockets), a position every second from each nurse for 3 seconds, against a real ``carebridge
serve``, the floor and the bare relay. It checks what the benchmark's figures rest on, not its
timings (those are for a quiet machine, docs/visits.md): every position reaches its patient,
once, none is refused or lost, and the figures are there."""

from __future__ import annotations

from bench.visit_tracking import run

FIELDS = {
    "visits", "interval", "target", "seconds", "sent", "delivered", "refused", "achieved",
    "p50_ms", "p99_ms", "max_ms", "lost", "duplicates", "errors", "sockets_closed",
    "server_cpu_ms",
}  # fmt: skip


def test_every_position_reaches_the_patient_once(postgres_server_url: str) -> None:
    report = run(10, 1.0, 3, server_url=postgres_server_url)

    assert report["sockets"] == 20
    assert set(report["modes"]) == {"carebridge", "floor", "bare"}
    for mode, result in report["modes"].items():
        assert set(result) >= FIELDS, mode
        assert result["sent"] == result["delivered"] == 30, (mode, result)
        faults = ("refused", "lost", "duplicates", "errors", "sockets_closed")
        assert {name: result[name] for name in faults} == dict.fromkeys(faults, 0), (mode, result)
        assert result["first_error"] == "", mode
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
        assert result["server_cpu_ms"] > 0, mode
    assert set(report["ratios"]) == {"floor", "bare"}
    for ratio in report["ratios"].values():
        assert ratio["p50"] > 0
        assert ratio["p99"] > 0
        assert ratio["cpu"] > 0
