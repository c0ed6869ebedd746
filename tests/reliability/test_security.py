"""What a hostile file or a careless option can do: nothing it was not meant to.

- YAML is loaded only with a safe loader: ``!!python/...`` payloads are refused, and the
  sources of hpo/ and trainers/ hold no ``yaml.load``, ``unsafe_load`` or ``full_load``.
- Weights are loaded with ``torch.load(weights_only=True)``: a pickle that would create a
  file when loaded is refused, and the file does not appear.
- The dashboard binds 127.0.0.1 unless ``--host`` says otherwise, and warns when exposed.
- No shell: no subprocess call with ``shell=True``, no ``os.system``/``os.popen``, no
  ``eval``/``exec``, no pickle loads (the source is scanned).
- Paths: a study name that would leave studies/ is refused by the spec, and the default
  outputs of export, report and train stay under studies/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from hpo.errors import SpecError
from hpo.spec.sections import spec_from_text
from hpo.study.storage import open_storage
from tests.conftest import VALID_SPEC
from tests.e2e.conftest import REPO, dashboard
from tests.e2e.test_quickstart import descendants, listening_addresses
from tests.reliability.conftest import figure, hpo_here
from tests.reliability.test_bad_input import EXPORTED

SCANNED = ("hpo", "trainers")
LOOPBACK = {"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"}


# ----------------------------------------------------------------------------- YAML


def payloads(marker: Path) -> dict[str, str]:
    """YAML values that an unsafe loader would turn into objects; the first two create ``marker``."""
    return {
        "python/object/apply": f"!!python/object/apply:builtins.open ['{marker}', w]",
        "python/object/apply with kwds": f"!!python/object/apply:builtins.open {{args: ['{marker}'], kwds: {{mode: w}}}}",
        "python/object/new": "!!python/object/new:collections.OrderedDict [[[a, 1]]]",
        "python/object": "!!python/object:argparse.Namespace {x: 1}",
        "python/name": "!!python/name:os.system",
        "python/module": "!!python/module:os",
    }


def test_yaml_payloads_are_refused_and_run_nothing(workdir, capsys, monkeypatch):
    marker = workdir / "owned"
    control = workdir / "control"
    yaml.unsafe_load(payloads(control)["python/object/apply"]).close()  # the payload is live...
    assert control.exists()  # ...when an unsafe loader reads it
    tried = refused = 0
    failed = []
    for name, payload in payloads(marker).items():
        spec_text = VALID_SPEC.replace("seed: 0}", f"seed: {payload} }}", 1)
        config = workdir / "config.yaml"
        config.write_text(EXPORTED.replace("seed: 0", f"seed: {payload}"))
        spec = workdir / "spec.yaml"
        spec.write_text(spec_text)
        outcomes = []
        try:
            spec_from_text(spec_text, "spec.yaml")
            outcomes.append(False)
        except SpecError as exc:
            outcomes.append("tag not allowed" in exc.message)
        for command in (("validate", str(spec)), ("run", str(spec)), ("train", str(config))):
            result = hpo_here(capsys, monkeypatch, *command)
            outcomes.append(result.code == 2 and "tag not allowed" in result.err)
        tried += len(outcomes)
        refused += sum(outcomes) if not marker.exists() else 0
        if not all(outcomes) or marker.exists():
            failed.append((name, outcomes, marker.exists()))
    figure("YAML payloads", refused, tried, "refused (spec, validate, run, train), no file created")
    assert not failed, failed


def source_files() -> list[Path]:
    return sorted(p for package in SCANNED for p in (REPO / package).rglob("*.py"))


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def scan(path: Path) -> tuple[list[str], int]:
    """(findings, torch.load calls) of one source file."""
    findings = []
    torch_loads = 0
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and dotted(node) in ("yaml.Loader", "yaml.UnsafeLoader", "yaml.FullLoader", "yaml.CLoader"):
            findings.append(f"{dotted(node)} (an unsafe YAML loader)")
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        where = f"{path.relative_to(REPO)}:{node.lineno} {name}"
        if name.startswith("yaml.") and name.split(".")[-1] in (
            "load",
            "load_all",
            "unsafe_load",
            "unsafe_load_all",
            "full_load",
            "full_load_all",
        ):
            findings.append(f"{where} (use yaml.safe_load or hpo.spec.yamlfile)")
        shell = keywords.get("shell")
        if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
            findings.append(f"{where} with shell=")
        if name in ("os.system", "os.popen", "eval", "exec", "pickle.load", "pickle.loads", "marshal.loads"):
            findings.append(where)
        if name == "torch.load":
            torch_loads += 1
            only = keywords.get("weights_only")
            if not (isinstance(only, ast.Constant) and only.value is True):
                findings.append(f"{where} without weights_only=True")
        allow = keywords.get("allow_pickle")
        if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
            findings.append(f"{where} with allow_pickle")
    return findings, torch_loads


def test_sources_load_yaml_safely_and_run_no_shell():
    files = source_files()
    findings = []
    torch_loads = 0
    for path in files:
        found, loads = scan(path)
        findings += found
        torch_loads += loads
        text = path.read_text()
        findings += [f"{path.relative_to(REPO)}: {word}" for word in ("yaml.load(", "unsafe_load", "full_load") if word in text]
    figure(
        "source scan",
        len(files) - len({f.split(":")[0] for f in findings}),
        len(files),
        f"files of {'/ and '.join(SCANNED)}/ clean: no yaml.load/unsafe_load/full_load, no shell=True, os.system, "
        f"os.popen, eval, exec or pickle loads; {torch_loads} torch.load call(s), all weights_only=True",
    )
    assert torch_loads >= 1  # the scan does see the weights loader
    assert not findings, findings


# ----------------------------------------------------------------------------- weights


class _Payload:
    """Pickles as a call of ``open(marker, "w")``: code that runs when the file is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_weights_file_that_would_run_code_is_refused(workdir, capsys, monkeypatch):
    torch.save({"features.0.weight": _Payload(workdir / "control")}, workdir / "control.pt")
    torch.load(workdir / "control.pt", weights_only=False)["features.0.weight"].close()  # the payload is live
    assert (workdir / "control").exists()
    marker = workdir / "owned"
    torch.save({"features.0.weight": _Payload(marker)}, workdir / "evil.pt")
    config = workdir / "pretrained.yaml"
    config.write_text(EXPORTED.replace("hidden: [16]}", "hidden: [16], pretrained: evil.pt}"))
    result = hpo_here(capsys, monkeypatch, "train", str(config))
    ok = result.code == 2 and "refusing to load evil.pt" in result.err and "Traceback" not in result.err and not marker.exists()
    figure("pickle payload as pretrained weights", int(ok), 1, "refused by torch.load(weights_only=True), exit 2, no file created")
    assert ok, (result.code, result.err)


