"""The ``hpo`` command line.

Start-up stays fast: torch, ray and optuna are imported inside the commands that use
them, never at import time (see benchmarks/cli_startup.py). A user's mistake ends as
one paragraph on stderr and exit code 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hpo.errors import HpoError

app = typer.Typer(
    name="hpo",
    help="Hyperparameter optimization for vision models: a YAML search space, Ray Tune trials, Optuna samplers, ASHA pruning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
_debug = False


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    global _debug
    _debug = debug


SpecArg = Annotated[Path, typer.Argument(help="Search-space spec (YAML).", show_default=False)]
StudyArg = Annotated[str, typer.Argument(help="Study name, or its spec file.", show_default=False)]
StorageOpt = Annotated[str | None, typer.Option("--storage", help="SQLAlchemy URL of the study's storage.")]
TrainerOpt = Annotated[
    str | None,
    typer.Option(
        "--trainer",
        help="The train(config, report) to call, as module:function [default: the trainer the spec or exported config names].",
        show_default=False,
    ),
]
DownloadOpt = Annotated[
    bool,
    typer.Option(
        "--download",
        help="Let the trainer fetch a missing data set first, once, checksummed (as data.download: true); trials never download.",
    ),
]


@app.command()
def run(
    spec_file: SpecArg,
    address: Annotated[str | None, typer.Option("--address", help="Join an existing Ray cluster (HOST:PORT or auto).")] = None,
    new_version: Annotated[
        bool, typer.Option("--new-version", help="If the stored study searched another space, start NAME-v2 beside it.")
    ] = False,
    warm_start: Annotated[
        bool,
        typer.Option("--warm-start", help="With --new-version: begin the new version with the earlier one's trials that lie in its space."),
    ] = False,
    trainer: TrainerOpt = None,
    download: DownloadOpt = False,
    log: Annotated[
        list[str] | None,
        typer.Option("--log", help="Also send each trial's epochs and config to tensorboard, mlflow or wandb (repeatable)."),
    ] = None,
) -> None:
    """Run (or resume) the study a spec describes.

    Exit code 0 when the study has its trials (or a stop rule fired, or the time budget is spent), 1 when
    study.max_failures trials in a row failed, 2 for a spec or trainer check refused before
    any trial, 130 when interrupted.
    """
    import signal

    import yaml

    from hpo.engine.runner import run_study
    from hpo.format import format_params, format_value
    from hpo.spec.sections import load_spec
    from hpo.study.keys import CONFIG_ATTR
    from hpo.study.summary import values_text

    spec = load_spec(spec_file, trainer)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    outcome = run_study(
        spec, address=address, new_version=new_version, warm_start=warm_start, console=console, download=download, log=log or ()
    )
    tally = outcome.tally
    console.print(tally.summary())
    if outcome.interrupted:
        console.print(f"interrupted: running trials were recorded as failed and queued again; run `hpo run {spec_file}` to resume")
    if outcome.reason is not None and not outcome.interrupted and not outcome.failures:
        console.print(f"ended: {outcome.reason}")
    if outcome.paused:
        console.print(f"paused {outcome.paused} running trials at the time budget; `hpo run {spec_file}` resumes them")
    if tally.best is not None:
        console.print(f"best {spec.metric}: {format_value(tally.best.value)} (trial {tally.best.number})")
        if outcome.versus_baseline:
            console.print(outcome.versus_baseline)
        console.print(f"best params: {format_params(tally.best.params)}")
        console.print("best config:\n" + yaml.safe_dump(tally.best.user_attrs.get(CONFIG_ATTR), sort_keys=False).rstrip())
    for trial in tally.front:  # several objectives: what was found is the Pareto front
        console.print(f"front: trial {trial.number}: {values_text(trial, spec.metrics)} | {format_params(trial.params)}")
    console.print(f"study {outcome.study_name} stored in {outcome.storage_url}")
    if outcome.interrupted:
        raise typer.Exit(130)
    if outcome.failures:  # a run that cannot make progress ends, with why, and can be resumed
        err_console.print(f"stopped: {outcome.failures}\nfix the cause, then `hpo run {spec_file}` continues the study")
        raise typer.Exit(1)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def validate(spec_file: SpecArg, trainer: TrainerOpt = None) -> None:
    """Check a spec, then dry-run the corners of its space (no data needed)."""
    from hpo.format import format_params
    from hpo.spec.dryrun import dry_run, missing_weights
    from hpo.spec.sections import load_spec

    spec = load_spec(spec_file, trainer)
    console.print(f"{spec_file}: valid for {spec.trainer} ({len(spec.space)} top-level parameters, search hash {spec.search_hash()})")
    results = dry_run(spec)
    if spec.contract.probe is None:
        console.print(f"no dry run: {spec.trainer} declares no probe")
    else:
        _print_dry_run(results)
    for path in missing_weights(spec):
        console.print(f"warning: pretrained weights {path} are not on disk; trials will fail until they are")
    failed = [r for r in results if r.error]
    if failed:
        first = failed[0]
        raise HpoError(
            f"{spec_file}: {len(failed)} of {len(results)} corners of the space fail before any trial runs; "
            f"e.g. {format_params(first.params)}: {first.error}"
        )


def _print_dry_run(results: list) -> None:
    """The table of probed corners, failing ones in red."""
    from rich.table import Table

    from hpo.format import format_bytes, format_params

    table = Table(title="dry run: one forward and backward pass per corner of the space")
    table.add_column("corner (searched values that shape the model)", overflow="fold", ratio=3)
    for column in ("parameters", "trainable", "output", "memory / trial", "fits"):
        table.add_column(column, overflow="fold", ratio=1)
    for result in results:
        corner = format_params(result.params) or "train: as written"
        if result.error:
            table.add_row(corner, "-", "-", "-", "-", f"[red]FAILS: {result.error}[/red]")
        else:
            table.add_row(
                corner,
                f"{result.parameters:,}",
                "-" if result.trainable is None else f"{result.trainable:,}",
                "x".join(map(str, result.output_shape or ())),
                format_bytes(result.memory_bytes or 0),
                result.fits,
            )
    console.print(table)


@app.command()
def train(
    config_file: Annotated[Path, typer.Argument(help="Training config (an exported config, or a spec's train: block).")],
    seeds: Annotated[
        list[int] | None, typer.Option("--seeds", help="Train once per seed: --seeds 0 1 2 (default: the config's seed).")
    ] = None,
    final: Annotated[bool, typer.Option("--final", help="Train on train+val and evaluate the held-out test split.")] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Where to save weights, configs and the summary "
            "[default: studies/<study in the config's header, else its name>/retrain/<config>[-final]].",
        ),
    ] = None,
    trainer: TrainerOpt = None,
    download: DownloadOpt = False,
) -> None:
    """Train one config once per seed with the trainer it names: its metric mean ± std (the
    built-in trainer adds accuracy per class and the confusion matrix)."""
    from hpo.results.retrain import load_train_config, train_seeds

    config = load_train_config(config_file, trainer)
    train_seeds(config, config_file, seeds, final=final, output_dir=output_dir, console=console, trainer=trainer, download=download)


@app.command()
def evaluate(
    config_file: Annotated[Path, typer.Argument(help="Training config the weights were trained with (an exported config, or a spec).")],
    weights: Annotated[
        Path, typer.Option("--weights", help="The model.pt that hpo train or hpo export --weights saved.", show_default=False)
    ],
    split: Annotated[
        str, typer.Option("--split", help="test (the held-out split) or val (the validation split of the config's seed).")
    ] = "test",
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the scores to this JSON file.")] = None,
    trainer: TrainerOpt = None,
    download: DownloadOpt = False,
) -> None:
    """Score saved weights of a config without training: accuracy, per class, and the confusion matrix."""
    from hpo.results.evaluate import evaluate_weights, write_scores

    scores = evaluate_weights(config_file, weights, split=split, trainer=trainer, download=download, console=console)
    if json_path is not None:
        write_scores(scores, json_path)
        console.print(f"scores -> {json_path}")


@app.command()
def export(
    study: StudyArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Config file to write; with --top K: FILE-1.yaml ... FILE-K.yaml (default: studies/<study>/best.yaml)."
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            "--top", help="Export the K best complete trials [default: the best; with several objectives, the Pareto front].", min=1
        ),
    ] = None,
    table: Annotated[Path | None, typer.Option("--table", help="Also write the table of all trials (.csv or .parquet).")] = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Export the best by `hpo confirm` (the confidence bound over seeds), not by the search.")
    ] = False,
    weights: Annotated[
        bool, typer.Option("--weights", help="Also write each trial's kept final weights beside its config (best.yaml: best.model.pt).")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Write the best trial (or --top K; a study of several objectives: its Pareto front) as
    complete training configs that `hpo train` runs."""
    from hpo.results.confirm import export_confirmed
    from hpo.results.export import export_best, retrain_command, weights_path
    from hpo.results.table import check_table_path, study_metrics, trials_frame, write_table
    from hpo.study.keys import WEIGHTS_ATTR
    from hpo.study.locate import load_existing_study
    from hpo.study.storage import study_dir
    from hpo.study.summary import values_text

    if table is not None:
        check_table_path(table)
    loaded = load_existing_study(study, storage)
    written = (export_confirmed if confirmed else export_best)(loaded, output or study_dir(loaded.study_name) / "best.yaml", top, weights)
    for path, trial in written:
        console.print(f"trial {trial.number} (value {values_text(trial, study_metrics(loaded))}) -> {path}")
        if weights:
            console.print(f"  its weights -> {weights_path(path, trial.user_attrs[WEIGHTS_ATTR])}")
    if top is not None and len(written) < top:
        console.print(f"the study has only {len(written)} {'confirmed' if confirmed else 'complete'} trial(s), not {top}")
    if table is not None:
        write_table(trials_frame(loaded), table)
        console.print(f"trials table -> {table}")
    console.print(f"retrain: {retrain_command(loaded, written[0][0])}")


