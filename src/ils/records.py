"""The one instruction record, ``Example``, and its readers and writers.

Canonical form is a chat (``messages``); Alpaca (instruction/input/output), ShareGPT
(conversations: from/value) and OpenAI (messages: role/content) map onto it on read and back on
write. Files are JSONL, JSON, CSV or Parquet; the layout is detected per record. Preference rows
(``chosen``/``rejected``, or ``completion`` + ``label``) in those layouts become Examples too
(``ils.preference``): the chosen answer is the target, the rejected one or the label goes in ``meta``.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ils.errors import ConfigError, DataError, RecordError
from ils.io import atomic_path, dumps, parse_json, read_text, text_lines
from ils.preference_rows import SHAREGPT_ROLES, preference_row

Role = Literal["system", "user", "assistant"]
LAYOUTS = ("alpaca", "sharegpt", "messages")
TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system"}


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Role
    content: str


class Example(BaseModel):
    """One instruction record: a conversation whose last assistant turn is the target."""

    model_config = ConfigDict(frozen=True)
    messages: tuple[Message, ...]
    task: str | None = None
    template: str | None = None
    answer: Any = None
    id: str | None = None
    source: str | None = None
    meta: dict[str, Any] = {}

    @field_validator("messages")
    @classmethod
    def _check_turns(cls, msgs: tuple[Message, ...]) -> tuple[Message, ...]:
        turns = [m for m in msgs if m.role != "system"]
        if any(m.role == "system" for m in msgs[1:]):
            raise ValueError("a system message may only come first")
        if not turns or turns[-1].role != "assistant":
            raise ValueError("the last turn must be the assistant's answer")
        for i, m in enumerate(turns):
            if m.role != ("user" if i % 2 == 0 else "assistant"):
                raise ValueError(f"turn {i + 1} should be {'user' if i % 2 == 0 else 'assistant'}")
        if not turns[-1].content.strip():
            raise ValueError("the answer is empty")
        if not turns[0].content.strip():
            raise ValueError("the instruction is empty")
        return msgs

    @classmethod
    def from_alpaca(cls, instruction: str, input: str = "", output: str = "", **kw: Any) -> "Example":
        user = instruction if not input else f"{instruction}\n\n{input}"
        msgs = [Message(role="user", content=user), Message(role="assistant", content=output)]
        system = kw.pop("system", None)
        if system:
            msgs.insert(0, Message(role="system", content=system))
        return cls(messages=tuple(msgs), meta={"input": input, **kw.pop("meta", {})}, **kw)

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """The conversation up to (not including) the target turn, as plain dicts."""
        return [m.model_dump() for m in self.messages[:-1]]

    @property
    def response(self) -> str:
        return self.messages[-1].content

    @property
    def instruction(self) -> str:
        return next(m.content for m in self.messages if m.role == "user")


# ---------------------------------------------------------------- layouts: dict <-> Example

META_KEYS = ("task", "template", "answer", "id", "source", "meta")


def detect_layout(row: dict) -> str:
    if "chosen" in row or "rejected" in row:
        return "preference"
    if "completion" in row and "label" in row:
        return "kto"
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row or "output" in row:
        return "alpaca"
    raise ValueError("no 'messages', 'conversations' or 'instruction'/'output' field")


def from_row(row: dict) -> Example:
    """Turn one parsed row of any layout into an Example (raises ValueError/ValidationError)."""
    layout = detect_layout(row)
    extra = {k: row[k] for k in META_KEYS if row.get(k) not in (None, "")}
    for key in ("answer", "meta"):
        if _non_finite(extra.get(key)):
            raise _FieldError(key, "NaN or infinity is not a JSON value (use null or a string)")
    if layout == "alpaca":
        return _from_alpaca_row(row, extra)
    if layout in ("preference", "kto"):
        try:
            return Example.model_validate(preference_row(row, layout, extra))
        except KeyError as e:
            raise _FieldError(str(e.args[0]), "missing") from None
        except ValueError as e:
            field, _, reason = str(e).partition(": ")
            raise _FieldError(field, reason or str(e)) from None
    msgs = row[layout if layout == "messages" else "conversations"]
    if not isinstance(msgs, list):
        raise _FieldError(layout if layout == "messages" else "conversations", "not a list of turns")
    if layout == "sharegpt":
        msgs = [_sharegpt_turn(t) for t in msgs]
    if row.get("system"):
        msgs = [{"role": "system", "content": row["system"]}, *msgs]
    return Example.model_validate({"messages": msgs, **extra})


def _non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return True
        if isinstance(v, (list, tuple, dict)):
            stack.extend(v.values() if isinstance(v, dict) else v)
    return False


def _from_alpaca_row(row: dict, extra: dict) -> Example:
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str):
            raise _FieldError(key, "missing or not text")
        if not row[key].strip():
            raise _FieldError(key, "empty")
    inp = row.get("input") or ""
    if not isinstance(inp, str):
        raise _FieldError("input", "not text")
    meta = extra.pop("meta", {})
    return Example.from_alpaca(row["instruction"], inp, row["output"], system=row.get("system"),
                               meta=meta, **extra)


def _sharegpt_turn(turn: dict) -> dict:
    role = SHAREGPT_ROLES.get(str(turn.get("from", "")).lower())
    if role is None:
        raise _FieldError("conversations.from", f"unknown speaker {turn.get('from')!r}")
    return {"role": role, "content": turn.get("value")}


def to_row(ex: Example, layout: str) -> dict:
    """One Example as a plain dict in the given layout (metadata kept beside it)."""
    extra = {k: getattr(ex, k) for k in META_KEYS if getattr(ex, k) not in (None, {})}
    msgs = [m.model_dump() for m in ex.messages]
    if layout == "messages":
        return {"messages": msgs, **extra}
    system = [m["content"] for m in msgs if m["role"] == "system"]
    turns = [m for m in msgs if m["role"] != "system"]
    if layout == "sharegpt":
        conv = [{"from": TO_SHAREGPT[m["role"]], "value": m["content"]} for m in turns]
        return {"conversations": conv, **({"system": system[0]} if system else {}), **extra}
    if layout == "alpaca":
        extra["meta"] = {k: v for k, v in ex.meta.items() if k != "input"}
        extra = {k: v for k, v in extra.items() if v != {}}
        return {**_alpaca_fields(ex, turns), **({"system": system[0]} if system else {}), **extra}
    raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")


def _alpaca_fields(ex: Example, turns: list[dict]) -> dict:
    if len(turns) != 2:
        raise ValueError("a multi-turn conversation has no Alpaca form; use sharegpt or messages")
    user, inp = turns[0]["content"], ex.meta.get("input", "")
    if inp and user.endswith("\n\n" + inp):
        return {"instruction": user[: -len(inp) - 2], "input": inp, "output": turns[1]["content"]}
    return {"instruction": user, "input": "", "output": turns[1]["content"]}


class _FieldError(ValueError):
    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def to_record_error(file: str, line: int, exc: Exception) -> RecordError:
    """Name the field and reason of a parse/validation failure."""
    if isinstance(exc, _FieldError):
        return RecordError(file, line, exc.field, exc.reason)
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        return RecordError(file, line, loc, err["msg"].removeprefix("Value error, "))
    if isinstance(exc, KeyError):
        return RecordError(file, line, str(exc.args[0]), "missing")
    return RecordError(file, line, "record", str(exc))


# ---------------------------------------------------------------- files

@dataclass
class ReadResult:
    examples: list[Example] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    def drop_counts(self) -> Counter:
        return Counter(f"{e.field}: {e.reason}" for e in self.errors)


def iter_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line, row) for each record; line is the file line (JSONL, CSV) or record number.

    A row may be the RecordError of that line (bad JSON, NaN, nested too deeply); a problem with the
    whole file (binary, not UTF-8, not Parquet, unknown extension) is raised.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(path)
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        raise RecordError(str(path), None, "file", "unknown extension; use .jsonl, .json, .csv or .parquet")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    for n, line in text_lines(path):
        if line.strip():
            yield n, parse_json(line, path, n)


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    text = read_text(path)
    if not text.strip():
        return
    data = parse_json(text, path, 1)
    if isinstance(data, RecordError):
        yield 1, data
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise RecordError(str(path), 1, "json", "expected a list of records")
    yield from enumerate(data, 1)


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    try:
        for row in reader:
            yield reader.line_num, _unflat({k: v for k, v in row.items() if k is not None})
    except csv.Error as e:
        raise RecordError(str(path), reader.line_num, "csv", str(e)) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                n += 1
                yield n, _unflat(row)
    except (pa.ArrowException, OSError) as e:
        where = n + 1 if n else None
        raise RecordError(str(path), where, "file", f"not a readable Parquet file ({e})") from None


def read_examples(paths: str | Path | Iterable[str | Path], skip_invalid: bool = False) -> ReadResult:
    """Read every record of the files; bad records raise DataError unless ``skip_invalid``."""
    result = ReadResult()
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        _read_one(Path(path), result)
    if result.errors and not skip_invalid:
        raise DataError(result.errors)
    return result


def _read_one(path: Path, result: ReadResult) -> None:
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found" if not path.exists() else "not a file")
    rows = 0
    for line, row in iter_rows(path):
        rows += 1
        if isinstance(row, RecordError):
            result.errors.append(RecordError(str(path), line, row.field, row.reason))
            continue
        try:
            if not isinstance(row, dict):
                raise _FieldError("record", "not an object")
            ex = from_row(row)
        except (ValueError, ValidationError, KeyError, TypeError) as exc:
            result.errors.append(to_record_error(str(path), line, exc))
            continue
        result.examples.append(ex if ex.source else ex.model_copy(update={"source": f"{path.name}:{line}"}))
    if rows == 0:
        raise RecordError(str(path), None, "file", "no records in it (an empty file)")


def load_examples(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    return read_examples(paths).examples


def write_examples(path: str | Path, examples: Iterable[Example], layout: str = "messages") -> Path:
    """Write atomically; the extension picks the file format, ``layout`` the record shape."""
    if layout not in LAYOUTS:
        raise ConfigError(f"layout {layout!r}: unknown; known: {', '.join(LAYOUTS)}")
    path = Path(path)
    writer = {".jsonl": _write_jsonl, ".json": _write_json, ".csv": _write_csv,
              ".parquet": _write_parquet}.get(path.suffix.lower())
    if writer is None:
        raise RecordError(str(path), None, "file", "unknown extension; use .jsonl, .json, .csv or .parquet")
    rows = [_row_for(ex, layout) for ex in examples]
    with atomic_path(path) as tmp:
        writer(tmp, rows)
    return path


def _row_for(ex: Example, layout: str) -> dict:
    try:
        return to_row(ex, layout)
    except ValueError as e:
        raise RecordError(ex.source or ex.id or "a record", None, "messages", f"{e}") from None


def _write_jsonl(tmp: Path, rows: list[dict]) -> None:
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps(row) + "\n")


def _write_json(tmp: Path, rows: list[dict]) -> None:
    tmp.write_text(dumps(rows, indent=1) + "\n", encoding="utf-8")


JSON_COLUMNS = ("messages", "conversations", "answer", "meta")
TURN_COLUMNS = ("prompt", "chosen", "rejected", "completion")  # text, or turns written as JSON


def _flat(rows: list[dict]) -> list[dict]:
    """Nested columns become JSON text, so CSV and Parquet get one flat column each."""
    return [{k: dumps(v) if k in JSON_COLUMNS else v for k, v in r.items()} for r in rows]


def _unflat(row: dict) -> Any:
    """Undo ``_flat``; a column that is not valid JSON is reported as that field."""
    out = dict(row)
    for key in JSON_COLUMNS:
        if isinstance(out.get(key), str) and out[key] != "":
            value = parse_json(out[key], "", None)
            if isinstance(value, RecordError):
                return RecordError("", None, key, value.reason)
            out[key] = value
    for key in TURN_COLUMNS:
        if isinstance(out.get(key), str) and out[key].lstrip()[:1] in ("[", "{"):
            value = parse_json(out[key], "", None)
            out[key] = out[key] if isinstance(value, RecordError) else value
    return out


def _write_csv(tmp: Path, rows: list[dict]) -> None:
    flat = _flat(rows)
    cols = list(dict.fromkeys(k for r in flat for k in r))
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(flat)


def _write_parquet(tmp: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = _flat(rows)
    cols = list(dict.fromkeys(k for r in flat for k in r))
    table = pa.table({c: [r.get(c) for r in flat] for c in cols})
    pq.write_table(table, tmp)
