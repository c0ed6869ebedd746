"""hpo and the trainers use only the public API of optuna and ray: no module whose name
starts with an underscore is imported, so an upgrade within the declared range cannot
break them by moving a private module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("optuna", "ray")


def private_imports(source: str) -> list[str]:
    """The imports in ``source`` that reach a private module of optuna or ray."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] in LIBRARIES and any(part.startswith("_") for part in parts[1:]):
                found.append(name)
    return found


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(REPO) for folder in ("hpo", "trainers") for p in (REPO / folder).rglob("*.py")), ids=str
)
def test_no_private_module_of_optuna_or_ray_is_imported(path):
    assert private_imports((REPO / path).read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "from optuna.storages._rdb import models",
        "import ray._private.services",
        "from ray import _private",
        "from optuna.storages._rdb.storage import RDBStorage",
    ],
)
def test_the_scan_finds_private_imports(source):
    assert private_imports(source)
