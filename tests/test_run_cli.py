"""``ils run`` end to end on the tiny model: dry run, a real run, and a clear error on binary input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ils.cli import app
from ils.errors import InputError
from ils.tasks.longinput import make_case


def test_ils_run_dry_run_then_run(tmp_path, tiny_llama):
    case = make_case("passkey", 300, seed=1)
    doc = case.write(tmp_path / "doc.txt")
    base = ["run", case.instruction, "-i", str(doc), "-m", str(tiny_llama), "--plan", "map-reduce",
            "--answer", "value", "-o", str(tmp_path / "out")]
    dry = CliRunner().invoke(app, base + ["--dry-run"])
    assert dry.exit_code == 0, dry.output
    survey = json.loads(dry.stdout)
    assert survey["total_calls"] == survey["chunks"] >= 2 and not (tmp_path / "out" / "cache.jsonl").exists()
    done = CliRunner().invoke(app, base)
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["chunks"] == survey["chunks"] and result["calls"] >= result["chunks"]


def test_ils_run_refuses_binary_input(tmp_path, tiny_llama):
    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 4)
    res = CliRunner().invoke(app, ["run", "x", "-i", str(tmp_path / "x.bin"), "-m", str(tiny_llama)])
    assert isinstance(res.exception, InputError) and "binary" in str(res.exception)
