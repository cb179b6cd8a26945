"""A small local clamd: an asyncio server speaking clamd's INSTREAM protocol, for the malware
scanner's tests (a real clamd needs signature downloads this machine cannot make).

It reads ``zINSTREAM\\0`` (or ``nINSTREAM\\n``), then length-prefixed chunks up to a zero length,
and answers ``stream: Eicar-Test-Signature FOUND`` when the stream holds the EICAR test string,
``stream: OK`` otherwise, or, when told to, hangs, answers garbage, hangs up without a word or
refuses a stream over its size limit as clamd does."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# The EICAR anti-virus test file, built from two halves so this source file is not flagged.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

Behaviour = Literal["scan", "hang", "garbage", "hang_up", "size_limit"]


@dataclass
class ClamdPeer:
    behaviour: Behaviour = "scan"
    stream_max_bytes: int = 25 * 1024 * 1024
    streams: list[bytes] = field(default_factory=list)  # every stream received whole
    chunk_sizes: list[int] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def start_tcp(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"tcp://127.0.0.1:{port}"

    async def start_unix(self, path: str) -> str:
        self._server = await asyncio.start_unix_server(self._handle, path)
        return path

    async def close(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = await reader.readexactly(len(b"zINSTREAM\x00"))
        if command not in (b"zINSTREAM\x00", b"nINSTREAM\n"):
            writer.write(b"UNKNOWN COMMAND\x00")
            return
        end = command[-1:]
        stream = bytearray()
        while (size := struct.unpack(">I", await reader.readexactly(4))[0]) != 0:
            if self.behaviour == "size_limit" or len(stream) + size > self.stream_max_bytes:
                writer.write(b"INSTREAM size limit exceeded. ERROR" + end)
                await writer.drain()
                return
            self.chunk_sizes.append(size)
            stream += await reader.readexactly(size)
        self.streams.append(bytes(stream))
        if self.behaviour == "hang":
            await self._released.wait()
        elif self.behaviour != "hang_up":
            writer.write(self._reply(bytes(stream)) + end)
            await writer.drain()

    def _reply(self, stream: bytes) -> bytes:
        if self.behaviour == "garbage":
            return b"\x13\x37 what is this?"
        if EICAR in stream:
            return b"stream: Eicar-Test-Signature FOUND"
        return b"stream: OK"


CLAMD = Path("/usr/sbin/clamd")  # Debian's clamav-daemon (.ci/run installs it)
# A signature database of one entry: the EICAR test file by its MD5 and size (ClamAV's .hdb
# format). Real signatures are downloaded by freshclam, which these machines cannot reach.
EICAR_SIGNATURE = f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature\n"


@contextlib.contextmanager
def real_clamd(directory: Path, timeout: float = 60) -> Iterator[str]:
    """Debian's clamd on a unix socket in ``directory``, with the one-signature database; the
    address to give the scanner."""
    database = directory / "db"
    database.mkdir()
    (database / "eicar.hdb").write_text(EICAR_SIGNATURE)
    socket = directory / "clamd.sock"
    config = directory / "clamd.conf"
    config.write_text(
        f"Foreground yes\nLocalSocket {socket}\nDatabaseDirectory {database}\n"
        f"LogFile {directory / 'clamd.log'}\nPidFile {directory / 'clamd.pid'}\n"
        "StreamMaxLength 20M\n"
    )
    process = subprocess.Popen(
        [str(CLAMD), f"--config-file={config}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while not socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (directory / "clamd.log").read_text()
                    if (directory / "clamd.log").exists()
                    else ""
                )
                raise AssertionError(f"clamd did not start (exit {process.poll()}): {log}")
            time.sleep(0.1)
        yield str(socket)
    finally:
        process.terminate()
        process.wait(timeout=30)
