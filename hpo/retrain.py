"""``hpo train``: run one training config, once per seed, and summarise across seeds.

Accepts a plain training config (what ``hpo export`` writes) or a whole spec (its
``train:`` block is used). Each seed prints its epochs as they finish; several seeds
end with the mean ± std of the evaluated accuracy, the "3 seeds, mean ± std" people
otherwise compute by hand. With ``--final`` each run trains on train+val and is
evaluated on the held-out test split, which a search never touches.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hpo.errors import HpoError
from hpo.spec import check_train_config
from hpo.storage import STUDIES_DIR
from hpo.yamlfile import read_yaml

_EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_second")


def load_train_config(path: Path) -> dict[str, Any]:
    """Read a training config (or a spec, whose ``train:`` is taken) and validate it."""
    raw = read_yaml(path)
    prefix = ""
    if isinstance(raw, dict) and "train" in raw and ("space" in raw or "study" in raw):
        raw, prefix = raw["train"], "train"
    check_train_config(raw, str(path), prefix)
    return raw


def default_output_dir(config_file: Path) -> Path:
    return STUDIES_DIR / config_file.stem / "retrain"


def train_seeds(
    config: dict[str, Any],
    config_file: Path,
    seeds: list[int],
    *,
    final: bool,
    output_dir: Path | None,
    console: Console,
) -> list[dict[str, Any]]:
    """Train ``config`` once per seed; print epochs and a summary; save each run."""
    from trainers.data import DatasetNotFoundError
    from trainers.models import PretrainedWeightsError
    from trainers.loop import train

    root = output_dir or default_output_dir(config_file)
    split = "test" if final else "val"
    results = []
    for seed in seeds:
        run_dir = root / f"seed{seed}"
        console.print(f"[bold]seed {seed}[/bold] ({'train+val, evaluated on test' if final else 'evaluated on val'})")
        try:
            result = train({**config, "seed": seed}, lambda m: _print_epoch(console, m), final=final, output_dir=str(run_dir))
        except (DatasetNotFoundError, PretrainedWeightsError) as exc:
            raise HpoError(f"{config_file}: {exc}") from None
        result["seed"] = seed
        results.append(result)
        console.print(f"seed {seed}: {split}_acc {result['val_acc']:.4f}; saved to {run_dir}")
    summary = _summary(results, split)
    _print_summary(console, summary)
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text(json.dumps(summary, indent=1))
    return results


def _print_epoch(console: Console, metrics: dict[str, Any]) -> None:
    parts = []
    for key in _EPOCH_COLUMNS:
        value = metrics.get(key)
        if value is None:
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    console.print("  " + "  ".join(parts))


def _summary(results: list[dict[str, Any]], split: str) -> dict[str, Any]:
    accs = [r["val_acc"] for r in results]
    return {
        "split": split,
        "seeds": [r["seed"] for r in results],
        f"{split}_acc": accs,
        "mean": statistics.fmean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "classes": results[0].get("classes"),
        "per_class_acc_mean": [statistics.fmean(col) for col in zip(*(r["per_class_acc"] for r in results))],
    }


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    split = summary["split"]
    table = Table(title=f"{split} accuracy over {len(summary['seeds'])} seed(s)")
    table.add_column("seed")
    table.add_column(f"{split}_acc", justify="right")
    for seed, acc in zip(summary["seeds"], summary[f"{split}_acc"]):
        table.add_row(str(seed), f"{acc:.4f}")
    table.add_row("mean ± std", f"{summary['mean']:.4f} ± {summary['std']:.4f}", style="bold")
    console.print(table)
    classes = summary["classes"] or list(range(len(summary["per_class_acc_mean"])))
    per_class = Table(title=f"per-class {split} accuracy (mean over seeds)")
    per_class.add_column("class")
    per_class.add_column("accuracy", justify="right")
    for name, acc in zip(classes, summary["per_class_acc_mean"]):
        per_class.add_row(str(name), f"{acc:.4f}")
    console.print(per_class)
