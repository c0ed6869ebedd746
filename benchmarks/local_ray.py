"""The local Ray instance a benchmark runs its studies on, set up as ``hpo run`` sets up its own.

Ray is started once per benchmark, so that its start-up is not timed, and the studies run
in a working folder (``hpo`` writes ``studies/`` under the current directory): the one
given, or a temporary one that is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def local_ray(workdir: str | None, prefix: str, num_cpus: int, **init_kwargs: Any) -> Iterator[Path]:
    """Start Ray on loopback with hpo's settings, in ``workdir`` (or a temporary folder
    named ``prefix...``); yield the folder; shut Ray down and remove a temporary folder."""
    from hpo.engine.runner import set_ray_environment

    set_ray_environment(local=True)
    import ray

    folder = Path(workdir or tempfile.mkdtemp(prefix=prefix)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    ray.init(
        num_cpus=num_cpus,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
        **init_kwargs,
    )
    try:
        yield folder
    finally:
        ray.shutdown()
        if not workdir:
            shutil.rmtree(folder, ignore_errors=True)
