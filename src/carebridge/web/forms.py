"""The language of forms: what was wrong with a form, in the words of the form.

The schemas that check a form speak of locations and types (``lines 0 refills: Input should be
less than or equal to 12``); a person filled in "Refills" of "Medication 1". Each form declares
its :class:`FormLanguage` once, next to its handler: the label of each field as the form shows it,
by its location in the schema (``"lines.*.refills"``; ``*`` stands for a row's index, ``{n}`` in
the label for what the form calls the row: its number, or a name given with the errors). The
error's type becomes a plain sentence here, for every form ("required", "at most 12 refills",
"a valid email address"), so the message reads ``Medication 1: at most 12 refills``. A field the
form does not name is called by its schema name in words (``time_zone``: "Time zone").

Messages written by our own validators (``ValueError`` in a schema) are already sentences for
people ("must be an IANA time zone such as Europe/Berlin"): they are kept. A service's refusal
(:class:`~carebridge.platform.errors.CareBridgeError`) is shown as its ``detail``.

A handler reads its form through a :class:`FormModel`, declared next to it and taken as a
dependency (``form: Annotated[BookingForm, Form()]``): the fields as the page posts them, all
text and all optional, so that a form left empty reaches the handler, which checks it with the
domain's schema and shows the form again with this language's messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

from carebridge.platform.errors import CareBridgeError
from carebridge.platform.inputs import NOT_BLANK

# The part of a request a location starts with: not part of a field's name.
_PARTS = ("body", "query", "path", "form", "header", "cookie")
# What the form calls the rows of a list, by the list's name: {"lines": [1, 3]} when the form's
# second block was left empty, {"types": ["Video call", "Chat"]}.
Rows = Mapping[str, Sequence[int | str]]


@dataclass(frozen=True)
class Label:
    """A field as the form shows it. ``{n}`` in ``text`` is what the form calls its row (its
    number, 1 for the first, unless the errors come with names for the rows); ``unit`` is what a
    number in it counts ("at most 12 refills")."""

    text: str
    unit: str = ""


def _sentence(error: Mapping[str, Any], unit: str) -> str:
    """What was wrong, in words: the error's type, with its limits."""
    kind = str(error.get("type", ""))
    limits: Mapping[str, Any] = error.get("ctx") or {}
    counted = f" {unit}" if unit else ""
    bounds = {
        "less_than_equal": ("at most", "le"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "greater_than": ("more than", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {limits.get(key)}{counted}"
    if kind in ("string_too_short", "too_short") and limits.get("min_length") == 1:
        return "required"
    if kind == "string_too_short":
        return f"at least {limits.get('min_length')} characters"
    if kind == "string_too_long":
        return f"at most {limits.get('max_length')} characters"
    if kind in ("too_long", "too_short"):
        words = "at most" if kind == "too_long" else "at least"
        key = "max_length" if kind == "too_long" else "min_length"
        return f"{words} {limits.get(key)}{counted or ' choices'}"
    if kind == "string_pattern_mismatch":
        return "required" if limits.get("pattern") == NOT_BLANK else "not in the expected form"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"a whole number{' of ' + unit if unit else ''}"
    if kind == "literal_error" or kind == "enum":
        return f"one of {limits.get('expected')}"
    if kind == "value_error":
        return _own_words(str(error.get("msg", "")))
    return _SENTENCES.get(kind) or str(error.get("msg", "")).lower()


_SENTENCES = {
    "missing": "required",
    "float_parsing": "a number",
    "float_type": "a number",
    "decimal_parsing": "a number",
    "bool_parsing": "yes or no",
    "date_parsing": "a date such as 2026-03-29",
    "date_from_datetime_parsing": "a date such as 2026-03-29",
    "date_type": "a date such as 2026-03-29",
    "time_parsing": "a time such as 09:30",
    "time_type": "a time such as 09:30",
    "datetime_parsing": "a date and time",
    "datetime_from_date_parsing": "a date and time",
    "datetime_type": "a date and time",
    "timezone_aware": "a time with its time zone",
    "uuid_parsing": "not one of ours",
    "uuid_type": "not one of ours",
    "extra_forbidden": "not a field of this form",
    "string_type": "text",
    "string_nul": "holds a character that cannot be stored (NUL): remove it",
    "json_invalid": "not readable",
}


def _own_words(message: str) -> str:
    """A validator's own message, which is meant for people (pydantic's prefix aside)."""
    message = message.removeprefix("Value error, ").replace("`", "")
    if message.startswith("value is not a valid email address"):
        return "a valid email address"
    return message


@dataclass(frozen=True)
class FormLanguage:
    """The labels of one form, by schema location (``"name"``, ``"lines.*.refills"``)."""

    labels: Mapping[str, str | Label] = field(default_factory=dict)

    def message(self, error: Mapping[str, Any], rows: Rows) -> str:
        """``"Medication 1: at most 12 refills"``."""
        location = list(error.get("loc", ()))
        while location and location[0] in _PARTS:
            location.pop(0)
        sentence = _sentence(error, "")
        if not location:  # about the whole form: a sentence of its own
            return sentence[:1].upper() + sentence[1:]
        label = self._label(location, rows)
        return f"{label.text}: {_sentence(error, label.unit)}"

    def messages(self, errors: Sequence[Mapping[str, Any]], rows: Rows | None = None) -> list[str]:
        return list(dict.fromkeys(self.message(error, rows or {}) for error in errors))

    def explain(self, exc: Exception, rows: Rows | None = None) -> str:
        """What to show above the form: a service's refusal, or each field's problem."""
        if isinstance(exc, CareBridgeError):
            return exc.detail
        if isinstance(exc, ValidationError | RequestValidationError):
            return "; ".join(self.messages(list(exc.errors()), rows))
        return "Please check the form."

    def _label(self, location: list[int | str], rows: Rows) -> Label:
        found = self._named(location)
        if found is None:
            # A field of a row the form names ("Weekly hours, row {n}"): the row, then the field.
            for cut in range(len(location) - 1, 0, -1):
                row = self._named(location[:cut]) if isinstance(location[cut - 1], int) else None
                if row is not None:
                    inner = self._label(location[cut:], rows)
                    found = Label(f"{row.text}, {inner.text}", inner.unit)
                    break
        if found is None:
            last = next((str(p) for p in reversed(location) if isinstance(p, str)), "")
            found = self._named([last]) or Label(last.replace("_", " ").capitalize())
        return Label(found.text.replace("{n}", str(_row_number(location, rows))), found.unit)

    def _named(self, location: Sequence[int | str]) -> Label | None:
        key = ".".join("*" if isinstance(part, int) else str(part) for part in location)
        named = self.labels.get(key)
        return Label(named) if isinstance(named, str) else named


def _row_number(location: Sequence[int | str], rows: Rows) -> int | str:
    """What the form calls the last row in ``location``: its name or number (1 for the first)."""
    for at in range(len(location) - 1, 0, -1):
        index = location[at]
        if isinstance(index, int):
            numbers = rows.get(str(location[at - 1]))
            return numbers[index] if numbers and index < len(numbers) else index + 1
    return 1


def filled(**values: str) -> dict[str, str]:
    """A form's fields as a schema reads them: a field left empty is a field not given (so
    it is "required", not "not valid"), and a field of only spaces stays, to be refused."""
    return {name: value for name, value in values.items() if value != ""}


# For a form that names no field of its own: each is called by its schema name in words (the
# search box of every page aside).
PLAIN = FormLanguage({"q": "Search"})


class FormModel(BaseModel):
    """The fields a page's form posts, as text; a field not posted is empty ("" or [] or None
    for a checkbox left unticked). Fields the form does not declare (the CSRF token) are
    ignored: the domain's schema decides what is valid."""

    model_config = ConfigDict(extra="ignore", frozen=True)
