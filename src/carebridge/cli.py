"""The ``carebridge`` command."""

from __future__ import annotations

import asyncio
import errno
import importlib
import socket
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import structlog
import typer
import uvicorn
from sqlalchemy.exc import DBAPIError

from carebridge.config import (
    ConfigurationError,
    Environment,
    Settings,
    export_to_environment,
    load_settings,
)
from carebridge.platform.db import Database
from carebridge.platform.embedded import EmbeddedPostgres, EmbeddedPostgresError
from carebridge.platform.embedded import application_url as embedded_application_url
from carebridge.platform.logging import configure_logging

if TYPE_CHECKING:
    from carebridge.platform.crypto import Keyring, SealedColumn
    from carebridge.platform.reencrypt import ColumnReport
    from carebridge.platform.roles import AuditGuard

log = structlog.get_logger("carebridge.cli")

INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE of "permission denied" and "must be owner"
_ROLES_HELP = "run the application as a role that owns nothing (docs/operations.md#database-roles)"

cli = typer.Typer(
    name="carebridge",
    help="CareBridge: the open-source telehealth platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class Abort(Exception):
    """An expected failure: printed as one clear line, exit code 1, no traceback."""


def fail(message: str) -> NoReturn:
    typer.secho(f"carebridge: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    try:
        settings = load_settings()
        settings.check()
    except ConfigurationError as exc:
        fail("refusing to start:\n  - " + "\n  - ".join(exc.problems))
    except ValueError as exc:  # pydantic validation of environment values
        fail(f"invalid configuration:\n{exc}")
    configure_logging(settings)
    return settings


@contextmanager
def database_ready(
    settings: Settings, meanwhile: Callable[[], object] | None = None, *, migrating: bool = False
) -> Iterator[Settings]:
    """Yield settings with a database URL, starting the embedded PostgreSQL if none is set,
    and stopping it when the block exits. ``meanwhile`` runs while PostgreSQL starts (the start
    waits on a child process, so importing the application overlaps with it). ``migrating``: the
    command migrates next, which grants the application's role its privileges too, so the
    embedded start leaves that to it (once is a fifth of a second of start-up)."""
    if settings.database_url is not None:
        if meanwhile is not None:
            meanwhile()
        yield settings
        return
    embedded = EmbeddedPostgres(settings.embedded_pgdata)
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(_start_embedded, embedded, settings, grant=not migrating)
        if meanwhile is not None:
            meanwhile()
        try:
            resolved = starting.result()
        except BaseException as exc:
            embedded.stop()  # it may have started before the grants failed
            if isinstance(exc, EmbeddedPostgresError | Abort):
                fail(str(exc))
            raise
    try:
        export_to_environment(resolved)
        yield resolved
    finally:
        embedded.stop()


def _start_embedded(embedded: EmbeddedPostgres, settings: Settings, *, grant: bool) -> Settings:
    """Start the embedded PostgreSQL; the application connects as its own role, which is
    created and granted its privileges here, so every command (a worker or a check on a data
    dir from before there were two roles) finds it ready. Migrations connect as the owner."""
    owner_url = embedded.start()
    resolved = settings.model_copy(
        update={
            "database_url": embedded_application_url(owner_url),
            "migration_database_url": owner_url,
        }
    )
    if grant:
        asyncio.run(_grant(resolved))
    return resolved


async def _ping(database: Database) -> None:
    try:
        await database.ping()
    except Exception as exc:
        raise Abort(f"database unreachable ({_describe(exc)})") from exc


async def _check_database(settings: Settings) -> None:
    """Reach the database as the application, and refuse to run as a role that could switch
    off the audit trail's guard in production (elsewhere, log it)."""
    from carebridge.platform.roles import audit_guard

    database = Database.from_settings(settings)
    try:
        await _ping(database)
        async with database.engine.connect() as conn:
            guard = await audit_guard(conn)
    finally:
        await database.dispose()
    if guard.holds:
        return
    if settings.is_production:
        raise Abort(f"refusing to start: {guard.describe()}; {_ROLES_HELP}")
    log.warning("audit_guard_open", role=guard.role, findings=guard.findings, help=_ROLES_HELP)


async def _migrate(settings: Settings) -> str | None:
    """Migrate as the schema's owner, and grant the application's role its privileges."""
    from carebridge.platform.migrate import (
        MigrationRefused,
        current_revision,
        grant,
        head_revision,
        upgrade,
    )
    from carebridge.platform.roles import ApplicationRole

    database = Database.from_settings(settings, migrating=True)
    application = ApplicationRole.of(settings)
    try:
        await _ping(database)
        current = await current_revision(database.engine)
        if current is not None and current == head_revision():
            # Already at head: no need to load Alembic at all, but the grants may be missing
            # (a new application role, a release without migrations).
            if application is not None:
                await grant(database.engine, application)
            return current
        return await upgrade(
            database.engine, grant_to=application, clinic_currency=settings.currency
        )
    except MigrationRefused as exc:
        raise Abort(f"cannot migrate: {exc}") from exc
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        raise Abort(
            f"cannot migrate ({_describe(exc)}): migrations connect as the schema's owner, "
            "CAREBRIDGE_MIGRATION_DATABASE_URL (docs/operations.md#database-roles)"
        ) from exc
    finally:
        await database.dispose()


async def _grant(settings: Settings) -> None:
    from carebridge.platform.migrate import grant
    from carebridge.platform.roles import ApplicationRole

    application = ApplicationRole.of(settings)
    assert application is not None
    database = Database.from_settings(settings, migrating=True)
    try:
        await _ping(database)
        await grant(database.engine, application)
    finally:
        await database.dispose()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _ensure_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Abort(
                    f"port {port} on {host} is already in use; stop the other server or pass --port"
                ) from exc
            raise Abort(f"cannot listen on {host}:{port} ({exc.strerror})") from exc


def _run(coro: object) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except Abort as exc:
        fail(str(exc))


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Web processes.")] = 1,
    demo: Annotated[bool, typer.Option(help="Load the demo data before serving.")] = False,
) -> None:
    """Serve the web app, API and WebSocket (and, in development, a job worker)."""
    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    try:
        _ensure_port_free(host, port)
    except Abort as exc:
        fail(str(exc))
    elsewhere = settings.served_elsewhere(host, port)
    if elsewhere is not None and settings.environment != Environment.development:
        log.warning("public_url_differs", detail=elsewhere)
    migrating = settings.should_auto_migrate
    with database_ready(settings, meanwhile=_import_app, migrating=migrating) as settings:
        _run(_ready_to_serve(settings))
        if demo:
            _run(_seed_demo(settings))
        typer.secho(f"CareBridge is starting on http://{host}:{port}", fg=typer.colors.GREEN)
        if workers == 1:
            from carebridge.app import create_app

            uvicorn.run(create_app(settings), **uvicorn_options(host, port))
        else:
            uvicorn.run(
                "carebridge.app:create_app_from_environment",
                factory=True,
                workers=workers,
                **uvicorn_options(host, port),
            )


async def _ready_to_serve(settings: Settings) -> None:
    if settings.should_auto_migrate:
        await _migrate(settings)
    await _check_database(settings)


def _import_app() -> None:
    importlib.import_module("carebridge.app")


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        # The real-time gateway writes broadcast frames straight to sansio connections.
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        # Clients send small frames (the gateway refuses any over 4 KiB with `bad_frame`); a
        # message over 1 MiB closes the socket (1009) before it is held in memory whole.
        "ws_max_size": 1024 * 1024,
        "proxy_headers": True,
        "server_header": False,
    }


