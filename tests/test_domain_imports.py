"""Domains depend on each other in one direction only (docs/architecture.md, "Domains").

Every import in ``src/carebridge/<domain>/`` is read with ``ast``: module-level ones, those
inside functions and under ``TYPE_CHECKING``, and ``importlib.import_module("...")`` with a
literal name. No two domains may reach each other, however long the way round; a domain imports
only the domains below it in the Domains table; and no domain imports another's private names or
modules (a part starting with ``_``), nor reads a private attribute of a module it imported.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from tests.factories.settings import ROOT

SOURCE = ROOT / "src" / "carebridge"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
NOT_DOMAINS = {"platform", "web"}


@dataclass(frozen=True)
class Import:
    importer: str  # the importing domain
    imported: str  # the imported domain
    module: str  # the full name imported: carebridge.<domain>.<module>[.<name>]
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.where} imports {self.module}"


def domains() -> set[str]:
    return {
        path.parent.name
        for path in SOURCE.glob("*/__init__.py")
        if path.parent.name not in NOT_DOMAINS
    }


def _absolute(node: ast.ImportFrom, package: list[str]) -> str:
    if not node.level:
        return node.module or ""
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _names(node: ast.AST, package: list[str]) -> Iterator[tuple[str, str | None]]:
    """(module, the local name it is bound to when it may be a module) of each import."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, alias.asname or None
    elif isinstance(node, ast.ImportFrom):
        module = _absolute(node, package)
        for alias in node.names:
            yield f"{module}.{alias.name}", alias.asname or alias.name
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
        == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        yield node.args[0].value, None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _domain_of(module: str, known: set[str]) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "carebridge" and parts[1] in known:
        return parts[1]
    return None


def imports_between_domains() -> list[Import]:
    """Every import by a domain of another domain, with the private attributes read through
    an imported module (``service._helper``) as imports of ``module._helper``."""
    known = domains()
    found: list[Import] = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE)
        importer = relative.parts[0]
        if importer not in known:
            continue
        package = ["carebridge", *relative.parts[:-1]]
        tree = ast.parse(path.read_text(), str(path))
        bound: dict[str, str] = {}  # local name -> the other domain's module or name
        for node in ast.walk(tree):
            for module, local in _names(node, package):
                imported = _domain_of(module, known)
                if imported is None or imported == importer:
                    continue
                where = f"{relative}:{getattr(node, 'lineno', 0)}"
                found.append(Import(importer, imported, module, where))
                if local is not None:
                    bound[local] = module
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _private(node.attr)
            ):
                module = f"{bound[node.value.id]}.{node.attr}"
                where = f"{relative}:{node.lineno}"
                found.append(Import(importer, _domain_of(module, known) or "", module, where))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in domains()}
    for found in imports_between_domains():
        graph[found.importer].add(found.imported)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its domains in order, the first repeated at the end), if any."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def layering() -> list[str]:
    """The domains from the bottom up: the order of the Domains table's rows."""
    table = ARCHITECTURE.read_text().split("## Domains", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", table, re.M)
    return [row for row in rows if row in domains()]


def test_the_walk_sees_imports_inside_functions() -> None:
    """The reader of imports finds one written inside a function body (the way a cycle hides
    from Python's own import machinery), so the tests below cannot pass by missing them."""
    tree = ast.parse("def f():\n    from carebridge.accounts.service import x\n")
    node = tree.body[0].body[0]  # type: ignore[attr-defined]
    assert list(_names(node, ["carebridge", "reviews"])) == [("carebridge.accounts.service.x", "x")]
    assert len(imports_between_domains()) > 50


def test_no_import_cycle_between_domains() -> None:
    graph = _graph()
    cycle = _cycle(graph)
    if cycle is None:
        return
    steps = list(itertools.pairwise(cycle))
    lines = [
        str(found)
        for found in imports_between_domains()
        if (found.importer, found.imported) in steps
    ]
    raise AssertionError(" -> ".join(cycle) + "\n" + "\n".join(lines))


def test_domains_import_only_the_domains_below_them() -> None:
    order = layering()
    assert set(order) == domains(), "every domain has its row in the Domains table"
    level = {name: index for index, name in enumerate(order)}
    upward = [
        str(found)
        for found in imports_between_domains()
        if found.imported and level[found.imported] > level[found.importer]
    ]
    assert not upward, "\n".join(upward)


def test_no_domain_imports_what_another_keeps_private() -> None:
    private = [
        str(found)
        for found in imports_between_domains()
        if any(_private(part) for part in found.module.split(".")[2:])
    ]
    assert not private, "\n".join(private)
