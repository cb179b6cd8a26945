"""The health summary: a score from 0 to 100 made of transparent components (blood pressure,
BMI, blood glucose, activity, medication adherence), each shown with its value, its points and
the sentence of the rule that scored it. No model: the rules are the table ``RULES`` below, which
``docs/records.md`` prints (``tests/records/test_summary.py`` checks both agree).

The score is the mean of the points of the components that have data; a component without
enough data is shown as such and left out of the mean; with none, there is no score.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.records import access, medication_doses
from carebridge.records.models import Observation, Section
from carebridge.records.policy import Subject
from carebridge.records.trend_schemas import Component, ComponentStatus, HealthSummary
from carebridge.records.vitals import SPECS, Kind, bmi

WINDOW = timedelta(days=14)
GLUCOSE_TARGET = (70.0, 180.0)  # mg/dL, the International Consensus on Time in Range


@dataclass(frozen=True)
class Band:
    """Points for a value: the band holds when every value is below its limit (``None``: not
    checked); ``points=None`` scores the value itself, a share, as ``100 x share``."""

    rule: str
    points: int | None
    below: tuple[float | None, ...] = ()

    def holds(self, values: tuple[float, ...]) -> bool:
        return all(limit is None or v < limit for v, limit in zip(values, self.below, strict=False))


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    measured: str  # what the value is
    minimum: int  # readings (or days) needed
    bands: tuple[Band, ...]  # the first that holds scores

    def score(self, values: tuple[float, ...]) -> Band:
        return next(band for band in self.bands if band.holds(values))


RULES: tuple[Rule, ...] = (
    Rule(
        "blood_pressure",
        "Blood pressure",
        "the mean of the readings of the last 14 days (at least 1)",
        1,
        (
            Band("Systolic below 90 mmHg: low.", 60, (90, None)),
            Band("Below 130/80 mmHg: normal or elevated (ACC/AHA 2017).", 100, (130, 80)),
            Band("Below 140/90 mmHg: stage 1 hypertension.", 70, (140, 90)),
            Band("Below 180/120 mmHg: stage 2 hypertension.", 40, (180, 120)),
            Band("180/120 mmHg or above: hypertensive crisis range.", 10),
        ),
    ),
    Rule(
        "bmi",
        "Body mass index",
        "from the latest weight and the latest height (any date)",
        1,
        (
            Band("Below 16: severe thinness (WHO).", 20, (16,)),
            Band("16 to 18.4: underweight.", 60, (18.5,)),
            Band("18.5 to 24.9: normal weight.", 100, (25,)),
            Band("25 to 29.9: overweight.", 70, (30,)),
            Band("30 to 34.9: obesity class I.", 50, (35,)),
            Band("35 to 39.9: obesity class II.", 30, (40,)),
            Band("40 or above: obesity class III.", 10),
        ),
    ),
    Rule(
        "blood_glucose",
        "Blood glucose",
        "the share of the readings of the last 14 days within 70-180 mg/dL (at least 3)",
        3,
        (Band("Points are the percentage of readings in 70-180 mg/dL (target: 70 %).", None),),
    ),
    Rule(
        "activity",
        "Activity",
        "the mean daily steps of the last 14 days (at least 3 days)",
        3,
        (
            Band("Below 2,500 steps a day: basal activity (Tudor-Locke 2009).", 10, (2500,)),
            Band("2,500 to 4,999 steps a day: sedentary.", 30, (5000,)),
            Band("5,000 to 7,499 steps a day: low active.", 60, (7500,)),
            Band("7,500 to 9,999 steps a day: somewhat active.", 80, (10000,)),
            Band("10,000 steps a day or more: active.", 100),
        ),
    ),
    Rule(
        "medication_adherence",
        "Medication adherence",
        "the share of the doses due in the last 14 days marked taken",
        1,
        (Band("Points are the percentage of doses taken.", None),),
    ),
)
BY_KEY = {rule.key: rule for rule in RULES}
HOW = (
    "The score is the mean of the points of the components that have data; a component "
    "without enough data is left out. No component with data: no score."
)


def rules_table() -> str:
    """The rules as ``docs/records.md`` prints them."""
    lines = ["| component | value | rule | points |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        for band in rule.bands:
            points = "100 x share" if band.points is None else str(band.points)
            lines.append(f"| {rule.label} | {rule.measured} | {band.rule} | {points} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Facts:
    """What the summary reads from the record."""

    bp_count: int = 0
    systolic: float | None = None
    diastolic: float | None = None
    glucose_count: int = 0
    glucose_in_range: int = 0
    steps_days: int = 0
    steps_mean: float | None = None
    weight: float | None = None
    height: float | None = None
    adherence: float | None = None


def window_select(patient_id: Any, since: datetime, until: datetime) -> Select[Any]:
    """The last 14 days' aggregates the summary scores, in one pass of the series index."""
    of = Observation.kind
    low, high = GLUCOSE_TARGET
    return select(
        func.count().filter(of == Kind.blood_pressure.value).label("bp_count"),
        func.avg(Observation.value).filter(of == Kind.blood_pressure.value).label("systolic"),
        func.avg(Observation.value2).filter(of == Kind.blood_pressure.value).label("diastolic"),
        func.count().filter(of == Kind.blood_glucose.value).label("glucose_count"),
        func.count()
        .filter(and_(of == Kind.blood_glucose.value, Observation.value.between(low, high)))
        .label("glucose_in_range"),
        func.count().filter(of == Kind.steps.value).label("steps_days"),
        func.avg(Observation.value).filter(of == Kind.steps.value).label("steps_mean"),
    ).where(
        Observation.patient_id == patient_id,
        of.in_([Kind.blood_pressure.value, Kind.blood_glucose.value, Kind.steps.value]),
        Observation.measured_at >= since,
        Observation.measured_at < until,
    )


