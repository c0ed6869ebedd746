"""Scale-out fixtures: a two-host Ray cluster in network namespaces, a PostgreSQL server.

Two hosts on one machine: two network namespaces joined by a veth pair (10.213.0.1 and
10.213.0.2), a Ray head in the first and a worker in the second, each with its own Ray
temp dir. Loopback alone does not do: Ray refuses a multi-node cluster on 127.0.0.1 and
otherwise advertises the machine's outward address. Teardown kills exactly the processes
in those namespaces (TERM, then KILL: Ray's agents ignore TERM once their raylet is gone)
and deletes the namespaces; namespaces left by a test run that was itself killed are
cleaned at the next start (their names carry the pid of the run that made them).

PostgreSQL: the server .ci/run starts (HPO_TEST_POSTGRES, an admin URL), else one started
here with initdb and pg_ctl from the installed binaries, on a free loopback port in a
temp dir. The PostgreSQL tests skip only when neither can be had, and the reason says
what was tried and what failed. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
IN_CI = bool(os.environ.get("CI"))
HEAD_IP, WORKER_IP = "10.213.0.1", "10.213.0.2"
NS_PREFIX = "hposc-"  # hposc-<pid>-<tag>-h / -w: <pid> is the test run that made it


def hpo_env(**extra: str) -> dict[str, str]:
    """The test's environment for hpo and Ray processes: the repo importable, wide output,
    token authentication (Ray's default for `ray start`; the driver needs it said)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", "RAY_AUTH_MODE": "token"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.pop("RAY_ADDRESS", None)
    return {**env, **extra}


def small_spec(name: str, *, trials: int, epochs: int, storage: str | None = None, batch_size: int = 64) -> dict:
    """A study that runs in seconds per trial on one CPU: an MLP on scikit-learn's digits."""
    study = {"name": name, "metric": "val_acc", "mode": "max", "trials": trials, "seed": 0}
    if storage:
        study["storage"] = storage
    return {
        "study": study,
        "sampler": {"type": "random"},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1, "max_concurrent": 2},
        "train": {
            "seed": 0,
            "data": {"name": "digits", "val_fraction": 0.2},
            "model": {"name": "mlp", "hidden": [64]},
            "optimizer": {"name": "adam", "lr": 1.0e-3},
            "batch_size": batch_size,
            "epochs": epochs,
        },
        "space": {"optimizer.lr": {"float": [1.0e-4, 1.0e-2], "log": True}},
    }


