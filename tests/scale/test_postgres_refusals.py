"""A PostgreSQL database that refuses hpo's work is one clear error, at once.

Only a lost race to create Optuna's tables is tried again; a database where the tables
cannot be made (no schema to create them in, the role's rights) or written (a read-only
replica: every transaction read-only) ends `hpo run` with exit code 2, the database's own
reason, and no traceback.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from hpo.study.storage import open_storage
from tests.scale.conftest import hpo_command, hpo_env, small_spec, write_spec

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "setting, reason, tables_made",
    [
        ("search_path=nowhere", "no schema has been selected", False),
        ("default_transaction_read_only=on", "read-only", False),
        ("default_transaction_read_only=on", "read-only", True),  # a replica of a study database
    ],
)
def test_a_database_that_refuses_the_study_is_one_clear_error(tmp_path, postgres_url, setting, reason, tables_made):
    import subprocess

    if tables_made:
        open_storage(postgres_url)
    url = f"{postgres_url}?options={quote(f'-c {setting}')}"
    spec = write_spec(tmp_path, small_spec("refused", trials=1, epochs=1, storage=url))
    started = time.monotonic()
    run = subprocess.run(hpo_command("run", str(spec)), cwd=tmp_path, env=hpo_env(), capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "refused" in run.stderr and reason in run.stderr, run.stderr
    print(f"\n{setting}: exit 2 in {took:.1f} s: {run.stderr.strip().splitlines()[-1][:200]}")
