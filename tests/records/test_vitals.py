"""Units, possible values and flags of observations (records/vitals.py): the same reading in
each accepted unit stores the same canonical value, impossible values are refused with the
accepted range in the unit given, flags follow the documented bounds, and docs/records.md prints
the same table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from carebridge.platform.errors import Invalid
from carebridge.records.catalog import markdown_table
from carebridge.records.models import Flag
from carebridge.records.observations import measure
from carebridge.records.vitals import ENTERED, SPECS, Kind, Ranges, worse
from tests.factories import Person
from tests.factories.records import add_observation

MakePerson = Callable[..., Awaitable[Person]]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "records.md"


def _grid(kind: Kind) -> list[float]:
    """Canonical values across a kind's possible range, on its precision."""
    spec = SPECS[kind]
    low, high = spec.possible
    step = (high - low) / 37
    return [round(low + step * i, spec.precision) for i in range(1, 37)]


@pytest.mark.parametrize("kind", ENTERED, ids=str)
def test_the_same_reading_in_every_unit_stores_the_same_value(kind: Kind) -> None:
    spec = SPECS[kind]
    for canonical in _grid(kind):
        second = None if spec.second is None else round(canonical / 2, spec.precision)
        stored = set()
        for unit in spec.units:
            given = unit.from_canonical(canonical)
            given2 = None if second is None else unit.from_canonical(second)
            if (
                spec.second is not None
                and not spec.second.possible[0] <= second <= spec.second.possible[1]
            ):
                continue
            measured = measure(
                kind, round(given, 6), None if given2 is None else round(given2, 6), unit.code
            )
            stored.add((measured.value, measured.value2))
        assert len(stored) <= 1, (kind, canonical, stored)


async def test_units_through_the_api(client: httpx.AsyncClient, person: MakePerson) -> None:
    patient = await person()
    pairs = [
        ("body_temperature", [(37.0, "Cel"), (98.6, "[degF]")], 37.0),
        ("body_weight", [(70, "kg"), (154.3236, "[lb_av]"), (70000, "g")], 70.0),
        ("body_height", [(175.3, "cm"), (1.753, "m"), (69.0157, "[in_i]")], 175.3),
        ("blood_glucose", [(99, "mg/dL"), (5.495, "mmol/L")], 99.0),
    ]
    for kind, readings, canonical in pairs:
        for value, unit in readings:
            made = await add_observation(client, patient.headers, kind=kind, value=value, unit=unit)
            assert (made["value"], made["unit"], made["entered_unit"]) == (
                canonical,
                SPECS[Kind(kind)].unit.code,
                unit,
            ), (kind, unit)
    pressure = await add_observation(
        client, patient.headers, kind="blood_pressure", value=16, value2=10.6667, unit="kPa"
    )
    assert (pressure["value"], pressure["value2"]) == (120, 80)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "heart_rate", "value": 900}, "between 20 and 300 beats/min"),
        ({"kind": "body_temperature", "value": 60}, "between 25 and 45 °C"),
        ({"kind": "body_temperature", "value": 140, "unit": "[degF]"}, "between 77 and 113 °F"),
        ({"kind": "body_weight", "value": 0.1}, "between 0.5 and 650 kg"),
        ({"kind": "oxygen_saturation", "value": 101}, "between 50 and 100 %"),
        ({"kind": "blood_pressure", "value": 120, "value2": 300}, "between 20 and 200 mmHg"),
        ({"kind": "blood_pressure", "value": 80, "value2": 90}, "below the systolic"),
        ({"kind": "blood_pressure", "value": 120}, "needs both readings"),
        ({"kind": "heart_rate", "value": 70, "value2": 60}, "one value"),
        ({"kind": "heart_rate", "value": 70, "unit": "kg"}, "entered in /min"),
        ({"kind": "bmi", "value": 22}, "computed"),
    ],
)
async def test_impossible_values_are_refused_with_the_accepted_range(
    client: httpx.AsyncClient, person: MakePerson, body: dict[str, object], says: str
) -> None:
    patient = await person()
    answer = await client.post("/api/v1/records/observations", json=body, headers=patient.headers)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["detail"]
    listed = await client.get("/api/v1/records/observations", headers=patient.headers)
    assert listed.json()["items"] == []


def _around(ranges: Ranges, epsilon: float) -> list[tuple[float, Flag]]:
    """Values just past and just within each bound, with the flag the rule gives them."""
    cases = []
    if ranges.critical_low is not None:
        cases += [(ranges.critical_low - epsilon, Flag.critical_low)]
    if ranges.normal_low is not None:
        low = (
            Flag.low
            if ranges.critical_low is None or ranges.normal_low - epsilon >= ranges.critical_low
            else Flag.critical_low
        )
        cases += [(ranges.normal_low - epsilon, low), (ranges.normal_low, Flag.normal)]
    if ranges.normal_high is not None:
        high = (
            Flag.high
            if ranges.critical_high is None or ranges.normal_high + epsilon <= ranges.critical_high
            else Flag.critical_high
        )
        cases += [(ranges.normal_high, Flag.normal), (ranges.normal_high + epsilon, high)]
    if ranges.critical_high is not None:
        cases += [
            (ranges.critical_high, Flag.high),
            (ranges.critical_high + epsilon, Flag.critical_high),
        ]
    return cases


@pytest.mark.parametrize("kind", ENTERED, ids=str)
def test_flags_follow_the_documented_bounds(kind: Kind) -> None:
    spec = SPECS[kind]
    epsilon = 10**-spec.precision
    for value, flag in _around(spec.ranges, epsilon):
        if not spec.possible[0] <= value <= spec.possible[1]:
            continue
        second = None if spec.second is None else 70.0  # a normal diastolic
        assert measure(kind, value, second, None).flag == flag, (kind, value)
    if spec.second is not None:
        for value, flag in _around(spec.second.ranges, epsilon):
            systolic = max(115.0, value + 20)  # above the diastolic; normal when it can be
            expected = worse(spec.ranges.flag(systolic), flag)
            assert measure(kind, systolic, value, None).flag == expected, (kind, value)


def test_a_blood_pressure_takes_the_worse_flag() -> None:
    assert measure(Kind.blood_pressure, 118, 76, None).flag == Flag.normal
    assert measure(Kind.blood_pressure, 118, 85, None).flag == Flag.high
    assert measure(Kind.blood_pressure, 185, 85, None).flag == Flag.critical_high
    assert measure(Kind.blood_pressure, 95, 65, None).flag == Flag.low
    assert measure(Kind.blood_pressure, 150, 125, None).flag == Flag.critical_high


def test_the_derived_kind_is_not_entered() -> None:
    with pytest.raises(Invalid):
        measure(Kind.bmi, 22, None, None)


def test_the_docs_print_the_kinds_table() -> None:
    assert markdown_table() in DOCS.read_text()


async def test_the_kinds_are_listed_for_signed_in_people(
    client: httpx.AsyncClient, person: MakePerson
) -> None:
    assert (await client.get("/api/v1/records/observation-kinds")).status_code == 401
    patient = await person()
    kinds = (await client.get("/api/v1/records/observation-kinds", headers=patient.headers)).json()
    assert [k["kind"] for k in kinds] == [kind.value for kind in SPECS]
    temperature = next(k for k in kinds if k["kind"] == "body_temperature")
    assert [u["code"] for u in temperature["units"]] == ["Cel", "[degF]"]
    assert temperature["loinc"] == "8310-5"
