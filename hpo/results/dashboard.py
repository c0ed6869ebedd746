"""``hpo dashboard``: optuna-dashboard on a study's storage, read live while a run writes.

optuna-dashboard shows what hpo stores natively: each trial's user attributes (config,
epochs, seconds, history, where it ran, error) and the study's (the spec it searched,
its search hash); hpo.study.keys names them all. The best trials' kept weights are Optuna
artifacts, listed on their trial's page and served from ``studies/<name>/artifacts/``.
It is served here by a small threaded WSGI server bound to 127.0.0.1 unless ``--host``
says otherwise. optuna-dashboard has no authentication and
can edit and delete studies, so binding any other address prints a warning.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from rich.console import Console

from hpo.errors import HpoError


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request: a browser loads several API routes at once."""

    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request (the page polls every few seconds) would drown the URL


def is_loopback(host: str) -> bool:
    """True if ``host`` (an address or a name) resolves only to loopback addresses."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def serve(target: str, storage: str | None, *, host: str, port: int, console: Console) -> None:
    """Serve the dashboard for the study ``target`` names until KeyboardInterrupt."""
    import optuna_dashboard

    from hpo.study.locate import load_existing_study, resolve_study
    from hpo.study.storage import open_storage
    from hpo.study.weights import existing_store

    name, url = resolve_study(target, storage)
    load_existing_study(name, url)  # the study must exist: refuse a typo early
    opened = open_storage(url, create=False)
    # the kept weights' files, so that the trial page's artifacts download (hpo.study.weights)
    app = optuna_dashboard.wsgi(opened, artifact_store=existing_store(name))
    server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
    try:
        server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    except OSError as exc:
        raise HpoError(f"dashboard: cannot listen on {host}:{port} ({exc.strerror}); give another --port or --host") from None
    bound_port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    console.print(f"optuna-dashboard for study {name} ({url})")
    console.print(f"  http://{shown}:{bound_port}/dashboard/studies/{opened.get_study_id_from_name(name)}", soft_wrap=True)
    if not is_loopback(host):
        console.print(
            f"[bold red]warning:[/bold red] listening on {host}, so the dashboard is exposed to the network: "
            "anyone who can reach this machine can read the study and edit or delete it "
            "(optuna-dashboard has no authentication). Use the default --host 127.0.0.1 and an SSH tunnel instead."
        )
    console.print("press Ctrl-C to stop")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM as the command turns it
        console.print("dashboard stopped")
    finally:
        server.server_close()
