"""Append-only JSONL state, so that a crash loses at most the line being written.

Each line is flushed and fsynced as it is written; on restart a torn last line (a crash mid-write)
is ignored and cut off, so the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        rows, good = [], 0
        with open(self.path, "rb") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    break  # a torn last line: everything after it is dropped
                if not line.endswith(b"\n"):
                    rows.pop()
                    break
                good += len(line)
        if good < self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)
        return rows

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
