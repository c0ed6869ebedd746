"""Fuzz the spec loader: no input makes ``load_spec`` raise anything but ``SpecError``.

Four generators: random YAML documents (nested mappings, lists and scalars, with keys
drawn from the spec's own vocabulary plus junk); the valid spec of tests/conftest.py
with random parts replaced, deleted or added (to get past the first section checks);
that spec's text with characters inserted and deleted; and random text and bytes. Each
example is written to a file and loaded. A SpecError must also be one line (the CLI
prints it as one paragraph). The examples are derandomized: the same on every run;
HPO_FUZZ_EXAMPLES sets how many per generator. Each test checks its own examples and
counts; the figure is printed once the module's tests are done, so any of them can run
alone or in any order.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpo.errors import SpecError
from hpo.spec.sections import SpecFile, load_spec
from tests.conftest import VALID_SPEC
from tests.reliability.conftest import figure
from trainers.config import TrainConfig

EXAMPLES = int(os.environ.get("HPO_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded machine
    derandomize=True,
    database=None,  # nothing written to the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _vocabulary() -> list[str]:
    words = set(SpecFile.model_fields) | set(TrainConfig.model_fields)
    for section in ("study", "resources"):
        words |= set(SpecFile.model_fields[section].annotation.model_fields)
    words |= {"type", "name", "tpe", "random", "grid", "cmaes", "gp", "qmc", "asha", "none", "n_startup_trials",
              "grace_period", "reduction_factor", "recheck_rung_below", "float", "int", "choice", "log", "step", "when", "low", "high",
              "digits", "synthetic", "cnn", "mlp", "resnet18", "adam", "sgd", "cosine", "channels", "kernel_sizes",
              "dropout", "hidden", "lr", "momentum", "val_fraction", "root", "hflip", "random_crop", "padding",
              "optimizer.lr", "optimizer.name", "model.dropout", "batch_size", "model.kernel_sizes", "augment"}  # fmt: skip
    return sorted(words)


VOCABULARY = _vocabulary()
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(VOCABULARY)
    | st.text(max_size=12)
)
KEYS = st.sampled_from(VOCABULARY) | st.text(max_size=10) | st.integers(-3, 3) | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)
DOCUMENTS = st.dictionaries(st.sampled_from(VOCABULARY) | KEYS, VALUES, max_size=7) | VALUES

OUTCOMES: Counter = Counter()


@pytest.fixture(scope="module")
def path(tmp_path_factory) -> Path:
    """The file each example is written to."""
    return tmp_path_factory.mktemp("fuzz") / "spec.yaml"


@pytest.fixture(scope="module", autouse=True)
def fuzz_figure():
    """The figure of the generators that ran, printed after the module's tests."""
    yield
    ran = sum(OUTCOMES.values())
    if ran:
        figure(
            "spec fuzz", ran, ran, f"examples raised nothing but SpecError ({OUTCOMES['SpecError']} SpecError, {OUTCOMES['valid']} valid)"
        )


def outcome(path: Path, content: str | bytes) -> str:
    """Load ``content`` as a spec file: "valid" or "SpecError"; anything else fails the test."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    try:
        load_spec(path)
        return "valid"
    except SpecError as error:
        assert "\n" not in str(error), f"a SpecError of several lines: {error!r}"
        return "SpecError"


def fuzz(path: Path, examples, content=lambda example: example) -> None:
    """Load ``content(example)`` for every example the strategy ``examples`` draws; the
    generator must have run (hypothesis stops early only if it runs out of examples)."""
    outcomes: Counter = Counter()

    @FUZZ
    @given(examples)
    def load(example) -> None:
        outcomes[outcome(path, content(example))] += 1

    load()
    OUTCOMES.update(outcomes)
    assert sum(outcomes.values()) >= min(EXAMPLES, 50), outcomes


def dump(document) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def test_random_documents(path):
    fuzz(path, DOCUMENTS, dump)


@st.composite
def mutated_specs(draw) -> str:
    """The valid spec with 1-3 random places replaced, deleted or given a new key."""
    spec = yaml.safe_load(VALID_SPEC)
    for _ in range(draw(st.integers(1, 3))):
        node = spec
        while True:  # walk down to a random mapping or list
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
                break
            node = node[key]
        if not keys:
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            node[key] = draw(VALUES)
        elif action == "delete" and isinstance(node, dict):
            del node[key]
        elif action == "delete":
            node.pop(key)
        elif isinstance(node, dict):
            node[draw(KEYS)] = draw(VALUES)
        else:
            node.append(draw(VALUES))
    return dump(spec)


def test_mutated_valid_spec(path):
    fuzz(path, mutated_specs())


def edited(edits) -> str:
    text = VALID_SPEC
    for position, deleted, inserted in edits:
        position = min(position, len(text))
        text = text[:position] + inserted + text[position + deleted :]
    return text


def test_edited_spec_text(path):
    edits = st.lists(st.tuples(st.integers(0, len(VALID_SPEC)), st.integers(0, 3), st.text(max_size=3)), min_size=1, max_size=4)
    fuzz(path, edits, edited)


def test_random_text_and_bytes(path):
    fuzz(path, st.text(max_size=200) | st.binary(max_size=200))