@app.command()
def confirm(
    study: StudyArg,
    seeds: Annotated[
        list[int] | None, typer.Option("--seeds", help="Train each config once per seed: --seeds 1 2 3 (at least two).")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Confirm the K best complete trials.", min=1)] = 3,
    address: Annotated[str | None, typer.Option("--address", help="Join an existing Ray cluster (HOST:PORT or auto).")] = None,
    storage: StorageOpt = None,
) -> None:
    """Train the top trials' configs again once per seed, through Ray as the study ran, and rank
    them by the mean and by a confidence bound over the seeds. Runs the study holds already are kept."""
    import signal

    from hpo.results.confirm import plan_confirm
    from hpo.results.confirm_view import confirm_view
    from hpo.results.table import study_metric
    from hpo.study.confirm import confirmed_trials
    from hpo.study.locate import load_existing_study
    from hpo.study.summary import study_mode

    loaded = load_existing_study(study, storage)
    plan = plan_confirm(loaded, top, seeds or [])
    for note in plan.notes:
        console.print(note)
    console.print(
        f"confirming trials {', '.join(str(t.number) for t in plan.trials)} over seeds {' '.join(map(str, seeds or []))}: "
        f"{len(plan.runs)} run(s) to do, {plan.stored} stored already"
    )
    interrupted = False
    if plan.runs:
        from hpo.engine.confirm import run_confirm

        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        interrupted = run_confirm(plan.spec, loaded, plan.runs, address=address, console=console).interrupted
    console.print(confirm_view(confirmed_trials(loaded), study_metric(loaded), study_mode(loaded)))
    if interrupted:
        again = f"hpo confirm {study} --top {top} --seeds {' '.join(map(str, seeds or []))}"
        console.print(f"interrupted: the runs that ended are kept; `{again}` runs the rest")
        raise typer.Exit(130)


@app.command()
def report(
    study: StudyArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="HTML file (default: studies/<study>/report.html).")] = None,
    storage: StorageOpt = None,
) -> None:
    """One self-contained HTML report of a study (plots work offline)."""
    from hpo.results.report import write_report
    from hpo.study.locate import load_existing_study
    from hpo.study.storage import study_dir

    loaded = load_existing_study(study, storage)
    path = write_report(loaded, output or study_dir(loaded.study_name) / "report.html")
    console.print(f"report of study {loaded.study_name} -> {path}")


