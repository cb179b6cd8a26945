"""The sealed audit trail benchmark's short form (``bench/audit_verify.py``): 5,000 generated
events sealed in batches of 1,000 and verified. It checks what the benchmark's figures rest on,
not its timings (those are in docs/compliance.md): every generated event is sealed and verified.
The booking comparison with and without a sealer (two server processes) runs only in the
benchmark itself (`python -m bench audit_verify`): the suite's time is better spent elsewhere, and
sealing has no code on the request path to exercise."""

from __future__ import annotations

from bench.audit_verify import run


def test_every_event_is_sealed_and_verified(postgres_server_url: str) -> None:
    report = run(5_000, 1_000, server_url=postgres_server_url)

    assert (report["events"], report["batches"]) == (5_000, 5)
    verified = report["verify"]
    assert (verified["ok"], verified["problem"]) == (True, None)
    assert (verified["batches"], verified["events"], verified["pending"]) == (5, 5_000, 0)
    assert "booking" not in report
