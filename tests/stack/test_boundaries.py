"""The stand-ins and harnesses stay outside production: no production package imports `simulators`, `harness` or
`tests`, not even through another module (read from the import statements themselves, with grimp)."""

from __future__ import annotations

import grimp
import pytest

from stack.process import PROJECT_ROOT

OUTSIDE_PRODUCTION = ("simulators", "harness", "tests")
PRODUCTION = tuple(
    name
    for name in (
        "backend",
        "actions",
        "wechat",
        "devices",
        "voice",
        "deploy",
        "security",
        "stack",
        "counter",
        "vocabulary",
        "printing",
        "bot",
    )
    if (PROJECT_ROOT / name / "__init__.py").exists()
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PRODUCTION, *OUTSIDE_PRODUCTION, cache_dir=None)


@pytest.mark.parametrize("package", PRODUCTION)
def test_a_production_package_never_reaches_a_simulator_or_a_harness(graph: grimp.ImportGraph, package: str) -> None:
    reached = {
        outside: graph.find_shortest_chain(importer=package, imported=outside, as_packages=True)
        for outside in OUTSIDE_PRODUCTION
    }
    assert {outside: chain for outside, chain in reached.items() if chain} == {}


def test_the_check_sees_an_import_when_there_is_one(graph: grimp.ImportGraph) -> None:
    assert graph.find_shortest_chain(importer="harness", imported="stack", as_packages=True)
    assert graph.find_shortest_chain(importer="simulators", imported="devices", as_packages=True)
