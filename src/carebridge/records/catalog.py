"""The observation kinds as the API lists them (``vitals``)."""

from __future__ import annotations

from carebridge.records.schemas import KindOut, RangesOut, UnitOut
from carebridge.records.vitals import SPECS, Ranges


def ranges_out(ranges: Ranges) -> RangesOut:
    return RangesOut(
        normal_low=ranges.normal_low,
        normal_high=ranges.normal_high,
        critical_low=ranges.critical_low,
        critical_high=ranges.critical_high,
        source=ranges.source,
    )


def kinds() -> list[KindOut]:
    return [
        KindOut(
            kind=spec.kind,
            label=spec.label,
            loinc=spec.loinc,
            unit=UnitOut(code=spec.unit.code, label=spec.unit.label),
            units=[UnitOut(code=u.code, label=u.label) for u in spec.units],
            possible=spec.possible,
            ranges=ranges_out(spec.ranges),
            second_possible=None if spec.second is None else spec.second.possible,
            second_ranges=None if spec.second is None else ranges_out(spec.second.ranges),
            derived=spec.derived,
        )
        for spec in SPECS.values()
    ]


def _bound(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:g} {unit}"


def markdown_table() -> str:
    """The kinds as docs/records.md prints them (``tests/records/test_vitals.py`` compares)."""
    lines = [
        "| kind | LOINC | canonical unit (UCUM) | also accepted | possible | critical low below "
        "| low below | high above | critical high above | source of the ranges |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for spec in SPECS.values():
        rows = [(spec.label, spec.loinc, spec.possible, spec.ranges)]
        if spec.second is not None:
            rows = [
                (
                    f"{spec.label}: systolic",
                    spec.loinc_first or spec.loinc,
                    spec.possible,
                    spec.ranges,
                ),
                (
                    f"{spec.label}: {spec.second.label.lower()}",
                    spec.second.loinc,
                    spec.second.possible,
                    spec.second.ranges,
                ),
            ]
        for label, loinc, possible, ranges in rows:
            unit = spec.unit.label
            others = ", ".join(f"{u.label} (`{u.code}`)" for u in spec.units[1:]) or "—"
            cells = [
                f"`{spec.kind.value}` {label}" + (" (computed)" if spec.derived else ""),
                loinc,
                f"{unit} (`{spec.unit.code}`)",
                others,
                f"{possible[0]:g} to {possible[1]:g} {unit}",
                _bound(ranges.critical_low, unit),
                _bound(ranges.normal_low, unit),
                _bound(ranges.normal_high, unit),
                _bound(ranges.critical_high, unit),
                ranges.source,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
