"""The tests' own layout: what several test modules share lives in ``tests/factories/`` (or
``tests/helpers.py``, ``tests/promises.py``), so no file under ``tests/`` imports a test module
or a conftest, and fixtures arrive by name (from a conftest or a plugin the root conftest lists),
never by import."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

from _pytest.fixtures import getfixturemarker

TESTS = Path(__file__).resolve().parent
# The package re-exports its first module's names, fixtures included, for code written before
# it was split: a re-export, not a use.
REEXPORTS = "tests/factories/__init__.py"


def imported(tree: ast.AST) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every ``import``/``from ... import`` of ``tree``; a plain
    ``import a.b`` has no names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def forbidden(module: str) -> bool:
    """A test module (``test_*``) or a conftest of ``tests``."""
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1] == "conftest" or parts[-1].startswith("test_"))


def imports_of_tests() -> Iterator[tuple[str, int, str, list[str]]]:
    for path in sorted(TESTS.rglob("*.py")):
        where = str(path.relative_to(TESTS.parent))
        for line, module, names in imported(ast.parse(path.read_text(), where)):
            yield where, line, module, names


def test_no_file_under_tests_imports_a_test_module_or_a_conftest() -> None:
    found = [
        f"{where}:{line} imports {target}"
        for where, line, module, names in imports_of_tests()
        for target in [module, *(f"{module}.{name}" for name in names)]
        if forbidden(target)
    ]
    assert found == []


def test_no_file_under_tests_imports_a_fixture() -> None:
    found = []
    for where, line, module, names in imports_of_tests():
        if where == REEXPORTS or module.split(".")[0] != "tests" or forbidden(module):
            continue
        loaded = importlib.import_module(module)
        found += [
            f"{where}:{line} imports the fixture {module}.{name}"
            for name in names
            if getfixturemarker(getattr(loaded, name, None)) is not None
        ]
    assert found == []


def test_the_rules_see_what_they_look_for() -> None:
    source = (
        "from tests.e2e import conftest\n"
        "import tests.scheduling.test_booking\n"
        "from tests.web.test_account_pages import csrf\n"
        "from tests.factories.web import csrf\n"
    )
    targets = [
        target
        for _, module, names in imported(ast.parse(source))
        for target in [module, *(f"{module}.{name}" for name in names)]
        if forbidden(target)
    ]
    assert targets == [
        "tests.e2e.conftest",
        "tests.scheduling.test_booking",
        "tests.web.test_account_pages",
    ]
