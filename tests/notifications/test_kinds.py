"""Every kind the preferences offer is one that CareBridge sends: a choice a person makes on the
preferences page must be about notifications that exist."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx

import carebridge
from tests.factories import SignIn

SOURCE = Path(carebridge.__file__).parent
TESTS = Path(__file__).parents[1]
# The calls that write a notification, and where their kind argument stands: notify and
# notify_many, and accounts' Message (sent through its MESSAGE hook, which notifications
# subscribes to with notify).
# Callables that send a kind, and the position of the kind among their arguments (``tell`` is
# the home visit's: one party of a move, unless they made it, visits/service.py).
_SENDERS = {"notify": 2, "notify_many": 2, "Message": 1, "tell": 1}


def _registered_names(tree: ast.Module) -> dict[str, str]:
    """``NAME = register_kind(Kind("kind", ...))`` at a module's top level: NAME -> "kind"."""
    names: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        inner = node.value.args[0] if node.value.args else None
        if (
            isinstance(inner, ast.Call)
            and inner.args
            and isinstance(inner.args[0], ast.Constant)
            and isinstance(inner.args[0].value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = inner.args[0].value
    return names


def _kind_argument(call: ast.Call) -> ast.expr | None:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name not in _SENDERS:
        return None
    for keyword in call.keywords:
        if keyword.arg == "kind":
            return keyword.value
    position = _SENDERS[name]
    return call.args[position] if len(call.args) > position else None


def _trees(folder: Path) -> list[ast.Module]:
    return [ast.parse(path.read_text(encoding="utf-8")) for path in folder.rglob("*.py")]


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """``NAME = "kind"`` at a module's top level (accounts names its message kinds so)."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def kinds_of_tests() -> set[str]:
    """Kinds that test modules register for themselves (offered once such a module is
    imported)."""
    return {name for tree in _trees(TESTS) for name in _registered_names(tree).values()}


def sent_kinds() -> set[str]:
    """The kinds named at a call of ``notify``/``notify_many`` (or a ``Message``) anywhere in the
    application: a string, a module's string constant, or ``CONSTANT.name`` of a registered
    kind."""
    trees = _trees(SOURCE)
    constants: dict[str, str] = {}
    strings: dict[str, str] = {}
    for tree in trees:
        constants.update(_registered_names(tree))
        strings.update(_string_constants(tree))
    sent: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            argument = _kind_argument(node) if isinstance(node, ast.Call) else None
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                sent.add(argument.value)
            elif isinstance(argument, ast.Name) and argument.id in strings:
                sent.add(strings[argument.id])
            elif (
                isinstance(argument, ast.Attribute)
                and argument.attr == "name"
                and isinstance(argument.value, ast.Name)
                and argument.value.id in constants
            ):
                sent.add(constants[argument.value.id])
            elif (  # ``kinds.CONSTANT.name``: the constant through its module
                isinstance(argument, ast.Attribute)
                and argument.attr == "name"
                and isinstance(argument.value, ast.Attribute)
                and argument.value.attr in constants
            ):
                sent.add(constants[argument.value.attr])
    return sent


async def test_every_kind_offered_in_the_preferences_is_sent_somewhere(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    answer = await client.get("/api/v1/notifications/preferences", headers=me.headers)
    assert answer.status_code == 200
    offered = {choice["kind"] for choice in answer.json()["kinds"]} - kinds_of_tests()
    assert offered, "the preferences offer no kind at all"
    never_sent = offered - sent_kinds()
    assert never_sent == set(), (
        "offered in the preferences but sent by no code (no notify/notify_many/Message names it): "
        f"{sorted(never_sent)}"
    )
