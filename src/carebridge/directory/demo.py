"""Demo directory: 40 verified doctors across specialties (the two demo doctors of accounts
among them), ten patients, and the demo nurse's profile.

Idempotent: accounts and profiles that exist are left as they are. Patient profiles hold only
what needs no encryption key (sex; the phone is on the account): the demo seed runs without the
application's keyring, and patients fill in the rest themselves. Ratings are not set here: the
reviews domain's demo writes reviews, and the ratings follow from them. Fees are minor units of
the clinic's one currency, whichever it is: 6500 is 65.00 EUR in a clinic in euros, 6500 yen in
one in yen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.demo import DEMO_PASSWORD
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile, NurseProfile, PatientProfile
from carebridge.directory.service import set_specialties, specialty_ids
from carebridge.platform.passwords import hash_password


class DemoDoctor(NamedTuple):
    local: str  # of the email address
    name: str
    specialties: list[str]
    languages: list[str]
    time_zone: str
    fee: int  # minor units of the clinic's currency (CAREBRIDGE_CURRENCY): 6500 is 65.00 EUR
    years: int
    focus: str  # the bio is made from it


DOCTORS = [
    (
        "dr.rivera",
        "Dr. Sofia Rivera",
        ["cardiology", "internal-medicine"],
        ["es", "en"],
        "Europe/Berlin",
        6500,
        14,
        "high blood pressure, palpitations and heart failure follow-up",
    ),
    (
        "dr.chen",
        "Dr. Wei Chen",
        ["general-practice", "family-medicine"],
        ["zh", "en", "de"],
        "Europe/Berlin",
        4000,
        9,
        "everyday illnesses, check-ups and care for the whole family",
    ),
    (
        "dr.okonkwo",
        "Dr. Chidi Okonkwo",
        ["pediatrics"],
        ["en", "ig", "fr"],
        "Europe/London",
        5200,
        11,
        "newborn checks, childhood fevers, rashes and vaccinations",
    ),
    (
        "dr.lindqvist",
        "Dr. Astrid Lindqvist",
        ["dermatology"],
        ["sv", "en", "de"],
        "Europe/Stockholm",
        8000,
        16,
        "acne, eczema, psoriasis and mole checks from photos",
    ),
    (
        "dr.haddad",
        "Dr. Karim Haddad",
        ["psychiatry"],
        ["ar", "fr", "en"],
        "Europe/Paris",
        8000,
        12,
        "depression, anxiety disorders and medication reviews",
    ),
    (
        "dr.novak",
        "Dr. Petra Novak",
        ["psychology"],
        ["cs", "en", "de"],
        "Europe/Prague",
        6000,
        8,
        "cognitive behavioural therapy for anxiety, stress and insomnia",
    ),
    (
        "dr.mensah",
        "Dr. Kwame Mensah",
        ["neurology"],
        ["en", "tw"],
        "Africa/Accra",
        4000,
        15,
        "migraine, epilepsy and numbness or tingling",
    ),
    (
        "dr.tanaka",
        "Dr. Yui Tanaka",
        ["endocrinology"],
        ["ja", "en"],
        "Asia/Tokyo",
        5000,
        10,
        "type 1 and type 2 diabetes, thyroid disease and weight",
    ),
    (
        "dr.ferreira",
        "Dr. Joao Ferreira",
        ["gastroenterology"],
        ["pt", "es", "en"],
        "Europe/Lisbon",
        5500,
        13,
        "reflux, irritable bowel and liver test results",
    ),
    (
        "dr.kowalska",
        "Dr. Anna Kowalska",
        ["obstetrics-gynecology"],
        ["pl", "en"],
        "Europe/Warsaw",
        6000,
        17,
        "contraception, pregnancy questions and menopause",
    ),
    (
        "dr.brennan",
        "Dr. Liam Brennan",
        ["orthopedics", "sports-medicine"],
        ["en", "ga"],
        "Europe/Dublin",
        7000,
        19,
        "knee and shoulder injuries, back pain and return to sport",
    ),
    (
        "dr.rossi",
        "Dr. Giulia Rossi",
        ["ent"],
        ["it", "en"],
        "Europe/Rome",
        6000,
        11,
        "sinusitis, ear infections, hearing loss and dizziness",
    ),
    (
        "dr.patel",
        "Dr. Priya Patel",
        ["ophthalmology"],
        ["en", "hi", "gu"],
        "Europe/London",
        7000,
        12,
        "red or painful eyes, blurred vision and glaucoma follow-up",
    ),
    (
        "dr.mueller",
        "Dr. Jonas Mueller",
        ["urology"],
        ["de", "en"],
        "Europe/Berlin",
        6500,
        20,
        "urinary infections, kidney stones and prostate questions",
    ),
    (
        "dr.ivanova",
        "Dr. Elena Ivanova",
        ["pulmonology", "sleep-medicine"],
        ["ru", "uk", "en"],
        "Europe/Vienna",
        6500,
        14,
        "asthma, COPD, persistent cough and sleep apnea",
    ),
    (
        "dr.dubois",
        "Dr. Marc Dubois",
        ["nephrology"],
        ["fr", "en"],
        "Europe/Paris",
        7000,
        18,
        "chronic kidney disease, dialysis planning and blood pressure",
    ),
    (
        "dr.garcia",
        "Dr. Lucia Garcia",
        ["rheumatology"],
        ["es", "ca", "en"],
        "Europe/Madrid",
        6000,
        13,
        "rheumatoid arthritis, lupus and gout flares",
    ),
    (
        "dr.cohen",
        "Dr. David Cohen",
        ["oncology", "hematology"],
        ["he", "en"],
        "Asia/Jerusalem",
        12000,
        22,
        "second opinions on cancer treatment and anemia work-up",
    ),
    (
        "dr.nguyen",
        "Dr. Linh Nguyen",
        ["allergy-immunology"],
        ["vi", "en", "fr"],
        "America/Toronto",
        8000,
        9,
        "hay fever, food allergies and hives",
    ),
    (
        "dr.adeyemi",
        "Dr. Funmi Adeyemi",
        ["infectious-disease", "travel-medicine"],
        ["en", "yo"],
        "Africa/Lagos",
        3000,
        15,
        "travel vaccines, malaria prevention and complex infections",
    ),
    (
        "dr.schmidt",
        "Dr. Helga Schmidt",
        ["geriatrics"],
        ["de", "en"],
        "Europe/Berlin",
        5000,
        25,
        "older adults on many medicines, falls and memory concerns",
    ),
    (
        "dr.alvarez",
        "Dr. Mateo Alvarez",
        ["sports-medicine", "physiotherapy"],
        ["es", "en"],
        "America/Mexico_City",
        4500,
        8,
        "running injuries, sprains and training plans",
    ),
    (
        "dr.kim",
        "Dr. Min-jun Kim",
        ["nutrition-dietetics"],
        ["ko", "en"],
        "Asia/Seoul",
        4000,
        7,
        "meal plans for diabetes, weight and food intolerance",
    ),
    (
        "dr.larsen",
        "Dr. Freja Larsen",
        ["physiotherapy"],
        ["da", "en", "de"],
        "Europe/Copenhagen",
        8000,
        10,
        "rehabilitation after surgery and long-lasting back pain",
    ),
    (
        "dr.moreau",
        "Dr. Claire Moreau",
        ["dentistry"],
        ["fr", "en"],
        "Europe/Paris",
        4000,
        12,
        "toothache, dental emergencies and gum problems",
    ),
    (
        "dr.osei",
        "Dr. Ama Osei",
        ["general-practice"],
        ["en", "tw", "fr"],
        "Europe/London",
        4000,
        6,
        "same-day advice, infections and sick notes",
    ),
    (
        "dr.johansson",
        "Dr. Erik Johansson",
        ["internal-medicine"],
        ["sv", "no", "en"],
        "Europe/Oslo",
        7000,
        16,
        "several long-term conditions at once and unexplained symptoms",
    ),
    (
        "dr.silva",
        "Dr. Beatriz Silva",
        ["pediatrics", "allergy-immunology"],
        ["pt", "en"],
        "America/Sao_Paulo",
        5000,
        11,
        "children with asthma, eczema and food allergies",
    ),
    (
        "dr.yilmaz",
        "Dr. Mehmet Yilmaz",
        ["cardiology"],
        ["tr", "de", "en"],
        "Europe/Istanbul",
        7000,
        18,
        "chest pain assessment, cholesterol and heart rhythm",
    ),
    (
        "dr.papadopoulos",
        "Dr. Eleni Papadopoulos",
        ["endocrinology", "nutrition-dietetics"],
        ["el", "en"],
        "Europe/Athens",
        5000,
        10,
        "thyroid problems, PCOS and metabolic health",
    ),
    (
        "dr.wright",
        "Dr. Olivia Wright",
        ["family-medicine", "sexual-health"],
        ["en"],
        "America/New_York",
        8500,
        9,
        "contraception, STI testing and preventive care",
    ),
    (
        "dr.singh",
        "Dr. Arjun Singh",
        ["psychiatry", "sleep-medicine"],
        ["en", "pa", "hi"],
        "America/Vancouver",
        10000,
        13,
        "ADHD in adults, insomnia and mood disorders",
    ),
    (
        "dr.van.dijk",
        "Dr. Sanne van Dijk",
        ["dermatology", "allergy-immunology"],
        ["nl", "en", "de"],
        "Europe/Amsterdam",
        6000,
        8,
        "contact allergies, chronic itch and skin infections",
    ),
    (
        "dr.horvat",
        "Dr. Ivan Horvat",
        ["neurology", "pain-medicine"],
        ["hr", "en", "de"],
        "Europe/Zagreb",
        5500,
        21,
        "chronic headaches, nerve pain and pain management plans",
    ),
    (
        "dr.ahmed",
        "Dr. Fatima Ahmed",
        ["obstetrics-gynecology", "sexual-health"],
        ["ar", "ur", "en"],
        "Asia/Dubai",
        10000,
        14,
        "fertility questions, pregnancy care and heavy periods",
    ),
    (
        "dr.murphy",
        "Dr. Sean Murphy",
        ["general-practice", "travel-medicine"],
        ["en"],
        "Australia/Sydney",
        5500,
        12,
        "travel health, minor injuries and repeat prescriptions",
    ),
    (
        "dr.kovacs",
        "Dr. Zsofia Kovacs",
        ["psychology"],
        ["hu", "en", "de"],
        "Europe/Budapest",
        6500,
        11,
        "grief, burnout and relationship difficulties",
    ),
    (
        "dr.mbeki",
        "Dr. Thabo Mbeki",
        ["infectious-disease", "internal-medicine"],
        ["en", "zu", "xh"],
        "Africa/Johannesburg",
        4500,
        17,
        "HIV care, tuberculosis and fever after travel",
    ),
    (
        "dr.santos",
        "Dr. Rafael Santos",
        ["gastroenterology", "nutrition-dietetics"],
        ["es", "pt", "en"],
        "America/Bogota",
        3500,
        12,
        "coeliac disease, bloating and healthy eating plans",
    ),
    (
        "dr.bergstrom",
        "Dr. Nils Bergstrom",
        ["ophthalmology", "geriatrics"],
        ["sv", "fi", "en"],
        "Europe/Helsinki",
        7000,
        23,
        "cataract questions, dry eyes and sight in older age",
    ),
]

PATIENTS = [
    ("patient", "Pat Jordan", "female", "+12125550101"),
    ("patient2", "Marcus Bell", "male", "+12125550102"),
    ("patient3", "Yuki Sato", "female", "+4915112345602"),
    ("patient4", "Omar Farouk", "male", "+447700900103"),
    ("patient5", "Lena Fischer", "female", "+4915112345604"),
    ("patient6", "Diego Ramirez", "male", "+34612345605"),
    ("patient7", "Aisha Bello", "female", "+2348012345606"),
    ("patient8", "Noah Williams", "undisclosed", "+14155550107"),
    ("patient9", "Ines Duarte", "female", "+351912345608"),
    ("patient10", "Tomasz Nowak", "male", "+48512345609"),
]

NURSE = ("nurse.okafor", "Home visits for wound care, injections and checks after hospital.")
DOMAIN = "demo.example.org"


class _Accounts:
    """Creates the demo accounts that do not exist yet; the password is hashed once."""

    def __init__(self, db: AsyncSession, existing: dict[str, User], settings: Settings) -> None:
        self.db = db
        self.existing = existing
        self.settings = settings
        self.password_hash: str | None = None
        self.created = 0

    def ensure(self, email: str, name: str, role: Role, time_zone: str) -> User:
        user = self.existing.get(email)
        if user is not None:
            return user
        if self.password_hash is None:
            # argon2 is slow: once
            self.password_hash = hash_password(DEMO_PASSWORD, cost=self.settings.password_hash_cost)
        now = datetime.now(UTC)
        user = User(
            email=email,
            name=name,
            role=role,
            status=UserStatus.active,
            password_hash=self.password_hash,
            email_verified_at=now,
            approved_at=now if role != Role.patient else None,
            time_zone=time_zone,
        )
        self.db.add(user)
        self.existing[email] = user
        self.created += 1
        return user


def _bio(name: str, years: int, focus: str, languages: list[str]) -> str:
    return (
        f"{name} has {years} years of practice and sees patients by video for {focus}. "
        f"Consultations in {len(languages)} language{'s' if len(languages) > 1 else ''}."
    )


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    users = {u.email: u for u in (await db.scalars(select(User))).all()}
    accounts = _Accounts(db, users, settings)
    doctors = [
        (accounts.ensure(f"{d.local}@{DOMAIN}", d.name, Role.doctor, d.time_zone), d)
        for d in (DemoDoctor(*row) for row in DOCTORS)
    ]
    patients = [
        (accounts.ensure(f"{local}@{DOMAIN}", name, Role.patient, "America/New_York"), sex, phone)
        for local, name, sex, phone in PATIENTS
    ]
    await db.flush()
    created = accounts.created
    created += await _doctor_profiles(db, doctors)
    created += await _patient_profiles(db, patients)
    nurse = users.get(f"{NURSE[0]}@{DOMAIN}")
    if nurse is not None and await db.get(NurseProfile, nurse.id) is None:
        db.add(
            NurseProfile(
                user_id=nurse.id,
                bio=NURSE[1],
                languages=["en", "ig"],
                years_of_experience=9,
                license_number="RN-DEMO-0001",
                service_area="Berlin Mitte, Kreuzberg and Friedrichshain",
                time_zone="Europe/Berlin",
            )
        )
        created += 1
    await db.flush()
    return created


async def _doctor_profiles(db: AsyncSession, doctors: list[tuple[User, DemoDoctor]]) -> int:
    created = 0
    now = datetime.now(UTC)
    for user, d in doctors:
        if await db.get(DoctorProfile, user.id) is not None:
            continue
        db.add(
            DoctorProfile(
                user_id=user.id,
                bio=_bio(d.name, d.years, d.focus, d.languages),
                languages=d.languages,
                years_of_experience=d.years,
                consultation_fee=d.fee,
                license_number=f"DEMO-{d.local.upper()}",
                time_zone=d.time_zone,
                verified_at=now,
            )
        )
        await db.flush()
        await set_specialties(db, user.id, await specialty_ids(db, d.specialties))
        created += 1
    return created


async def _patient_profiles(db: AsyncSession, patients: list[tuple[User, str, str]]) -> int:
    created = 0
    for user, sex, phone in patients:
        if await db.get(PatientProfile, user.id) is not None:
            continue
        db.add(PatientProfile(user_id=user.id, sex=sex))
        user.phone = user.phone or phone
        created += 1
    return created


def describe() -> str:
    return (
        f"the directory lists {len(DOCTORS)} demo doctors (dr.<surname>@{DOMAIN}, for example "
        f"dr.okonkwo@{DOMAIN}) and {len(PATIENTS)} patients (patient@{DOMAIN}, "
        f"patient2@{DOMAIN} ... patient{len(PATIENTS)}@{DOMAIN}), same password"
    )
