"""``hpo train``: run one training config, once per seed, and summarise across seeds.

Accepts a plain training config (what ``hpo export`` writes) or a whole spec (its
``train:`` block is used). It calls the trainer the file names: an exported config's
``# trainer:`` header line (hpo.results.header) or a spec's ``trainer:`` key, else the
default; ``--trainer`` overrides it. The config is validated with that trainer's schema
and checked with its ``check`` (hpo.contract) before the first seed; ``--seeds`` sets the
config's ``seed`` key for each run. Each seed prints its epochs as they finish.

How a seed runs and what the summary holds depends on the trainer's signature:

- a trainer that also takes the keywords ``final`` and ``output_dir`` (the built-in one)
  is called with them and returns its last metrics with ``per_class_acc``, ``confusion``
  and ``classes``: the summary is the evaluated accuracy (``val_acc``) per seed with its
  mean ± std, the accuracy per class and the confusion matrix summed over seeds. With
  ``--final`` each run trains on train+val and is evaluated on the held-out test split,
  which a search never touches;
- a plain ``train(config, report)``: the summary is the study's metric (the header's or the
  spec's, else the trainer's first declared metric) per seed with its mean ± std, taken
  from what ``train`` returns when that is a mapping holding it, else from its last
  report. ``--final`` needs the first kind.

Files, by default under ``studies/<study>/retrain/<config>[-final]/`` (the study named in
an exported config's header or a spec, else the config file's name):

    config.yaml             the config file as given
    summary.json, summary.txt   the tables below
    misclassified.npz       the first seed's misclassified images, when the trainer returns
                            them (hpo.results.misclassified)
    seed<N>/...             what the trainer saves in output_dir (the built-in: model.pt,
                            config.yaml, metrics.json, features.npz); for a plain trainer
                            hpo writes config.yaml and metrics.json (last report, history)
"""

from __future__ import annotations

import io
import json
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from hpo.contract import Contract, takes_keywords
from hpo.errors import HpoError
from hpo.format import format_number, format_spread, format_value
from hpo.results.header import header_metric, read_header
from hpo.results.misclassified import MISCLASSIFIED, MISCLASSIFIED_FILE, save_misclassified
from hpo.spec.preflight import prepare_configs
from hpo.spec.trainer import DEFAULT_TRAINER, check_train_config, load_trainer
from hpo.spec.yamlfile import read_yaml
from hpo.study.keys import EPOCH, HISTORY_KEYS
from hpo.study.storage import STUDIES_DIR, study_dir

RUN_OPTIONS = ("final", "output_dir")  # keywords of a trainer that evaluates on test and saves its model
RETRAIN_DIR = "retrain"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Origin:
    """What a config file says of where it came from (each part None when it does not)."""

    study: str | None
    trainer: str | None
    metric: str | None


def origin_of(path: Path) -> Origin:
    """The study, trainer and metric an exported config's header or a spec names."""
    raw = read_yaml(path)
    if _is_spec(raw):
        study = raw.get("study") if isinstance(raw.get("study"), dict) else {}
        named = {"name": study.get("name"), "trainer": raw.get("trainer"), "metric": study.get("metric")}
        return Origin(*(str(named[k]) if isinstance(named[k], str) else None for k in ("name", "trainer", "metric")))
    header = read_header(path)
    return Origin(header.get("study"), header.get("trainer"), header_metric(header))


def _is_spec(raw: Any) -> bool:
    return isinstance(raw, dict) and "train" in raw and ("space" in raw or "study" in raw)


def trainer_of(path: Path, trainer: str | None = None) -> tuple[str, Callable[..., Any], Contract]:
    """The trainer a config file names (``trainer`` overrides it; else the default): its
    reference, its function and what it declared."""
    reference = trainer or origin_of(path).trainer or DEFAULT_TRAINER
    return (reference, *load_trainer(reference, str(path)))


