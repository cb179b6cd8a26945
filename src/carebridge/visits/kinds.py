"""Notification kinds of home visits: each step the patient, the nurse or the doctor needs to
know of (a new request goes to the dispatchers as an ``admin_alert``)."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

_NOW = frozenset({Channel.in_app, Channel.push})
_ALL = frozenset({Channel.in_app, Channel.email, Channel.push})

VISIT_ASSIGNED = register_kind(Kind("visit_assigned", "A home visit was assigned", defaults=_ALL))
VISIT_ACCEPTED = register_kind(
    Kind("visit_accepted", "Your nurse confirmed the home visit", defaults=_ALL)
)
VISIT_ON_THE_WAY = register_kind(
    Kind("visit_on_the_way", "Your nurse is on the way", defaults=_NOW)
)
VISIT_ARRIVED = register_kind(Kind("visit_arrived", "Your nurse has arrived", defaults=_NOW))
VISIT_CANCELLED = register_kind(
    Kind("visit_cancelled", "A home visit was cancelled", defaults=_ALL)
)
VISIT_NO_SHOW = register_kind(
    Kind("visit_no_show", "The nurse could not find you at home", defaults=_ALL)
)
VISIT_COMPLETED = register_kind(
    Kind("visit_completed", "Your home visit is complete", defaults=_NOW)
)
VISIT_REPORT_SUBMITTED = register_kind(
    Kind("visit_report_submitted", "A home visit report to review", defaults=_ALL)
)
VISIT_REPORT_CHANGES = register_kind(
    Kind("visit_report_changes", "A doctor asked for changes to your visit report", defaults=_ALL)
)
VISIT_REPORT_SIGNED = register_kind(
    Kind("visit_report_signed", "A doctor signed off your visit report", defaults=_ALL)
)
VISIT_REPORT_READY = register_kind(
    Kind("visit_report_ready", "The report of your home visit is ready", defaults=_ALL)
)
