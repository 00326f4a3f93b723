"""ils export --gguf and the llamacpp engine on the tiny model: llama.cpp's converter and quantizer write
the file, llama.cpp loads it, and its greedy answers, option scores and token counts match the hf engine."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import toy_examples
from test_export import make_run
from typer.testing import CliRunner

from ils.cli import app
from ils.export import ExportError, export
from ils.infer.engines import load_engine
from ils.infer.protocol import EngineError, Sampling

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (make install builds it from source; flags in docs/export.md)")


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_llama):
    from ils.records import write_examples

    root = tmp_path_factory.mktemp("gguf")
    write_examples(root / "data" / "train.jsonl", toy_examples(48))
    write_examples(root / "data" / "validation.jsonl", toy_examples(8, seed=1))
    return make_run(tiny_llama, root / "data", root / "run", "lora", steps=4)


@pytest.fixture(scope="module")
def f32(lora_run, tmp_path_factory):
    return export(lora_run, tmp_path_factory.mktemp("f32") / "model.gguf", "gguf", quant="f32")["path"]


def file_type(path) -> int:
    from gguf import GGUFReader

    return int(GGUFReader(path).fields["general.file_type"].parts[-1][0])


def prompts() -> list[list[dict]]:
    return [ex.prompt_messages for ex in toy_examples(6, seed=2)] + [[{"role": "user", "content": "hello"}]]


def test_llama_cpp_answers_scores_and_counts_like_hf(f32, lora_run):
    hf, cpp = load_engine(str(lora_run), "hf"), load_engine(f32, "llamacpp")
    s = Sampling(max_new_tokens=12)
    assert [c.text for c in cpp.generate(prompts(), s)] == [c.text for c in hf.generate(prompts(), s)]
    assert [cpp.count_tokens(p) for p in prompts()] == [hf.count_tokens(p) for p in prompts()]
    options = [["5", "12", " nine"]] * len(prompts())
    for mine, theirs in zip(cpp.score(prompts(), options), hf.score(prompts(), options)):
        assert mine == pytest.approx(theirs, rel=1e-3, abs=2e-3)  # f32 in both, summed in another order
    assert cpp.context == 256  # the tiny model's trained context, not the 8192 asked for
    cpp.close()


def test_finish_reasons_stop_strings_and_streaming(f32):
    cpp = load_engine(f32, "llamacpp")
    free = cpp.generate(prompts()[:1], Sampling(max_new_tokens=6))[0]
    assert free.finish_reason == "length" and free.completion_tokens == 6 and free.prompt_tokens > 5
    stop = free.text[2:4]
    cut = cpp.generate(prompts()[:1], Sampling(max_new_tokens=6, stop=(stop,)))[0]
    assert cut.finish_reason == "stop" and cut.text == free.text[: free.text.index(stop)]
    pieces: list[tuple[int, str]] = []
    streamed = cpp.generate(prompts()[:2], Sampling(max_new_tokens=6),
                            on_text=lambda i, t: pieces.append((i, t)))
    assert "".join(t for i, t in pieces if i == 0) == streamed[0].text == free.text
    assert pieces[-1] == (1, "")
    assert "".join(cpp.stream(prompts()[0], Sampling(max_new_tokens=6))) == free.text
    with pytest.raises(EngineError, match="adapter 'toy' cannot be applied"):
        cpp.generate(prompts()[:1], adapter="toy")
    cpp.close()


def test_quantized_files_are_what_llama_cpp_calls_them(lora_run, tmp_path, f32):
    import os

    q8 = export(lora_run, tmp_path / "q8.gguf", "gguf", quant="q8_0")
    q4 = export(lora_run, tmp_path / "q4.gguf", "gguf", quant="Q4_K_M")
    assert (file_type(f32), file_type(q8["path"]), file_type(q4["path"])) == (0, 7, 15)  # llama_ftype ids
    assert q8["bytes"] < os.path.getsize(f32) / 2
    cpp = load_engine(q4["path"], "llamacpp")
    assert cpp.generate(prompts()[:1], Sampling(max_new_tokens=3))[0].completion_tokens >= 1
    cpp.close()


def test_unknown_quant_and_bad_models_are_clear_errors(lora_run, tmp_path):
    unknown = r"--quant 'q9_x': llama.cpp does not know this type; known: .*q4_k_m"
    with pytest.raises(ExportError, match=unknown):
        export(lora_run, tmp_path / "x.gguf", "gguf", quant="q9_x")
    with pytest.raises(ExportError, match="only with an importance matrix"):
        export(lora_run, tmp_path / "x.gguf", "gguf", quant="iq2_xxs")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(EngineError, match=r"is a run folder.*ils export"):
        load_engine(str(lora_run), "llamacpp")
    with pytest.raises(EngineError, match=r"needs a \.gguf file"):
        load_engine(str(tmp_path / "none.gguf"), "llamacpp")


def test_cli_gguf(lora_run, tmp_path):
    result = CliRunner().invoke(app, ["export", str(lora_run), "--gguf", "--quant", "f16", "-o",
                                      str(tmp_path / "m.gguf")])
    assert result.exit_code == 0, result.output
    assert "GGUF f16" in result.output and file_type(tmp_path / "m.gguf") == 1
