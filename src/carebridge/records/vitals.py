"""The observation kinds: their LOINC code, canonical UCUM unit, the units people enter them in,
the values that are possible at all (anything else is refused as a typing error) and the ranges
that flag a value low, high or critical. ``docs/records.md`` prints this table with the sources of
the ranges; ``tests/records/test_vitals.py`` checks both agree.

A value is converted to the canonical unit and rounded to the kind's precision before it is
checked and flagged, so the same reading entered in any accepted unit stores the same number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from carebridge.records.models import Flag


class Kind(StrEnum):
    blood_pressure = "blood_pressure"
    heart_rate = "heart_rate"
    body_temperature = "body_temperature"
    body_weight = "body_weight"
    body_height = "body_height"
    bmi = "bmi"  # derived from the latest weight and height, never entered
    blood_glucose = "blood_glucose"
    oxygen_saturation = "oxygen_saturation"
    respiratory_rate = "respiratory_rate"
    steps = "steps"
    sleep_hours = "sleep_hours"


@dataclass(frozen=True)
class Unit:
    """``canonical = value * factor + offset``."""

    code: str  # UCUM
    label: str  # what a person reads
    factor: float = 1.0
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.factor + self.offset

    def from_canonical(self, value: float) -> float:
        return (value - self.offset) / self.factor


@dataclass(frozen=True)
class Ranges:
    """Flags of a canonical value: below ``critical_low`` critical, below ``normal_low`` low,
    above ``critical_high`` critical, above ``normal_high`` high, else normal. A bound that is
    ``None`` is not checked (a weight alone is never flagged)."""

    normal_low: float | None = None
    normal_high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    source: str = ""

    def flag(self, value: float) -> Flag:
        if self.critical_low is not None and value < self.critical_low:
            return Flag.critical_low
        if self.critical_high is not None and value > self.critical_high:
            return Flag.critical_high
        if self.normal_low is not None and value < self.normal_low:
            return Flag.low
        if self.normal_high is not None and value > self.normal_high:
            return Flag.high
        return Flag.normal


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    label: str
    loinc: str
    units: tuple[Unit, ...]  # the first is canonical
    possible: tuple[float, float]  # canonical, inclusive
    ranges: Ranges
    precision: int  # decimals kept of the canonical value
    # Blood pressure's second value (diastolic): its LOINC code, possible values and ranges.
    second: KindSecond | None = None
    derived: bool = False
    loinc_first: str | None = None  # blood pressure's systolic code (``loinc`` is the panel's)

    @property
    def unit(self) -> Unit:
        return self.units[0]

    def unit_of(self, code: str) -> Unit | None:
        return next((u for u in self.units if u.code == code), None)


@dataclass(frozen=True)
class KindSecond:
    label: str
    loinc: str
    possible: tuple[float, float]
    ranges: Ranges = field(default_factory=Ranges)


_NEWS2 = "NEWS2, Royal College of Physicians 2017 (the score-0 band is normal, score 3 critical)"
_AHA_BP = "ACC/AHA 2017 blood pressure guideline (stage 1 from 130/80, crisis above 180/120)"

MMHG = Unit("mm[Hg]", "mmHg")
SPECS: Mapping[Kind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            Kind.blood_pressure,
            "Blood pressure",
            "85354-9",
            (MMHG, Unit("kPa", "kPa", factor=7.50062)),
            possible=(40, 300),
            ranges=Ranges(
                normal_low=101,
                normal_high=129,
                critical_low=91,
                critical_high=180,
                source=f"{_AHA_BP}; low from {_NEWS2}",
            ),
            precision=0,
            loinc_first="8480-6",
            second=KindSecond(
                "Diastolic",
                "8462-4",
                possible=(20, 200),
                ranges=Ranges(
                    normal_low=60,
                    normal_high=79,
                    critical_low=40,
                    critical_high=120,
                    source=_AHA_BP,
                ),
            ),
        ),
        KindSpec(
            Kind.heart_rate,
            "Heart rate",
            "8867-4",
            (Unit("/min", "beats/min"),),
            possible=(20, 300),
            ranges=Ranges(
                normal_low=60,
                normal_high=100,
                critical_low=41,
                critical_high=130,
                source=f"resting adult 60-100/min (American Heart Association); critical {_NEWS2}",
            ),
            precision=0,
        ),
        KindSpec(
            Kind.body_temperature,
            "Body temperature",
            "8310-5",
            (Unit("Cel", "°C"), Unit("[degF]", "°F", factor=5 / 9, offset=-32 * 5 / 9)),
            possible=(25, 45),
            ranges=Ranges(
                normal_low=36.1,
                normal_high=38.0,
                critical_low=35.1,
                critical_high=39.0,
                source=_NEWS2,
            ),
            precision=1,
        ),
        KindSpec(
            Kind.body_weight,
            "Weight",
            "29463-7",
            (Unit("kg", "kg"), Unit("[lb_av]", "lb", factor=0.45359237), Unit("g", "g", 0.001)),
            possible=(0.5, 650),
            ranges=Ranges(source="not flagged alone: see BMI"),
            precision=2,
        ),
        KindSpec(
            Kind.body_height,
            "Height",
            "8302-2",
            (Unit("cm", "cm"), Unit("m", "m", factor=100), Unit("[in_i]", "in", factor=2.54)),
            possible=(30, 272),
            ranges=Ranges(source="not flagged"),
            precision=1,
        ),
        KindSpec(
            Kind.bmi,
            "Body mass index",
            "39156-5",
            (Unit("kg/m2", "kg/m²"),),
            possible=(5, 150),
            ranges=Ranges(
                normal_low=18.5,
                normal_high=24.9,
                critical_low=16.0,
                critical_high=39.9,
                source="WHO adult BMI classes (underweight < 18.5, obese class III >= 40, "
                "severe thinness < 16)",
            ),
            precision=1,
            derived=True,
        ),
        KindSpec(
            Kind.blood_glucose,
            "Blood glucose",
            "2339-0",
            (Unit("mg/dL", "mg/dL"), Unit("mmol/L", "mmol/L", factor=18.016)),
            possible=(10, 1500),
            ranges=Ranges(
                normal_low=70,
                normal_high=180,
                critical_low=54,
                critical_high=250,
                source="International Consensus on Time in Range (Battelino et al., Diabetes "
                "Care 2019): target 70-180 mg/dL, level 2 below 54 and above 250",
            ),
            precision=0,
        ),
        KindSpec(
            Kind.oxygen_saturation,
            "Oxygen saturation",
            "59408-5",
            (Unit("%", "%"),),
            possible=(50, 100),
            ranges=Ranges(normal_low=96, critical_low=92, source=f"{_NEWS2}, scale 1"),
            precision=0,
        ),
        KindSpec(
            Kind.respiratory_rate,
            "Respiratory rate",
            "9279-1",
            (Unit("/min", "breaths/min"),),
            possible=(2, 80),
            ranges=Ranges(
                normal_low=12, normal_high=20, critical_low=9, critical_high=24, source=_NEWS2
            ),
            precision=0,
        ),
        KindSpec(
            Kind.steps,
            "Steps",
            "55423-8",
            (Unit("{steps}/d", "steps/day"),),
            possible=(0, 100_000),
            ranges=Ranges(
                normal_low=5000,
                source="Tudor-Locke & Bassett 2004: under 5,000 steps/day is a sedentary day",
            ),
            precision=0,
        ),
        KindSpec(
            Kind.sleep_hours,
            "Sleep",
            "93832-4",
            (Unit("h", "hours"),),
            possible=(0, 24),
            ranges=Ranges(
                normal_low=7,
                normal_high=9,
                source="AASM/SRS 2015 consensus: adults 7 or more hours; NSF 2015: 7-9 hours",
            ),
            precision=1,
        ),
    )
}

# The kinds a person enters (BMI is computed).
ENTERED: tuple[Kind, ...] = tuple(kind for kind, spec in SPECS.items() if not spec.derived)

_SEVERITY = {
    Flag.normal: 0,
    Flag.low: 1,
    Flag.high: 1,
    Flag.critical_low: 2,
    Flag.critical_high: 2,
}


def worse(first: Flag, second: Flag) -> Flag:
    """The more serious of two flags (a blood pressure's systolic one on a tie)."""
    return second if _SEVERITY[second] > _SEVERITY[first] else first


def bmi(weight_kg: float, height_cm: float) -> float:
    return round(weight_kg / (height_cm / 100) ** 2, SPECS[Kind.bmi].precision)
