"""Run every benchmark: `python -m bench` (or one: `python -m bench startup`)."""

from __future__ import annotations

import sys

from bench import (
    audit_verify,
    booking,
    call_signaling,
    chat,
    doctors_list,
    inputs,
    middleware,
    notify_fanout,
    presence_fanout,
    records,
    startup,
    visit_tracking,
)

BENCHMARKS = {
    "middleware": middleware.main,
    "inputs": inputs.main,
    "startup": startup.main,
    "notify_fanout": notify_fanout.main,
    "doctors_list": doctors_list.main,
    "presence_fanout": presence_fanout.main,
    "booking": booking.main,
    "chat": chat.main,
    "call_signaling": call_signaling.main,
    "records": records.main,
    "visit_tracking": visit_tracking.main,
    "audit_verify": audit_verify.main,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHMARKS)
    for name in names:
        print(f"== {name}")
        BENCHMARKS[name]()
