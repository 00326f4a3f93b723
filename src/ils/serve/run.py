"""Build a server from options and run it with uvicorn (``ils serve``)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from ils.errors import ILSError
from ils.serve.app import ServerState, create_app, reload_model
from ils.serve.auth import Keys, sha256
from ils.serve.pool import load_pool
from ils.store import open_store


@dataclass
class ServeOptions:
    model: str | None = None  # None: the store's current version, else "default"
    adapters: dict[str, str] = field(default_factory=dict)
    db: str | None = None
    api_keys: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    batch_size: int = 64  # most sequences the engine runs at once
    kv_tokens: int | None = None  # KV cache budget in tokens (default: 2 GiB worth)
    max_queue_tokens: int = 1 << 17  # prompt + max_tokens of all requests waiting for the engine
    dtype: str = "auto"
    max_tokens: int = 128
    max_body: int = 1 << 20
    fd: int | None = None  # serve on an already-bound socket (tests, socket activation)


def parse_adapters(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        name, eq, path = spec.partition("=")
        if not eq or not name or not path:
            raise ILSError(f"--adapter {spec!r}: expected NAME=RUN_DIR")
        out[name] = path
    return out


def build_state(opts: ServeOptions) -> ServerState:
    store = open_store(opts.db)
    version = store.current_version() if opts.model is None else None
    ref = opts.model or (version.run_dir if version else "default")
    pool = load_pool(ref, opts.adapters, batch_size=opts.batch_size, kv_tokens=opts.kv_tokens, dtype=opts.dtype)
    keys = Keys({sha256(k): None for k in opts.api_keys} | store.key_hashes())
    return ServerState(pool, store, keys, opts.max_tokens, opts.max_body, opts.max_queue_tokens,
                       version=version.name if version else None)


def make_app(opts: ServeOptions) -> Any:
    state = build_state(opts)
    if opts.host not in ("127.0.0.1", "localhost", "::1") and not state.keys.required:
        print(f"warning: serving on {opts.host} without API keys: anyone who can reach it can use it "
              "(pass --api-key or create keys with `ils keys create`)", file=sys.stderr)
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