@app.command()
def dashboard(
    study: StudyArg,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).", min=0, max=65535)] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback exposes the study.")] = "127.0.0.1",
    storage: StorageOpt = None,
) -> None:
    """Serve optuna-dashboard on the study's storage until Ctrl-C (or SIGTERM)."""
    import signal

    from hpo.results.dashboard import serve

    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    serve(study, storage, host=host, port=port, console=console)


@app.command()
def status(
    study: StudyArg,
    storage: StorageOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until the study ends (its trials done, or no driver left).")] = False,
) -> None:
    """Summary of a study from its database, and its top 10 trials."""
    from hpo.results.table import print_status
    from hpo.study.locate import load_existing_study, locate_study

    if not watch:
        print_status(load_existing_study(study, storage), console)
        return
    from hpo.results.watch import watch as watch_study

    try:
        watch_study(locate_study(study, storage), console)
    except KeyboardInterrupt:  # leaving a watch is the normal way out of it: no message
        raise typer.Exit(130) from None


@app.command()
def enqueue(
    study: StudyArg,
    configs: Annotated[
        list[Path],
        typer.Argument(help="YAML files, each a mapping of the space's keys to values (labels for labelled choices).", show_default=False),
    ],
    storage: StorageOpt = None,
) -> None:
    """Put configs at the head of a study's queue: the next trials run them, and the sampler
    fills in the keys a config leaves out. All are checked against the space before any is queued."""
    from hpo.results.table import study_target
    from hpo.study.locate import load_existing_study
    from hpo.study.queue import enqueue_files
    from hpo.study.summary import Tally, study_mode

    loaded = load_existing_study(study, storage)
    count = enqueue_files(loaded, configs)
    console.print(f"queued {count} config(s) in study {loaded.study_name}: the next trials `hpo run` starts run them")
    target, finished = study_target(loaded), Tally.from_trials(loaded.get_trials(deepcopy=False), 0, study_mode(loaded)).finished
    if finished >= target:
        console.print(f"the study has its {target} trials: raise study.trials in its spec for them to run")