@cli.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, help="Jobs run at once.")] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only these queues (repeatable).")] = None,
) -> None:
    """Run a background job worker until interrupted."""
    from carebridge.platform.jobs import JobQueue, run_worker
    from carebridge.platform.realtime.gateway import forward_events

    settings = _settings()

    async def main(settings: Settings) -> None:
        await _check_database(settings)
        database = Database.from_settings(settings)
        jobs = JobQueue(settings)
        await jobs.open()
        redis = None
        if settings.redis_url is not None:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
        try:
            async with forward_events(redis):
                await run_worker(settings, database, concurrency=concurrency, queues=queue)
        finally:
            await jobs.close()
            await database.dispose()
            if redis is not None:
                await redis.aclose()

    with database_ready(settings) as settings:
        typer.secho("CareBridge worker started; Ctrl-C stops it.", fg=typer.colors.GREEN)
        _run(main(settings))


@cli.command()
def migrate() -> None:
    """Apply database migrations up to the newest revision, as the schema's owner
    (CAREBRIDGE_MIGRATION_DATABASE_URL), and grant the application's role what it needs."""
    settings = _settings()

    async def main(settings: Settings) -> None:
        revision = await _migrate(settings)
        typer.echo(f"database is at revision {revision}")

    with database_ready(settings, migrating=True) as settings:
        _run(main(settings))


