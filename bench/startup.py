"""Time from `carebridge serve` to a 200 from /health/ready on embedded PostgreSQL:
the cold start (initdb on an empty data dir) and warm starts (data dir reused)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import clean_env, free_port, wait_ready

WARM_RUNS = 3


def start_once(data_dir: Path, log: Path) -> float:
    port = free_port()
    env = clean_env(CAREBRIDGE_DATA_DIR=str(data_dir), CAREBRIDGE_LOG_LEVEL="WARNING")
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "carebridge", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, log)
        return time.perf_counter() - started
    finally:
        process.send_signal(2)
        process.wait(timeout=30)


def reference_seconds() -> float:
    """A fresh interpreter importing the framework stack only: the machine's own pace."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import fastapi, sqlalchemy.ext.asyncio, procrastinate, uvicorn"],
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        log = Path(tmp) / "serve.log"
        cold = start_once(data_dir, log)
        warm = [start_once(data_dir, log) for _ in range(WARM_RUNS)]
    print(f"cold start (initdb + migrate) {cold:6.2f} s")
    runs = [round(w, 2) for w in warm]
    print(f"warm start (median of {WARM_RUNS})     {statistics.median(warm):6.2f} s  {runs}")
    print(f"warm / cold                   {statistics.median(warm) / cold:6.2f}")
    reference = statistics.median(reference_seconds() for _ in range(3))
    print(
        f"reference: importing the framework stack {reference:.2f} s; "
        f"warm start = {statistics.median(warm) / reference:.2f} x reference"
    )
