"""Bad input of every kind ends as one clear error, exit 2, no traceback, nothing written.

Three tables: the bad specs of tests/spec/test_spec_errors.py given to ``hpo run``,
malformed exported configs given to ``hpo train``, and misuses of the command line.
Commands run in this process through ``hpo.cli.main`` (``hpo_here``): the same code path
as the ``hpo`` command, without a Python start-up per case.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import VALID_SPEC
from tests.reliability.conftest import figure, hpo_here
from tests.spec.test_spec_errors import CASES as BAD_SPECS

EXPORTED = textwrap.dedent(
    """\
    # study: quickstart
    # trial: 3 (rank 1 of 5 complete trials)
    seed: 0
    data: {name: digits, val_fraction: 0.2}
    model: {name: cnn, channels: [8], kernel_sizes: [3], hidden: [16]}
    optimizer: {name: adam, lr: 0.003}
    batch_size: 128
    epochs: 1
    device: cpu
    """
)


def broken(old: str, new: str) -> str:
    assert old in EXPORTED, old
    return EXPORTED.replace(old, new)


BAD_CONFIGS: dict[str, str | bytes | None] = {  # case -> file content (None: no file, "/": a directory)
    "yaml-syntax": broken("epochs: 1", "epochs: [1"),
    "empty-file": "",
    "header-only": "# study: quickstart\n# trial: 3\n",
    "a-list": "- seed: 0\n- epochs: 1\n",
    "a-scalar": "best config\n",
    "unknown-key": broken("batch_size: 128", "batchsize: 128"),
    "wrong-type": broken("epochs: 1", "epochs: one"),
    "out-of-range": broken("epochs: 1", "epochs: 0"),
    "unknown-optimizer": broken("name: adam", "name: adamw2"),
    "unknown-model": broken("name: cnn", "name: cnnn"),
    "model-not-mapping": broken("model: {name: cnn, channels: [8], kernel_sizes: [3], hidden: [16]}", "model: [cnn, 8]"),
    "bad-device": broken("device: cpu", "device: tpu"),
    "bad-augment": EXPORTED + "augment: [warp]\n",
    "seed-not-int": broken("seed: 0", "seed: 0.5"),
    "python-tag": broken("seed: 0", "seed: !!python/object/apply:os.getcwd []"),
    "duplicate-key": EXPORTED + "epochs: 2\n",
    "nul-bytes": EXPORTED.encode() + b"\x00",
    "not-utf8": b"\xff\xfe" + EXPORTED.encode("utf-16-le"),
    "spec-with-bad-train": "study: {name: q, trials: 1}\nspace: {}\ntrain: {epochs: -1}\n",
    "spec-train-not-mapping": "study: {name: q, trials: 1}\nspace: {}\ntrain: [1, 2]\n",
    "data-not-on-disk": broken("data: {name: digits, val_fraction: 0.2}", "data: {name: mnist, root: nowhere}"),
    "missing-file": None,
    "a-directory": "/",
}

CLI_MISUSE: dict[str, list[str]] = {
    "unknown command": ["frobnicate"],
    "unknown option": ["status", "quickstart", "--frobnicate"],
    "run without a spec": ["run"],
    "train without a config": ["train"],
    "status without a study": ["status"],
    "export without a study": ["export"],
    "report without a study": ["report"],
    "dashboard without a study": ["dashboard"],
    "validate without a spec": ["validate"],
    "run a missing spec": ["run", "missing.yaml"],
    "validate a missing spec": ["validate", "missing.yaml"],
    "status of an unknown study": ["status", "nosuchstudy"],
    "export of an unknown study": ["export", "nosuchstudy"],
    "report of an unknown study": ["report", "nosuchstudy"],
    "dashboard of an unknown study": ["dashboard", "nosuchstudy", "--port", "0"],
    "status from a missing database": ["status", "q", "--storage", "sqlite:///nowhere/q.db"],
    "status from a bad storage URL": ["status", "q", "--storage", "nosuchdb://x"],
    "--port not a number": ["dashboard", "nosuchstudy", "--port", "http"],
    "--port out of range": ["dashboard", "nosuchstudy", "--port", "70000"],
    "--top zero": ["export", "nosuchstudy", "--top", "0"],
    "--top not a number": ["export", "nosuchstudy", "--top", "many"],
    "--table of an unknown format": ["export", "nosuchstudy", "--table", "trials.txt"],
    "--seeds not a number": ["train", "best.yaml", "--seeds", "one"],
    "--seeds without a value": ["train", "best.yaml", "--seeds"],
    "--seeds repeated": ["train", "best.yaml", "--seeds", "1", "1"],
    "--address without a value": ["run", "spec.yaml", "--address"],
    "--trainer that does not import": ["run", "spec.yaml", "--trainer", "no.such.module:train"],
}


def clean_exit_2(result) -> bool:
    """Exit 2, something said on stderr, no traceback anywhere."""
    return result.code == 2 and bool(result.err.strip()) and "Traceback" not in result.out + result.err


def write(path: Path, content: str | bytes | None) -> Path:
    if content == "/":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


def refused_files(command: str, files: dict[str, str | bytes | None], what: str, workdir, capsys, monkeypatch) -> None:
    """``hpo COMMAND FILE`` for each file: exit 2, an error naming the file, no traceback,
    nothing written; prints the figure."""
    failed = {}
    for case, content in files.items():
        path = write(workdir / f"{case}.yaml", content)
        result = hpo_here(capsys, monkeypatch, command, str(path))
        if not (clean_exit_2(result) and result.err.startswith(f"error: {path}") and not (workdir / "studies").exists()):
            failed[case] = (result.code, result.err[-500:])
    figure(what, len(files) - len(failed), len(files), "exit 2, one error naming the file, no traceback, nothing written")
    assert not failed, failed


def test_bad_specs_given_to_hpo_run(workdir, capsys, monkeypatch):
    specs = {case: text for case, text, *_ in BAD_SPECS}
    refused_files("run", specs, "bad specs to `hpo run`", workdir, capsys, monkeypatch)


def test_malformed_exported_configs_given_to_hpo_train(workdir, capsys, monkeypatch):
    refused_files("train", BAD_CONFIGS, "malformed configs to `hpo train`", workdir, capsys, monkeypatch)


def test_command_line_misuse(workdir, capsys, monkeypatch):
    write(workdir / "best.yaml", EXPORTED)
    write(workdir / "spec.yaml", VALID_SPEC)
    failed = {}
    for case, args in CLI_MISUSE.items():
        result = hpo_here(capsys, monkeypatch, *args)
        if not (clean_exit_2(result) and not (workdir / "studies").exists()):
            failed[case] = (result.code, result.err[-500:])
    figure(
        "command-line misuse",
        len(CLI_MISUSE) - len(failed),
        len(CLI_MISUSE),
        "exit 2, an error or usage line, no traceback, nothing written",
    )
    assert not failed, failed
