"""The sealed audit trail benchmark's short form (``bench/audit_verify.py``): 20,000 generated
events sealed in batches of 5,000 and verified, then one round of booking at 20 requests a
second for a second with and without a sealer process. It checks what the benchmark's figures
rest on, not its timings (those are in docs/compliance.md): every generated event is sealed and
verified, and the bookings are answered in both modes."""

from __future__ import annotations

from bench.audit_verify import run


def test_every_event_is_sealed_and_verified_and_bookings_are_answered(
    postgres_server_url: str,
) -> None:
    report = run(
        20_000, 5_000, booking_seconds=1, rate=20, rounds=1, server_url=postgres_server_url
    )

    assert (report["events"], report["batches"]) == (20_000, 4)
    verified = report["verify"]
    assert (verified["ok"], verified["problem"]) == (True, None)
    assert (verified["batches"], verified["events"], verified["pending"]) == (4, 20_000, 0)
    booking = report["booking"]
    assert [(r["round"], r["sealer"]) for r in booking["rounds"]] == [(0, False), (0, True)]
    for step in booking["rounds"]:
        assert step["errors"] == 0, step
        assert 0 < step["p50_ms"] <= step["p99_ms"] <= step["max_ms"]
    assert booking["p50_ratio"] > 0
