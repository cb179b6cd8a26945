"""Every hook a domain declares (``<domain>/hooks.py``) has its subscriber and every supplied
value its supplier, once the registry's subscription modules are loaded: a hook nobody listens
to would drop what a lower domain hands up (a booking without its payment row, an audit row
never written), without an error."""

from __future__ import annotations

import importlib

from carebridge.platform.hooks import Hook, Supplied, load_subscriptions
from tests.factories.settings import ROOT


def declared() -> dict[str, Hook[object] | Supplied[object]]:
    found: dict[str, Hook[object] | Supplied[object]] = {}
    for path in sorted((ROOT / "src" / "carebridge").glob("*/hooks.py")):
        if path.parent.name == "platform":
            continue
        module = importlib.import_module(f"carebridge.{path.parent.name}.hooks")
        for name, value in vars(module).items():
            if isinstance(value, Hook | Supplied):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_the_domains_declare_hooks() -> None:
    assert {"carebridge.scheduling.hooks.BOOKED", "carebridge.accounts.hooks.AUDITED"} <= set(
        declared()
    )


def test_every_hook_has_a_subscriber_and_every_value_a_supplier() -> None:
    load_subscriptions()
    for name, hook in declared().items():
        if isinstance(hook, Hook):
            assert hook.subscribers(), f"nothing subscribes to {name}"
        else:
            assert hook.get() is not None, name
