"""``scheduler: {type: pbt}``: its defaults, which keys it may perturb, and what it refuses."""

from __future__ import annotations

import pytest

from hpo.spec.population import perturbable
from hpo.spec.sections import spec_from_text
from tests.conftest import VALID_SPEC, spec_error

ASHA = "{type: asha, grace_period: 1, reduction_factor: 2}"
SPACE = VALID_SPEC.split("space:\n")[1]


def pbt(section: str = "{type: pbt}", space: str = SPACE, extra: str = "") -> str:
    return VALID_SPEC.replace(ASHA, section).split("space:\n")[0] + "space:\n" + space + extra


def test_the_defaults_perturb_every_float_outside_a_branch_every_two_epochs():
    spec = spec_from_text(pbt(), "spec.yaml")
    section = spec.scheduler
    assert (section.type, section.perturbation_interval, section.quantile_fraction, section.resample_probability) == ("pbt", 2, 0.25, 0.25)
    # optimizer.momentum is a float too, but under `when: sgd`: a copied adam config has none
    assert [p.path for p in perturbable(spec.space, section)] == ["optimizer.lr"]


def test_listed_keys_may_be_ints_and_plain_choices():
    space = SPACE + "  model.dropout: {float: [0.0, 0.5], step: 0.1}\n  epochs: {int: [2, 3]}\n"
    spec = spec_from_text(pbt("{type: pbt, perturb: [batch_size, model.dropout, epochs]}", space), "spec.yaml")
    assert [p.path for p in perturbable(spec.space, spec.scheduler)] == ["batch_size", "model.dropout", "epochs"]


INDEXED = SPACE + "  model.channels.0: {int: [4, 8]}\n"
EVERY_2 = "checkpoint: {every: 2}\n"

# (case id, scheduler section, space, extra top-level text, key path, words of the message)
REFUSED = [
    ("unknown key", "{type: pbt, perturb: [optimizer.rl]}", SPACE, "", "scheduler.perturb.0", "did you mean 'optimizer.lr'"),
    (
        "key under when",
        "{type: pbt, perturb: [optimizer.lr, optimizer.momentum]}",
        SPACE,
        "",
        "scheduler.perturb.1",
        "under a `when:` branch",
    ),
    ("named options", "{type: pbt, perturb: [model.kernel_sizes]}", SPACE, "", "scheduler.perturb.0", "named options or `when:` branches"),
    ("branches", "{type: pbt, perturb: [optimizer.name]}", SPACE, "", "scheduler.perturb.0", "or `when:` branches"),
    ("listed twice", "{type: pbt, perturb: [optimizer.lr, optimizer.lr]}", SPACE, "", "scheduler.perturb.1", "listed twice"),
    ("empty list", "{type: pbt, perturb: []}", SPACE, "", "scheduler.perturb", "at least one key"),
    ("no float by default", "{type: pbt}", "  batch_size: {choice: [32, 64]}\n", "", "scheduler.perturb", "no float outside"),
    ("list index", "{type: pbt, perturb: [model.channels.0]}", INDEXED, "", "scheduler.perturb.0", "list index"),
    ("one at a time", "{type: pbt}", SPACE, "resources: {max_concurrent: 1}\n", "scheduler.type", "at most 1 runs at once"),
    (
        "off the checkpoints",
        "{type: pbt, perturbation_interval: 3}",
        SPACE,
        EVERY_2,
        "scheduler.perturbation_interval",
        "of checkpoint.every",
    ),
    ("quantile above a half", "{type: pbt, quantile_fraction: 0.6}", SPACE, "", "scheduler.quantile_fraction", "less than or equal to 0.5"),
    ("interval zero", "{type: pbt, perturbation_interval: 0}", SPACE, "", "scheduler.perturbation_interval", "greater than or equal to 1"),
]


@pytest.mark.parametrize(("section", "space", "extra", "path", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_key_pbt_cannot_perturb_is_refused(tmp_path, section, space, extra, path, words):
    text = pbt(section, space, extra)
    if "resources:" in extra:
        text = text.replace("resources: {cpus_per_trial: 1, max_concurrent: 2}\n", "")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(text)
    spec_error(spec_file, path, words)


def test_pbt_needs_a_trainer_that_resumes_and_checkpoints(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("trainer: tests.e2e.failing_trainer:train\n" + pbt())
    spec_error(spec_file, "scheduler.type", "pbt pauses trials and resumes them from their checkpoints")
    spec_file.write_text(pbt() + "checkpoint: false\n")
    spec_error(spec_file, "checkpoint", "remove `checkpoint: false`")