def load_train_config(path: Path, trainer: str | None = None) -> dict[str, Any]:
    """Read a training config (or a spec, whose ``train:`` is taken) and validate it with
    the schema of its trainer (``trainer`` overrides the one the file names)."""
    raw = read_yaml(path)
    prefix = ""
    if _is_spec(raw):
        raw, prefix = raw["train"], "train"
    _, _, contract = trainer_of(path, trainer)
    check_train_config(raw, contract, str(path), prefix)
    return raw


def retrain_root(study_name: str) -> Path:
    """Where the retrained models of a study are kept (read by ``hpo report``)."""
    return STUDIES_DIR / study_name / RETRAIN_DIR


def default_output_dir(config_file: Path, final: bool) -> Path:
    """``studies/<study>/retrain/<stem>[-final]``: the study an exported config's header
    names, or a spec's ``study.name``, else the file's stem."""
    study = origin_of(config_file).study
    if study is not None:
        study_dir(study)  # a name from a header or an unchecked spec section: refuse ../x
    return retrain_root(study or config_file.stem) / (config_file.stem + ("-final" if final else ""))


def check_seeds(seeds: list[int]) -> list[int]:
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise HpoError(f"--seeds {' '.join(map(str, seeds))}: seed {repeated[0]} is given twice; each seed trains once")
    return seeds


def takes_run_options(function: Callable[..., Any]) -> bool:
    """Whether ``function`` accepts ``final`` and ``output_dir`` by keyword (see module doc)."""
    return takes_keywords(function, RUN_OPTIONS)


@dataclass
class Retrain:
    """One ``hpo train``: the trainer, what to summarise, where to write."""

    config_file: Path
    reference: str
    function: Callable[..., Any]
    contract: Contract
    metric: str | None
    final: bool
    root: Path

    @property
    def rich(self) -> bool:
        return takes_run_options(self.function)


def plan_retrain(config_file: Path, *, trainer: str | None, final: bool, output_dir: Path | None) -> Retrain:
    """Resolve the trainer and the metric; refuse what cannot run before any seed trains."""
    reference, function, contract = trainer_of(config_file, trainer)
    metric = origin_of(config_file).metric or next(iter(contract.metrics), None)
    job = Retrain(config_file, reference, function, contract, metric, final, output_dir or default_output_dir(config_file, final))
    if final and not job.rich:
        raise HpoError(f"--final: {reference} does not take the keywords final and output_dir, so it cannot train on train+val")
    if not job.rich and metric is None:
        raise HpoError(
            f"{config_file}: no metric to summarise: the file names no study metric and {reference} declares none "
            "(retrain an exported config or a spec)"
        )
    return job


