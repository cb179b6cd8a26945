"""CareBridge settings: every knob is an environment variable ``CAREBRIDGE_*``.

Development needs no configuration at all: the database is an embedded PostgreSQL under the data
dir and secrets are generated once into ``<data dir>/secrets.json`` and reused. Production refuses
to start with missing or development secrets (see :func:`Settings.problems`).
"""

from __future__ import annotations

import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from carebridge.platform.money import check_currency


class Environment(StrEnum):
    development = "development"
    production = "production"
    test = "test"


# The secrets a deployment must provide. Each maps to a Settings field of the same name.
SECRET_NAMES: tuple[str, ...] = ("secret_key", "encryption_key")
_SECRETS_FILE = "secrets.json"
_MIN_SECRET_LENGTH = 32
_PLACEHOLDER_SECRETS = frozenset({"secret", "development", "dev", "test", "insecure"})
_PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "replace", "placeholder", "example")


class ConfigurationError(Exception):
    """The configuration cannot run; ``problems`` says what is wrong, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# The addresses a setting accepts, by their beginning, and what to say of another.
_ADDRESS_FORMS = {
    "redis_url": (
        ("redis://", "rediss://", "unix://"),
        "must be a redis://, rediss:// or unix:// URL",
    ),
    "clamd_url": (
        ("tcp://", "unix://", "/"),
        "must be tcp://host:port, unix:///path or an absolute socket path",
    ),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CAREBRIDGE_", env_file=".env", extra="ignore", frozen=True
    )

    environment: Environment = Environment.development
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset starts an embedded PostgreSQL under the data dir.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the role that owns the schema, for migrations only; "
        "unset: migrations connect with CAREBRIDGE_DATABASE_URL.",
    )
    redis_url: str | None = Field(default=None, description="Redis URL for multi-process fan-out.")
    secret_key: SecretStr | None = Field(default=None, description="Signing key (32+ chars).")
    encryption_key: SecretStr | None = Field(
        default=None, description="Key material for PHI encryption at rest (32+ chars)."
    )
    encryption_previous_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Earlier encryption keys (comma-separated): still decrypt, never encrypt.",
    )
    patient_key_cache_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a process keeps a patient's data key in memory: a key destroyed "
        "by another process stops opening here within this time.",
    )
    data_dir: Path = Field(default=Path("./var"), description="Embedded database, files, keys.")
    public_base_url: str = "http://localhost:8000"
    log_format: Literal["auto", "pretty", "json"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    docs_enabled: bool = True
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics requires 'Authorization: Bearer <token>'."
    )

    db_pool_size: int = Field(
        default=20, ge=1, description="Connections a process keeps (opened as they are needed)."
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Connections opened above the pool for a moment, closed when returned: "
        "none by default (under load they are opened and closed on every request: "
        "docs/performance.md, 'Chat').",
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Wait for a free pooled connection; then 503 busy."
    )
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    auto_migrate: bool | None = Field(
        default=None, description="Migrate on serve; defaults to on outside production."
    )
    in_process_worker: bool | None = Field(
        default=None, description="Run a job worker inside serve; defaults to on in development."
    )
    worker_concurrency: int = Field(default=4, ge=1)
    worker_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Queues workers take jobs from (comma-separated); all when empty.",
    )
    job_retention_days: int = Field(
        default=7,
        ge=1,
        description="Finished jobs (succeeded, cancelled, aborted) are kept this many days after "
        "they ended (retention class jobs; failed jobs are kept).",
    )
    # Retention periods of the other classes of data (docs/compliance.md, "Retention"); the
    # home visits' tracks keep visit_track_days.
    retention_sessions_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Sessions and their refresh tokens are kept this many days after they were "
        "revoked or expired.",
    )
    retention_one_time_tokens_days: int = Field(
        default=1,
        ge=1,
        le=3650,
        description="Email links are kept this many days after they were used or expired.",
    )
    retention_notifications_days: int = Field(
        default=365,
        ge=1,
        le=36500,
        description="In-app notifications are kept this many days (with their deliveries).",
    )
    retention_delivery_logs_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description="The email, SMS and push delivery log is kept this many days after the "
        "delivery finished.",
    )
    retention_message_content_days: int = Field(
        default=3650,
        ge=1,
        le=36500,
        description="Message text and attachments are kept this many days after their "
        "conversation was closed (the medical record's period by default).",
    )
    retention_audit_years: int = Field(
        default=6,
        ge=6,
        le=100,
        description="Audit events are kept this many years, at least 6 (HIPAA 45 CFR "
        "164.316(b)(2)): a smaller value refuses to start.",
    )
    worker_heartbeat_seconds: float = Field(
        default=10, gt=0, description="How often a worker tells the queue it is alive."
    )
    worker_stalled_seconds: float = Field(
        default=30,
        gt=0,
        description="A worker silent this long is taken for dead: its jobs are run again.",
    )

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    session_idle_days: int = Field(default=7, ge=1)
    session_absolute_days: int = Field(default=30, ge=1)
    login_lock_threshold: int = Field(
        default=10, ge=3, description="Consecutive failed logins that lock an account."
    )
    login_lock_minutes: int = Field(default=15, ge=1)
    password_hash_cost: Literal["standard", "minimal"] = Field(
        default="standard",
        description="argon2id's cost for passwords: 'minimal' is for test suites only "
        "(refused in production).",
    )
    require_mfa_for_staff: bool | None = Field(
        default=None,
        description="Doctors, nurses and admins must enrol a second factor (on in production).",
    )
    staff_second_factor: Literal["any", "passkey"] = Field(
        default="any",
        description=(
            "What counts as staff's second factor where it is required: 'any' (an authenticator "
            "app or a passkey) or 'passkey' (only a passkey; recovery codes still sign in)."
        ),
    )
    web_idle_minutes: int = Field(default=30, ge=5, description="Browser sign-out when idle.")
    web_absolute_hours: int = Field(default=12, ge=1, description="Browser sign-out in all.")
    email_token_hours: int = Field(default=48, ge=1, description="Email verification link life.")
    reset_token_minutes: int = Field(default=30, ge=5, description="Password reset link life.")

    notification_max_attempts: int = Field(default=6, ge=1, le=50)
    notification_retry_base_seconds: float = Field(default=30, ge=0.1)
    notification_retry_cap_seconds: float = Field(default=3600, ge=1)
    notification_sending_timeout_seconds: int = Field(
        default=300, ge=10, description="A delivery left 'sending' this long is retried."
    )
    email_rate_limit: str = Field(default="50/second", description="Emails sent per second.")

    vapid_private_key: SecretStr | None = Field(
        default=None, description="Web push VAPID private key (PEM); generated in development."
    )
    vapid_subject: str = "mailto:admin@carebridge.localhost"

    cache_ttl_seconds: float = Field(
        default=30, ge=0, description="Life of cached listings (doctor search); 0 turns it off."
    )
    cache_max_entries: int = Field(
        default=10_000, ge=10, description="Entries the in-memory cache keeps per process."
    )

    sms_transport: Literal["log", "twilio"] = Field(
        default="log", description="'log' writes SMS to the log; 'twilio' sends them."
    )
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(default=None, description="Sender number (E.164).")
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    sms_rate_limit: str = "10/second"
    api_key_rate_limit: str = Field(
        default="600/minute", description="Requests one API key may make (429 beyond)."
    )

    mail_transport: Literal["file", "smtp"] = Field(
        default="file", description="'file' writes .eml files under <data dir>/outbox."
    )
    mail_from: str = "CareBridge <no-reply@carebridge.localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None

    realtime_ticket_seconds: int = Field(
        default=30, ge=5, le=300, description="WebSocket ticket life."
    )
    realtime_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to open the WebSocket (default: public URL, CORS origins).",
    )
    realtime_ping_seconds: float = Field(default=20, gt=0, description="Server ping interval.")
    realtime_idle_timeout_seconds: float = Field(
        default=60, gt=0, description="A socket silent this long (no pong, no message) is dropped."
    )
    realtime_send_buffer_bytes: int = Field(
        default=256 * 1024, ge=4096, description="A socket with more unsent bytes is behind."
    )
    realtime_slow_client_seconds: float = Field(
        default=5, gt=0, description="A socket behind this long is disconnected."
    )
    realtime_queue_frames: int = Field(
        default=256, ge=8, description="Frames queued per socket when not served by uvicorn."
    )
    realtime_max_subscriptions: int = Field(default=100, ge=1)
    presence_offline_grace_seconds: float = Field(
        default=60, ge=0, description="An online doctor whose last socket closed goes offline."
    )
    presence_follow_window_minutes: int = Field(
        default=120, ge=1, description="At most one 'doctor online' notice per follower per window."
    )

    max_future_appointments: int = Field(
        default=5, ge=1, le=100, description="Upcoming appointments a patient may hold at once."
    )
    appointment_change_cutoff_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="Patients cancel (refunded) or reschedule up to this many hours before.",
    )
    consultation_early_start_minutes: int = Field(
        default=10,
        ge=0,
        le=1440,
        description="A doctor may start a consultation this many minutes before its time.",
    )
    no_show_grace_minutes: int = Field(
        default=15,
        ge=0,
        le=1440,
        description="A no-show may be marked this many minutes after the appointment's start.",
    )
    call_open_minutes_before: int = Field(
        default=10,
        ge=0,
        le=1440,
        description="A video appointment's call room opens this many minutes before its start.",
    )
    call_grace_minutes: int = Field(
        default=30,
        ge=0,
        le=1440,
        description="The call room stays open this long after the appointment's end.",
    )
    call_silent_seconds: float = Field(
        default=45,
        ge=5,
        le=3600,
        description="A call member who posts nothing for this long is taken as gone.",
    )
    call_max_participants: int = Field(
        default=4, ge=2, le=4, description="People in one call at once (a peer-to-peer mesh)."
    )
    record_access_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="A doctor reads a patient's health record this many days after their last "
        "appointment together (and before any upcoming one).",
    )
    record_emergency_minutes: int = Field(
        default=60,
        ge=5,
        le=1440,
        description='An emergency ("break the glass") opening of a record lasts this long.',
    )
    record_grant_max_days: int = Field(
        default=366,
        ge=1,
        le=3660,
        description="The longest a patient may share their record with a clinician at once.",
    )
    erasure_grace_days: int = Field(
        default=14,
        ge=0,
        le=90,
        description="A patient's account is erased this many days after they ask, unless they "
        "cancel in between.",
    )
    medical_retention_years: int = Field(
        default=10,
        ge=1,
        le=100,
        description="What the law requires the clinic to keep of an erased patient (the health "
        "record, consultations, prescriptions, visits, payments) is held this many years after "
        "the erasure, then deleted by the retention job.",
    )
    audit_seal_batch_size: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="The most audit events one seal batch covers (one transaction each).",
    )
    audit_export_max_rows: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="An audit trail CSV export stops after this many rows (the last line says so).",
    )
    alert_record_patients: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="Security alert: a clinician reads (or is refused) the records of more than "
        "this many different patients within an hour without a care relationship.",
    )
    alert_failed_signins: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="Security alert: this many failed sign-ins from one address within an hour...",
    )
    alert_failed_signin_accounts: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="... across at least this many different accounts.",
    )
    alert_export_rows: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Security alert: an audit trail CSV export of more than this many rows.",
    )
    visit_track_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="A completed home visit's exact track is kept this many days, then reduced "
        "to its distance and times.",
    )
    visit_nurses_claim: bool = Field(
        default=False,
        description="Nurses may claim open home visits within their radius themselves (otherwise "
        "only a dispatcher assigns).",
    )
    visit_set_off_minutes_before: int = Field(
        default=120,
        ge=0,
        le=1440,
        description="A nurse may set off for a home visit this long before its window opens.",
    )
    visit_no_show_minutes: int = Field(
        default=15,
        ge=1,
        le=240,
        description="A nurse at the door may record a no-show after waiting this long.",
    )
    visit_arrival_meters: int = Field(
        default=150,
        ge=10,
        le=5000,
        description='Within this distance of the address the nurse\'s page offers "Arrived".',
    )
    visit_position_seconds: float = Field(
        default=5,
        ge=0.5,
        le=600,
        description="The shortest interval between two positions a nurse's device sends.",
    )
    visit_speed_kmh: float = Field(
        default=30,
        ge=1,
        le=200,
        description="The travel speed arrival estimates assume (straight-line distance).",
    )
    map_tile_url: str = Field(
        default="",
        max_length=500,
        description="Map tiles for the home visit maps ({z}/{x}/{y} template, such as a clinic's "
        "own tile server); empty: maps show the points and tracks on a blank background.",
    )
    map_tile_attribution: str = Field(
        default="", max_length=500, description="The attribution the tile provider requires."
    )
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="TURN servers for calls (turn:/turns: URLs, comma-separated).",
    )
    stun_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="STUN servers for calls (stun: URLs, comma-separated)."
    )
    call_ice_transport_policy: Literal["all", "relay"] = Field(
        default="all",
        description="'relay': calls go through TURN only (no one learns another's address).",
    )
    turn_secret: SecretStr | None = Field(
        default=None,
        description="coturn's static-auth-secret (use-auth-secret): signs TURN credentials.",
    )
    reminder_minutes_before: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1440, 60],
        description="Appointment reminders, minutes before the start (comma-separated).",
    )
    payment_provider: Literal["offline", "stripe"] = Field(
        default="offline",
        description="'offline': paid at the clinic, bookings confirm at once; 'stripe': online.",
    )
    payment_hold_minutes: int = Field(
        default=15, ge=1, le=1440, description="An unpaid booking holds its slot this long."
    )
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="The signing secret of the Stripe webhook endpoint (whsec_...)."
    )
    stripe_api_base: str | None = Field(
        default=None, description="Another address for Stripe's API (a local test server)."
    )
    stripe_webhook_tolerance_seconds: int = Field(
        default=300, ge=1, description="Webhook events signed longer ago are refused."
    )
    # Files (prescription PDFs, later attachments): a local directory unless a URL is given.
    storage_url: str | None = Field(
        default=None,
        description="Object storage, e.g. s3://bucket/prefix; unset: <data dir>/files.",
    )
    storage_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2, ...); unset: AWS."
    )
    storage_region: str | None = Field(default=None, description="S3 region.")
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    # Uploaded files (message attachments): see platform/files.py and platform/malware.py.
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest file a person may upload."
    )
    clamd_url: str | None = Field(
        default=None,
        description="clamd to scan uploads (tcp://host:port or a unix socket path); unset: none.",
    )
    export_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="A patient's data export can be downloaded this many days after it is "
        "ready; then its file is deleted.",
    )
    export_daily_limit: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Data exports a patient (or an admin for them) may request in 24 hours.",
    )
    clamd_timeout_seconds: float = Field(
        default=30, gt=0, le=600, description="A scan taking longer leaves the file unscanned."
    )
    clinic_name: str = Field(
        default="CareBridge Clinic", max_length=120, description="Printed on prescriptions."
    )
    clinic_address: str | None = Field(
        default=None, max_length=300, description="Printed under the clinic's name."
    )
    review_edit_days: int = Field(
        default=14, ge=0, le=365, description="A patient may edit a review this many days."
    )
    messaging_patient_write_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="A patient may write in a conversation this many days after their last "
        "appointment with its doctor (clinicians may always write in an open one).",
    )
    currency: str = Field(
        default="EUR",
        description="ISO 4217: the one currency of the clinic's fees, bookings and payments.",
    )

    @field_validator(
        "cors_origins",
        "worker_queues",
        "realtime_allowed_origins",
        "turn_urls",
        "stun_urls",
        mode="before",
    )
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_previous_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reminder_minutes_before", mode="before")
    @classmethod
    def _split_minutes(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "database_url",
        "migration_database_url",
        "redis_url",
        "storage_url",
        "clamd_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("postgresql://", "postgresql+", "postgres://")
        ):
            raise ValueError("must be a postgresql:// URL (CareBridge runs on PostgreSQL only)")
        return value

    @field_validator("redis_url", "clamd_url")
    @classmethod
    def _address_form(cls, value: str | None, info: ValidationInfo) -> str | None:
        prefixes, message = _ADDRESS_FORMS[str(info.field_name)]
        if value is not None and not value.startswith(prefixes):
            raise ValueError(message)
        return value

    @field_validator("worker_stalled_seconds")
    @classmethod
    def _stalled_after_missed_heartbeats(cls, value: float, info: ValidationInfo) -> float:
        # One late heartbeat (a busy event loop, a slow database) must not make a live worker
        # look dead: its job would then run twice at once, its lock notwithstanding. A field
        # validator, not a model one: the error then shows this value, not every setting.
        heartbeat = info.data.get("worker_heartbeat_seconds")
        if heartbeat is not None and value < 2 * heartbeat:
            raise ValueError(
                "must be at least twice CAREBRIDGE_WORKER_HEARTBEAT_SECONDS "
                f"({heartbeat:g} s), so that one late heartbeat is not taken for a dead worker"
            )
        return value

    @field_validator("migration_database_url")
    @classmethod
    def _application_role_is_named(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Migrations grant the application's privileges to the user of CAREBRIDGE_DATABASE_URL;
        # without one, libpq would pick a user from the environment and the grants could miss.
        # A field validator, not a model one: the error then shows no other setting's value.
        if value is None or "database_url" not in info.data:  # unset, or its own error is shown
            return value
        database_url = info.data["database_url"]
        if database_url is None:
            raise ValueError(
                "set without CAREBRIDGE_DATABASE_URL, the application's own connection"
            )
        if not make_url(database_url).username:
            raise ValueError(
                "CAREBRIDGE_DATABASE_URL must name its user: migrations grant the "
                "application's privileges to that role"
            )
        return value

    # -- derived values -------------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.environment == Environment.production

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.is_production
        return self.log_format == "json"

    @property
    def should_auto_migrate(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else not self.is_production

    @property
    def staff_need_mfa(self) -> bool:
        if self.require_mfa_for_staff is not None:
            return self.require_mfa_for_staff
        return self.is_production

    @property
    def should_run_in_process_worker(self) -> bool:
        if self.in_process_worker is not None:
            return self.in_process_worker
        return self.environment == Environment.development

    @property
    def sqlalchemy_url(self) -> URL:
        """The database URL for SQLAlchemy over asyncpg."""
        return _require_url(self.database_url).set(drivername="postgresql+asyncpg")

    @property
    def migration_sqlalchemy_url(self) -> URL:
        """The URL migrations connect with: the schema owner's, or the application's own when
        no separate one is set."""
        url = _require_url(self.migration_database_url or self.database_url)
        return url.set(drivername="postgresql+asyncpg")

    @property
    def libpq_url(self) -> str:
        """The database URL in libpq form, for psycopg (the job queue)."""
        url = _require_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir.resolve() / "postgres"

    def secret(self, name: str) -> str:
        value: SecretStr | None = getattr(self, name)
        if value is None:
            raise ConfigurationError([f"CAREBRIDGE_{name.upper()} is not set"])
        return value.get_secret_value()

    # -- validation ----------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Configuration problems that must stop the service, one readable line each."""
        found: list[str] = []
        if self.is_production:
            dev_values = _read_dev_secrets(self.data_dir)
            for name in SECRET_NAMES:
                found.extend(_secret_problems(name, getattr(self, name), dev_values.get(name)))
            if self.metrics_token is not None:
                found.extend(_secret_problems("metrics_token", self.metrics_token, None))
            found.extend(_previous_key_problems(self.encryption_previous_keys))
            if self.database_url is None:
                found.append(
                    "CAREBRIDGE_DATABASE_URL is not set: production needs a managed PostgreSQL, "
                    "not the embedded development database"
                )
            if not self.public_base_url.startswith("https://"):
                found.append("CAREBRIDGE_PUBLIC_BASE_URL must be an https:// URL in production")
            if self.password_hash_cost != "standard":  # noqa: S105 - a cost, not a password
                found.append(
                    "CAREBRIDGE_PASSWORD_HASH_COST must be standard in production (minimal is "
                    "for test suites: such hashes are quick to guess)"
                )
        if self.turn_urls:
            found.extend(_turn_problems(self.turn_urls, self.turn_secret))
        if any(not url.startswith("stun:") for url in self.stun_urls):
            found.append("CAREBRIDGE_STUN_URLS takes stun: URLs")
        if self.payment_provider == "stripe":
            for name in ("stripe_secret_key", "stripe_webhook_secret"):
                if getattr(self, name) is None:
                    found.append(f"CAREBRIDGE_{name.upper()} is not set (payment provider stripe)")
        return found

    def served_elsewhere(self, host: str, port: int) -> str | None:
        """What to say when the public URL is not the address ``host``:``port`` being served
        (None when it is). Pages opened at another address than the public URL cannot open the
        live stream: the WebSocket's Origin check refuses them (in development it lets the
        served address in too)."""
        public = urlsplit(self.public_base_url)
        public_port = public.port or (443 if public.scheme == "https" else 80)
        loopback = {"127.0.0.1", "localhost", "::1"}
        same_host = (
            host in ("0.0.0.0", "::", "")  # noqa: S104 - serving every interface: any host
            or public.hostname == host
            or (public.hostname in loopback and host in loopback)
        )
        if same_host and public_port == port:
            return None
        return (
            f"CAREBRIDGE_PUBLIC_BASE_URL is {self.public_base_url} but CareBridge serves "
            f"http://{host}:{port}: pages opened at another address than the public URL get no "
            "live updates (the WebSocket's Origin check refuses them). Behind a proxy that "
            "serves the public URL this is expected; otherwise set CAREBRIDGE_PUBLIC_BASE_URL "
            "to the address people open"
        )

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigurationError(problems)


