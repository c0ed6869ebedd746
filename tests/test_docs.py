"""The examples in README.md and docs/*.md are run, so they cannot drift from the code.

Each fenced block is labelled with its language, and the label says how it is checked:

- ``yaml``: it parses; one with a top-level ``study:`` key is loaded as a spec
  (``load_spec``: every section, the trainer's schema, the space; no data is read);
- ``python``: it runs, in a fresh namespace, in a folder of its own that holds
  ``search_spaces/`` and a stored ``quickstart`` study, as after ``make demo``. ``hpo.run``
  checks its call against the real signature and loads the spec, then records a few
  made-up trials in the spec's study instead of training: a real study takes a minute
  (tests/test_api.py runs one);
- ``console``: each ``$ hpo ...`` line parses as the command line would parse it (the
  command, its options and their values); ``$ make X`` names a target of the Makefile;
  ``$ python benchmarks/X.py --option`` names a benchmark that takes that option; a
  path under a folder of the repository names a file that is there;
- ``text``: an illustration (output, a layout, an error message), not checked.

A block with another label, or none, is an error: every example says what it is.
"""

from __future__ import annotations

import inspect
import io
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import typer
import yaml
from optuna.trial import TrialState
from rich.console import Console

import hpo
import hpo.cli
from hpo.spec.sections import Spec, load_spec
from hpo.spec.space import sample
from hpo.study.storage import default_storage_url, open_storage
from hpo.study.versions import open_study_for_spec

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LANGUAGES = ("yaml", "python", "console", "text")
FENCE = re.compile(r"^```(?P<label>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
REPO_FOLDERS = ("search_spaces/", "benchmarks/", "docs/", "tests/", "hpo/", "trainers/", "examples/")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    label: str
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(label: str | None = None) -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            block = Block(page, text.count("\n", 0, match.start()) + 1, match["label"].strip(), match["body"])
            if label is None or block.label == label:
                found.append(block)
    return found


def is_spec(block: Block) -> bool:
    try:
        data = yaml.safe_load(block.body)
    except yaml.YAMLError:
        return False  # test_yaml_parses says so
    return isinstance(data, dict) and "study" in data


def test_the_pages_hold_examples_of_each_kind():
    assert len(PAGES) >= 5, PAGES  # README.md and docs/: spec, records, api, troubleshooting
    for label in ("yaml", "python", "console"):
        assert blocks(label), f"no {label} block found: is the fence pattern still right?"


@pytest.mark.parametrize("block", blocks(), ids=str)
def test_every_block_says_what_it_is(block):
    assert block.label in LANGUAGES, f"{block}: label a block {', '.join(LANGUAGES)} (illustrations: text), not {block.label!r}"


@pytest.mark.parametrize("block", blocks("yaml"), ids=str)
def test_yaml_parses(block):
    yaml.safe_load(block.body)


@pytest.mark.parametrize("block", [b for b in blocks("yaml") if is_spec(b)], ids=str)
def test_a_spec_loads(block, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(block.body)
    load_spec(path)


# ----------------------------------------------------------------------------- python


def record_made_up_study(spec: Spec, trials: int = 6) -> None:
    """The spec's study as hpo opens it; a new one gets ``trials`` trials sampled from its
    space with made-up epochs: COMPLETE, every third PRUNED after one epoch."""
    storage = open_storage(spec.study.storage or default_storage_url(spec.study.name))
    sampler = optuna.samplers.RandomSampler(seed=spec.study.seed)
    study = open_study_for_spec(spec, storage, sampler, new_version=False, console=Console(file=io.StringIO()))
    made = any(t.state != TrialState.WAITING for t in study.trials)  # a new study holds only its queued baseline
    for number in range(trials if not made else 0):
        trial = study.ask()
        trial.set_user_attr("config", sample(trial, spec.space, spec.train))
        values = [0.5 + 0.05 * number, 0.6 + 0.05 * number]
        pruned = number % 3 == 2
        values = values[:1] if pruned else values
        for epoch, value in enumerate(values, start=1):
            trial.report(value, epoch)
        trial.set_user_attr("epochs", len(values))
        study.tell(trial, state=TrialState.PRUNED if pruned else TrialState.COMPLETE, values=None if pruned else max(values))


def stand_in_for_run(spec: str | Path | Spec, **options: object) -> optuna.Study:
    inspect.signature(REAL_RUN).bind(spec, **options)  # a TypeError names what the example got wrong
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    record_made_up_study(spec)
    return hpo.load(spec)


REAL_RUN = hpo.run


@pytest.fixture
def example_dir(tmp_path, monkeypatch):
    """A folder as after `make demo`: the search spaces and a stored quickstart study."""
    shutil.copytree(REPO / "search_spaces", tmp_path / "search_spaces")
    monkeypatch.chdir(tmp_path)
    record_made_up_study(load_spec("search_spaces/quickstart.yaml"))
    monkeypatch.setattr(hpo, "run", stand_in_for_run)
    return tmp_path


@pytest.mark.parametrize("block", blocks("python"), ids=str)
def test_python_runs(block, example_dir):
    exec(compile(block.body, str(block), "exec"), {"__name__": "__main__"})


# ----------------------------------------------------------------------------- console


def console_lines(block: Block) -> list[str]:
    return [line.strip()[2:] for line in block.body.splitlines() if line.strip().startswith("$ ")]


CLI = typer.main.get_command(hpo.cli.app)
COMMANDS = {name: CLI.get_command(typer.Context(CLI), name) for name in CLI.list_commands(typer.Context(CLI))}


def check_hpo_line(words: list[str]) -> None:
    """Parse ``hpo ARGS`` as the command line would (``main`` expands ``--seeds``), without
    running the command."""
    args = hpo.cli.expand_seeds(words)
    while args and args[0] == "--debug":
        args = args[1:]
    assert args and args[0] in COMMANDS, f"hpo {' '.join(words)}: the commands are {', '.join(COMMANDS)}"
    if "--help" in args:
        return
    try:
        command, name, rest = COMMANDS[args[0]], f"hpo {args[0]}", args[1:]
        context = command.make_context(name, rest)
        if hasattr(command, "resolve_command"):  # a group (hpo data): its subcommand, then that one's options
            sub, command, rest = command.resolve_command(context, rest)
            command.make_context(f"{name} {sub}", rest)
    except Exception as exc:  # click's UsageError, from the click that typer uses
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        pytest.fail(f"hpo {' '.join(words)}: {message}")


def check_line(line: str) -> None:
    words = shlex.split(line, comments=True)
    if not words:
        return
    for word in words:
        if word.startswith(REPO_FOLDERS) and not any(c in word for c in "*?<>"):
            assert (REPO / word).exists(), f"{word} is not in the repository"
    if words[0] == "hpo":
        check_hpo_line(words[1:])
    elif words[0] == "make":
        targets = re.findall(r"^([\w.-]+):", (REPO / "Makefile").read_text(), re.MULTILINE)
        for target in words[1:]:
            assert target in targets, f"make {target}: the Makefile has {', '.join(targets)}"
    elif words[0] == "python" and len(words) > 1 and words[1].startswith("benchmarks/"):
        source = (REPO / words[1]).read_text()
        for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
            assert f'"{option}"' in source, f"{words[1]} takes no {option}"


@pytest.mark.parametrize("block", blocks("console"), ids=str)
def test_console_commands_parse(block):
    lines = console_lines(block)
    assert lines, f"{block}: a console block shows commands as `$ command`; output alone goes in a text block"
    for line in lines:
        check_line(line)


# ----------------------------------------------------------------------------- links


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_stay_in_the_repository_and_exist(page):
    text = page.read_text(encoding="utf-8")
    for target in (m["target"].split("#")[0] for m in LINK.finditer(text)):
        if not target or re.match(r"^[a-z]+://", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to {target}, which is not there"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_points_outside_the_repository(page):
    """The docs stand alone: no design notes or folders that only exist beside a checkout."""
    text = page.read_text(encoding="utf-8")
    assert not [word for word in ("DESIGN.md", "../shared", "/work/", "seeds/") if word in text]
