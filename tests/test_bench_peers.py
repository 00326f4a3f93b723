"""The vLLM peer harness (bench/peers) without vLLM: its command, environment, version shim, process-group
stop, start-up failure report, and the streaming client against a scripted SSE server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from peers import load  # noqa: E402
from peers import vllm as peer  # noqa: E402


def test_parse_cpus_lists_and_ranges():
    assert peer.parse_cpus("0") == [0]
    assert peer.parse_cpus("0-2,5") == [0, 1, 2, 5]
    assert peer.parse_cpus([1, 0]) == [0, 1]
    assert peer.parse_cpus(None) == sorted(os.sched_getaffinity(0))


def test_env_binds_the_first_threads_cpus_and_leaves_the_rest():
    env = peer.server_env([0, 1], threads=1, kv_cache_gib=2)
    assert (env["VLLM_CPU_OMP_THREADS_BIND"], env["OMP_NUM_THREADS"]) == ("0", "1")
    assert env["VLLM_TARGET_DEVICE"] == "cpu" and env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert peer.server_env([2, 3], threads=None, kv_cache_gib=1)["VLLM_CPU_OMP_THREADS_BIND"] == "2,3"


def test_more_threads_than_cpus_is_refused():
    with pytest.raises(peer.PeerError, match="threads=3"):
        peer.server_env([0, 1], threads=3, kv_cache_gib=1)


def test_server_cmd_serves_the_folder_under_a_name(tmp_path):
    cmd = peer.server_cmd(tmp_path / "venv", tmp_path / "model", 8123, "default", 16, "float32",
                          ["--enforce-eager"])
    assert cmd[:3] == [str(tmp_path / "venv" / "bin" / "vllm"), "serve", str(tmp_path / "model")]
    text = " ".join(cmd)
    assert "--served-model-name default" in text and "--host 127.0.0.1 --port 8123" in text
    assert "--dtype float32" in text and "--max-num-seqs 16" in text and cmd[-1] == "--enforce-eager"


def test_server_cmd_leaves_vllm_defaults_when_asked(tmp_path):
    cmd = peer.server_cmd(tmp_path, tmp_path / "model", 8123, "default", None, None, [])
    assert "--dtype" not in cmd and "--max-num-seqs" not in cmd


def test_shim_registers_a_cpu_vllm_version_and_replaces_an_old_one(tmp_path):
    peer.write_shim(tmp_path, "0.31.0")
    info = peer.write_shim(tmp_path, "0.32.0")
    assert [p.name for p in tmp_path.iterdir()] == [info.name]
    dist = PathDistribution(info)
    assert (dist.metadata["Name"], dist.version) == ("vllm", "0.32.0+cpu")
    assert sorted(f.name for f in dist.files) == ["INSTALLER", "METADATA", "RECORD"]


def test_stop_ends_the_whole_process_group(tmp_path):
    child = ("import subprocess, time; subprocess.Popen(['sleep', '300']); print('up', flush=True); "
             "time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", child], start_new_session=True, stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"  # the grandchild exists before we stop
    peer.stop(proc, grace=5)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_a_server_that_dies_at_start_reports_its_log_tail(tmp_path):
    log = tmp_path / "vllm.log"
    cmd = [sys.executable, "-c", "print('PackageNotFoundError: vllm'); raise SystemExit(3)"]
    proc = peer._launch(cmd, dict(os.environ), sorted(os.sched_getaffinity(0)), log)
    with pytest.raises(peer.PeerError, match="(?s)exited with 3.*PackageNotFoundError: vllm"):
        peer._wait_ready(proc, "http://127.0.0.1:9/v1", timeout=60, log=log)


class ScriptedSSE(BaseHTTPRequestHandler):
    """Answers every chat request with a role chunk, one chunk per token, a usage chunk and [DONE]."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ScriptedSSE.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        events = [{"choices": [{"delta": {"role": "assistant", "content": ""}}]}]
        events += [{"choices": [{"delta": {"content": f" t{i}"}}]} for i in range(body["max_tokens"])]
        events += [{"choices": [], "usage": {"completion_tokens": body["max_tokens"]}}]
        for e in events:
            self.wfile.write(f"data: {json.dumps(e)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def sse_url():
    ScriptedSSE.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedSSE)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_stream_chat_counts_content_chunks_and_usage(sse_url):
    r = load.stream_chat(sse_url, "default", "hi", max_tokens=5)
    assert (r["text"], r["chunks"], r["completion_tokens"]) == (" t0 t1 t2 t3 t4", 5, 5)
    assert ScriptedSSE.bodies[0]["ignore_eos"] is True and ScriptedSSE.bodies[0]["stream"] is True


def test_run_clients_sums_every_answer(sse_url):
    r = load.run_clients(sse_url, "default", clients=4, max_tokens=3)
    got = (r["clients"], r["completion_tokens"], r["chunks_per_answer"], r["tokens_per_answer"])
    assert got == (4, 12, 3, 3)
    assert sorted(b["messages"][0]["content"] for b in ScriptedSSE.bodies) == sorted(load.PROMPTS[:4])
