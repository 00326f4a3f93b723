"""`ils train` under torchrun with 2 CPU processes (gloo): both ranks end with the same weights,
the data is split between them, and only rank 0 writes the run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from safetensors.torch import load_file

from ils.config import LoraOptions, TrainConfig

WORKER = textwrap.dedent("""
    import json, os, sys
    from safetensors.torch import save_file
    from ils.config import TrainConfig
    import ils.train.loop as loop
    from ils.train.methods import trainable_state

    rank, out = int(os.environ["RANK"]), sys.argv[2]
    cfg = TrainConfig.model_validate_json(sys.argv[1])
    root, writes, real_replace = os.path.abspath(cfg.output), [], os.replace

    def spy(src, dst, *a, **k):  # every atomic write ends in os.replace
        if os.path.abspath(dst).startswith(root):
            writes.append(str(dst))
        return real_replace(src, dst, *a, **k)

    os.replace = spy
    original_finish = loop._finish

    def finish(s, p):
        state = {k: v.contiguous() for k, v in trainable_state(s.model).items()}
        save_file(state, f"{out}/rank{rank}.safetensors")
        json.dump({"world": s.accelerator.num_processes, "total_steps": s.total_steps},
                  open(f"{out}/session{rank}.json", "w"))
        original_finish(s, p)

    loop._finish = finish
    loop.train(cfg)
    json.dump(writes, open(f"{out}/writes{rank}.json", "w"))
""")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_train_the_same_model(tiny_llama, toy_data, tmp_path):
    cfg = TrainConfig(model=str(tiny_llama), data=str(toy_data), output=str(tmp_path / "run"), epochs=1,
                      batch_size=4, lr=1e-2, warmup_steps=1, eval_every=3, save_every=3, bf16=False,
                      lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           str(tmp_path / "worker.py"), cfg.model_dump_json(), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, env=env, cwd=tmp_path, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]

    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    session = json.loads((tmp_path / "session0.json").read_text())
    assert session == {"world": 2, "total_steps": 6}  # 48 records / 4 per batch / 2 processes
    assert json.loads((tmp_path / "writes1.json").read_text()) == []
    run = Path(cfg.output)
    assert json.loads((tmp_path / "writes0.json").read_text())
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, 7))  # logged once, by rank 0
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run / "ils.json").read_text())["status"] == "done"
