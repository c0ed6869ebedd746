"""The ``hpo`` command line.

Start-up stays fast: torch, ray and optuna are imported inside the commands that use
them, never at import time (see benchmarks/cli_startup.py). A user's mistake ends as
one paragraph on stderr and exit code 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from hpo.errors import HpoError

app = typer.Typer(
    name="hpo",
    help="Hyperparameter optimization for vision models: a YAML search space, Ray Tune trials, "
    "Optuna samplers, ASHA pruning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
_debug = False


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    global _debug
    _debug = debug


SpecArg = Annotated[Path, typer.Argument(help="Search-space spec (YAML).", show_default=False)]
StudyArg = Annotated[str, typer.Argument(help="Study name, or its spec file.", show_default=False)]
StorageOpt = Annotated[Optional[str], typer.Option("--storage", help="SQLAlchemy URL of the study's storage.")]


@app.command()
def run(
    spec_file: SpecArg,
    address: Annotated[
        Optional[str], typer.Option("--address", help="Join an existing Ray cluster (HOST:PORT or auto).")
    ] = None,
    new_version: Annotated[
        bool, typer.Option("--new-version", help="If the stored study searched another space, start NAME-v2 beside it.")
    ] = False,
) -> None:
    """Run (or resume) the study a spec describes."""
    import signal

    import yaml

    from hpo.progress import format_params
    from hpo.runner import run_study
    from hpo.spec import load_spec

    spec = load_spec(spec_file)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    outcome = run_study(spec, address=address, new_version=new_version, console=console)
    tally = outcome.tally
    console.print(tally.summary())
    if outcome.interrupted:
        console.print(f"interrupted: running trials were recorded as failed; run `hpo run {spec_file}` to resume")
    if outcome.budget_spent:
        console.print("the time budget was spent: no new trials were started after it")
    if tally.best is not None:
        console.print(f"best {spec.study.metric}: {tally.best.value:.4f} (trial {tally.best.number})")
        console.print(f"best params: {format_params(tally.best.params)}")
        console.print("best config:\n" + yaml.safe_dump(tally.best.user_attrs.get("config"), sort_keys=False).rstrip())
    console.print(f"study {outcome.study_name} stored in {outcome.storage_url}")
    if outcome.interrupted:
        raise typer.Exit(130)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def validate(spec_file: SpecArg) -> None:
    """Check a spec, then dry-run the corners of its space (no data needed)."""
    from rich.table import Table

    from hpo.dryrun import dry_run, format_bytes
    from hpo.spec import load_spec

    spec = load_spec(spec_file)
    console.print(f"{spec_file}: valid ({len(spec.space)} top-level parameters, search hash {spec.search_hash()})")
    results = dry_run(spec)
    table = Table(title="dry run: one forward and backward pass per corner of the space")
    for column in ("corner", "parameters", "output", "memory / trial", "fits"):
        table.add_column(column)
    for result in results:
        corner = ", ".join(f"{k}={v}" for k, v in result.params.items()) or "train: as written"
        if result.error:
            table.add_row(corner, "-", "-", "-", f"[red]FAILS: {result.error}[/red]")
        else:
            table.add_row(
                corner,
                f"{result.parameters:,}",
                "x".join(map(str, result.output_shape)),
                format_bytes(result.memory_bytes),
                result.fits,
            )
    console.print(table)
    failed = [r for r in results if r.error]
    if failed:
        first = failed[0]
        combination = ", ".join(f"{k}={v}" for k, v in first.params.items())
        raise HpoError(
            f"{spec_file}: {len(failed)} of {len(results)} corners of the space fail before any trial runs; "
            f"e.g. {combination}: {first.error}"
        )


@app.command()
def train(
    config_file: Annotated[Path, typer.Argument(help="Training config (an exported config, or a spec's train: block).")],
    seeds: Annotated[Optional[list[int]], typer.Option("--seeds", help="Train once per seed (e.g. --seeds 0 --seeds 1).")] = None,
    final: Annotated[
        bool, typer.Option("--final", help="Train on train+val and evaluate the held-out test split.")
    ] = False,
    output_dir: Annotated[
        Optional[Path], typer.Option("--output-dir", help="Where to save weights, config and metrics.")
    ] = None,
) -> None:
    """Train one config (once per seed) and print per-epoch metrics."""
    from hpo.retrain import load_train_config, train_seeds

    config = load_train_config(config_file)
    train_seeds(config, config_file, seeds or [config.get("seed", 0)], final=final, output_dir=output_dir, console=console)


@app.command()
def status(study: StudyArg, storage: StorageOpt = None) -> None:
    """Summary of a study from its database, and its top 10 trials."""
    from hpo.locate import load_existing_study
    from hpo.results import print_status

    print_status(load_existing_study(study, storage), console)


def main() -> None:
    """Entry point: run the app, turning user errors into one paragraph and exit code 2."""
    try:
        app()
    except HpoError as exc:
        if _debug:
            traceback.print_exc()
        err_console.print(f"error: {exc}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
