"""Where the platform learns about domains without importing them by name elsewhere.

Each domain that has tables, tasks, routers or demo data is listed here once. Adding a domain means
adding its module paths to these tuples: nothing else in the platform changes.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from carebridge.platform.models import Base

# Modules whose import registers SQLAlchemy models on Base.metadata.
MODEL_MODULES: tuple[str, ...] = (
    "carebridge.accounts.models",
    "carebridge.platform.patient_keys",
    "carebridge.compliance.models",
    "carebridge.compliance.seal_models",
    "carebridge.compliance.consent_models",
    "carebridge.compliance.alert_models",
    "carebridge.notifications.models",
    "carebridge.presence.models",
    "carebridge.directory.models",
    "carebridge.scheduling.models",
    "carebridge.payments.models",
    "carebridge.prescriptions.models",
    "carebridge.reviews.models",
    "carebridge.messaging.models",
    "carebridge.messaging.attachment_models",
    "carebridge.video.models",
    "carebridge.records.models",
    "carebridge.visits.models",
    "carebridge.governance.erasure_models",
    "carebridge.compliance.export_models",
)

# Modules that declare procrastinate tasks.
TASK_MODULES: tuple[str, ...] = (
    "carebridge.platform.housekeeping",
    "carebridge.accounts.tasks",
    "carebridge.compliance.tasks",
    "carebridge.notifications.tasks",
    "carebridge.scheduling.tasks",
    "carebridge.payments.tasks",
    "carebridge.prescriptions.tasks",
    "carebridge.messaging.tasks",
    "carebridge.records.tasks",
    "carebridge.governance.erasure_tasks",
    "carebridge.compliance.retention_tasks",
    "carebridge.compliance.export_tasks",
    "carebridge.compliance.detection_tasks",
)

# Modules exposing ``router`` (an APIRouter mounted under /api/v1).
API_ROUTER_MODULES: tuple[str, ...] = (
    "carebridge.directory.routes",  # first: the public listing is the busiest route
    # Early too: FastAPI tries routes in order (a few µs each), and booking is a hot write path.
    "carebridge.scheduling.routes",
    "carebridge.accounts.routes",
    "carebridge.notifications.routes",
    "carebridge.notifications.webhooks",
    "carebridge.accounts.realtime",
    "carebridge.presence.routes",
    "carebridge.scheduling.calendar",
    "carebridge.payments.routes",
    "carebridge.prescriptions.routes",
    "carebridge.reviews.routes",
    "carebridge.messaging.routes",
    "carebridge.messaging.attachment_routes",
    "carebridge.video.routes",
    "carebridge.records.trend_routes",  # before records.routes: /observations/series
    "carebridge.records.routes",
    "carebridge.records.medications_routes",
    "carebridge.records.diary_routes",
    "carebridge.records.document_routes",
    "carebridge.records.transfer_routes",
    "carebridge.visits.suggestion_routes",  # before visits.routes: /visits/suggestions
    "carebridge.visits.routes",
    "carebridge.visits.tracking_routes",
    "carebridge.visits.report_routes",
    "carebridge.compliance.routes",
    "carebridge.governance.erasure_routes",
    "carebridge.compliance.consent_routes",
    "carebridge.records.research_routes",
    "carebridge.compliance.export_routes",
    "carebridge.compliance.alert_routes",
    "carebridge.compliance.access_routes",
)

# Modules exposing ``root_router``, mounted at the root (well-known URLs, not under /api/v1).
ROOT_ROUTER_MODULES: tuple[str, ...] = ("carebridge.accounts.routes",)

# Modules exposing ``router``: the web app's pages, mounted at the root after the well-known URLs,
# in this order (a request is matched against the routes in the order they were mounted).
PAGE_ROUTER_MODULES: tuple[str, ...] = (
    "carebridge.web.verify",  # the public check of a printed prescription
    "carebridge.web.prescriptions",
    "carebridge.web.routes",  # the landing page and the API docs page
    "carebridge.web.home",
    "carebridge.web.scheduling",
    "carebridge.web.reviews",
    "carebridge.web.messaging",
    "carebridge.web.calls",
    "carebridge.web.message_files",
    "carebridge.web.accounts",
    "carebridge.web.notifications",
    "carebridge.web.directory",
    "carebridge.web.presence",
    "carebridge.web.admin",
    "carebridge.web.access_log",  # "Who saw my data"
    "carebridge.web.security_alerts",
    "carebridge.web.call_check",  # the pre-call check (camera, microphone, speakers, relay)
    "carebridge.web.call_waiting",  # the doctor's "Waiting for you" list, as a fragment
    "carebridge.web.records",  # the health record: dashboard, charts, a clinician's view
    "carebridge.web.record_sharing",
    "carebridge.web.record_medications",
    "carebridge.web.record_diary",  # symptoms, allergies, conditions, immunizations
    "carebridge.web.record_documents",
    "carebridge.web.nurse_visits",  # the nurse's day, the active visit, the report form
    "carebridge.web.visit_tracking",  # following the nurse on the map, live
    "carebridge.web.visit_reviews",  # before web.visits: /visits/reviews, not a visit's id
    "carebridge.web.visits",  # home visits: the patient's list, request form and visit page
    "carebridge.web.visit_dispatch",  # the dispatcher's board
    "carebridge.web.erasure",  # a patient's "Delete my account"
    "carebridge.web.consents",  # the consent page, the admin's documents, a person's consents
    "carebridge.web.data_export",  # the patient's "Download my data"
)

# Modules that register notification kinds (loaded before any kind is looked up, so a worker
# process knows every kind's templates without importing the web app).
NOTIFICATION_KIND_MODULES: tuple[str, ...] = (
    "carebridge.presence.kinds",
    "carebridge.scheduling.kinds",
    "carebridge.prescriptions.kinds",
    "carebridge.reviews.kinds",
    "carebridge.messaging.kinds",
    "carebridge.video.kinds",
    "carebridge.records.kinds",
    "carebridge.visits.kinds",
    "carebridge.governance.erasure_kinds",
)

# Modules that register real-time topics and connection hooks (platform/realtime/topics.py).
REALTIME_MODULES: tuple[str, ...] = (
    "carebridge.accounts.realtime",
    "carebridge.presence.realtime",
    "carebridge.messaging.realtime",
    "carebridge.video.realtime",
    "carebridge.visits.realtime",
)

# Modules that subscribe to another domain's hooks (platform/hooks.py), imported before a hook
# first fires.
HOOK_SUBSCRIPTION_MODULES: tuple[str, ...] = (
    "carebridge.compliance.subscriptions",
    "carebridge.notifications.subscriptions",
    "carebridge.payments.subscriptions",
    "carebridge.presence.subscriptions",
    "carebridge.messaging.subscriptions",
    "carebridge.video.subscriptions",
    "carebridge.visits.subscriptions",
)

# Modules exposing ``async def scrape(metrics, session)``, run at each /metrics scrape.
METRICS_MODULES: tuple[str, ...] = (
    "carebridge.notifications.metrics",
    "carebridge.compliance.metrics",
    "carebridge.compliance.retention_metrics",
    "carebridge.compliance.alert_metrics",
)

# Modules exposing ``RETENTION: tuple[DataClass, ...]`` (platform/retention.py): the classes of
# data with a retention period, applied daily in this order (compliance/retention.py).
RETENTION_MODULES: tuple[str, ...] = (
    "carebridge.platform.housekeeping",
    "carebridge.accounts.retention",
    "carebridge.notifications.retention",
    "carebridge.messaging.retention",
    "carebridge.visits.retention",
    "carebridge.compliance.retention",
    "carebridge.governance.retention",
)

# Modules exposing ``async def export_patient(db, scope, patient_id) -> DomainExport``
# (platform/exporting.py): what each domain holds about a patient, one JSON document each in the
# patient's data export (named after the domain, or the module's ``DOCUMENT``), with their files.
EXPORT_MODULES: tuple[str, ...] = (
    "carebridge.accounts.export",
    "carebridge.directory.export",
    "carebridge.presence.export",
    "carebridge.scheduling.export",
    "carebridge.payments.export",
    "carebridge.prescriptions.export",
    "carebridge.reviews.export",
    "carebridge.messaging.export",
    "carebridge.video.export",
    "carebridge.records.export",
    "carebridge.visits.export",
    "carebridge.notifications.export",
    "carebridge.compliance.consent_export",
    "carebridge.compliance.audit_export",
)

# Modules exposing ``async def seed_demo(session, settings) -> int`` (rows created), run in this
# order; a module's ``describe() -> str``, if it has one, is printed after seeding (credentials).
DEMO_SEED_MODULES: tuple[str, ...] = (
    "carebridge.accounts.demo",
    "carebridge.directory.demo",
    "carebridge.scheduling.demo",
    "carebridge.reviews.demo",  # after scheduling: reviews follow past appointments
    "carebridge.messaging.demo",  # after scheduling: conversations follow appointments
    "carebridge.video.demo",
    "carebridge.records.demo",
    "carebridge.visits.demo",
    "carebridge.compliance.consent_demo",  # last: every demo user accepts version 1
)

# Modules exposing ``SEALED_COLUMNS: tuple[SealedColumn, ...]`` (platform/crypto.py): every column
# sealed with the keyring, which ``carebridge reencrypt`` moves to the current key.
SEALED_COLUMN_MODULES: tuple[str, ...] = (
    "carebridge.accounts.sealed",
    "carebridge.platform.patient_keys",
    "carebridge.directory.sealed",
    "carebridge.scheduling.sealed",
    "carebridge.prescriptions.sealed",
    "carebridge.messaging.sealed",
    "carebridge.records.sealed",
    "carebridge.visits.sealed",
)


# Modules exposing ``ERASURE_RULES: tuple[ErasureRule, ...]`` (platform/erasure.py): what erasing
# a patient does to each table. Run in this order, at the erasure and again when the legal hold
# ends: a table before the tables it references.
ERASURE_MODULES: tuple[str, ...] = (
    "carebridge.messaging.erasure",
    "carebridge.video.erasure",
    "carebridge.visits.erasure",
    "carebridge.reviews.erasure",
    "carebridge.records.erasure",
    "carebridge.prescriptions.erasure",
    "carebridge.payments.erasure",
    "carebridge.scheduling.erasure",
    "carebridge.presence.erasure",
    "carebridge.notifications.erasure",
    "carebridge.directory.erasure",
    "carebridge.compliance.erasure",
    "carebridge.platform.patient_keys",
    "carebridge.accounts.erasure",
)


def load_models() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata
