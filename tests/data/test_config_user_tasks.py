"""Config loading (relative paths, errors with line numbers) and user task folders via ILS_TASKS_PATH."""

import pytest

from ils.data.build import build_dataset
from ils.data.config import load_config
from ils.errors import ConfigError
from ils.tasks import TASKS, get_task


def test_relative_paths_follow_the_config_file(tmp_path):
    (tmp_path / "cfg").mkdir()
    cfg_file = tmp_path / "cfg" / "b.yaml"
    cfg_file.write_text("sources:\n  - {task: sentiment, path: ../d/s.tsv}\n")
    cfg, _ = load_config(cfg_file)
    assert cfg.sources[0].path == str(tmp_path / "cfg" / "../d/s.tsv")


def test_config_errors_name_the_line(tmp_path):
    cfg_file = tmp_path / "b.yaml"
    cfg_file.write_text("sources:\n  - {task: sentiment, path: s.tsv}\nsplits:\n  train: 0.9\n  test: 0.5\n")
    with pytest.raises(ConfigError, match=r"b.yaml:4: splits: train \+ validation \+ test must be 1"):
        load_config(cfg_file)
    cfg_file.write_text("sources:\n  - {task: sentiment, path: s.tsv, wieght: 2}\n")
    with pytest.raises(ConfigError, match=r"b.yaml:2: sources.0.wieght: Extra inputs are not permitted"):
        load_config(cfg_file)


def test_python_task_file_from_env_folder(tmp_path, monkeypatch):
    folder = tmp_path / "mytasks"
    folder.mkdir()
    (folder / "yesno.py").write_text(
        "from ils.tasks import TASKS\nfrom ils.tasks.classification import ClassificationTask\n"
        "class YesNo(ClassificationTask):\n    name = 'yesno_env'\n    labels = ('no', 'yes')\n"
        "TASKS.add(YesNo())\n")
    monkeypatch.setenv("ILS_TASKS_PATH", str(folder))
    try:
        assert get_task("yesno_env").parse("Yes.") == "yes"
        data = tmp_path / "d.jsonl"
        data.write_text('{"text": "is water wet", "label": "yes"}\n{"text": "is fire cold", "label": "no"}\n')
        cfg = {"sources": [{"task": "yesno_env", "path": str(data)}]}
        out = build_dataset(cfg, tmp_path / "ds", progress=False)
        assert (out / "train.jsonl").exists()
    finally:
        TASKS.remove("yesno_env")
