"""``hpo train``: run one training config, once per seed, and summarise across seeds.

Accepts a plain training config (what ``hpo export`` writes) or a whole spec (its
``train:`` block is used). Each seed prints its epochs as they finish; the run ends with
the evaluated accuracy per seed and its mean ± std, the accuracy per class and the
confusion matrix summed over seeds: the "3 seeds, mean ± std" people otherwise compute by
hand. With ``--final`` each run trains on train+val and is evaluated on the held-out test
split, which a search never touches.

Files, by default under ``studies/<study>/retrain/<config>[-final]/`` (the study named in
an exported config's header or a spec, else the config file's name):

    config.yaml             the config file as given
    summary.json, summary.txt   the tables below
    seed<N>/model.pt        state_dict (torch.load(..., weights_only=True) reads it)
    seed<N>/config.yaml     the exact config that seed trained (defaults filled in)
    seed<N>/metrics.json    last metrics, per-class accuracy, confusion, history
    seed<N>/features.npz    penultimate-layer features of the evaluated images, and labels
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hpo.errors import HpoError
from hpo.spec.trainer import DEFAULT_TRAINER, check_train_config, load_trainer
from hpo.spec.yamlfile import read_yaml
from hpo.study.storage import STUDIES_DIR, study_dir

_EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_second")
RETRAIN_DIR = "retrain"
SUMMARY_FILE = "summary.json"


def load_train_config(path: Path) -> dict[str, Any]:
    """Read a training config (or a spec, whose ``train:`` is taken) and validate it."""
    raw = read_yaml(path)
    prefix = ""
    if isinstance(raw, dict) and "train" in raw and ("space" in raw or "study" in raw):
        raw, prefix = raw["train"], "train"
    _, contract = load_trainer(DEFAULT_TRAINER, str(path))
    check_train_config(raw, contract, str(path), prefix)
    return raw


def retrain_root(study_name: str) -> Path:
    """Where the retrained models of a study are kept (read by ``hpo report``)."""
    return STUDIES_DIR / study_name / RETRAIN_DIR


def default_output_dir(config_file: Path, final: bool) -> Path:
    """``studies/<study>/retrain/<stem>[-final]``: the study an exported config's header
    names, or a spec's ``study.name``, else the file's stem."""
    from hpo.results.export import study_of_config

    raw = read_yaml(config_file)
    spec_study = raw.get("study") if isinstance(raw, dict) else None
    study = study_of_config(config_file) or (spec_study.get("name") if isinstance(spec_study, dict) else None)
    if study is not None:
        study_dir(str(study))  # a name from a header or an unchecked spec section: refuse ../x
    return retrain_root(study or config_file.stem) / (config_file.stem + ("-final" if final else ""))


def check_seeds(seeds: list[int]) -> list[int]:
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise HpoError(f"--seeds {' '.join(map(str, seeds))}: seed {repeated[0]} is given twice; each seed trains once")
    return seeds


def train_seeds(
    config: dict[str, Any],
    config_file: Path,
    seeds: list[int],
    *,
    final: bool,
    output_dir: Path | None,
    console: Console,
) -> dict[str, Any]:
    """Train ``config`` once per seed; print epochs and the summary; save runs and summary."""
    from trainers.data import DatasetNotFoundError
    from trainers.loop import train
    from trainers.models import PretrainedWeightsError

    root = output_dir or default_output_dir(config_file, final)
    split = "test" if final else "val"
    results = []
    for seed in check_seeds(seeds):
        run_dir = root / f"seed{seed}"
        console.print(f"[bold]seed {seed}[/bold] ({'train+val, evaluated on test' if final else 'evaluated on val'})")
        try:
            result = train({**config, "seed": seed}, lambda m: _print_epoch(console, m), final=final, output_dir=str(run_dir))
        except (DatasetNotFoundError, PretrainedWeightsError) as exc:
            raise HpoError(f"{config_file}: {exc}") from None
        result["seed"] = seed
        results.append(result)
        console.print(f"seed {seed}: {split}_acc {result['val_acc']:.4f}; saved to {run_dir}")
    summary = summarize(results, split)
    summary["config_file"] = str(config_file)
    tables = summary_tables(summary)
    for table in tables:
        console.print(table)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(config_file.read_text(encoding="utf-8"), encoding="utf-8")
    (root / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    (root / "summary.txt").write_text(_plain_text(tables))
    console.print(f"saved to {root}")
    return summary


def _print_epoch(console: Console, metrics: dict[str, Any]) -> None:
    parts = []
    for key in _EPOCH_COLUMNS:
        value = metrics.get(key)
        if value is None:
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
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


def _std(values) -> float:
    """Sample standard deviation (n - 1), 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    """The accuracy per seed, per class, and the confusion matrix, as rich tables."""
    split = summary["split"]
    seeds = Table(title=f"{split} accuracy over {len(summary['seeds'])} seed(s)")
    seeds.add_column("seed")
    seeds.add_column(f"{split}_acc", justify="right")
    seeds.add_column("epochs", justify="right")
    for seed, acc, epochs in zip(summary["seeds"], summary["acc"], summary["epochs"]):
        seeds.add_row(str(seed), f"{acc:.4f}", str(epochs))
    seeds.add_row("mean ± std", f"{summary['mean']:.4f} ± {summary['std']:.4f}", "", style="bold")

    per_class = Table(title=f"per-class {split} accuracy (mean ± std over seeds)")
    per_class.add_column("class")
    per_class.add_column("accuracy", justify="right")
    for name, mean, std in zip(summary["classes"], summary["per_class_acc_mean"], summary["per_class_acc_std"]):
        per_class.add_row(str(name), f"{mean:.4f} ± {std:.4f}")

    confusion = Table(title=f"{split} confusion matrix, summed over seeds (rows: true class, columns: predicted)")
    confusion.add_column("true \\ pred")
    for name in summary["classes"]:
        confusion.add_column(str(name), justify="right")
    for name, row in zip(summary["classes"], summary["confusion"]):
        confusion.add_row(str(name), *(str(n) for n in row))
    return [seeds, per_class, confusion]


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
