"""Scheduling pages, by page group: the doctor's schedule editor (``schedule``) and calendar
(``calendar``); the patient's booking and rescheduling (``booking``); the appointments list, one
page per appointment and its moves (``appointments``). Forms post to the same services as the
API; what every page shares (names, times in the reader's zone) is in ``common``."""

from __future__ import annotations

from fastapi import APIRouter

from carebridge.web.scheduling import appointments, booking, calendar, schedule

router = APIRouter(include_in_schema=False)
for pages in (schedule, calendar, booking, appointments):
    router.include_router(pages.router)