@app.command(name="list")
def list_studies(storage: StorageOpt = None) -> None:
    """Every study in a storage (default: the databases under studies/): counts, best value, last activity."""
    from hpo.results.listing import print_studies

    print_studies(storage, console, err_console)


@app.command()
def delete(
    study: StudyArg,
    storage: StorageOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False,
) -> None:
    """Delete a study from its storage; refused while a driver runs it. Its folder
    studies/<study>/ is kept, renamed studies/<study>.deleted-<time>/."""
    from hpo.study.locate import locate_study
    from hpo.study.removal import check_no_live_driver, delete_study

    located = locate_study(study, storage)
    check_no_live_driver(located)  # before asking: a refusal should not wait for an answer
    name, count = located.study.study_name, len(located.study.get_trials(deepcopy=False))
    if not yes:
        if not sys.stdin.isatty():
            raise HpoError(f"hpo delete {study}: deleting needs a yes; nobody can answer here (stdin is not a terminal), so pass --yes")
        typer.confirm(f"delete study {name} ({count} trials) from {located.url}?", abort=True)
    deleted = delete_study(located)
    console.print(f"deleted study {deleted.name} ({deleted.trials} trials) from {deleted.url}")
    if deleted.folder is not None:
        console.print(f"its folder (exports, reports, retrained models) is kept as {deleted.folder}")


data_app = typer.Typer(help="The built-in trainer's data sets: which are on disk, and where --download gets them.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list(
    root: Annotated[
        Path | None, typer.Option("--root", help="Folder to look in [default: data, as data.root defaults to].", show_default=False)
    ] = None,
) -> None:
    """Every data set the built-in trainer knows: on disk under the root or not, its size, classes and image shape."""
    from hpo.data import datasets_table, download_source

    console.print(datasets_table(root))
    console.print(download_source())


@app.command()
def logs(
    study: StudyArg,
    trial: Annotated[int, typer.Argument(help="The trial's number, as `hpo status` shows it.", min=0, show_default=False)],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what it writes until the trial ends (or Ctrl-C).")] = False,
    storage: StorageOpt = None,
) -> None:
    """Print what a trial printed: its output, warnings, and the traceback that ended it."""
    from hpo.results.logs import TrialLog

    log = TrialLog(study, trial, storage)
    if follow:
        log.follow(sys.stdout.buffer, err_console)
    else:
        log.print(sys.stdout.buffer)


def main() -> None:
    """Entry point: run the app, turning user errors into one paragraph and exit code 2."""
    try:
        app(args=expand_seeds(sys.argv[1:]), prog_name="hpo")
    except HpoError as exc:
        if _debug:
            traceback.print_exc()
        err_console.print(f"error: {exc}", soft_wrap=True, markup=False)  # the message as it is: [mlflow] is no style
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def expand_seeds(args: list[str]) -> list[str]:
    """``--seeds 0 1 2`` -> ``--seeds 0 --seeds 1 --seeds 2`` (a click option takes one value).

    Only the integers right after ``--seeds`` are taken; anything else (``--final``, a file,
    ``--``) ends the list. ``--seeds`` with no integer after it is left for click to refuse.
    """
    expanded: list[str] = []
    pending = False  # after "--seeds", before its first value
    taking = False  # inside the list of values
    for arg in args:
        if (pending or taking) and _is_int(arg):
            expanded += ["--seeds", arg]
            pending, taking = False, True
            continue
        if pending:
            expanded.append("--seeds")
        pending, taking = arg == "--seeds", False
        if not pending:
            expanded.append(arg)
    if pending:
        expanded.append("--seeds")
    return expanded


def _is_int(text: str) -> bool:
    return text.removeprefix("-").isdigit()


if __name__ == "__main__":
    main()