@cli.command()
def makemigration(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Write a new migration from the difference between models and the database (review it!)."""
    from carebridge.platform.migrate import make_revision

    settings = _settings()

    async def main(settings: Settings) -> None:
        await _migrate(settings)
        database = Database.from_settings(settings, migrating=True)
        try:
            await make_revision(database.engine, message)
        finally:
            await database.dispose()

    with database_ready(settings) as settings:
        _run(main(settings))


async def _seed_demo(settings: Settings) -> None:
    from carebridge.platform.registry import DEMO_SEED_MODULES
    from carebridge.seed import seed_demo

    if settings.is_production:
        raise Abort("demo data is for development and trials, never for production")
    database = Database.from_settings(settings)
    try:
        results = await seed_demo(database, settings)
    finally:
        await database.dispose()
    if not results:
        typer.echo("demo data: no domain has demo data yet")
    for name, created in results.items():
        typer.echo(f"demo data: {name}: {created} created")
    for module_path in DEMO_SEED_MODULES:
        describe = getattr(importlib.import_module(module_path), "describe", None)
        if describe is not None:
            typer.secho(describe(), fg=typer.colors.CYAN)


@cli.command()
def seed(demo: Annotated[bool, typer.Option(help="Load the demo data set.")] = False) -> None:
    """Load data into the database (idempotent: running it twice creates nothing new)."""
    if not demo:
        fail("say what to seed: --demo")
    settings = _settings()
    with database_ready(settings) as settings:
        _run(_migrate(settings))
        _run(_seed_demo(settings))


@cli.command()
def check() -> None:
    """Print configuration problems and test connectivity to the database and Redis."""
    from carebridge.platform.health import run_checks
    from carebridge.platform.metrics import Metrics
    from carebridge.platform.roles import audit_guard
    from carebridge.platform.runtime import Runtime

    try:
        settings = load_settings()
    except ValueError as exc:
        fail(f"invalid configuration:\n{exc}")
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    problems = settings.problems()
    typer.echo(f"environment: {settings.environment!s}")
    for problem in problems:
        typer.secho(f"  config: {problem}", fg=typer.colors.RED)

    async def main(settings: Settings) -> tuple[bool, bool, bool]:
        runtime = Runtime.create(settings, Metrics())
        await runtime.open()
        try:
            results = await run_checks(runtime)
            guard = None
            if results["database"].status == "ok":
                async with runtime.database.engine.connect() as conn:
                    guard = await audit_guard(conn)
        finally:
            await runtime.close()
        for name, result in results.items():
            color = typer.colors.GREEN if result.status == "ok" else typer.colors.RED
            line = f"  {name}: {result.status}" + (f" ({result.error})" if result.error else "")
            typer.secho(line, fg=color)
        guarded = _print_audit_guard(settings, guard)
        placed = _print_public_url(settings)
        return all(result.status == "ok" for result in results.values()), guarded, placed

    if settings.is_production and settings.database_url is None:
        typer.secho("  connectivity: not checked (no database URL)", fg=typer.colors.RED)
        raise typer.Exit(1)
    with database_ready(settings) as settings:
        healthy, guarded, placed = asyncio.run(main(settings))
    if problems or not healthy or (settings.is_production and not guarded):
        raise typer.Exit(1)
    if not (guarded and placed):
        typer.secho("all good, but for the warning above", fg=typer.colors.YELLOW)
        return
    typer.secho("all good", fg=typer.colors.GREEN)


def _print_public_url(settings: Settings) -> bool:
    """One line on whether the public URL is where ``serve`` listens (CAREBRIDGE_HOST and
    _PORT); False (a warning) when it is not, outside development."""
    elsewhere = settings.served_elsewhere(settings.host, settings.port)
    if elsewhere is None:
        typer.secho(f"  public_url: ok ({settings.public_base_url})", fg=typer.colors.GREEN)
        return True
    if settings.environment == Environment.development:
        note = "in development a page of the served address may open the live stream too"
        typer.secho(f"  public_url: ok ({elsewhere}; {note})", fg=typer.colors.GREEN)
        return True
    typer.secho(f"  public_url: warning ({elsewhere})", fg=typer.colors.YELLOW)
    return False


def _print_audit_guard(settings: Settings, guard: AuditGuard | None) -> bool:
    """One line on the application's role; True when it cannot switch off the audit guard.
    A warning outside production, a failure in production (where serve refuses to start)."""
    if guard is None:
        typer.secho("  audit_guard: skipped (no database)", fg=typer.colors.RED)
        return False
    if guard.holds:
        typer.secho(f"  audit_guard: ok ({guard.describe()})", fg=typer.colors.GREEN)
        return True
    status, color = (
        ("fail", typer.colors.RED) if settings.is_production else ("warning", typer.colors.YELLOW)
    )
    typer.secho(f"  audit_guard: {status} ({guard.describe()}; {_ROLES_HELP})", fg=color)
    return False


users = typer.Typer(help="Manage accounts.", no_args_is_help=True)
keys = typer.Typer(help="Manage the keys that sign access tokens.", no_args_is_help=True)
cli.add_typer(users, name="users")
cli.add_typer(keys, name="keys")


def _run_in_transaction(settings: Settings, work: Callable[[Any], Any]) -> Any:
    """Migrate, then run ``work(session)`` in one transaction; domain errors become one line."""
    from carebridge.platform.errors import CareBridgeError

    async def main() -> Any:
        await _migrate(settings)
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                return await work(session)
        except CareBridgeError as exc:
            raise Abort(exc.detail) from exc
        finally:
            await database.dispose()

    with database_ready(settings) as settings:
        try:
            return asyncio.run(main())
        except Abort as exc:
            fail(str(exc))


@users.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's email address.")],
    name: Annotated[str, typer.Option(help="The admin's full name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CAREBRIDGE_ADMIN_PASSWORD",
            help="Asked for when not given.",
        ),
    ],
) -> None:
    """Create an administrator account (the first one, or another)."""
    from carebridge.accounts.service import create_admin as create

    settings = _settings()
    user = _run_in_transaction(
        settings, lambda db: create(db, settings, email=email, name=name, password=password)
    )
    typer.secho(f"admin {user.email} created (id {user.id})", fg=typer.colors.GREEN)


@keys.command("rotate")
def rotate_keys() -> None:
    """Start signing with a new key; the old one keeps verifying until its tokens expire."""
    from carebridge.accounts.tokens import rotate_signing_key
    from carebridge.compliance.service import record
    from carebridge.platform.crypto import Keyring

    settings = _settings()
    keyring = Keyring.from_settings(settings)

    async def work(db: Any) -> str:
        key = await rotate_signing_key(db, keyring)
        await record(
            db, action="auth.signing_key_rotated", resource_type="signing_key", resource_id=key.kid
        )
        return key.kid

    kid = _run_in_transaction(settings, work)
    typer.secho(
        f"new signing key {kid}; previous keys verify until their tokens expire",
        fg=typer.colors.GREEN,
    )


@cli.command()
def reencrypt(
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Rows per transaction (and per row lock).")
    ] = 500,
    dry_run: Annotated[
        bool,
        typer.Option(help="Open every value and count what would be re-sealed; write nothing."),
    ] = False,
) -> None:
    """Re-seal every encrypted value under the current CAREBRIDGE_ENCRYPTION_KEY.

    After a rotation, keep the old key in CAREBRIDGE_ENCRYPTION_PREVIOUS_KEYS until this has run
    (and reports no failure). Safe while the application runs; running it twice changes nothing.
    """
    from carebridge.compliance.service import record
    from carebridge.platform.crypto import Keyring
    from carebridge.platform.reencrypt import load_sealed_columns

    settings = _settings()
    keyring = Keyring.from_settings(settings)

    async def main(settings: Settings) -> list[ColumnReport]:
        await _migrate(settings)
        database = Database.from_settings(settings)
        try:
            reports = await _reencrypt_columns(
                database, keyring, load_sealed_columns(), batch_size, dry_run
            )
            async with database.transaction() as db:
                await record(
                    db,
                    action="crypto.reencrypted",
                    outcome="failure" if any(r.failed for r in reports) else "success",
                    resource_type="encryption_key",
                    resource_id=keyring.current_key_id.hex(),
                    dry_run=dry_run,
                    columns={r.column.name: _counts(r) for r in reports},
                )
            return reports
        finally:
            await database.dispose()

    with database_ready(settings) as settings:
        try:
            reports = asyncio.run(main(settings))
        except Abort as exc:
            fail(str(exc))
    if _print_reencrypt_summary(reports, dry_run):
        raise typer.Exit(1)


async def _reencrypt_columns(
    database: Database,
    keyring: Keyring,
    columns: list[SealedColumn],
    batch_size: int,
    dry_run: bool,
) -> list[ColumnReport]:
    """Walk each column under its own progress bar (on stderr, so stdout is the summary)."""
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from carebridge.platform.reencrypt import count_sealed, reencrypt_column

    reports: list[ColumnReport] = []
    with Progress(console=Console(stderr=True)) as progress:
        for column in columns:
            task = progress.add_task(column.name, total=await count_sealed(database, column))

            def advance(rows: int, task: TaskID = task) -> None:
                progress.advance(task, rows)

            reports.append(
                await reencrypt_column(
                    database,
                    keyring,
                    column,
                    batch_size=batch_size,
                    dry_run=dry_run,
                    advance=advance,
                )
            )
    return reports


def _counts(report: ColumnReport) -> dict[str, int]:
    return {
        "seen": report.seen,
        "resealed": report.resealed,
        "current": report.current,
        "failed": len(report.failed),
    }


def _print_reencrypt_summary(reports: list[ColumnReport], dry_run: bool) -> bool:
    """Print one line per column and the failed rows (ids only); True if any value failed."""
    resealed = "would re-seal" if dry_run else "re-sealed"
    totals = dict.fromkeys(("seen", "resealed", "current", "failed"), 0)
    for report in reports:
        counts = _counts(report)
        totals = {name: totals[name] + counts[name] for name in totals}
        typer.echo(
            f"{report.column.name}: {counts['seen']} seen, {counts['resealed']} {resealed}, "
            f"{counts['current']} already current, {counts['failed']} failed"
        )
        for failure in report.failed[:20]:
            typer.secho(
                f"  cannot decrypt {report.column.name} row {failure.row_id}: {failure.reason}",
                fg="red",
                err=True,
            )
        if len(report.failed) > 20:
            typer.secho(f"  ... and {len(report.failed) - 20} more", fg="red", err=True)
    typer.secho(
        f"total: {totals['seen']} seen, {totals['resealed']} {resealed}, "
        f"{totals['current']} already current, {totals['failed']} failed",
        fg=typer.colors.RED if totals["failed"] else typer.colors.GREEN,
    )
    return totals["failed"] > 0


audit = typer.Typer(help="The sealed audit trail.", no_args_is_help=True)
cli.add_typer(audit, name="audit")


@audit.command("verify")
def verify_audit() -> None:
    """Recompute the sealed audit trail (events, batches, chain, signatures) and print a
    summary; on the first problem, print what and where, and exit 1."""
    from carebridge.compliance.verify import Report, verify

    settings = _settings()

    async def main(settings: Settings) -> Report:
        database = Database.from_settings(settings)
        try:
            await _ping(database)
            async with database.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                return await verify(raw)
        finally:
            await database.dispose()

    with database_ready(settings) as settings:
        try:
            report = asyncio.run(main(settings))
        except Abort as exc:
            fail(str(exc))
    start = "nothing sealed yet" if report.first_batch is None else f"batch {report.first_batch}"
    typer.echo(f"start: {start}")
    typer.echo(f"batches: {report.batches} checked")
    typer.echo(f"events: {report.events} sealed and checked")
    typer.echo(f"last hash: {report.last_hash.hex() if report.last_hash else '-'}")
    if report.problem is not None:
        typer.secho(f"FAILED: {report.problem.describe()}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"pending seal: {report.pending} events")
    typer.secho(f"the audit trail is intact ({report.seconds:.1f} s)", fg=typer.colors.GREEN)


retention = typer.Typer(help="Apply the retention periods of the data.", no_args_is_help=True)
cli.add_typer(retention, name="retention")


@retention.command("run")
def run_retention(
    dry_run: Annotated[
        bool, typer.Option(help="Count what each class would purge; change nothing.")
    ] = False,
) -> None:
    """Purge every class of data of what is older than its retention period, as the daily job
    does (docs/compliance.md, "Retention"), and print what each class purged."""
    from carebridge.compliance.retention import Applied, apply
    from carebridge.platform.context import CallScope

    settings = _settings()

    async def main(settings: Settings) -> list[Applied]:
        await _migrate(settings)
        database = Database.from_settings(settings)
        try:
            return await apply(database, CallScope.system(settings), dry_run=dry_run)
        finally:
            await database.dispose()

    with database_ready(settings) as settings:
        applied = asyncio.run(main(settings))
    _print_retention(applied, dry_run)


def _print_retention(applied: list[Any], dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Retention (dry run: nothing changed)" if dry_run else "Retention")
    for heading in ("class", "period", "cutoff"):
        table.add_column(heading)
    table.add_column("would purge" if dry_run else "purged", justify="right")
    for row in applied:
        cutoff = row.cutoff.strftime("%Y-%m-%d %H:%M UTC")
        table.add_row(row.data_class.name, row.period, cutoff, str(row.count))
    Console(width=120).print(table)


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
