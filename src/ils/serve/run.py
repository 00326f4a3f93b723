"""Build a server from options and run it with uvicorn (``ils serve``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ils.errors import ConfigError, ILSError
from ils.serve.app import ServerState, create_app, reload_model
from ils.serve.auth import Keys, sha256
from ils.serve.pool import load_pool
from ils.store import open_store


@dataclass
class ServeOptions:
    model: str | None = None  # None: the store's current version, else "default"
    adapters: dict[str, str] = field(default_factory=dict)
    db: str | None = None
    api_keys: list[str] = field(default_factory=list)  # the server's own keys (Python API, tests)
    host: str = "127.0.0.1"
    port: int = 8000
    batch_size: int = 64  # most sequences the engine runs at once
    kv_tokens: int | None = None  # KV cache budget in tokens (default: 2 GiB worth)
    max_queue_tokens: int = 1 << 17  # prompt + max_tokens of all requests waiting for the engine
    dtype: str = "auto"
    max_tokens: int = 128
    max_body: int = 1 << 20
    fd: int | None = None  # serve on an already-bound socket (tests, socket activation)
    api_key_env: str | None = None  # an environment variable holding the server's key
    api_key_file: str | None = None  # a file holding the server's key(s), one a line


def parse_adapters(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        name, eq, path = spec.partition("=")
        if not eq or not name or not path:
            raise ILSError(f"--adapter {spec!r}: expected NAME=RUN_DIR")
        out[name] = path
    return out


def server_keys(opts: ServeOptions) -> list[str]:
    """The server's own keys: ``api_keys``, the variable ``api_key_env``, the file ``api_key_file``."""
    keys = list(opts.api_keys)
    if opts.api_key_env:
        value = os.environ.get(opts.api_key_env, "").strip()
        if not value:
            raise ConfigError(f"--api-key-env {opts.api_key_env}: the variable is not set or empty")
        keys.append(value)
    if opts.api_key_file:
        keys += _key_file(Path(opts.api_key_file))
    return keys


def _key_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--api-key-file {path}: cannot read it ({e.__class__.__name__})") from None
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ConfigError(f"--api-key-file {path}: no key in it (one key a line)")
    if path.stat().st_mode & 0o077:
        print(f"warning: --api-key-file {path} is readable by other users (chmod 600 {path})",
              file=sys.stderr)
    return keys


def build_state(opts: ServeOptions) -> ServerState:
    own = {sha256(k) for k in server_keys(opts)}  # a bad key option fails before the model loads
    store = open_store(opts.db)
    version = store.current_version() if opts.model is None else None
    ref = opts.model or (version.run_dir if version else "default")
    pool = load_pool(ref, opts.adapters, batch_size=opts.batch_size, kv_tokens=opts.kv_tokens, dtype=opts.dtype)
    return ServerState(pool, store, Keys(own, store.key_hashes), opts.max_tokens, opts.max_body,
                       opts.max_queue_tokens, version=version.name if version else None)


def make_app(opts: ServeOptions) -> Any:
    state = build_state(opts)
    if opts.host not in ("127.0.0.1", "localhost", "::1") and not state.keys.required:
        print(f"warning: serving on {opts.host} without API keys: anyone who can reach it can use it "
              "(pass --api-key-env VAR or --api-key-file PATH, or create keys with `ils keys create`)",
              file=sys.stderr)
    return create_app(state, on_start=_on_hup)


def _on_hup(state: ServerState) -> None:
    """SIGHUP reloads the store's current version (main thread only; ignored elsewhere)."""
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload_model(state)))
    except (RuntimeError, ValueError, NotImplementedError):
        pass


def serve(opts: ServeOptions, sock: socket.socket | None = None) -> None:
    import uvicorn

    app = make_app(opts)
    config = uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning",
                            timeout_graceful_shutdown=30)
    server = uvicorn.Server(config)
    print(f"ils serve: http://{opts.host}:{opts.port}/ models: {', '.join(app.state.ils.pool.ids())}",
          file=sys.stderr, flush=True)
    if sock is None and opts.fd is not None:
        sock = socket.socket(fileno=opts.fd)
    server.run(sockets=[sock] if sock else None)
