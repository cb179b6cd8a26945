"""Every audit row about a patient's object names its patient (``subject_id``): walked over the
source, so a new call site is checked on arrival. A call of ``record`` or ``audit_values`` (or a
dict of audit fields) whose ``resource_type`` is one of a patient's objects must pass
``subject_id``, unless it is listed below with the reason. The access log and the admins'
subject filter rely on it (docs/compliance.md); ``test_audit_viewer.py`` checks the rows
themselves after a patient's record is read and messages exchanged."""

from __future__ import annotations

import ast

from tests.factories.audit import PATIENT_OBJECTS
from tests.factories.settings import ROOT

SOURCE = ROOT / "src" / "carebridge"
WRITERS = {"record", "audit_values"}
# Call sites that name no single patient, with the reason.
NO_SUBJECT = {
    "visits/service.py:visit.list": "a list of visits, of many patients (their ids in details)",
    "visits/day.py:visit.list": "a nurse's day, visits of many patients",
}


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def _value(node: ast.expr | None, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        return names.get(node.attr)
    if isinstance(node, ast.IfExp):  # either branch: the first known one stands for both
        return _value(node.body, names) or _value(node.orelse, names)
    return None


def _sites() -> list[tuple[str, str, str, bool]]:
    """(file, action, resource type, names a subject) of each audit write with a known type."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in SOURCE.rglob("*.py")}
    names: dict[str, str] = {}
    for tree in trees.values():
        names.update(_constants(tree))
    sites = []
    for path, tree in trees.items():
        local = {**names, **_constants(tree)}
        where = str(path.relative_to(SOURCE))
        for node in ast.walk(tree):
            fields: dict[str, ast.expr] = {}
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in WRITERS:
                    fields = {k.arg: k.value for k in node.keywords if k.arg}
            elif isinstance(node, ast.Dict):
                keys = [_value(k, {}) if k is not None else None for k in node.keys]
                if "resource_type" in keys and "action" in keys:
                    fields = {k: v for k, v in zip(keys, node.values, strict=True) if k}
            kind = _value(fields.get("resource_type"), local)
            if kind is None:
                continue
            action = _value(fields.get("action"), local) or "?"
            sites.append((where, action, kind, "subject_id" in fields))
    return sites


def test_the_walk_finds_the_domains_audit_writes() -> None:
    found = {kind for _, _, kind, _ in _sites()}
    assert {"patient_record", "home_visit", "prescription", "patient_profile"} <= found


def test_every_audit_write_about_a_patients_object_names_the_patient() -> None:
    missing = [
        f"{where}: {action} on {kind}"
        for where, action, kind, named in _sites()
        if kind in PATIENT_OBJECTS and not named and f"{where}:{action}" not in NO_SUBJECT
    ]
    assert missing == [], (
        "pass subject_id=<the patient's id> to these audit writes (or list them in NO_SUBJECT "
        "with the reason)"
    )