def _require_url(database_url: str | None) -> URL:
    if database_url is None:
        raise ConfigurationError(["no database URL: start the embedded PostgreSQL first"])
    url = make_url(database_url)
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(["CAREBRIDGE_DATABASE_URL must be a postgresql:// URL"])
    return url


def _turn_problems(urls: list[str], secret: SecretStr | None) -> list[str]:
    """TURN servers need the secret they share with CareBridge: without it no credential would
    work, and a placeholder would let anyone relay through them."""
    found = [
        f"CAREBRIDGE_TURN_URLS: {url!r} is not a turn: or turns: URL"
        for url in urls
        if not url.startswith(("turn:", "turns:"))
    ]
    found.extend(_secret_problems("turn_secret", secret, None))
    return found


def _secret_problems(name: str, value: SecretStr | None, dev_value: str | None) -> list[str]:
    env_name = f"CAREBRIDGE_{name.upper()}"
    if value is None:
        return [f"{env_name} is not set"]
    raw = value.get_secret_value()
    lowered = raw.lower()
    placeholder = lowered in _PLACEHOLDER_SECRETS or any(m in lowered for m in _PLACEHOLDER_MARKERS)
    if placeholder or (dev_value is not None and raw == dev_value):
        return [f"{env_name} is a development value; generate a new one for production"]
    if len(raw) < _MIN_SECRET_LENGTH:
        return [f"{env_name} is too short ({len(raw)} chars, at least {_MIN_SECRET_LENGTH})"]
    return []


