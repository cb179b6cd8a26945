"""What `carebridge serve` imports before it answers: libraries that only some requests need are
imported on first use (docs/performance.md, "Start-up"). A fresh interpreter builds the app as
`serve` does and must not have loaded any of them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.factories.settings import ROOT

# Each is a tenth of a second of start-up or more, for something a request may never need.
ON_FIRST_USE = (
    "fpdf",  # prescription PDFs, drawn by the worker
    "fontTools",
    "stripe",  # only with CAREBRIDGE_PAYMENT_PROVIDER=stripe
    "requests",
    "icalendar",  # calendar files and feeds
    "httpx",  # the SMS provider's API
    "ua_parser",  # naming a new sign-in's device
    "yaml",
    "phonenumbers",  # checking a phone number
    "segno",  # QR codes
)

_BUILD_THE_APP = """
import json, sys, tempfile
from pathlib import Path
import carebridge.cli
from carebridge.app import create_app
from carebridge.config import Settings
create_app(Settings(data_dir=Path(tempfile.mkdtemp()), database_url="postgresql://x@h/db",
                    _env_file=None))
print(json.dumps(sorted(sys.modules)))
"""


def test_serving_loads_no_library_that_only_some_requests_need() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_THE_APP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout.strip().splitlines()[-1])}
    assert loaded & set(ON_FIRST_USE) == set()