# ----------------------------------------------------------------------------- dashboard


def test_dashboard_binds_loopback_unless_told_and_warns_when_exposed(workdir):
    storage = open_storage("sqlite:///studies/q.db")
    optuna.create_study(study_name="q", storage=storage).enqueue_trial({})
    storage.engine.dispose()
    cases = {  # --host -> (expected listening addresses, expects the warning)
        None: (LOOPBACK, False),
        "localhost": (LOOPBACK, False),
        "0.0.0.0": ({"0.0.0.0"}, True),
    }
    failed = []
    for host, (expected, warns) in cases.items():
        args = ["q", "--port", "0", *(["--host", host] if host else [])]
        with dashboard(workdir, *args) as server:
            addresses = listening_addresses(descendants(server.process.pid))
            assert server.study()["name"] == "q"
        said = "".join(server.output)
        warned = "warning" in said and "exposed to the network" in said
        if not (addresses and addresses <= expected and warned == warns):
            failed.append((host, addresses, said))
    figure(
        "dashboard binding",
        len(cases) - len(failed),
        len(cases),
        "127.0.0.1 by default and for --host localhost; 0.0.0.0 only when --host says so, with a warning",
    )
    assert not failed, failed


# ----------------------------------------------------------------------------- paths


ESCAPING_NAMES = ["../../x", "../x", "..", ".", "/etc/x", "a/b", "a/../../b", "a\\b", ".hidden", "~root", "x\x00y", "-rf", ""]


def test_study_names_that_would_leave_studies_are_refused():
    refused = 0
    for name in ESCAPING_NAMES:
        raw = yaml.safe_load(VALID_SPEC)
        raw["study"]["name"] = name
        with pytest.raises(SpecError) as caught:
            spec_from_text(yaml.safe_dump(raw), "spec.yaml")
        refused += caught.value.path == "study.name"
    figure("study names leaving studies/", refused, len(ESCAPING_NAMES), "refused by the spec (study.name)")
    assert refused == len(ESCAPING_NAMES)


def outside(workdir: Path, before: set[Path]) -> list[Path]:
    """Files created since ``before`` anywhere but under workdir/studies/ (the inputs aside)."""
    now = {p for p in workdir.parent.rglob("*") if p.is_file()}
    return sorted(p for p in now - before if not p.is_relative_to(workdir / "studies"))


def test_default_outputs_stay_under_studies(workdir, capsys, monkeypatch):
    """Names that reach a path without the spec's check: an exported config's header, a
    spec's study section given to ``hpo train``, a study another tool wrote to a database."""
    storage = open_storage("sqlite:///studies/q.db")
    study = optuna.create_study(study_name="../../escape", storage=storage, direction="maximize")
    trial = study.ask()
    trial.set_user_attr("config", yaml.safe_load(EXPORTED))
    study.tell(trial, 0.5)
    storage.engine.dispose()
    (workdir / "header.yaml").write_text(EXPORTED.replace("# study: quickstart", "# study: ../../escape"))
    (workdir / "spec.yaml").write_text(
        "study: {name: ../../escape, trials: 1}\nspace: {}\ntrain:\n"
        + "".join(f"  {line}\n" for line in EXPORTED.splitlines() if not line.startswith("#"))
    )
    commands = {
        "train, exported header naming ../../escape": ["train", "header.yaml"],
        "train, spec naming ../../escape": ["train", "spec.yaml"],
        "export of a study named ../../escape": ["export", "../../escape", "--storage", "sqlite:///studies/q.db"],
        "report of a study named ../../escape": ["report", "../../escape", "--storage", "sqlite:///studies/q.db"],
    }
    failed = []
    for case, args in commands.items():
        before = {p for p in workdir.parent.rglob("*") if p.is_file()}
        result = hpo_here(capsys, monkeypatch, *args)
        escaped = outside(workdir, before)
        if escaped or result.code not in (0, 2) or "Traceback" in result.err:
            failed.append((case, result.code, result.err, escaped))
    figure("default outputs", len(commands) - len(failed), len(commands), "stayed under studies/ (or were refused with exit 2)")
    assert not failed, failed
