"""Everything that belongs to a patient is in their export, and nothing of another patient's.

The walk is generated from the models: every foreign key to ``users.id`` is declared below as
the patient's (exported: a row is made and looked for) or as someone else's (with why). A
foreign key added later that is in neither fails the walk, so a new table cannot be forgotten.

One row of each table the patient owns is written (sealed values sealed with the keyring, files
sealed into the storage as the domains store them), the export is built by the job's own
function, and the ZIP is opened: each row's id (or a canary value, for rows keyed by their
owner) is in the right JSON document, each file is in it, and another patient's canaries are
not anywhere in it.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pypdf
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import AuthSession, KnownDevice, Passkey, Role, User
from carebridge.compliance import export
from carebridge.compliance.consent_models import ConsentDocument, ConsentEvent
from carebridge.compliance.export_archive import document_name
from carebridge.compliance.export_models import DataExport
from carebridge.config import Settings
from carebridge.directory import sealed as directory_sealed
from carebridge.directory.models import PatientProfile
from carebridge.messaging.attachment_models import Attachment
from carebridge.messaging.attachment_views import aad as attachment_aad
from carebridge.messaging.models import Conversation, ConversationMember, Message
from carebridge.messaging.sealed import BODY
from carebridge.notifications.models import Notification, Preference, PushSubscription, QuietHours
from carebridge.payments.models import Payment
from carebridge.platform import patient_keys
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import Database
from carebridge.platform.registry import load_models
from carebridge.platform.storage import sealed_storage_for, storage_for
from carebridge.prescriptions import sealed as prescription_sealed
from carebridge.prescriptions.models import Prescription, PrescriptionLine
from carebridge.presence.models import Follow
from carebridge.records import sealed as record_sealed
from carebridge.records.documents import aad as document_aad
from carebridge.records.models import (
    Allergy,
    Condition,
    EmergencyAccess,
    Immunization,
    Medication,
    MedicationDose,
    Observation,
    RecordDocument,
    RecordGrant,
    Symptom,
)
from carebridge.reviews.models import Review
from carebridge.scheduling.models import Appointment, Reminder
from carebridge.scheduling.sealed import REASON
from carebridge.video.models import Call, CallGuest, CallParticipant, CallQuality
from carebridge.visits import sealed as visit_sealed
from carebridge.visits.models import Visit, VisitPhoto, VisitReport, VisitTransition
from carebridge.visits.report_files import photo_aad
from tests.factories import MakeUser

PATIENT = "patient"

# Every foreign key to users.id: the patient's (exported) or whose it is instead, and why not.
FOREIGN_KEYS: dict[tuple[str, str], str] = {
    ("auth_sessions", "user_id"): PATIENT,
    ("known_devices", "user_id"): PATIENT,
    ("passkeys", "user_id"): PATIENT,
    ("push_subscriptions", "user_id"): PATIENT,
    ("notification_preferences", "user_id"): PATIENT,
    ("notification_quiet_hours", "user_id"): PATIENT,
    ("notifications", "recipient_id"): PATIENT,
    ("patient_profiles", "user_id"): PATIENT,
    ("doctor_follows", "patient_id"): PATIENT,
    ("consent_events", "user_id"): PATIENT,
    ("appointments", "patient_id"): PATIENT,
    ("appointment_reminders", "recipient_id"): PATIENT,
    ("payments", "patient_id"): PATIENT,
    ("prescriptions", "patient_id"): PATIENT,
    ("reviews", "patient_id"): PATIENT,
    ("conversations", "patient_id"): PATIENT,
    ("conversation_members", "user_id"): PATIENT,
    ("messages", "sender_id"): PATIENT,
    ("message_attachments", "uploader_id"): PATIENT,
    ("call_guests", "user_id"): PATIENT,
    ("call_participants", "user_id"): PATIENT,
    ("record_allergies", "patient_id"): PATIENT,
    ("record_conditions", "patient_id"): PATIENT,
    ("record_documents", "patient_id"): PATIENT,
    ("record_emergency_accesses", "patient_id"): PATIENT,
    ("record_grants", "patient_id"): PATIENT,
    ("record_immunizations", "patient_id"): PATIENT,
    ("record_observations", "patient_id"): PATIENT,
    ("record_symptoms", "patient_id"): PATIENT,
    ("record_medications", "patient_id"): PATIENT,
    ("record_medication_doses", "patient_id"): PATIENT,
    ("home_visits", "patient_id"): PATIENT,
    # Secrets and transient rows: a credential's hash is no data about the person.
    ("one_time_tokens", "user_id"): "a sign-in or email link's hash, short-lived",
    ("recovery_codes", "user_id"): "hashes of two-step recovery codes: secrets",
    ("passkey_challenges", "user_id"): "a passkey ceremony's challenge, minutes long",
    ("messaging_connections", "user_id"): "a live WebSocket connection, gone on disconnect",
    ("data_exports", "patient_id"): "the export itself",
    # Who did something to the patient's data: the author, not the owner.
    ("data_exports", "requested_by_id"): "the person who asked (the patient or an admin)",
    ("api_keys", "created_by"): "the administrator who made an integration's key",
    ("appointments", "doctor_id"): "the doctor",
    ("appointments", "cancelled_by"): "who cancelled (the row is exported as the patient's)",
    ("calendar_feeds", "doctor_id"): "a doctor's calendar feed",
    ("doctor_follows", "doctor_id"): "the doctor followed",
    ("consent_documents", "published_by_id"): "the administrator who published the document",
    ("security_alerts", "acknowledged_by"): "the administrator who acknowledged the alert",
    ("patient_keys", "patient_id"): "the patient's data keys: secrets that seal their data, "
    "never exported (the export holds the data they open)",
    ("doctor_presence", "doctor_id"): "a doctor's presence",
    ("doctor_profiles", "user_id"): "a doctor's profile",
    ("doctor_profiles", "verified_by"): "the administrator who verified a doctor",
    ("doctor_schedules", "doctor_id"): "a doctor's schedule",
    ("nurse_profiles", "user_id"): "a nurse's profile",
    ("presence_connections", "doctor_id"): "a doctor's live connection",
    ("visit_nurses", "nurse_id"): "a nurse's roster entry",
    ("record_allergies", "recorded_by_id"): "the author of a record entry",
    ("record_conditions", "recorded_by_id"): "the author of a record entry",
    ("record_documents", "recorded_by_id"): "the author of a record entry",
    ("record_immunizations", "recorded_by_id"): "the author of a record entry",
    ("record_observations", "recorded_by_id"): "the author of a record entry",
    ("record_symptoms", "recorded_by_id"): "the author of a record entry",
    ("record_medications", "recorded_by_id"): "the author of a record entry",
    ("record_medications", "prescribed_by_id"): "the prescribing doctor",
    ("record_emergency_accesses", "doctor_id"): "the doctor who opened the record",
    ("record_grants", "grantee_id"): "the clinician the record is shared with",
    ("call_guests", "invited_by"): "who invited the guest",
    ("calls", "ended_by"): "who ended the call",
    ("call_participants", "admitted_by"): "who let a participant in",
    ("home_visits", "ordered_by_id"): "the doctor who ordered a visit",
    ("home_visits", "nurse_id"): "the nurse",
    ("home_visits", "requested_by_id"): "who asked for the visit",
    ("prescriptions", "doctor_id"): "the prescribing doctor",
    ("reviews", "doctor_id"): "the doctor reviewed",
    ("reviews", "hidden_by"): "the moderator",
    ("conversations", "opened_by"): "who opened the conversation",
    ("conversations", "closed_by"): "who closed it",
    ("conversations", "doctor_id"): "the doctor",
    ("conversation_members", "added_by"): "who added a member",
    ("messages", "deleted_by"): "who deleted a message",
    ("visit_photos", "uploaded_by_id"): "the nurse who took the photo",
    ("visit_reports", "nurse_id"): "the nurse who wrote the report",
    ("visit_reports", "reviewer_id"): "the doctor who reviewed it",
    ("visit_transitions", "actor_id"): "who moved the visit",
    ("visit_transitions", "nurse_id"): "the nurse",
}


def foreign_keys_to_users() -> set[tuple[str, str]]:
    found = set()
    for table in load_models().tables.values():
        for key in table.foreign_keys:
            if key.column.table.name == "users":
                found.add((table.name, key.parent.name))
    return found


def test_every_foreign_key_to_a_user_is_declared() -> None:
    walked = foreign_keys_to_users()
    missing = sorted(walked - set(FOREIGN_KEYS))
    assert not missing, (
        f"declare in FOREIGN_KEYS of {__name__} whether these are a patient's data (and make "
        f"a row of them in World below) or whose they are: {missing}"
    )
    assert not sorted(set(FOREIGN_KEYS) - walked), "FOREIGN_KEYS names keys that are gone"


@dataclass
class World:
    """The rows written, and where each must be found: the foreign key it stands for, the
    document and list, and the value (an id, or a canary for rows keyed by their owner)."""

    db: AsyncSession
    keyring: Keyring
    settings: Settings
    now: datetime
    expected: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def seal(self, column: Any, row: object, text: str, patient: uuid.UUID | None = None) -> bytes:
        return self.keyring.seal(column, row, text, patient=patient)

    def expect(self, key: tuple[str, str], document: str, part: str, value: object) -> None:
        self.expected[key] = (document, part, str(value))


def _id() -> uuid.UUID:
    return uuid.uuid4()


async def _accounts(world: World, patient: User) -> None:
    db, now = world.db, world.now
    session = AuthSession(
        id=_id(),
        user_id=patient.id,
        idle_expires_at=now + timedelta(days=1),
        absolute_expires_at=now + timedelta(days=30),
    )
    device = KnownDevice(id=_id(), user_id=patient.id, device_hash=b"d" * 32, last_seen_at=now)
    passkey = Passkey(
        id=_id(), user_id=patient.id, credential_id=uuid.uuid4().bytes, public_key=b"k", name="Mine"
    )
    db.add_all([session, device, passkey])
    world.expect(("auth_sessions", "user_id"), "accounts", "sessions", session.id)
    world.expect(("known_devices", "user_id"), "accounts", "known_devices", device.id)
    world.expect(("passkeys", "user_id"), "accounts", "passkeys", passkey.id)


async def _notifications(world: World, patient: User) -> None:
    push = PushSubscription(
        id=_id(),
        user_id=patient.id,
        endpoint=f"https://push.example/{patient.id}",
        p256dh="p",
        auth="a",
    )
    note = Notification(id=_id(), recipient_id=patient.id, kind="export_ready", title="T", body="B")
    world.db.add_all(
        [
            push,
            note,
            Preference(user_id=patient.id, kind="canary_kind", channel="email", enabled=False),
            QuietHours(user_id=patient.id, starts=time(22, 17), ends=time(7)),
        ]
    )
    world.expect(("push_subscriptions", "user_id"), "notifications", "push_subscriptions", push.id)
    world.expect(("notifications", "recipient_id"), "notifications", "notifications", note.id)
    world.expect(
        ("notification_preferences", "user_id"), "notifications", "preferences", "canary_kind"
    )
    world.expect(
        ("notification_quiet_hours", "user_id"), "notifications", "quiet_hours", "22:17:00"
    )


async def _profile(world: World, patient: User, doctor: User) -> None:
    profile = PatientProfile(user_id=patient.id, sex="female")
    profile.date_of_birth_sealed = world.seal(directory_sealed.DATE_OF_BIRTH, profile, "1971-02-03")
    world.db.add_all([profile, Follow(patient_id=patient.id, doctor_id=doctor.id)])
    world.expect(("patient_profiles", "user_id"), "directory", "patient_profile", "1971-02-03")
    world.expect(("doctor_follows", "patient_id"), "presence", "followed_doctors", doctor.id)


async def appointment_of(world: World, patient: User, doctor: User, hours: int) -> Appointment:
    starts = world.now.replace(microsecond=0) - timedelta(hours=hours)
    row = Appointment(
        id=_id(),
        doctor_id=doctor.id,
        patient_id=patient.id,
        type="video",
        status="completed",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        blocked_until=starts + timedelta(minutes=30),
        time_zone="UTC",
    )
    row.reason_sealed = world.seal(REASON, row, f"reason of {patient.id}")
    world.db.add(row)
    await world.db.flush()
    return row


async def _care(world: World, patient: User, doctor: User) -> Appointment:
    db, now = world.db, world.now
    booked = await appointment_of(world, patient, doctor, hours=30)
    db.add(
        Reminder(appointment_id=booked.id, recipient_id=patient.id, minutes_before=1441, due_at=now)
    )
    payment = Payment(
        id=_id(),
        appointment_id=booked.id,
        patient_id=patient.id,
        provider="offline",
        amount=4200,
        currency="EUR",
        status="succeeded",
    )
    review = Review(
        id=_id(), appointment_id=booked.id, doctor_id=doctor.id, patient_id=patient.id, rating=4
    )
    db.add_all([payment, review])
    world.expect(("appointments", "patient_id"), "scheduling", "appointments", booked.id)
    world.expect(("appointment_reminders", "recipient_id"), "scheduling", "reminders", 1441)
    world.expect(("payments", "patient_id"), "payments", "payments", payment.id)
    world.expect(("reviews", "patient_id"), "reviews", "reviews", review.id)
    return booked


async def _prescription(world: World, booked: Appointment) -> None:
    db = world.db
    row = Prescription(
        id=_id(), appointment_id=booked.id, doctor_id=booked.doctor_id, patient_id=booked.patient_id
    )
    row.diagnosis_sealed = world.seal(prescription_sealed.DIAGNOSIS, row, "canary diagnosis")
    db.add(row)
    await db.flush()
    db.add(PrescriptionLine(id=_id(), prescription_id=row.id, position=1, name="Canaryzol"))
    await db.flush()
    key = f"prescriptions/{row.id}.pdf"
    await storage_for(world.settings).put(key, b"%PDF-1.4 canary prescription")
    await db.execute(
        update(Prescription)
        .where(Prescription.id == row.id)
        .values(
            status="issued",
            issued_at=world.now,
            verification_code=uuid.uuid4().hex[:12].upper(),
            pdf_status="ready",
            pdf_key=key,
        )
    )
    world.expect(("prescriptions", "patient_id"), "prescriptions", "prescriptions", row.id)
    world.files.append(f"files/prescriptions/{row.id}.pdf")


async def _messaging(world: World, patient: User, booked: Appointment) -> None:
    db = world.db
    conversation = Conversation(
        id=_id(),
        kind="appointment",
        appointment_id=booked.id,
        patient_id=patient.id,
        doctor_id=booked.doctor_id,
    )
    db.add(conversation)
    await db.flush()
    db.add(ConversationMember(conversation_id=conversation.id, user_id=patient.id, role="patient"))
    message = Message(
        id=_id(), conversation_id=conversation.id, seq=1, sender_id=patient.id, client_id=_id()
    )
    message.body_sealed = world.seal(BODY, message, "canary message", patient.id)
    db.add(message)
    await db.flush()
    content = b"canary attachment"
    attachment = Attachment(
        id=_id(),
        message_id=message.id,
        conversation_id=conversation.id,
        uploader_id=patient.id,
        position=0,
        media_type="text/plain",
        filename="notes.txt",
        size=len(content),
        storage_key=f"messaging/{conversation.id}/{_id()}",
        scan_state="clean",
    )
    db.add(attachment)
    await sealed_storage_for(world.settings, world.keyring).put(
        attachment.storage_key, content, associated_data=attachment_aad(attachment.id)
    )
    world.expect(("conversations", "patient_id"), "messaging", "conversations", conversation.id)
    world.expect(("conversation_members", "user_id"), "messaging", "members", conversation.id)
    world.expect(("messages", "sender_id"), "messaging", "messages", message.id)
    world.expect(("message_attachments", "uploader_id"), "messaging", "attachments", attachment.id)
    world.files.append(f"files/messaging/{attachment.id}-notes.txt")


async def _video(world: World, patient: User, booked: Appointment) -> None:
    db, now = world.db, world.now
    call = Call(id=_id(), appointment_id=booked.id)
    db.add(call)
    await db.flush()
    participant = CallParticipant(
        id=_id(),
        call_id=call.id,
        user_id=patient.id,
        role="patient",
        state="in_call",
        joined_at=now,
        last_seen_at=now,
    )
    db.add(participant)
    db.add(
        CallGuest(
            appointment_id=booked.id,
            user_id=patient.id,
            invited_by=booked.doctor_id,
            invited_at=now,
        )
    )
    await db.flush()
    db.add(CallQuality(id=_id(), participant_id=participant.id, round_trip_ms=40))
    world.expect(("call_participants", "user_id"), "video", "participants", participant.id)
    world.expect(("call_guests", "user_id"), "video", "invitations", booked.id)


async def _records(world: World, patient: User, doctor: User) -> None:
    db, now, today = world.db, world.now, world.now.date()
    pid = patient.id
    medication = Medication(id=_id(), patient_id=pid, name="Canarycillin", starts_on=today)
    rows: list[tuple[str, str, Any, Any]] = [
        (
            "record_observations",
            "observations",
            Observation(
                id=_id(),
                patient_id=pid,
                kind="weight",
                value=70.5,
                unit="kg",
                entered_unit="kg",
                flag="normal",
                measured_at=now,
                time_zone="UTC",
                source="patient",
            ),
            record_sealed.OBSERVATION_NOTE,
        ),
        ("record_medications", "medications", medication, record_sealed.MEDICATION_INSTRUCTIONS),
        (
            "record_symptoms",
            "symptoms",
            Symptom(id=_id(), patient_id=pid, name="Cough", severity=3, onset_at=now),
            record_sealed.SYMPTOM_NOTE,
        ),
        (
            "record_allergies",
            "allergies",
            Allergy(id=_id(), patient_id=pid, substance="Pollen", severity="mild"),
            record_sealed.ALLERGY_NOTE,
        ),
        (
            "record_conditions",
            "conditions",
            Condition(id=_id(), patient_id=pid, name="Asthma", status="active"),
            record_sealed.CONDITION_NOTE,
        ),
        (
            "record_immunizations",
            "immunizations",
            Immunization(id=_id(), patient_id=pid, vaccine="Tetanus", given_on=today),
            record_sealed.IMMUNIZATION_NOTE,
        ),
        (
            "record_emergency_accesses",
            "emergency_accesses",
            EmergencyAccess(
                id=_id(), patient_id=pid, doctor_id=doctor.id, expires_at=now + timedelta(hours=1)
            ),
            record_sealed.EMERGENCY_REASON,
        ),
        (
            "record_grants",
            "shared_with",
            RecordGrant(
                id=_id(),
                patient_id=pid,
                grantee_id=doctor.id,
                sections=["observations"],
                expires_at=now + timedelta(days=1),
            ),
            None,
        ),
    ]
    for table, part, row, sealed in rows:
        if sealed is not None:
            setattr(row, sealed.column, world.seal(sealed, row, f"note of {pid}"))
        db.add(row)
        world.expect((table, "patient_id"), "records", part, row.id)
    await db.flush()
    dose = MedicationDose(
        id=_id(),
        medication_id=medication.id,
        patient_id=pid,
        local_date=today,
        local_time=time(8),
        time_zone="UTC",
        due_at=now,
    )
    db.add(dose)
    world.expect(("record_medication_doses", "patient_id"), "records", "medication_doses", dose.id)
    await _document(world, patient)


async def _document(world: World, patient: User) -> None:
    document = RecordDocument(
        id=_id(),
        patient_id=patient.id,
        category="lab_result",
        title="Blood test",
        filename="blood.pdf",
        content_type="application/pdf",
        size=10,
        storage_key=f"records/{patient.id}/documents/{_id()}",
    )
    world.db.add(document)
    await sealed_storage_for(world.settings, world.keyring).put(
        document.storage_key, b"%PDF-1.4 blood", associated_data=document_aad(document.id)
    )
    world.expect(("record_documents", "patient_id"), "records", "documents", document.id)
    world.files.append(f"files/records/{document.id}-blood.pdf")


async def _visit(world: World, patient: User, nurse: User) -> None:
    db, now = world.db, world.now
    visit = Visit(
        id=_id(),
        patient_id=patient.id,
        service="wound_care",
        window_start=now + timedelta(days=1),
        window_end=now + timedelta(days=1, hours=2),
    )
    visit.address_sealed = world.seal(visit_sealed.VISIT_ADDRESS, visit, "1 Canary Street")
    db.add(visit)
    await db.flush()
    transition = VisitTransition(
        id=_id(), visit_id=visit.id, seq=1, to_state="requested", actor_role="patient"
    )
    report = VisitReport(visit_id=visit.id, nurse_id=nurse.id)
    report.body_sealed = world.seal(visit_sealed.REPORT_BODY, report, "canary report", patient.id)
    photo = VisitPhoto(
        id=_id(),
        visit_id=visit.id,
        uploaded_by_id=nurse.id,
        filename="wound.jpg",
        content_type="image/jpeg",
        size=5,
        storage_key=f"visits/{visit.id}/photos/{_id()}",
    )
    db.add_all([transition, report, photo])
    await sealed_storage_for(world.settings, world.keyring).put(
        photo.storage_key, b"photo", associated_data=photo_aad(photo.id)
    )
    world.expect(("home_visits", "patient_id"), "visits", "visits", visit.id)
    world.files.append(f"files/visits/{photo.id}-wound.jpg")


async def _consent(world: World, patient: User) -> None:
    document = ConsentDocument(
        id=_id(),
        kind="research_sharing",
        version=1000 + uuid.uuid4().int % 1_000_000,
        title="Research",
        body="Sharing for research.",
        roles=["patient"],
        requires_reacceptance=False,
        acceptance_from=1,
    )
    world.db.add(document)
    await world.db.flush()
    event = ConsentEvent(
        id=_id(),
        user_id=patient.id,
        document_id=document.id,
        kind=document.kind,
        version=document.version,
        action="accepted",
        ip="192.0.2.7",
        user_agent="Canary browser",
    )
    world.db.add(event)
    world.expect(("consent_events", "user_id"), "consents", "answers", event.id)


async def make_world(world: World, patient: User, doctor: User, nurse: User) -> None:
    # The patient's data keys: everything of theirs below is sealed under them.
    await patient_keys.unlock(world.db, world.keyring, [patient.id])
    await _accounts(world, patient)
    await _consent(world, patient)
    await _notifications(world, patient)
    await _profile(world, patient, doctor)
    booked = await _care(world, patient, doctor)
    await _prescription(world, booked)
    await _messaging(world, patient, booked)
    await _video(world, patient, booked)
    await _records(world, patient, doctor)
    await _visit(world, patient, nurse)
    await world.db.flush()


def _items(document: dict[str, Any], part: str) -> Iterator[dict[str, Any]]:
    found = document[part]
    yield from ([found] if isinstance(found, dict) else found or [])


def _holds(item: dict[str, Any], value: str) -> bool:
    return any(str(field) == value for field in item.values())


async def test_everything_of_the_patients_is_exported_and_nothing_of_anyone_elses(
    database: Database, settings: Settings, make_user: MakeUser
) -> None:
    patient, other = await make_user(Role.patient), await make_user(Role.patient)
    doctor, nurse = await make_user(Role.doctor), await make_user(Role.nurse)
    keyring = Keyring.from_settings(settings)
    now = datetime.now(UTC)
    async with database.transaction() as db:
        mine = World(db, keyring, settings, now)
        await make_world(mine, patient, doctor, nurse)
        theirs = World(db, keyring, settings, now - timedelta(days=3))
        await make_world(theirs, other, doctor, nurse)
        row = DataExport(id=_id(), patient_id=patient.id, requested_by_id=patient.id)
        db.add(row)
    assert {key for key, whose in FOREIGN_KEYS.items() if whose == PATIENT} == set(mine.expected)

    assert await export.build(database, settings, row.id)
    async with database.transaction() as db:
        done = await db.scalar(select(DataExport).where(DataExport.id == row.id))
    assert done is not None
    assert done.status == "ready"
    assert done.storage_key is not None
    zipped = await sealed_storage_for(settings, keyring).get(
        done.storage_key, associated_data=export.aad(row.id)
    )
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    names = set(archive.namelist())
    documents = {
        name.removesuffix(".json"): json.loads(archive.read(name))
        for name in names
        if name.endswith(".json") and "/" not in name
    }
    for key, (document, part, value) in mine.expected.items():
        assert any(_holds(item, value) for item in _items(documents[document], part)), (
            f"{key[0]}.{key[1]}: {value} is not in {document}.json's {part}"
        )
    assert set(mine.files) <= names, sorted(set(mine.files) - names)
    assert set(documents["manifest"]["files"]) == {n for n in names if n.startswith("files/")}

    # Sealed values are opened; another patient's ids, values and files are nowhere.
    everything = b"".join(archive.read(name) for name in names)
    assert f"reason of {patient.id}".encode() in everything
    assert b"canary message" in everything
    assert b"1971-02-03" in everything
    for _, _, value in theirs.expected.values():
        assert value.encode() not in everything or value in {
            str(doctor.id),
            "canary_kind",
            "22:17:00",
            "1441",
            "1971-02-03",
        }, value
    assert f"of {other.id}".encode() not in everything

    # The PDF summary reads: who, and what matters first in each part.
    summary = "\n".join(
        page.extract_text()
        for page in pypdf.PdfReader(io.BytesIO(archive.read("summary.pdf"))).pages
    )
    assert patient.email in summary
    assert "Allergy: Pollen, mild" in summary
    assert "Medication: Canarycillin" in summary
    assert "video, completed" in summary
    assert "records.json" in summary
    assert not set(theirs.files) & names


def test_a_document_is_named_after_its_domain_unless_the_module_names_it() -> None:
    assert document_name("carebridge.records.export") == "records"
    assert document_name("carebridge.compliance.audit_export") == "audit"
