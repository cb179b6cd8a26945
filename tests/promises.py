"""Words that promise a feature of a domain that is not built yet.

A domain is built when ``platform/registry.py`` lists a module of it. Until then the landing
page, the README and the API's description may not use its words; when it is registered, its
words are allowed again, with no change here."""

from __future__ import annotations

import re

from carebridge.platform import registry

# The domains of the design (ARCHITECTURE.md) whose features people would look for by name.
PROMISES: dict[str, tuple[str, ...]] = {
    "messaging": (r"\bchat", r"\bmessaging\b", r"\bconversations?\b"),
    "video": (r"\bvideo",),
    "visits": (r"\bhome visits?\b", r"\bnurse visits?\b", r"\bhome nurs"),
    "records": (r"\bhealth records?\b", r"\bvitals?\b", r"\bsymptoms?\b", r"\btrack your health"),
    "assistant": (r"\bassistant\b", r"\bAI\b"),
    "analytics": (r"\banalytics\b",),
    "fhir": (r"\bFHIR\b", r"\bHL7\b"),
}


def registered_domains() -> set[str]:
    return {
        path.split(".")[1]
        for name, paths in vars(registry).items()
        if name.endswith("_MODULES")
        for path in paths
    }


def unbuilt_promises(text: str) -> dict[str, list[str]]:
    """The unbuilt domains ``text`` promises, with the words that give it away."""
    built = registered_domains()
    found = {}
    for domain, words in PROMISES.items():
        hits = [w for w in words if domain not in built and re.search(w, text, re.IGNORECASE)]
        if hits:
            found[domain] = hits
    return found
