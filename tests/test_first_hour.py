"""A new user's first hour, as three tests: data of three shapes nobody wrote ILS for, taken through
`ils data build`, `ils train` and `ils eval` with configs written from docs/tasks.md and docs/config.md
alone (the option names below are the ones those pages give). No hand-written script, no traceback,
no guessed option: where a first attempt is wrong, the error names what to set.

1. NER: two-column IOB2 files with entity types CoNLL does not have; the default encoder's token head.
2. NLI: JSON lines with sentence1, sentence2, gold_label (SNLI's layout, '-' rows included); the
   sequence head on the sentence pair.
3. Dialogue summarization: train dialogues with one summary, test dialogues with three; LoRA on a
   causal LM, ROUGE against the best of the three.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from cli_helpers import ils

CHEMS, DISEASES = ["aspirin", "ibuprofen", "insulin"], ["asthma", "gout", "flu"]


# Toy sentences repeat far more than real ones; without this line the build's dedup drops most of them.
NO_DEDUP = "dedup: {exact: false, near: false}\n"


def _ok(*args: object) -> str:
    status, text = ils(*args)
    assert status == 0 and "Traceback" not in text, text
    return text


def _ner_file(path: Path, n: int, seed: int) -> Path:
    rng, blocks = random.Random(seed), []
    for _ in range(n):
        words = [(rng.choice(CHEMS), "B-CHEM"), ("eases", "O"), (rng.choice(DISEASES), "B-DISEASE"), (".", "O")]
        blocks.append("\n".join(f"{w}\t{t}" for w, t in words))
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def test_ner_with_new_entity_types_on_the_encoder(tiny_bert, tmp_path, capfd):
    for split, n in (("train", 48), ("dev", 12), ("test", 12)):
        _ner_file(tmp_path / f"{split}.txt", n, {"train": 0, "dev": 1, "test": 2}[split])
    build = tmp_path / "build.yaml"
    sources = "".join(f"  - {{task: ner, path: {f}.txt, split: {s}{{opts}}}}\n"
                      for f, s in (("train", "train"), ("dev", "validation"), ("test", "test")))
    build.write_text(NO_DEDUP + "sources:\n" + sources.replace("{opts}", ""))
    status, text = ils("data", "build", build, "-o", tmp_path / "ds")  # first try: types not declared
    assert status == 2 and "unknown entity type 'CHEM'" in text and "`labels: [...]`" in text
    assert len(text.splitlines()) < 20 and "more records of" in text  # counted, not one line per sentence
    build.write_text(NO_DEDUP + "sources:\n" + sources.replace("{opts}", ", options: {labels: [CHEM, DISEASE]}"))
    _ok("data", "build", build, "-o", tmp_path / "ds")
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: {tiny_bert}\ndata: {tmp_path / 'ds'}\noutput: {tmp_path / 'run'}\nhead: {{kind: auto}}\n"
                   f"method: full\nlr: 0.01\nmax_steps: 30\neval_every: 15\nmax_length: 64\nbf16: false\n"
                   f"eval: {{test: {tmp_path / 'ds'}}}\n")
    text = _ok("train", cfg)
    assert "ner per class" in text and "CHEM" in text and "DISEASE" in text
    run = tmp_path / "run"
    report = json.loads((run / "eval" / "report.json").read_text())["modes"][str(run)]["tasks"]["ner"]
    assert set(report["per_type"]) == {"CHEM", "DISEASE"} and report["metric"] == "entity_f1"
    assert (run / "eval" / "report.html").is_file() and (run / "eval" / "1-run" / "predictions.jsonl").is_file() \
        or (run / "eval" / "0-run" / "predictions.jsonl").is_file()
    dev = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "val_score" in x]
    assert dev and dev[0]["val_metric"] == "entity_f1" and 0 <= dev[-1]["val_score"] <= 1
    from ils.io import RunDir
    from ils.train.log import loss_unit

    assert loss_unit(RunDir(run)) == "tagged word"
    text = _ok("eval", tmp_path / "ds", "--compare", run, "-o", tmp_path / "ev")
    assert "ner" in text and (tmp_path / "ev" / "report.html").is_file()
    assert "LOAD REPORT" not in capfd.readouterr().err


def _nli_rows(n: int, seed: int) -> list[dict]:
    rng, rows = random.Random(seed), []
    for i in range(n):
        who, place = rng.choice(["peter", "mary"]), rng.choice(["paris", "london"])
        label = rng.choice(["entailment", "contradiction", "neutral"])
        hyp = {"entailment": f"{who} is in {place} .", "contradiction": f"{who} is not in {place} .",
               "neutral": f"{who} works in the city ."}[label]
        rows.append({"sentence1": f"{who} sat in the park in {place} .", "sentence2": hyp, "gold_label": label,
                     "captionID": f"{i // 3}.jpg"})
    rows.append({"sentence1": "the cat sat .", "sentence2": "a dog ran .", "gold_label": "-", "captionID": "x"})
    return rows


def test_nli_jsonl_on_the_sentence_pair_head(tiny_bert, tmp_path):
    for split, n in (("train", 60), ("dev", 12), ("test", 12)):
        rows = _nli_rows(n, {"train": 0, "dev": 1, "test": 2}[split])
        (tmp_path / f"snli_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build = tmp_path / "build.yaml"
    srcs = [("snli_train", "train"), ("snli_dev", "validation"), ("snli_test", "test")]
    build.write_text(NO_DEDUP + "sources:\n" + "".join(f"  - {{task: nli, path: {f}.jsonl, split: {s}}}\n"
                                                       for f, s in srcs))
    status, text = ils("data", "build", build, "-o", tmp_path / "ds")  # first try: columns not mapped
    assert status == 2 and text.count("map your column with `premise_column:`") == 1, text
    opts = "{premise_column: sentence1, hypothesis_column: sentence2, label_column: gold_label, group_column: captionID}"
    build.write_text(NO_DEDUP + "sources:\n" + "".join(
        f"  - {{task: nli, path: {f}.jsonl, split: {s}, options: {opts}}}\n" for f, s in srcs))
    status, text = ils("data", "build", build, "-o", tmp_path / "ds")  # SNLI's '-' rows
    assert status == 2 and "unknown label '-'" in text and "--skip-invalid" in text
    _ok("data", "build", build, "-o", tmp_path / "ds", "--skip-invalid")
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: {tiny_bert}\ndata: {tmp_path / 'ds'}\noutput: {tmp_path / 'run'}\nhead: {{kind: auto}}\n"
                   f"method: full\nlr: 0.003\nmax_steps: 20\neval_every: 10\nmax_length: 64\nbf16: false\n"
                   f"eval: {{test: {tmp_path / 'ds'}}}\n")
    text = _ok("train", cfg)
    assert "nli per class" in text
    info = json.loads((tmp_path / "run" / "ils.json").read_text())
    assert info["head"]["kind"] == "sequence" and info["tasks"] == ["nli"]
    report = json.loads((tmp_path / "run" / "eval" / "report.json").read_text())
    nli = next(iter(report["modes"].values()))["tasks"]["nli"]
    assert set(nli["per_label"]) <= {"entailment", "neutral", "contradiction"} and nli["n"] == 12
    assert list((tmp_path / "run" / "eval" / "charts").glob("confusion_*.png"))


def test_the_pair_goes_through_the_tokenizers_pair_encoding(tiny_bert):
    from ils.models.heads import HeadSpec, get_head
    from ils.models.loading import load_tokenizer
    from ils.records import Example
    from ils.tasks import get_task

    ex = Example.from_alpaca("x", "", "entailment", task="nli", answer="entailment",
                             meta={"fields": {"premise": "peter sat .", "hypothesis": "peter is in paris ."}})
    head_in = get_task("nli").head_input(ex)
    assert head_in == {"text": "peter sat .", "text_pair": "peter is in paris .", "label": "entailment"}
    tok = load_tokenizer(tiny_bert)
    ids, _, types = get_head("sequence").encode([head_in], tok, HeadSpec("sequence", ["entailment"], 64))[0]
    assert tok.convert_ids_to_tokens(ids).count("[SEP]") == 2
    assert types == [0] * 5 + [1] * 6  # [CLS] peter sat . [SEP] | peter is in paris . [SEP]


def test_dialogue_summaries_with_three_references(tiny_llama, tmp_path):
    dialogues = [f"#Person1#: Did you see {x}?\n#Person2#: Yes, at noon." for x in
                 ("Ann", "Ben", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu")]
    train = [{"dialogue": d, "summary": f"They saw {d.split()[4][:-1]}."} for d in dialogues[:8]]
    test = [{"dialogue": d, **{f"summary{i}": f"{i}: They saw {d.split()[4][:-1]} at noon." for i in (1, 2, 3)}}
            for d in dialogues[8:]]
    for name, rows in (("train", train), ("test", test)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build = tmp_path / "build.yaml"
    build.write_text(NO_DEDUP + "sources:\n"
                     "  - {task: summarization, path: train.jsonl, split: train, limit: 6,\n"
                     "     options: {document_column: dialogue, summary_column: summary}}\n"
                     "  - {task: summarization, path: test.jsonl, split: test,\n"
                     "     options: {document_column: dialogue, summary_column: [summary1, summary2, summary3]}}\n")
    _ok("data", "build", build, "-o", tmp_path / "ds")
    train_rows = [json.loads(x) for x in (tmp_path / "ds" / "train.jsonl").read_text().splitlines()]
    test_rows = [json.loads(x) for x in (tmp_path / "ds" / "test.jsonl").read_text().splitlines()]
    assert len(train_rows) == 6  # limit: stops reading
    assert all(len(r["answer"]) == 3 and r["answer"][0].startswith("1: ") for r in test_rows)
    prompts = " ".join(m["content"] for r in train_rows + test_rows for m in r["messages"] if m["role"] == "user")
    assert "article" not in prompts and "document" not in prompts
    assert all("dialogue" in r["messages"][0]["content"] or "TL;DR" in r["messages"][0]["content"]
               for r in train_rows + test_rows)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: {tiny_llama}\ndata: {tmp_path / 'ds'}\noutput: {tmp_path / 'run'}\nmax_steps: 3\n"
                   f"lora: {{r: 4}}\nbf16: false\neval: {{test: {tmp_path / 'ds'}, max_new_tokens: 8}}\n")
    text = _ok("train", cfg)
    assert "summarization" in text and "rouge" in text and "overall" not in text
    report = json.loads((tmp_path / "run" / "eval" / "report.json").read_text())
    assert all("overall" not in rep and rep["tasks"]["summarization"]["metric"] == "rouge"
               for rep in report["modes"].values())
    assert (tmp_path / "run" / "eval" / "report.html").is_file()