def body_select(patient_id: Any) -> Select[str, float]:
    """The latest weight and the latest height."""
    return (
        select(Observation.kind, Observation.value)
        .where(
            Observation.patient_id == patient_id,
            Observation.kind.in_([Kind.body_weight.value, Kind.body_height.value]),
        )
        .ext(distinct_on(Observation.kind))
        .order_by(Observation.kind, Observation.measured_at.desc(), Observation.id.desc())
    )


async def adherence_of(
    db: AsyncSession, patient_id: uuid.UUID, since: datetime, until: datetime
) -> float | None:
    """The share of doses taken over all the patient's medications (``medication_doses``)."""
    return await medication_doses.adherence_rate(db, patient_id, since, until)


async def facts_of(db: AsyncSession, subject: Subject, since: datetime, until: datetime) -> Facts:
    window = (await db.execute(window_select(subject.patient_id, since, until))).one()
    body = {row.kind: row.value for row in await db.execute(body_select(subject.patient_id))}
    adherence = None
    if Section.medications in subject.sections:
        adherence = await adherence_of(db, subject.patient_id, since, until)
    return Facts(
        bp_count=window.bp_count,
        systolic=window.systolic,
        diastolic=window.diastolic,
        glucose_count=window.glucose_count,
        glucose_in_range=window.glucose_in_range,
        steps_days=window.steps_days,
        steps_mean=window.steps_mean,
        weight=body.get(Kind.body_weight.value),
        height=body.get(Kind.body_height.value),
        adherence=adherence,
    )


def _component(
    key: str,
    values: tuple[float, ...] | None,
    count: int,
    unit: str | None,
    *,
    shared: bool = True,
) -> Component:
    rule = BY_KEY[key]
    base = {"key": key, "label": rule.label, "measured": rule.measured, "readings": count}
    if not shared:
        return Component(**base, status=ComponentStatus.not_shared, unit=unit)
    if values is None or count < rule.minimum:
        return Component(**base, status=ComponentStatus.not_enough_data, unit=unit)
    band = rule.score(values)
    points = round(100 * values[0]) if band.points is None else band.points
    shown = tuple(round(v, 3 if band.points is None else 1) for v in values)
    return Component(
        **base,
        status=ComponentStatus.scored,
        value=shown[0],
        value2=shown[1] if len(shown) > 1 else None,
        unit=unit,
        points=points,
        rule=band.rule,
    )


def components(facts: Facts, *, medications_shared: bool = True) -> list[Component]:
    bp = None
    if facts.systolic is not None and facts.diastolic is not None:
        bp = (float(facts.systolic), float(facts.diastolic))
    index = None
    if facts.weight is not None and facts.height is not None:
        index = (bmi(facts.weight, facts.height),)
    glucose = (facts.glucose_in_range / facts.glucose_count,) if facts.glucose_count else None
    steps = None if facts.steps_mean is None else (float(facts.steps_mean),)
    adherence = None if facts.adherence is None else (facts.adherence,)
    return [
        _component("blood_pressure", bp, facts.bp_count, SPECS[Kind.blood_pressure].unit.code),
        _component("bmi", index, int(index is not None), SPECS[Kind.bmi].unit.code),
        _component("blood_glucose", glucose, facts.glucose_count, "share"),
        _component("activity", steps, facts.steps_days, SPECS[Kind.steps].unit.code),
        _component(
            "medication_adherence",
            adherence,
            int(adherence is not None),
            "share",
            shared=medications_shared,
        ),
    ]


async def summary(
    db: AsyncSession, scope: CallScope, subject: Subject, *, now: datetime | None = None
) -> HealthSummary:
    """The summary of the last 14 days (the observations section; medication adherence when
    the medications are shared too)."""
    await access.check_read(db, scope, subject, Section.observations, view="summary")
    until = now or datetime.now(UTC)
    since = until - WINDOW
    facts = await facts_of(db, subject, since, until)
    parts = components(facts, medications_shared=Section.medications in subject.sections)
    scored = [c.points for c in parts if c.points is not None]
    return HealthSummary(
        score=round(sum(scored) / len(scored)) if scored else None,
        scored_components=len(scored),
        how=HOW,
        since=since,
        until=until,
        components=parts,
    )
