"""Directory: specialties (with the catalog), doctor, nurse and patient profiles, doctor search.

The search vector of a doctor is written by triggers: the profile's own trigger on insert and on
a change of bio or languages, and triggers on ``doctor_specialties`` (specialties added or
removed), ``users`` (a doctor renamed) and ``specialties`` (the catalog renamed) that recompute
the vectors they affect. Weights: name A, specialties A, languages B (code and English name),
bio C; the ``english`` text search configuration throughout, so queries stem the same way.

Language names for the vector are a frozen copy of ``carebridge.directory.codes.LANGUAGES`` as
it was when this revision was written, so a later change to that list cannot change what this
revision creates (a revision of its own brings such a change to the vector).

Revision ID: 0010_directory
Revises: 0009_presence
Create Date: 2026-11-25 10:53:27.698147
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from carebridge.platform.migrate import execute_script

revision: str = "0010_directory"
down_revision: str | None = "0009_presence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPECIALTIES = [
    (
        "general-practice",
        "General practice",
        "First contact for any concern: check-ups, common illnesses, prescriptions and referrals.",
    ),
    (
        "family-medicine",
        "Family medicine",
        "Continuing care for every member of the family, from newborns to grandparents.",
    ),
    (
        "internal-medicine",
        "Internal medicine",
        "Diagnosis and long-term care of adult diseases, often several at once.",
    ),
    (
        "pediatrics",
        "Pediatrics",
        "Health of babies, children and teenagers: growth, vaccines, childhood illness.",
    ),
    (
        "cardiology",
        "Cardiology",
        "Heart and blood vessels: blood pressure, chest pain, palpitations, heart failure.",
    ),
    ("dermatology", "Dermatology", "Skin, hair and nails: rashes, acne, eczema, psoriasis, moles."),
    (
        "psychiatry",
        "Psychiatry",
        "Medical care of mental health: diagnosis, medication and therapy.",
    ),
    (
        "psychology",
        "Psychology",
        "Talking therapies for anxiety, depression, stress, grief and relationships.",
    ),
    (
        "neurology",
        "Neurology",
        "Brain and nerves: headaches, migraine, epilepsy, numbness, memory problems.",
    ),
    (
        "endocrinology",
        "Endocrinology",
        "Hormones and metabolism: diabetes, thyroid, weight and growth.",
    ),
    (
        "gastroenterology",
        "Gastroenterology",
        "Stomach, bowel and liver: reflux, IBS, abdominal pain, hepatitis.",
    ),
    (
        "obstetrics-gynecology",
        "Obstetrics and gynecology",
        "Women's health, contraception, fertility, pregnancy and childbirth.",
    ),
    (
        "orthopedics",
        "Orthopedics",
        "Bones, joints and muscles: back pain, fractures, arthritis, injuries.",
    ),
    ("ent", "Ear, nose and throat", "Hearing, sinuses, tonsils, voice, dizziness and sleep apnea."),
    (
        "ophthalmology",
        "Ophthalmology",
        "Eyes and vision: red eye, blurred sight, glaucoma, cataract.",
    ),
    (
        "urology",
        "Urology",
        "Kidneys, bladder and the male reproductive system: stones, infections, prostate.",
    ),
    (
        "pulmonology",
        "Pulmonology",
        "Lungs and breathing: asthma, COPD, persistent cough, shortness of breath.",
    ),
    (
        "nephrology",
        "Nephrology",
        "Kidney disease, dialysis, and blood pressure linked to the kidneys.",
    ),
    (
        "rheumatology",
        "Rheumatology",
        "Inflammatory and autoimmune disease of joints and tissues: arthritis, lupus, gout.",
    ),
    ("oncology", "Oncology", "Cancer: diagnosis, treatment plans, follow-up and second opinions."),
    ("hematology", "Hematology", "Blood disorders: anemia, clotting, bleeding and blood cancers."),
    (
        "allergy-immunology",
        "Allergy and immunology",
        "Allergies, hay fever, food allergy, hives and immune deficiency.",
    ),
    (
        "infectious-disease",
        "Infectious disease",
        "Complex infections, travel medicine, HIV and vaccination advice.",
    ),
    (
        "geriatrics",
        "Geriatrics",
        "Care of older adults: many medicines, falls, memory and independence.",
    ),
    (
        "sports-medicine",
        "Sports medicine",
        "Sports injuries, training advice and return to activity.",
    ),
    (
        "nutrition-dietetics",
        "Nutrition and dietetics",
        "Diet plans for weight, diabetes, allergies, pregnancy and sport.",
    ),
    (
        "physiotherapy",
        "Physiotherapy",
        "Movement and rehabilitation after injury, surgery or with chronic pain.",
    ),
    (
        "dentistry",
        "Dentistry",
        "Teeth and gums: toothache, dental emergencies, oral hygiene advice.",
    ),
    (
        "sleep-medicine",
        "Sleep medicine",
        "Insomnia, snoring, sleep apnea and disturbed sleep rhythms.",
    ),
    (
        "pain-medicine",
        "Pain medicine",
        "Long-lasting pain: assessment, medication and pain management plans.",
    ),
    (
        "sexual-health",
        "Sexual health",
        "Contraception, sexually transmitted infections, testing and advice.",
    ),
    (
        "travel-medicine",
        "Travel medicine",
        "Vaccines, malaria prevention and health advice before and after travel.",
    ),
]


# ISO 639-1 codes and English names, copied from carebridge.directory.codes on 2026-11-25.
LANGUAGES: dict[str, str] = {
    "aa": "Afar", "ab": "Abkhazian", "ae": "Avestan", "af": "Afrikaans", "ak": "Akan",
    "am": "Amharic", "an": "Aragonese", "ar": "Arabic", "as": "Assamese", "av": "Avaric",
    "ay": "Aymara", "az": "Azerbaijani", "ba": "Bashkir", "be": "Belarusian", "bg": "Bulgarian",
    "bi": "Bislama", "bm": "Bambara", "bn": "Bengali", "bo": "Tibetan", "br": "Breton",
    "bs": "Bosnian", "ca": "Catalan", "ce": "Chechen", "ch": "Chamorro", "co": "Corsican",
    "cr": "Cree", "cs": "Czech", "cu": "Church Slavic", "cv": "Chuvash", "cy": "Welsh",
    "da": "Danish", "de": "German", "dv": "Divehi", "dz": "Dzongkha", "ee": "Ewe",
    "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "fa": "Persian", "ff": "Fulah", "fi": "Finnish", "fj": "Fijian",
    "fo": "Faroese", "fr": "French", "fy": "Western Frisian", "ga": "Irish", "gd": "Gaelic",
    "gl": "Galician", "gn": "Guarani", "gu": "Gujarati", "gv": "Manx", "ha": "Hausa",
    "he": "Hebrew", "hi": "Hindi", "ho": "Hiri Motu", "hr": "Croatian", "ht": "Haitian",
    "hu": "Hungarian", "hy": "Armenian", "hz": "Herero", "ia": "Interlingua",
    "id": "Indonesian", "ie": "Interlingue", "ig": "Igbo", "ii": "Sichuan Yi", "ik": "Inupiaq",
    "io": "Ido", "is": "Icelandic", "it": "Italian", "iu": "Inuktitut", "ja": "Japanese",
    "jv": "Javanese", "ka": "Georgian", "kg": "Kongo", "ki": "Kikuyu", "kj": "Kuanyama",
    "kk": "Kazakh", "kl": "Kalaallisut", "km": "Khmer", "kn": "Kannada", "ko": "Korean",
    "kr": "Kanuri", "ks": "Kashmiri", "ku": "Kurdish", "kv": "Komi", "kw": "Cornish",
    "ky": "Kyrgyz", "la": "Latin", "lb": "Luxembourgish", "lg": "Ganda", "li": "Limburgish",
    "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian", "lu": "Luba-Katanga", "lv": "Latvian",
    "mg": "Malagasy", "mh": "Marshallese", "mi": "Maori", "mk": "Macedonian",
    "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "mt": "Maltese",
    "my": "Burmese", "na": "Nauru", "nb": "Norwegian Bokmal", "nd": "North Ndebele",
    "ne": "Nepali", "ng": "Ndonga", "nl": "Dutch", "nn": "Norwegian Nynorsk",
    "no": "Norwegian", "nr": "South Ndebele", "nv": "Navajo", "ny": "Chichewa",
    "oc": "Occitan", "oj": "Ojibwa", "om": "Oromo", "or": "Oriya", "os": "Ossetian",
    "pa": "Punjabi", "pi": "Pali", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese",
    "qu": "Quechua", "rm": "Romansh", "rn": "Rundi", "ro": "Romanian", "ru": "Russian",
    "rw": "Kinyarwanda", "sa": "Sanskrit", "sc": "Sardinian", "sd": "Sindhi",
    "se": "Northern Sami", "sg": "Sango", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian",
    "sm": "Samoan", "sn": "Shona", "so": "Somali", "sq": "Albanian", "sr": "Serbian",
    "ss": "Swati", "st": "Southern Sotho", "su": "Sundanese", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "tg": "Tajik", "th": "Thai", "ti": "Tigrinya",
    "tk": "Turkmen", "tl": "Tagalog", "tn": "Tswana", "to": "Tonga", "tr": "Turkish",
    "ts": "Tsonga", "tt": "Tatar", "tw": "Twi", "ty": "Tahitian", "ug": "Uyghur",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "ve": "Venda", "vi": "Vietnamese",
    "vo": "Volapuk", "wa": "Walloon", "wo": "Wolof", "xh": "Xhosa", "yi": "Yiddish",
    "yo": "Yoruba", "za": "Zhuang", "zh": "Chinese", "zu": "Zulu",
}  # fmt: skip


SEARCH_TRIGGERS = """
    CREATE FUNCTION directory_language_names(codes varchar[]) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(
            string_agg(c || ' ' || coalesce('LANGUAGE_NAMES'::jsonb ->> c, ''), ' '), '')
        FROM unnest(codes) AS c
    $$;

    CREATE FUNCTION directory_doctor_vector(doctor uuid, bio text, languages varchar[])
        RETURNS tsvector LANGUAGE sql STABLE AS $$
        SELECT
            setweight(to_tsvector('english',
                coalesce((SELECT u.name FROM users u WHERE u.id = doctor), '')), 'A')
            || setweight(to_tsvector('english', coalesce((
                SELECT string_agg(s.name || ' ' || replace(s.slug, '-', ' '), ' ')
                FROM doctor_specialties ds JOIN specialties s ON s.id = ds.specialty_id
                WHERE ds.doctor_id = doctor), '')), 'A')
            || setweight(to_tsvector('english', directory_language_names(languages)), 'B')
            || setweight(to_tsvector('english', coalesce(bio, '')), 'C')
    $$;

    CREATE FUNCTION directory_profile_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := directory_doctor_vector(NEW.user_id, NEW.bio, NEW.languages);
        RETURN NEW;
    END $$;

    CREATE TRIGGER doctor_profiles_search_vector
        BEFORE INSERT OR UPDATE OF bio, languages ON doctor_profiles
        FOR EACH ROW EXECUTE FUNCTION directory_profile_vector();

    CREATE FUNCTION directory_refresh_vector(doctor uuid) RETURNS void
        LANGUAGE sql AS $$
        UPDATE doctor_profiles p
        SET search_vector = directory_doctor_vector(p.user_id, p.bio, p.languages)
        WHERE p.user_id = doctor
    $$;

    CREATE FUNCTION directory_specialties_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM directory_refresh_vector(OLD.doctor_id);
        ELSE
            PERFORM directory_refresh_vector(NEW.doctor_id);
        END IF;
        RETURN NULL;
    END $$;

    CREATE TRIGGER doctor_specialties_search_vector
        AFTER INSERT OR DELETE ON doctor_specialties
        FOR EACH ROW EXECUTE FUNCTION directory_specialties_changed();

    CREATE FUNCTION directory_user_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM directory_refresh_vector(NEW.id);
        RETURN NULL;
    END $$;

    CREATE TRIGGER users_directory_search_vector
        AFTER UPDATE OF name ON users
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
        EXECUTE FUNCTION directory_user_renamed();

    CREATE FUNCTION directory_specialty_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM directory_refresh_vector(ds.doctor_id)
        FROM doctor_specialties ds WHERE ds.specialty_id = NEW.id;
        RETURN NULL;
    END $$;

    CREATE TRIGGER specialties_search_vector
        AFTER UPDATE OF name, slug ON specialties
        FOR EACH ROW
        WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.slug IS DISTINCT FROM NEW.slug)
        EXECUTE FUNCTION directory_specialty_renamed();
    """


def _search_triggers() -> str:
    names = json.dumps(LANGUAGES).replace("'", "''")  # our own constant, quoted for SQL
    return SEARCH_TRIGGERS.replace("LANGUAGE_NAMES", names)


def upgrade() -> None:
    specialties = op.create_table(
        "specialties",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name=op.f("ck_specialties_slug")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_specialties")),
        sa.UniqueConstraint("name", name=op.f("uq_specialties_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_specialties_slug")),
    )
    assert specialties is not None
    op.bulk_insert(
        specialties,
        [{"slug": slug, "name": name, "description": text} for slug, name, text in SPECIALTIES],
    )
    op.create_table(
        "doctor_profiles",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "languages",
            postgresql.ARRAY(sa.String(length=2)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("years_of_experience", sa.SmallInteger(), nullable=True),
        sa.Column("consultation_fee", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("license_number", sa.String(length=64), nullable=True),
        sa.Column("clinic_address", sa.String(length=500), nullable=True),
        sa.Column("photo_url", sa.String(length=2048), nullable=True),
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.UUID(), nullable=True),
        sa.Column("rating_average", sa.Numeric(precision=3, scale=2), nullable=True),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            server_default=sa.text("''::tsvector"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_doctor_profiles_currency")),
        sa.CheckConstraint(
            "photo_url LIKE 'https://%'", name=op.f("ck_doctor_profiles_photo_https")
        ),
        sa.CheckConstraint("consultation_fee >= 0", name=op.f("ck_doctor_profiles_fee")),
        sa.CheckConstraint(
            "consultation_fee IS NULL OR currency IS NOT NULL",
            name=op.f("ck_doctor_profiles_fee_currency"),
        ),
        sa.CheckConstraint(
            "rating_average BETWEEN 0 AND 5", name=op.f("ck_doctor_profiles_rating")
        ),
        sa.CheckConstraint("rating_count >= 0", name=op.f("ck_doctor_profiles_rating_count")),
        sa.CheckConstraint(
            "years_of_experience BETWEEN 0 AND 80", name=op.f("ck_doctor_profiles_years")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_doctor_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["verified_by"],
            ["users.id"],
            name=op.f("fk_doctor_profiles_verified_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_doctor_profiles")),
    )
    verified = sa.text("verified_at IS NOT NULL")
    op.create_index(
        "ix_doctor_profiles_fee", "doctor_profiles", ["consultation_fee"], postgresql_where=verified
    )
    op.create_index(
        "ix_doctor_profiles_languages", "doctor_profiles", ["languages"], postgresql_using="gin"
    )
    op.create_index(
        "ix_doctor_profiles_rating",
        "doctor_profiles",
        ["rating_average"],
        postgresql_where=verified,
    )
    op.create_index(
        "ix_doctor_profiles_search_vector",
        "doctor_profiles",
        ["search_vector"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_doctor_profiles_unverified",
        "doctor_profiles",
        ["created_at"],
        postgresql_where=sa.text("verified_at IS NULL"),
    )
    op.create_table(
        "nurse_profiles",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "languages",
            postgresql.ARRAY(sa.String(length=2)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("years_of_experience", sa.SmallInteger(), nullable=True),
        sa.Column("license_number", sa.String(length=64), nullable=True),
        sa.Column("service_area", sa.String(length=500), nullable=True),
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "years_of_experience BETWEEN 0 AND 80", name=op.f("ck_nurse_profiles_years")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_nurse_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_nurse_profiles")),
    )
    op.create_table(
        "patient_profiles",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("date_of_birth_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("address_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("emergency_contact_sealed", sa.LargeBinary(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "sex IN ('female', 'male', 'intersex', 'undisclosed')",
            name=op.f("ck_patient_profiles_sex"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_patient_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_patient_profiles")),
    )
    op.create_table(
        "doctor_specialties",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("specialty_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_doctor_specialties_doctor_id_doctor_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"],
            ["specialties.id"],
            name=op.f("fk_doctor_specialties_specialty_id_specialties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("doctor_id", "specialty_id", name=op.f("pk_doctor_specialties")),
    )
    op.create_index(
        "ix_doctor_specialties_specialty", "doctor_specialties", ["specialty_id", "doctor_id"]
    )
    execute_script(_search_triggers())


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER specialties_search_vector ON specialties;
        DROP TRIGGER users_directory_search_vector ON users;
        DROP TRIGGER doctor_specialties_search_vector ON doctor_specialties;
        DROP TRIGGER doctor_profiles_search_vector ON doctor_profiles;
        DROP FUNCTION directory_specialty_renamed();
        DROP FUNCTION directory_user_renamed();
        DROP FUNCTION directory_specialties_changed();
        DROP FUNCTION directory_refresh_vector(uuid);
        DROP FUNCTION directory_profile_vector();
        DROP FUNCTION directory_doctor_vector(uuid, text, varchar[]);
        DROP FUNCTION directory_language_names(varchar[]);
        """
    )
    op.drop_index("ix_doctor_specialties_specialty", table_name="doctor_specialties")
    op.drop_table("doctor_specialties")
    op.drop_table("patient_profiles")
    op.drop_table("nurse_profiles")
    op.drop_index("ix_doctor_profiles_unverified", table_name="doctor_profiles")
    op.drop_index("ix_doctor_profiles_search_vector", table_name="doctor_profiles")
    op.drop_index("ix_doctor_profiles_rating", table_name="doctor_profiles")
    op.drop_index("ix_doctor_profiles_languages", table_name="doctor_profiles")
    op.drop_index("ix_doctor_profiles_fee", table_name="doctor_profiles")
    op.drop_table("doctor_profiles")
    op.drop_table("specialties")