def write_spec(directory: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def hpo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpo.cli", *args]


def communicate(process: subprocess.Popen, timeout: float = 900) -> str:
    """Its output once it exits; killed if it is still running after ``timeout`` or the test fails."""
    try:
        return process.communicate(timeout=timeout)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _needs_root(what: str) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        reason = f"{what} needs root and iproute2's `ip` (network namespaces)"
        if IN_CI:
            pytest.fail(reason + ", and CI has them")
        pytest.skip(reason)


# ---------------------------------------------------------------------------------------- hosts


def _ns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill_namespace_processes(ns: str, signals=(signal.SIGTERM, signal.SIGKILL), grace_s: float = 5.0) -> None:
    """Send every process in ``ns`` the first signal, then the next to what is left."""
    for sig in signals:
        for pid in _ns_pids(ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while _ns_pids(ns) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _ns_pids(ns):
            return
    if _ns_pids(ns):
        raise RuntimeError(f"processes {_ns_pids(ns)} in network namespace {ns} survived SIGKILL")


def _delete_namespace(ns: str) -> None:
    try:
        kill_namespace_processes(ns)
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def _clean_stale_namespaces() -> None:
    """Namespaces of an earlier test run that was killed before its teardown."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in re.findall(rf"^({NS_PREFIX}(\d+)-\w+-[hw])\b", listed, flags=re.M):
        ns, pid = name[0], int(name[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _delete_namespace(ns)
        except PermissionError:
            pass


@dataclass
class TwoHosts:
    """Two network namespaces, ``head`` (10.213.0.1) and ``worker`` (10.213.0.2)."""

    head: str
    worker: str
    tmp: Path
    port: int = field(default_factory=lambda: random.randint(20000, 29999))

    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{self.port}"

    def env(self) -> dict[str, str]:
        # RAY_TMPDIR: the head writes its address where `--address auto` looks for it,
        # here and not in /tmp/ray, where other Ray users of this machine would find it.
        return hpo_env(RAY_TMPDIR=str(self.tmp))

    def run(self, ns: str, args: list[str], timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *args], env=self.env(), capture_output=True, text=True, timeout=timeout, **kwargs)

    def popen(self, ns: str, args: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, *args], env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
        )

    def start_ray(self) -> None:
        """Head (1 CPU) in the first namespace, worker (1 CPU) in the second: one trial each."""
        common = ["--num-cpus", "1", "--disable-usage-stats"]
        head = self.run(
            self.head,
            [RAY, "start", "--head", "--node-ip-address", HEAD_IP, "--port", str(self.port), "--include-dashboard", "false",
             "--temp-dir", str(self.tmp / "ray"), *common],
        )  # fmt: skip
        assert head.returncode == 0, f"ray start --head failed:\n{head.stdout}\n{head.stderr}"
        worker = self.run(
            self.worker,
            [RAY, "start", "--address", self.address, "--node-ip-address", WORKER_IP,
             "--temp-dir", str(self.tmp / "worker"), *common],
        )  # fmt: skip
        assert worker.returncode == 0, f"ray start (worker) failed:\n{worker.stdout}\n{worker.stderr}"

    def alive_nodes(self) -> dict[str, str]:
        """node_id -> IP of the cluster's live nodes, as its head knows them."""
        code = (
            f"import json, ray; ray.init(address={self.address!r}, log_to_driver=False, logging_level='ERROR');"
            "print(json.dumps({n['NodeID']: n['NodeManagerAddress'] for n in ray.nodes() if n['Alive']}))"
        )
        out = self.run(self.head, [sys.executable, "-c", code], timeout=120)
        assert out.returncode == 0, out.stderr
        return yaml.safe_load(out.stdout.strip().splitlines()[-1])

    def crash(self, ns: str) -> None:
        """The host in ``ns`` goes away at once, as in a power cut: SIGKILL, no goodbye."""
        kill_namespace_processes(ns, signals=(signal.SIGKILL,))


@pytest.fixture
def two_hosts():
    """Two namespaces joined by a veth pair, Ray not started yet; always torn down."""
    _needs_root("a two-host Ray cluster")
    _clean_stale_namespaces()
    tag = uuid.uuid4().hex[:4]
    head, worker = f"{NS_PREFIX}{os.getpid()}-{tag}-h", f"{NS_PREFIX}{os.getpid()}-{tag}-w"
    veth_head, veth_worker = f"hv{tag}{os.getpid() % 10000}", f"wv{tag}{os.getpid() % 10000}"
    tmp = Path(tempfile.mkdtemp(prefix="hposc-", dir="/tmp"))  # short: Ray's socket paths are limited
    hosts = TwoHosts(head, worker, tmp)
    try:
        for command in (
            ["ip", "netns", "add", head],
            ["ip", "netns", "add", worker],
            ["ip", "link", "add", veth_head, "type", "veth", "peer", "name", veth_worker],
            ["ip", "link", "set", veth_head, "netns", head],
            ["ip", "link", "set", veth_worker, "netns", worker],
            ["ip", "-n", head, "addr", "add", f"{HEAD_IP}/24", "dev", veth_head],
            ["ip", "-n", worker, "addr", "add", f"{WORKER_IP}/24", "dev", veth_worker],
            ["ip", "-n", head, "link", "set", veth_head, "up"],
            ["ip", "-n", worker, "link", "set", veth_worker, "up"],
            ["ip", "-n", head, "link", "set", "lo", "up"],
            ["ip", "-n", worker, "link", "set", "lo", "up"],
        ):
            subprocess.run(command, check=True, capture_output=True)
        yield hosts
    finally:
        survivors = []
        for ns in (worker, head):  # each one, even if the other fails
            try:
                _delete_namespace(ns)
            except RuntimeError as exc:
                survivors.append(str(exc))
        subprocess.run(["ip", "link", "delete", veth_head], capture_output=True)  # gone with its namespace, normally
        shutil.rmtree(tmp, ignore_errors=True)
        assert not survivors, survivors


@pytest.fixture
def ray_cluster(two_hosts: TwoHosts) -> TwoHosts:
    two_hosts.start_ray()
    return two_hosts


# ----------------------------------------------------------------------------------- PostgreSQL


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_server(reason: str) -> None:
    """Skip: no PostgreSQL server can be had here (in CI, where .ci/run provides one, fail)."""
    if IN_CI:
        pytest.fail(f"no PostgreSQL server: {reason} (.ci/run installs PostgreSQL and sets HPO_TEST_POSTGRES)")
    pytest.skip(f"no PostgreSQL server: {reason}")


def _without_password(url: str) -> str:
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)


def _connect_error(url: str) -> str | None:
    """Why a connection to ``url`` fails, or None once it works."""
    import psycopg

    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=30) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


START_ATTEMPTS = 3  # each on a fresh free port: another process may take the one picked


@pytest.fixture(scope="session")
def postgres_server():
    """An admin URL of a PostgreSQL server on loopback (see module doc). Skips only when
    none can be had, saying what was tried and what failed; a server HPO_TEST_POSTGRES
    names that cannot be reached is an error, not a skip."""
    url = os.environ.get("HPO_TEST_POSTGRES")
    if url:
        error = _connect_error(url)
        if error:
            pytest.fail(f"HPO_TEST_POSTGRES={_without_password(url)}: cannot connect: {error}")
        yield url
        return
    tried = "HPO_TEST_POSTGRES is not set, so a server was to be started here"
    bindir = _postgres_bin()
    if bindir is None:
        _no_server(f"{tried}, but there is no pg_ctl in /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)")
    # The server refuses to run as root: as root, run it as the postgres user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _no_server(f"{tried} from {bindir}; this is root, which the server refuses, and there is no postgres user to run it as")
        as_user = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="hpo-pg-"))
    if as_user:
        os.chown(tmp, user.pw_uid, user.pw_gid)
    data, log = tmp / "data", tmp / "server.log"

    def run(*args: str) -> str | None:
        """None once the command succeeded, else what it and the server's log said."""
        out = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=180)
        if out.returncode == 0:
            return None
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        return f"`{' '.join(args)}` exited {out.returncode}: {(out.stdout + out.stderr).strip()} {server_log.strip()}".strip()

    try:
        error = run(str(bindir / "initdb"), "-D", str(data), "-U", "hpo", "-A", "trust", "--no-sync")
        if error:
            _no_server(f"{tried}: {error}")
        errors = []
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off -c max_connections=200"
            error = run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "120", "start")
            if error is None:
                break
            errors.append(error)
        else:
            _no_server(f"{tried}; {START_ATTEMPTS} starts failed: " + " | ".join(errors))
        yield f"postgresql+psycopg://hpo@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str):
    """A database of this test's own on the server; dropped afterwards."""
    import psycopg

    name = f"hpo_test_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
