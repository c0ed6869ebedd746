"""``kill -9`` of the ``hpo run`` driver at six random moments, each followed by a resume.

Each kill waits for a moment drawn from a seeded RNG (printed): a delay after the launch
(Ray's start-up, opening the study, recovering the last crash), after this run's first
trial appears in the database (sampling, workers starting), after its first epoch report
(epochs: database writes) or after its first trial ends (a tell: database writes).
Anchoring to what the database shows, not to the clock alone, keeps the mix on a loaded
machine, where start-up alone can take longer than 15 s. The CNN is wider than the
quickstart's, so that an epoch takes about a third of a second: on a reused worker the
quickstart's own trials take a tenth of a second, and a warm run could finish the study
between its anchor and its kill. After each kill the database passes SQLite's integrity
check and keeps every trial finished so far; after the last resume the study has exactly
``study.trials`` finished trials, none RUNNING or WAITING, every interrupted parameter set
ran again, and no finished parameter set ran twice. (The Ctrl-C test is in
tests/e2e/test_resume.py, with the helpers used here.)
"""

from __future__ import annotations

import random
import signal
import sqlite3
import time

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, wait_for
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.test_resume import check_final_study, kill_tree, start
from tests.reliability.conftest import figure, query

pytestmark = pytest.mark.slow

KILLS = 4  # each is a Ray start-up and a resume: about 15 s of the suite
TRIALS = 16  # headroom: the interrupted runs must not finish the study between them
SEED = 20261210  # its four kills draw each anchor of MOMENTS once
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MOMENTS = {  # anchor -> (shortest, longest) delay after it, in seconds
    "launch": (1.0, 8.0),
    "first trial": (0.0, 3.0),
    "first epoch": (0.0, 1.0),
    "first trial end": (0.0, 0.5),
}


def started_before(workdir) -> str:
    """The ids of the trials an earlier run started, as an SQL list. A run's trials are
    the others: new ones, and the ones waiting in the queue (requeued parameters), which
    keep the lower number they were enqueued with."""
    return ", ".join(str(row[0]) for row in query(workdir, "SELECT trial_id FROM trials WHERE state != 'WAITING'"))


def reached(workdir, anchor: str, before: str) -> bool:
    """Has this run (whose trials are not among ``before``) reached ``anchor``?"""
    if anchor == "first trial":
        return bool(query(workdir, f"SELECT 1 FROM trials WHERE trial_id NOT IN ({before}) AND state != 'WAITING'"))
    if anchor == "first trial end":
        return bool(query(
            workdir, f"SELECT 1 FROM trials WHERE trial_id NOT IN ({before}) AND state IN ('COMPLETE', 'PRUNED', 'FAIL')"
        ))  # fmt: skip
    return bool(query(workdir, f"SELECT 1 FROM trial_intermediate_values WHERE trial_id NOT IN ({before})"))


def wait_for_anchor(process, workdir, anchor: str, before: str) -> float:
    """Seconds until ``anchor``; fails if the run ends first."""
    started = time.monotonic()
    if anchor != "launch":
        wait_for(lambda: reached(workdir, anchor, before), f"the run's {anchor}", ended=exited(process, "hpo run"))
    return time.monotonic() - started


def integrity(workdir) -> str:
    database = workdir / "studies" / "quickstart.db"
    if not database.exists():
        return "no database yet"
    with sqlite3.connect(database) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def finished_trials(workdir) -> dict[int, tuple]:
    """number -> (state, value, params) of the finished trials; {} before the study exists."""
    if not (workdir / "studies" / "quickstart.db").exists():
        return {}
    try:
        trials = load_study(workdir, "quickstart").trials
    except KeyError:
        return {}
    return {t.number: (t.state, t.value, t.params) for t in trials if t.state in FINISHED}


def test_sigkill_at_random_moments_then_resume(workdir):
    spec = shortened_quickstart(trials=TRIALS, epochs=3)
    spec["train"]["model"]["channels"] = [128, 256]  # an epoch of about 0.35 s on one core
    spec_file = write_spec(workdir, spec)
    rng = random.Random(SEED)
    moments = []
    for _ in range(KILLS):
        anchor = rng.choice(list(MOMENTS))
        moments.append((anchor, round(rng.uniform(*MOMENTS[anchor]), 1)))
    print(f"\nkill moments (seed {SEED}): {moments}")
    assert {anchor for anchor, _ in moments} == set(MOMENTS), "the seed must draw every anchor"
    seen: dict[int, tuple] = {}  # every trial found finished after some kill
    sound = 0
    for number, (anchor, delay) in enumerate(moments, start=1):
        before = started_before(workdir)
        process = start(spec_file, workdir)
        waited = wait_for_anchor(process, workdir, anchor, before)
        time.sleep(delay)
        assert process.poll() is None, f"run {number} ended before its kill:\n{process.stdout.read()}"
        kill_tree(process, signal.SIGKILL)
        check = integrity(workdir)
        now = finished_trials(workdir)
        orphaned = query(workdir, "SELECT count(*) FROM trials WHERE state = 'RUNNING'")
        lost = {n: t for n, t in seen.items() if now.get(n) != t}
        sound += check in ("ok", "no database yet") and not lost
        seen.update(now)
        print(
            f"kill {number}: {delay:.1f} s after {anchor} (reached after {waited:.1f} s): {len(now)} finished, "
            f"{orphaned[0][0] if orphaned else 0} left RUNNING, integrity {check}, {len(lost)} finished trials lost",
            flush=True,
        )

    final = hpo("run", str(spec_file), cwd=workdir, timeout=900)
    assert final.returncode == 0, final.stdout + final.stderr
    trials = check_final_study(workdir, TRIALS)  # exactly TRIALS finished, 0 RUNNING/WAITING, no set twice, integrity ok
    finished = {t.number: (t.state, t.value, t.params) for t in trials if t.state in FINISHED}
    lost = {n for n, t in seen.items() if finished.get(n) != t}
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    # a trial killed while its parameters were being sampled holds only some of them: its
    # requeued run samples the rest, so "ran again" is a finished trial holding them all
    dropped = [t.number for t in interrupted if not any(t.params.items() <= f[2].items() for f in finished.values())]
    figure(
        "kill -9",
        sound,
        KILLS,
        f"kills left a sound database that kept every finished trial; resumed to exactly {len(finished)} "
        f"finished trials (target {TRIALS}), 0 RUNNING, {len(interrupted)} trials interrupted, "
        f"{len(dropped)} interrupted parameter sets not run again, {len(lost)} finished trials lost",
    )
    assert sound == KILLS
    assert not lost, lost
    assert not dropped, [(t.number, t.state.name, t.user_attrs.get("requeued_from"), t.params) for t in trials]
