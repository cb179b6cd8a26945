"""The chat benchmark's short form (``bench/chat.py``): 20 members in 10 conversations at 20
messages a second for 2 seconds, against a real ``carebridge serve`` and the floor. It checks
what the benchmark's figures rest on, not its timings (those are judged by the benchmark's
ratios, in docs/performance.md): every message reaches its recipient once, in order, numbered
without gaps, and the report has its fields."""

from __future__ import annotations

from bench.chat import Options, run

STEP_FIELDS = {
    "target", "seconds", "sent", "delivered", "achieved", "p50_ms", "p99_ms", "max_ms", "lost",
    "duplicates", "out_of_order", "errors", "busy", "stored_out_of_send_order", "server_cpu_ms",
    "database_cpu_ms",
    "saturated",
}  # fmt: skip


def test_every_message_reaches_its_recipient_once_and_in_order(postgres_server_url: str) -> None:
    report = run(10, [20], Options(seconds=2, probe=False), server_url=postgres_server_url)

    assert report["members"] == 20
    assert set(report["modes"]) == {"carebridge", "floor"}
    stored = 0
    for mode, summary in report["modes"].items():
        (step,) = summary["steps"]
        assert set(step) >= STEP_FIELDS, mode
        assert step["sent"] == step["delivered"] == 40, (mode, step)
        faults = ("lost", "duplicates", "out_of_order", "errors", "stored_out_of_send_order")
        assert {name: step[name] for name in faults} == dict.fromkeys(faults, 0), (mode, step)
        assert step["achieved"] > 0
        assert step["p50_ms"] <= step["p99_ms"] <= step["max_ms"]
        assert summary["saturation_rate"] > 0
        # The warm-up's 40 messages and the step's 40, after those of the modes before.
        stored += 80
        assert summary["database"] == {"messages": stored, "conversations_with_gaps": 0}, mode
    assert report["ratio"] is not None
    assert isinstance(report["ratio_is_upper_bound"], bool)
    assert report["p99_at_300_ms"] is None  # no step at 300/s in the short form
