"""The references a user reads are generated from the code: docs/tasks.md and docs/config.md match what
`ils data tasks --markdown` and `ils config fields --markdown` write, every config field has a line of
help, `--help` of every command with a config lists its fields, and every data task's worked example
(raw file + build config, as docs/tasks.md shows them) builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli_helpers import ils
from ils.config import config_fields
from ils.data.build import build_dataset
from ils.reference import config_models, config_reference, data_tasks, task_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_committed_task_reference_is_up_to_date():
    assert (DOCS / "tasks.md").read_text() == task_reference(), "run: ils data tasks --markdown > docs/tasks.md"


def test_committed_config_reference_is_up_to_date():
    assert (DOCS / "config.md").read_text() == config_reference(), \
        "run: ils config fields --markdown > docs/config.md"


@pytest.mark.parametrize("kind", ["train", "loop", "build"])
def test_every_config_field_says_what_it_does(kind):
    model = config_models()[kind][0]
    assert [name for name, _, _, what in config_fields(model) if not what.strip()] == []


def test_every_data_task_documents_its_options_and_answer():
    for task in data_tasks():
        assert task.about and task.answer_doc and task.example, task.name
        undocumented = sorted(task.known_options() - set(task.option_help))
        assert undocumented == [], (task.name, undocumented)


@pytest.mark.parametrize("task", [t.name for t in data_tasks()])
def test_the_documented_example_builds(task, tmp_path):
    """Each task's example file and config, exactly as docs/tasks.md shows them."""
    from ils.tasks import get_task

    ex = get_task(task).example
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ex["file"]).write_text(ex["content"])
    section = task_reference([task])
    config = section.split("```yaml\n")[1].split("```")[0]
    (tmp_path / "build.yaml").write_text(config + "splits: {train: 1.0, validation: 0.0, test: 0.0}\n")
    out = build_dataset(tmp_path / "build.yaml", tmp_path / "ds", skip_invalid=True, progress=False)
    assert (out / "train.jsonl").read_text().strip()


@pytest.mark.parametrize("command,fields", [(["train"], ["--lr float (default 0.0002)", "--lora.r int (default 16)",
                                                         "--head.pooling cls | mean", "--group_by_length bool"]),
                                            (["loop"], ["--regression str (required)", "--tolerance float"]),
                                            (["data", "build"], ["sources[].limit", "splits.train float"])])
def test_help_of_a_command_with_a_config_lists_its_fields(command, fields):
    status, text = ils(*command, "--help")
    flat = " ".join(text.split())
    assert status == 0 and all(f in flat for f in fields), text


def test_config_show_fills_defaults_and_validate_checks_names(tmp_path, tiny_llama, toy_data):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"model: {tiny_llama}\ndata: {tmp_path}/nowhere\nmethod: lora\n")
    status, text = ils("config", "show", cfg, "--lr", "1e-3")
    shown = yaml.safe_load(text.split("\n", 1)[1])
    assert status == 0 and shown["lr"] == 0.001 and shown["lora"]["r"] == 16 and shown["batch_size"] == 8
    status, text = ils("config", "validate", cfg)
    assert status == 2 and "data: " in text and "not found" in text
    cfg.write_text(f"model: {tiny_llama}\ndata: {toy_data}\nmethod: lorra\n")
    status, text = ils("config", "validate", cfg)
    assert status == 2 and "unknown method 'lorra'" in text
    cfg.write_text(f"model: {tiny_llama}\ndata: {toy_data}\n")
    assert ils("config", "validate", cfg) == (0, f"{cfg}: a valid train config\n")


def test_config_validate_refuses_an_option_the_task_does_not_read(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n')
    cfg = tmp_path / "b.yaml"
    cfg.write_text("sources:\n  - task: nli\n    path: d.jsonl\n    options: {premise_col: sentence1}\n")
    status, text = ils("config", "validate", cfg)
    assert status == 2 and f"{cfg}:4: sources.0.options.premise_col: task 'nli' has no such option" in text
    assert "premise_column" in text
    cfg.write_text("sources:\n  - task: nli\n    path: d.jsonl\n    options: {premise_column: sentence1, "
                   "hypothesis_column: sentence2, label_column: gold_label}\n")
    assert ils("config", "validate", cfg) == (0, f"{cfg}: a valid build config\n")


def test_data_tasks_prints_one_task(tmp_path):
    status, text = ils("data", "tasks", "nli")
    assert status == 0 and "## nli" in text and "premise_column" in text and "## ner" not in text
