"""A supervisor of a small real stack, as a process a test can kill: ``python -m tests.stack.supervised FOLDER
PORT PORT NGINX_PORT``. Two HTTP servers (the second after the first) and nginx in the foreground with a worker;
prints one JSON line (every part's pid) once all are ready, then supervises until it is killed or SIGTERMed."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from stack import commands
from stack.parts import Part, Stack
from stack.supervisor import Supervisor

NGINX_CONFIG = """worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/temp/body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""


def small_stack(folder: Path, first: int, second: int, nginx: int) -> Stack:
    """The parts: ``first`` and ``second`` HTTP servers and nginx, in that order."""
    (folder / "temp").mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(folder=folder, port=nginx), encoding="utf-8")

    def http_server(port: int) -> tuple[str, ...]:
        return (commands.PYTHON, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(folder))

    parts = (
        Part("first", http_server(first), {}, f"http://127.0.0.1:{first}/"),
        Part("second", http_server(second), {}, f"http://127.0.0.1:{second}/", after=("first",)),
        Part("nginx", commands.nginx(config, folder / "nginx-error.log"), {}, f"http://127.0.0.1:{nginx}/"),
    )
    return Stack("test", parts, folder)


def main(argv: list[str]) -> None:
    folder, first, second, nginx = Path(argv[0]), *(int(port) for port in argv[1:4])
    supervisor = Supervisor(small_stack(folder, first, second, nginx))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    supervisor.start()
    pids = {name: part.process.pid for name, part in supervisor.parts.items() if part.process is not None}
    print(json.dumps(pids), flush=True)
    try:
        supervisor.watch(stop, restart=True)
    finally:
        supervisor.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
