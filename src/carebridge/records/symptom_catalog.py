"""The symptoms a diary entry may name: about forty common ones, each with a stable ``code``
(what is stored and what trends and exports group by), a label and the words people use for it.

Matching folds case and accents and collapses white space and hyphens ("Mal de tête" and
"mal de tete" are the same words), on the label or a synonym. A diary entry given a known word
is stored with the catalog's code and label; any other text is kept as free text (no code).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogSymptom:
    code: str
    label: str
    synonyms: tuple[str, ...]


def _s(code: str, label: str, *synonyms: str) -> CatalogSymptom:
    return CatalogSymptom(code, label, synonyms)


CATALOG: tuple[CatalogSymptom, ...] = (
    _s("headache", "Headache", "head ache", "migraine", "head pain", "cephalalgia"),
    _s("fever", "Fever", "high temperature", "pyrexia", "feverish", "temperature"),
    _s("chills", "Chills", "shivering", "rigors", "feeling cold"),
    _s("cough", "Cough", "coughing", "dry cough", "wet cough"),
    _s("sore_throat", "Sore throat", "throat pain", "pharyngitis", "scratchy throat"),
    _s("runny_nose", "Runny nose", "rhinorrhea", "nasal discharge", "sniffles"),
    _s("nasal_congestion", "Nasal congestion", "blocked nose", "stuffy nose"),
    _s("sneezing", "Sneezing", "sneezes"),
    _s("shortness_of_breath", "Shortness of breath", "breathlessness", "dyspnea", "dyspnoea"),
    _s("wheezing", "Wheezing", "wheeze"),
    _s("chest_pain", "Chest pain", "chest tightness", "angina"),
    _s("palpitations", "Palpitations", "racing heart", "heart pounding", "irregular heartbeat"),
    _s("fatigue", "Fatigue", "tiredness", "tired", "exhaustion", "lack of energy"),
    _s("weakness", "Weakness", "feeling weak", "asthenia"),
    _s("dizziness", "Dizziness", "dizzy", "lightheadedness", "vertigo"),
    _s("fainting", "Fainting", "syncope", "passing out", "blackout"),
    _s("nausea", "Nausea", "feeling sick", "queasiness", "queasy"),
    _s("vomiting", "Vomiting", "throwing up", "being sick", "emesis"),
    _s("diarrhea", "Diarrhea", "diarrhoea", "loose stools", "the runs"),
    _s("constipation", "Constipation", "constipated", "hard stools"),
    _s(
        "abdominal_pain",
        "Abdominal pain",
        "stomach ache",
        "stomachache",
        "belly pain",
        "tummy ache",
    ),
    _s("heartburn", "Heartburn", "acid reflux", "reflux", "indigestion", "dyspepsia"),
    _s("bloating", "Bloating", "bloated", "gas", "flatulence"),
    _s("loss_of_appetite", "Loss of appetite", "no appetite", "anorexia"),
    _s("back_pain", "Back pain", "backache", "lower back pain", "lumbago"),
    _s("neck_pain", "Neck pain", "stiff neck"),
    _s("joint_pain", "Joint pain", "arthralgia", "aching joints"),
    _s("muscle_pain", "Muscle pain", "myalgia", "muscle aches", "body aches"),
    _s("swelling", "Swelling", "edema", "oedema", "swollen ankles"),
    _s("rash", "Rash", "skin rash", "hives", "urticaria", "spots"),
    _s("itching", "Itching", "itchy skin", "pruritus", "itch"),
    _s("numbness", "Numbness", "tingling", "pins and needles", "paresthesia"),
    _s("blurred_vision", "Blurred vision", "blurry vision", "vision problems"),
    _s("ear_pain", "Ear pain", "earache", "otalgia"),
    _s("toothache", "Toothache", "tooth pain", "dental pain"),
    _s("insomnia", "Insomnia", "sleeplessness", "trouble sleeping", "cannot sleep"),
    _s("anxiety", "Anxiety", "anxious", "nervousness", "worry", "panic"),
    _s("low_mood", "Low mood", "depressed mood", "sadness", "feeling down"),
    _s("confusion", "Confusion", "disorientation", "brain fog"),
    _s("painful_urination", "Painful urination", "dysuria", "burning when peeing"),
    _s("frequent_urination", "Frequent urination", "polyuria", "peeing often"),
    _s("weight_loss", "Weight loss", "losing weight", "unintentional weight loss"),
    _s("night_sweats", "Night sweats", "sweating at night"),
)

_SEPARATORS = re.compile(r"[\s\-_]+")


def fold(text: str) -> str:
    """``text`` as matching sees it: no accents, case folded, one space between words."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", bare.casefold()).strip()


_BY_WORDS: dict[str, CatalogSymptom] = {
    fold(word): entry for entry in CATALOG for word in (entry.label, entry.code, *entry.synonyms)
}


def match(text: str) -> CatalogSymptom | None:
    """The catalog symptom ``text`` names exactly (label, code or synonym), if any."""
    return _BY_WORDS.get(fold(text))


def search(query: str, limit: int = 20) -> list[CatalogSymptom]:
    """Symptoms whose label or a synonym contains ``query`` (folded); those whose label starts
    with it first, then by label. An empty query lists the catalog."""
    wanted = fold(query)

    def rank(entry: CatalogSymptom) -> tuple[int, str]:
        return (0 if fold(entry.label).startswith(wanted) else 1, entry.label)

    found = [
        entry
        for entry in CATALOG
        if any(wanted in fold(word) for word in (entry.label, *entry.synonyms))
    ]
    return sorted(found, key=rank)[:limit]
