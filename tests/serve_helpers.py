"""Start a real ILS server on 127.0.0.1 (in a thread or a subprocess) for the serving tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bound_socket() -> socket.socket:
    """A listening socket on a free port: clients may connect before the server accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    return sock


class ThreadServer:
    def __init__(self, opts):
        import uvicorn

        from ils.serve.run import make_app

        self.sock = bound_socket()
        self.port = self.sock.getsockname()[1]
        self.app = make_app(opts)
        self.state = self.app.state.ils
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.sock.close()


def subprocess_server(model: str, db: str, extra: list[str] = ()) -> tuple[subprocess.Popen, int]:
    sock = bound_socket()
    port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "ils.cli", "serve", "--model", model, "--db", db, "--fd", str(sock.fileno()),
           "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    sock.close()
    return proc, port
