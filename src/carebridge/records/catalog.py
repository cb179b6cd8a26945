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