def train_seeds(
    config: dict[str, Any],
    config_file: Path,
    seeds: list[int] | None,
    *,
    final: bool,
    output_dir: Path | None,
    console: Console,
    trainer: str | None = None,
    download: bool = False,
) -> dict[str, Any]:
    """Train ``config`` once per seed (once as written without seeds); print epochs and the
    summary; save runs and summary. ``download``: the trainer's ``prepare`` may fetch what
    the config reads (a data set) first."""
    job = plan_retrain(config_file, trainer=trainer, final=final, output_dir=output_dir)
    runs = [(seed, {**config, "seed": seed}) for seed in check_seeds(seeds)] if seeds else [(config.get("seed", 0), config)]
    for _, seeded in runs:
        check_train_config(seeded, job.contract, str(config_file), "")
    for line in prepare_configs(job.contract, job.reference, [runs[0][1]], download, str(config_file)):
        console.print(line, highlight=False)
    if job.contract.check is not None:
        try:
            job.contract.check(runs[0][1])
        except Exception as exc:  # the trainer's verdict on this machine, whatever its type: one line
            raise HpoError(f"{config_file}: {str(exc).strip() or type(exc).__name__}") from exc
    trained = [_train_one(job, seed, seeded, console) for seed, seeded in runs]
    results = [result for result, _ in trained]
    rich = all(isinstance(r, Mapping) and {"val_acc", "per_class_acc", "confusion"} <= set(r) for r in results)
    summary = summarize(results, "test" if final else "val") if rich else summarize_metric(results, job.metric or "val_acc")
    summary.update(config_file=str(config_file), trainer=job.reference)
    tables = summary_tables(summary)
    for table in tables:
        console.print(table)
    job.root.mkdir(parents=True, exist_ok=True)
    (job.root / "config.yaml").write_text(config_file.read_text(encoding="utf-8"), encoding="utf-8")
    _keep_misclassified(job.root, summary, trained[0][1], results[0]["seed"], console)
    (job.root / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    (job.root / "summary.txt").write_text(_plain_text(tables))
    console.print(f"saved to {job.root}")
    return summary


def _keep_misclassified(root: Path, summary: dict[str, Any], record: Any, seed: int, console: Console) -> None:
    """Save the first seed's misclassified images beside the summary and note them in it;
    a malformed record is said and skipped: the seeds' results are kept all the same."""
    (root / MISCLASSIFIED_FILE).unlink(missing_ok=True)  # an earlier run's, into the same folder
    if record is None:
        return
    try:
        summary[MISCLASSIFIED] = save_misclassified(root, record, seed)
    except ValueError as exc:
        console.print(f"misclassified images of seed {seed} not kept: {exc}")


def _train_one(job: Retrain, seed: int, config: dict[str, Any], console: Console) -> tuple[dict[str, Any], Any]:
    """One seed: the trainer's result, with ``seed`` and, for a plain trainer, its reports;
    and its ``misclassified`` record, if it returned one."""
    run_dir = job.root / f"seed{seed}"
    console.print(f"[bold]seed {seed}[/bold] ({'train+val, evaluated on test' if job.final else 'evaluated on val'})")
    history: list[dict[str, Any]] = []

    def report(metrics: Mapping[str, Any], state: Mapping[str, Any] | None = None) -> None:
        """A seed runs to its end in one go, so its states are not kept."""
        history.append(dict(metrics))
        _print_epoch(console, metrics, job.metric)

    try:
        if job.rich:
            returned = job.function(config, report, final=job.final, output_dir=str(run_dir))
        else:
            returned = job.function(config, report)
    except Exception as exc:  # the trainer refused or failed this config (weights, data, a NaN loss): one paragraph
        raise HpoError(f"{job.config_file}: seed {seed}: {type(exc).__name__}: {str(exc).strip() or 'no message'}") from exc
    result = dict(returned) if isinstance(returned, Mapping) else {}
    mistakes = result.pop(MISCLASSIFIED, None)
    result["seed"] = seed
    if not job.rich:
        result = _plain_result(job, seed, config, result, history, run_dir)
    shown = ("test_acc" if job.final else "val_acc") if job.rich else str(job.metric)
    value = result.get("val_acc" if job.rich else shown)
    scored = f"{shown} {format_value(value)}; " if isinstance(value, (int, float)) else ""
    console.print(f"seed {seed}: {scored}saved to {run_dir}")
    return result, mistakes


def _plain_result(job: Retrain, seed: int, config: dict[str, Any], returned: dict[str, Any], history: list, run_dir: Path) -> dict:
    """The metric from what ``train`` returned, else from its last report; config and
    reports saved in ``run_dir``."""
    metric = str(job.metric)
    last = history[-1] if history else {}
    value = returned.get(metric, last.get(metric))
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise HpoError(f"{job.config_file}: seed {seed}: {job.reference} returned and reported no number named {metric}")
    result = {**last, **returned, metric: float(value), "epoch": returned.get("epoch", last.get("epoch", len(history)))}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / "metrics.json").write_text(json.dumps({**result, "history": history}, indent=1, default=str))
    return result


def _print_epoch(console: Console, metrics: Mapping[str, Any], metric: str | None) -> None:
    parts = []
    for key in dict.fromkeys((*HISTORY_KEYS, metric or EPOCH)):
        value = metrics.get(key)
        if value is None:
            continue
        parts.append(f"{key} {format_number(value)}")
    console.print("  " + "  ".join(parts))