def _previous_key_problems(keys: list[SecretStr]) -> list[str]:
    # Only the length: a retired key must stay usable to read what it sealed, whatever it was.
    return [
        f"CAREBRIDGE_ENCRYPTION_PREVIOUS_KEYS: key {number} is too short "
        f"({len(raw)} chars, at least {_MIN_SECRET_LENGTH})"
        for number, raw in enumerate((key.get_secret_value() for key in keys), start=1)
        if len(raw) < _MIN_SECRET_LENGTH
    ]


def _read_dev_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / _SECRETS_FILE
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in loaded.items()}


def _ensure_dev_secrets(data_dir: Path) -> dict[str, str]:
    """Generate the development secrets once into the data dir (mode 0600) and reuse them."""
    values = _read_dev_secrets(data_dir)
    missing = [name for name in SECRET_NAMES if name not in values]
    if missing:
        data_dir.mkdir(parents=True, exist_ok=True)
        values.update({name: secrets.token_urlsafe(48) for name in missing})
        path = data_dir / _SECRETS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle, indent=2)
    return values


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; outside production, unset secrets come from the
    data dir (generated on first use)."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.is_production:
        return settings
    unset = [name for name in SECRET_NAMES if getattr(settings, name) is None]
    if not unset:
        return settings
    generated = _ensure_dev_secrets(settings.data_dir)
    return settings.model_copy(update={name: SecretStr(generated[name]) for name in unset})


def export_to_environment(settings: Settings) -> None:
    """Expose values resolved at start-up (the embedded database URL) to child processes."""
    if settings.database_url is not None:
        os.environ["CAREBRIDGE_DATABASE_URL"] = settings.database_url
