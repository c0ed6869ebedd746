"""The four parts of hpo and the trainers depend on each other only one way.

Each rule is a list of (importing folder, modules it may not import). An import anywhere
in a file counts, also one inside a function: a lazy import still ties the parts together.

- only ``hpo/engine/`` imports Ray (trainers neither);
- ``hpo/results/`` reads the stored study and never imports the engine;
- ``hpo/spec/`` is the language: it imports no Optuna, and nothing of the study, engine
  or results;
- ``hpo/checkpoint.py`` (a trainer's state on disk) is a leaf the engine and the results
  use; it imports torch only inside its functions, and trainers do not import it;
- ``hpo/format.py`` (how numbers print) imports nothing of hpo and nothing heavy: every
  part uses it, the spec included;
- ``trainers/`` knows nothing of the search: of hpo it imports the contract only, and
  neither Optuna nor Ray.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RULES: dict[str, tuple[str, ...]] = {
    "hpo/spec": ("optuna", "ray", "hpo.study", "hpo.engine", "hpo.results", "hpo.cli"),
    "hpo/study": ("ray", "hpo.engine", "hpo.results", "hpo.cli"),
    "hpo/results": ("ray", "hpo.engine", "hpo.cli"),
    "hpo/engine": ("hpo.results", "hpo.cli"),
    "hpo/errors.py": ("optuna", "ray", "torch", "hpo.spec", "hpo.study", "hpo.engine", "hpo.results"),
    "hpo/data.py": ("optuna", "ray", "hpo.spec", "hpo.study", "hpo.engine", "hpo.results", "hpo.cli"),
    "hpo/contract.py": ("optuna", "ray", "torch", "hpo.spec", "hpo.study", "hpo.engine", "hpo.results"),
    "hpo/checkpoint.py": ("optuna", "ray", "hpo.spec", "hpo.study", "hpo.engine", "hpo.results", "hpo.cli"),
    "hpo/format.py": ("optuna", "ray", "torch", "numpy", "pandas", "hpo.spec", "hpo.study", "hpo.engine", "hpo.results", "hpo.cli"),
    "trainers": ("optuna", "ray", "hpo.spec", "hpo.study", "hpo.engine", "hpo.results", "hpo.cli", "hpo.errors", "hpo.checkpoint"),
}


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = path.relative_to(REPO).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] if node.level else ())
            module = ".".join(p for p in (base, node.module or "") if p)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def broken_rules(path: Path) -> list[str]:
    relative = path.relative_to(REPO).as_posix()
    forbidden = [
        prefix for folder, prefixes in RULES.items() if relative == folder or relative.startswith(folder + "/") for prefix in prefixes
    ]
    return [
        f"{relative} imports {module}"
        for module in imported_modules(path)
        for prefix in forbidden
        if module == prefix or module.startswith(prefix + ".")
    ]


SOURCES = sorted(p for folder in ("hpo", "trainers") for p in (REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_each_part_imports_only_what_its_rule_allows(path):
    assert broken_rules(path) == []


def test_every_source_file_falls_under_a_rule():
    """A new top-level module or folder must say what it may import."""
    unruled = [
        p.relative_to(REPO).as_posix()
        for p in SOURCES
        if not any(p.relative_to(REPO).as_posix().startswith(folder) for folder in RULES)
        and p.relative_to(REPO).as_posix() not in ("hpo/__init__.py", "hpo/cli.py")
    ]
    assert unruled == []


@pytest.mark.parametrize(
    ("relative", "source"),
    [
        ("hpo/results/x.py", "from hpo.engine.searcher import StudySearcher"),
        ("hpo/results/x.py", "def f():\n    import ray\n"),
        ("hpo/spec/x.py", "import optuna"),
        ("hpo/spec/x.py", "from ..study import storage"),
        ("hpo/spec/x.py", "from optuna.trial import FrozenTrial"),
        ("trainers/x.py", "from hpo.spec.sections import Spec"),
        ("trainers/x.py", "from ray import tune"),
    ],
)
def test_the_scan_finds_a_broken_rule(tmp_path, monkeypatch, relative, source):
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert broken_rules(path)
