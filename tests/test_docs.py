"""docs/architecture.md keeps up with the code: every registered domain has its row in the
Domains table (what it owns and uses), and nothing there says a built part does not exist."""

from __future__ import annotations

import re

from carebridge.platform import registry
from tests.factories.settings import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def registered_domains() -> set[str]:
    modules = {
        module
        for name in dir(registry)
        if name.endswith("_MODULES")
        for module in getattr(registry, name)
    }
    return {m.split(".")[1] for m in modules if m.split(".")[1] not in ("platform", "web")}


def test_every_registered_domain_has_its_row_in_the_architecture() -> None:
    text = ARCHITECTURE.read_text()
    table = text.split("## Domains", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    assert registered_domains() <= rows, registered_domains() - rows


def test_the_architecture_does_not_say_the_domains_are_missing() -> None:
    text = ARCHITECTURE.read_text()
    assert "No domain exists yet" not in text
    assert "not built yet)" not in text
