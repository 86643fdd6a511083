"""tests/cluster/ is collected only with --topology=cluster (its own CI stage, last): its modules are
imported here too, so a name they take from another test module cannot break that stage unseen."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

CLUSTER_TESTS = sorted(p.stem for p in (Path(__file__).parents[1] / "cluster").glob("test_*.py"))


@pytest.mark.parametrize("module", CLUSTER_TESTS)
def test_a_cluster_test_module_imports(module):
    importlib.import_module(f"tests.cluster.{module}")


def test_there_are_cluster_tests():
    assert len(CLUSTER_TESTS) >= 3, CLUSTER_TESTS
