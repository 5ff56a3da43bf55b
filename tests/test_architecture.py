"""The house's structure, read from the source by grimp (static analysis: nothing is imported): no import cycle
between modules or between top-level packages, and the directions the packages may depend on each other.

The rules are data here, checked with grimp queries rather than import-linter contracts, so that one place states
them and a failure names the import chain and the lines that break a rule.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION = frozenset(
    {
        "actions",
        "backend",
        "bot",
        "counter",
        "deploy",
        "devices",
        "printing",
        "security",
        "stack",
        "vocabulary",
        "voice",
        "wechat",
    }
)
"""Packages that run in a deployment."""
SUPPORT = frozenset({"simulators", "harness", "bench", "tests"})
"""Stand-ins, test harnesses, benchmarks and tests: what development and checks use, never a deployment."""

FORBIDDEN: list[tuple[frozenset[str], frozenset[str], str]] = [
    (PRODUCTION, SUPPORT, "production code never needs a stand-in, a harness, a benchmark or a test"),
    (frozenset({"voice"}), frozenset({"counter", "backend"}), "voice is a library the counter service uses"),
    (frozenset({"actions"}), frozenset({"backend"}), "the actions reach the backend over its API only"),
    (frozenset({"backend"}), frozenset({"voice", "devices", "counter"}), "the backend serves data, not hardware"),
    (frozenset({"devices"}), frozenset({"backend"}), "the devices reach the backend over its API only"),
    (frozenset({"printing"}), frozenset({"backend", "devices"}), "print documents are what backend and devices share"),
    (frozenset({"vocabulary"}), PRODUCTION - {"vocabulary"}, "the vocabulary is what everyone else shares"),
]
"""(importers, imported, why): no chain of imports, direct or through other modules, may lead from the one to the
other."""


def _top_level_packages() -> set[str]:
    return {path.parent.name for path in ROOT.glob("*/__init__.py") if not path.parent.name.startswith(".")}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """Every project package's imports, the outside packages each imports included (as one node per package)."""
    return grimp.build_graph(*sorted(_top_level_packages()), include_external_packages=True, cache_dir=None)


def _where(graph: grimp.ImportGraph, chain: Iterable[str]) -> str:
    """A chain of modules with the line of each import along it."""
    modules = list(chain)
    steps = [modules[0]]
    for importer, imported in itertools.pairwise(modules):
        details = graph.get_import_details(importer=importer, imported=imported)
        line = f"{importer}:{details[0]['line_number']} {details[0]['line_contents']}" if details else importer
        steps.append(f"  {line}\n    -> {imported}")
    return "\n".join(steps[1:]) or modules[0]


def _strongly_connected(nodes: Iterable[str], successors: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one node (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(successors.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _a_cycle(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    """One import cycle through the first module of a strongly connected component, as a chain back to itself."""
    start = component[0]
    members = set(component)
    successor = min(m for m in graph.find_modules_directly_imported_by(start) if m in members)
    back = graph.find_shortest_chain(importer=successor, imported=start)
    assert back is not None
    return [start, *back]


def test_every_top_level_package_has_its_place_in_the_rules() -> None:
    """A new package is placed as production or support, so the rules below cover it; the house's packages exist."""
    assert _top_level_packages() == PRODUCTION | SUPPORT


def test_no_import_cycle_between_modules(graph: grimp.ImportGraph) -> None:
    project = {m for m in graph.modules if m.split(".")[0] in _top_level_packages()}
    successors = {m: graph.find_modules_directly_imported_by(m) & project for m in project}
    cycles = [_where(graph, _a_cycle(graph, c)) for c in _strongly_connected(project, successors)]
    assert not cycles, "modules that import each other:\n" + "\n\n".join(cycles)


def test_no_import_cycle_between_top_level_packages(graph: grimp.ImportGraph) -> None:
    packages = _top_level_packages()
    successors = {
        a: {b for b in packages - {a} if graph.direct_import_exists(importer=a, imported=b, as_packages=True)}
        for a in packages
    }
    reports = []
    for component in _strongly_connected(packages, successors):
        for a in component:
            for b in sorted(successors[a] & set(component)):
                chain = min(graph.find_shortest_chains(importer=a, imported=b, as_packages=True))
                reports.append(f"{a} -> {b}:\n{_where(graph, chain)}")
    assert not reports, "top-level packages that depend on each other:\n" + "\n".join(reports)


@pytest.mark.parametrize(("importers", "imported", "why"), FORBIDDEN, ids=[why for _, _, why in FORBIDDEN])
def test_packages_depend_only_in_the_allowed_directions(
    graph: grimp.ImportGraph, importers: frozenset[str], imported: frozenset[str], why: str
) -> None:
    present = _top_level_packages()
    broken = []
    for a in sorted(importers & present):
        for b in sorted(imported & present - {a}):
            if graph.chain_exists(importer=a, imported=b, as_packages=True):
                chain = min(graph.find_shortest_chains(importer=a, imported=b, as_packages=True))
                broken.append(f"{a} -> {b}:\n{_where(graph, chain)}")
    assert not broken, f"{why}; yet:\n" + "\n".join(broken)


def test_the_vocabulary_needs_nothing_but_the_standard_library(graph: grimp.ImportGraph) -> None:
    """Both Python environments (3.11 and Rasa's 3.10) import it, whatever else each has installed."""
    if "vocabulary" not in _top_level_packages():
        pytest.fail("no vocabulary package")
    outside = {
        (module, imported)
        for module in graph.find_descendants("vocabulary") | {"vocabulary"}
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] != "vocabulary" and imported.split(".")[0] not in sys.stdlib_module_names
    }
    assert not outside, sorted(outside)


def test_the_cycle_search_finds_cycles() -> None:
    """The check above on a graph with known cycles: a two-module cycle, a three-module one, and a chain with none."""
    successors = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c", "f"}, "f": set()}
    assert sorted(_strongly_connected(successors, successors)) == [["a", "b"], ["c", "d", "e"]]
