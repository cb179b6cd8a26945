"""Helpers for tests that run CareBridge as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from carebridge.config import Settings
from tests.factories.settings import TEST_SECRET


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """The current environment without CareBridge settings, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")}
    env.update(values)
    return env


def carebridge(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carebridge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_ready(
    base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server not ready after {timeout}s:\n{log.read_text()}")


@contextmanager
def running_server(
    env: dict[str, str],
    log: Path,
    *extra: str,
    public_url: str | None = None,
    host_name: str = "127.0.0.1",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``carebridge serve`` on a free port until the block ends (then Ctrl-C, as a person would).
    Its public URL is the address it serves (``http://<host_name>:<port>``: ``localhost`` for
    passkeys, which need a domain name) unless ``public_url`` says otherwise."""
    base_url, process = _start_server(env, log, extra, public_url, host_name)
    try:
        wait_ready(base_url, process, log)
        yield base_url, process
    finally:
        _stop_server(process)


@contextmanager
def running_servers(*runs: tuple[dict[str, str], Path]) -> Iterator[list[str]]:
    """Several ``carebridge serve`` (an environment and a log each), started at once rather than
    one after the other (each spends seconds starting), until the block ends; their base URLs."""
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for env, log in runs:
            started.append(_start_server(env, log, (), None, "127.0.0.1"))
        for (base_url, process), (_, log) in zip(started, runs, strict=True):
            wait_ready(base_url, process, log)
        yield [base_url for base_url, _ in started]
    finally:
        for _, process in started:
            _stop_server(process)


def _start_server(
    env: dict[str, str], log: Path, extra: tuple[str, ...], public_url: str | None, host_name: str
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    base_url = f"http://{host_name}:{port}"
    env = {**env, "CAREBRIDGE_PUBLIC_BASE_URL": public_url or base_url}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "carebridge", "serve", "--port", str(port), *extra],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return base_url, process


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(2)  # SIGINT, as Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_env(settings: Settings, **values: str) -> dict[str, str]:
    """The environment of a CareBridge process on ``settings``' database and data dir, with the
    test secrets, plus ``values`` (``CAREBRIDGE_*`` names)."""
    return clean_env(
        CAREBRIDGE_DATABASE_URL=str(settings.database_url),
        CAREBRIDGE_DATA_DIR=str(settings.data_dir),
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
        CAREBRIDGE_ENCRYPTION_KEY=TEST_SECRET,
        CAREBRIDGE_ENVIRONMENT="test",
        CAREBRIDGE_LOG_LEVEL="WARNING",
        CAREBRIDGE_PASSWORD_HASH_COST="minimal",  # as the test users' hash (PASSWORD_HASH)
        **values,
    )


def start_worker(
    env: dict[str, str], log: Path, queues: list[str], concurrency: int = 4
) -> subprocess.Popen[bytes]:
    """``carebridge worker`` taking ``queues``, its output appended to ``log``; stop it with
    :func:`kill` (SIGKILL: a crash, or the end of the test)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "carebridge",
                "worker",
                *(arg for queue in queues for arg in ("--queue", queue)),
                "--concurrency",
                str(concurrency),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: the process gets no chance to finish anything."""
    process.kill()
    process.wait()