def summarize(results: list[dict[str, Any]], split: str) -> dict[str, Any]:
    """Accuracy per seed with mean ± std; per class mean ± std; confusion summed over seeds."""
    accs = [r["val_acc"] for r in results]
    per_class = list(zip(*(r["per_class_acc"] for r in results)))
    confusion = [[sum(cells) for cells in zip(*rows)] for rows in zip(*(r["confusion"] for r in results))]
    return {
        "split": split,
        "seeds": [r["seed"] for r in results],
        "acc": accs,
        "mean": statistics.fmean(accs),
        "std": _std(accs),
        "epochs": [r["epoch"] for r in results],
        "classes": results[0].get("classes") or [str(i) for i in range(len(per_class))],
        "per_class_acc_mean": [statistics.fmean(col) for col in per_class],
        "per_class_acc_std": [_std(col) for col in per_class],
        "confusion": confusion,
    }


def summarize_metric(results: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """A plain trainer's metric per seed with its mean ± std (see module doc)."""
    values = [r[metric] for r in results]
    return {
        "split": "val",
        "metric": metric,
        "seeds": [r["seed"] for r in results],
        "values": values,
        "mean": statistics.fmean(values),
        "std": _std(values),
        "epochs": [r.get("epoch") for r in results],
    }


def _std(values) -> float:
    """Sample standard deviation (n - 1), 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    """The metric per seed with its mean ± std; for accuracy summaries also per class and
    the confusion matrix; as rich tables."""
    split = summary["split"]
    metric = summary.get("metric")
    seeds = Table(title=f"{metric or split + ' accuracy'} over {len(summary['seeds'])} seed(s)")
    seeds.add_column("seed")
    seeds.add_column(metric or f"{split}_acc", justify="right")
    seeds.add_column("epochs", justify="right")
    count = len(summary["seeds"])
    for seed, value, epochs in zip(summary["seeds"], summary.get("values") or summary["acc"], summary["epochs"]):
        seeds.add_row(str(seed), format_value(value), format_number(epochs))
    if count > 1:  # one seed has no spread: its row is the result
        seeds.add_row("mean ± std", format_spread(summary["mean"], summary["std"], count), "", style="bold")
    if "confusion" not in summary:
        return [seeds]
    return [
        seeds,
        *class_tables(split, summary["classes"], summary["per_class_acc_mean"], summary["confusion"], summary["per_class_acc_std"], count),
    ]


def class_tables(
    split: str, classes: list[str], per_class: list[float], confusion: list[list[int]], spread: list[float] | None = None, count: int = 1
) -> list[Table]:
    """The accuracy per class and the confusion matrix of ``count`` evaluations (seeds): per
    class their mean ± ``spread`` (std), the matrix their sum; as rich tables (also ``hpo
    evaluate``'s, of one evaluation)."""
    per_class_table = Table(title=f"per-class {split} accuracy" + (" (mean ± std over seeds)" if count > 1 else ""))
    per_class_table.add_column("class")
    per_class_table.add_column("accuracy", justify="right")
    for name, mean, std in zip(classes, per_class, spread or [0.0] * len(per_class)):
        per_class_table.add_row(str(name), format_spread(mean, std, count))

    summed = ", summed over seeds" if count > 1 else ""
    confusion_table = Table(title=f"{split} confusion matrix{summed} (rows: true class, columns: predicted)")
    confusion_table.add_column("true \\ pred")
    for name in classes:
        confusion_table.add_column(str(name), justify="right")
    for name, row in zip(classes, confusion):
        confusion_table.add_row(str(name), *(str(n) for n in row))
    return [per_class_table, confusion_table]


def _plain_text(tables: list[Table]) -> str:
    buffer = io.StringIO()
    plain = Console(file=buffer, width=200, no_color=True, highlight=False)
    for table in tables:
        plain.print(table)
    return buffer.getvalue()


def load_summaries(study_name: str, root: Path | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Every retrain run saved for a study: (its directory, its summary), by name."""
    root = root or retrain_root(study_name)
    found = []
    for path in sorted(root.glob(f"*/{SUMMARY_FILE}")) if root.is_dir() else []:
        try:
            found.append((path.parent, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue  # a run still being written, or damaged: the report shows the others
    return found
