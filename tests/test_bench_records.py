"""The health record benchmark's short form (``bench/records.py``): 5 patients with 40 days of
readings, 20 requests a second for 1 second per endpoint, against a real ``carebridge serve``
and the floor, and a 300-row import. It checks what the benchmark's figures rest on, not its
timings (those are in docs/performance.md): the data is generated, every request is answered
2xx by both, the series has every day's reading, and the import writes every row."""

from __future__ import annotations

from bench.records import run


def test_every_request_is_answered_and_the_import_writes_every_row(
    postgres_server_url: str,
) -> None:
    report = run(5, 40, [20], 1, import_rows=300, workers="1", server_url=postgres_server_url)

    assert report["observations"] == 5 * 6 * 40 + 5  # and a height each
    assert report["series_check"]["readings"] == 40
    assert 38 <= report["series_check"]["points"] <= 40  # two readings may share a local day
    assert set(report["modes"]) == {"carebridge", "floor"}
    assert set(report["modes"]["carebridge"]) == {"series_day", "series_week", "summary"}
    assert set(report["modes"]["floor"]) == {"series_day", "series_week"}
    for mode, endpoints in report["modes"].items():
        for endpoint, steps in endpoints.items():
            (step,) = steps
            assert step["errors"] == 0, (mode, endpoint, step)
            assert 0 < step["p50_ms"] <= step["p99_ms"] <= step["max_ms"]
    assert {(r["endpoint"], r["rate"]) for r in report["ratios"]} == {
        ("series_day", 20),
        ("series_week", 20),
    }
    assert report["import"] | {"seconds": 0, "rows_per_second": 0, "bytes": 0} == {
        "rows": 300, "bytes": 0, "status": 200, "imported": 300, "rejected": 0, "seconds": 0,
        "rows_per_second": 0,
    }  # fmt: skip
