"""Readers for the raw formats tasks come in: tables (TSV/CSV/JSONL/JSON), CoNLL columns, SQuAD.

Each yields ``RawRecord`` or, for a bad record, the ``RecordError`` saying where and why, so the
build can stop on the first error or drop the record with its reason (``--skip-invalid``).
A problem with a whole file (no such file, a missing column in the header) is raised at once.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks.base import RawRecord

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")


def table_rows(path: str | Path) -> Iterator[tuple[int, Any, list[str] | None]]:
    """(line, row, header) of a TSV/CSV (header from the first line), JSONL or JSON list file."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        yield from _delimited(path, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    yield n, _json_or_error(line, path, n), None
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for n, row in enumerate(data if isinstance(data, list) else data.get("data", []), 1):
            yield n, row, None
    else:
        raise RecordError(str(path), None, "file", "unknown extension; use .tsv, .csv, .jsonl or .json")


def _delimited(path: Path, delim: str) -> Iterator[tuple[int, Any, list[str] | None]]:
    # GLUE TSVs are not quoted: a '"' inside a sentence is text, not a quote.
    quoting = csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delim, quoting=quoting)
        header = list(reader.fieldnames or [])
        for row in reader:
            yield reader.line_num, row, header


def _json_or_error(line: str, path: Path, n: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        return RecordError(str(path), n, "json", f"not valid JSON ({e.msg} at column {e.colno})")


def read_table(path: str | Path, columns: dict[str, str], optional: tuple[str, ...] = (),
               group_column: str | None = None) -> Iterator[RawRecord | RecordError]:
    """Map each row's ``columns`` (field → column name) onto task fields."""
    checked = False
    for line, row, header in table_rows(path):
        if not checked and header is not None:
            _check_header(path, header, columns, optional)
        checked = True
        yield row if isinstance(row, RecordError) else _table_record(path, line, row, columns,
                                                                      optional, group_column)


def _check_header(path: str | Path, header: list[str], columns: dict[str, str],
                  optional: tuple[str, ...]) -> None:
    for field, col in columns.items():
        if col not in header and field not in optional:
            raise RecordError(str(path), 1, col, f"missing column (the header has: {', '.join(header)})")


def _table_record(path: str | Path, line: int, row: Any, columns: dict[str, str],
                  optional: tuple[str, ...], group_column: str | None) -> RawRecord | RecordError:
    if not isinstance(row, dict):
        return RecordError(str(path), line, "record", "not an object")
    fields: dict[str, Any] = {}
    for field, col in columns.items():
        value = row.get(col)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field in optional:
                continue
            return RecordError(str(path), line, col, "missing" if value is None else "empty")
        fields[field] = value
    group = str(row.get(group_column)) if group_column and row.get(group_column) is not None else None
    return RawRecord(fields, str(path), line, group)
