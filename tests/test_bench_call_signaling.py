"""The call signaling benchmark's short form (``bench/call_signaling.py``): 5 calls (10 peers)
at 5 signals a second per peer for 2 seconds, against a real ``carebridge serve`` and the bare
relay. It checks what the benchmark's figures rest on, not its timings (those are judged by the
ratio to the bare relay, in docs/performance.md): every signal reaches the other peer of its
call, once, and nothing is refused."""

from __future__ import annotations

from bench.call_signaling import run

FIELDS = {
    "calls", "peer_rate", "target", "seconds", "sent", "delivered", "achieved", "p50_ms",
    "p99_ms", "max_ms", "lost", "duplicates", "misdelivered", "errors", "sockets_closed",
    "server_cpu_ms",
}  # fmt: skip


def test_every_signal_reaches_the_other_peer_once(postgres_server_url: str) -> None:
    report = run(5, [5], 2, server_url=postgres_server_url)

    assert report["peers"] == 10
    assert set(report["modes"]) == {"carebridge", "bare"}
    for mode, steps in report["modes"].items():
        (step,) = steps
        assert set(step) >= FIELDS, mode
        assert step["sent"] == step["delivered"] == 100, (mode, step)
        faults = ("lost", "duplicates", "misdelivered", "errors", "sockets_closed")
        assert {name: step[name] for name in faults} == dict.fromkeys(faults, 0), (mode, step)
        assert step["first_error"] == "", mode
        assert 0 < step["p50_ms"] <= step["p99_ms"] <= step["max_ms"]
    (ratio,) = report["ratios"]
    assert ratio["signals_per_second"] == 50
    assert ratio["p50"] > 0
    assert ratio["p99"] > 0
