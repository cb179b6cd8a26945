"""Health record API, the diary sections: symptoms, allergies, conditions and immunizations, and
the symptom catalog. Each section has the same five routes, registered from its
``diary.DiarySection``: the patient's list, add, change and delete under ``/records/<section>``,
and a clinician's (audited) list under ``/patients/{patient_id}/records/<section>``.

The handlers are written once; :func:`_typed` gives each section's copy its own body schema and
path parameter (``symptom_id``, ``allergy_id``, ...), so that validation and the OpenAPI
document are the section's own.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from carebridge.accounts.actors import AnyUser
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses
from carebridge.records import diary, symptom_catalog
from carebridge.records.deps import OwnRecord, PatientRecord
from carebridge.records.diary import DiarySection
from carebridge.records.diary_schemas import CatalogSymptomOut, EntryOut
from carebridge.records.routes import Cursor, Limit

router = APIRouter(tags=["records"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)
_WRITE = problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid)


@router.get("/records/symptom-catalog", response_model=list[CatalogSymptomOut], responses=_READ)
async def symptom_catalog_search(
    actor: AnyUser, q: Annotated[str, Query(max_length=100)] = ""
) -> list[CatalogSymptomOut]:
    """The symptoms the diary knows (at most 20): those whose label or a synonym contains `q`
    (any case, accents ignored), those whose label starts with it first. A diary entry named by
    one of these words is stored with the symptom's `code` and `label`."""
    return [
        CatalogSymptomOut(code=s.code, label=s.label, synonyms=list(s.synonyms))
        for s in symptom_catalog.search(q)
    ]


def _typed(handler: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """A copy of ``handler`` whose parameters named in ``annotations`` have those types."""

    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await handler(*args, **kwargs)

    signature = inspect.signature(handler, eval_str=True)
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(annotation=annotations.get(p.name, p.annotation))
            for p in signature.parameters.values()
        ]
    )
    return endpoint


def _register(spec: DiarySection) -> None:
    plural, singular = spec.section.value, spec.singular
    own_path, entry_path = f"/records/{plural}", f"/records/{plural}/{{{singular}_id}}"
    EntryId = Annotated[uuid.UUID, Path(alias=f"{singular}_id")]
    page = PageOut[spec.out]  # type: ignore[name-defined]

    async def list_own(
        subject: OwnRecord, db: Session, scope: Scope, cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PageOut[EntryOut]:  # fmt: skip
        found = await diary.list_entries(db, scope, spec, subject, cursor=cursor, limit=limit)
        return PageOut(items=found.items, next_cursor=found.next_cursor)

    async def add(body: Any, subject: OwnRecord, db: Session, scope: Scope) -> EntryOut:
        return await diary.add(db, scope, spec, subject, body)

    async def change(
        entry_id: Any, body: Any, subject: OwnRecord, db: Session, scope: Scope
    ) -> EntryOut:
        return await diary.update(db, scope, spec, subject, entry_id, body)

    async def remove(entry_id: Any, subject: OwnRecord, db: Session, scope: Scope) -> Response:
        await diary.delete(db, scope, spec, subject, entry_id)
        return Response(status_code=204)

    reader = _typed(list_own, subject=PatientRecord)
    routes: list[tuple[str, str, Callable[..., Any], str, dict[str, Any]]] = [
        ("GET", own_path, list_own, f"list_{plural}", {"response_model": page}),
        ("GET", f"/patients/{{patient_id}}/records/{plural}", reader, f"read_{plural}",
         {"response_model": page}),
        ("POST", own_path, _typed(add, body=spec.create), f"add_{singular}",
         {"status_code": 201, "response_model": spec.out}),
        ("PATCH", entry_path, _typed(change, entry_id=EntryId, body=spec.patch),
         f"update_{singular}", {"response_model": spec.out}),
        ("DELETE", entry_path, _typed(remove, entry_id=EntryId), f"delete_{singular}",
         {"status_code": 204}),
    ]  # fmt: skip
    for method, path, endpoint, name, options in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=name,
            responses=_READ if method == "GET" else _WRITE,
            description=_DOCS[method].format(plural=plural, singular=singular)
            + (_SECTION_DOCS[spec.section.value] if method in ("POST", "PATCH") else ""),
            **options,
        )


_DOCS = {
    "GET": "Your {plural} (a clinician: the patient's, audited), newest first; `cursor` and "
    "`limit` page through them.",
    "POST": "Patient: add to your {plural}. Bad input answers 422 with a `code`; nothing is "
    "written. ",
    "PATCH": "Patient: change one of your {plural}: the fields given replace the stored ones "
    "(`note: null` clears the note); the whole entry is checked again. ",
    "DELETE": "Patient: delete one of your {plural} (404 `{singular}_not_found` for an id not in "
    "your record).",
}
_SECTION_DOCS = {
    "symptoms": "A `name` of the symptom catalog (label, code or synonym: "
    "`GET /records/symptom-catalog`) is stored with its `code` and `label`; other text as it is. "
    "`severity` 0 to 10; `onset_at` not in the future (422 `onset_in_future`).",
    "allergies": "One entry per substance (any case): 409 `allergy_exists` with `existing_id`.",
    "conditions": "`status` is FHIR's clinical status. `resolved_on` only with a status other "
    "than active/recurrence/relapse (422 `resolved_while_ongoing`), not before `onset_on` (422 "
    "`resolved_before_onset`); no date in the future.",
    "immunizations": "`given_on` not in the future (422 `given_in_future`); `dose_number` 1 to 20.",
}

for _spec in diary.SECTIONS:
    _register(_spec)
