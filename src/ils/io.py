"""Atomic writes (temp + rename), reading users' text files, fingerprints and the run-folder layout.

Reading is here because every reader of a user's file (records, task readers, configs, plans) must
fail the same way on the same bad input: a binary file, a file that is not UTF-8 (a BOM is fine),
JSON or YAML nested deep enough to overflow a recursive parser, NaN where JSON has no such value.
Each becomes an error naming the file and line, never a traceback.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ils.errors import ConfigError, RecordError

BUF = 1 << 20
BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 100  # JSON/YAML nesting; instruction records need a handful of levels
MAX_NODES = 1_000_000  # values in a YAML file once its aliases are expanded (a "billion laughs" file)


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; rename it onto ``dest`` only if the block succeeds.

    Works for a file or a folder: whatever the block creates at the temp path replaces ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", dir=dest.parent))
    target = tmp / dest.name
    try:
        yield target
        _replace(target, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_stale(dest: Path) -> None:
    """Remove the temp folders a killed writer of ``dest`` left beside it (``.NAME.PID.*``, PID gone)."""
    mine = re.compile(rf"\.{re.escape(dest.name)}\.(\d+)\.[a-z0-9_]+")  # mkdtemp's suffix has no dot
    for tmp in dest.parent.glob(f".{glob.escape(dest.name)}.*.*"):
        m = mine.fullmatch(tmp.name)
        if m and tmp.is_dir() and not _alive(int(m.group(1))):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _replace(src: Path, dest: Path) -> None:
    if dest.is_dir() and not dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(src, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dest)


def write_text(dest: str | Path, text: str) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dest)


def write_json(dest: str | Path, obj: Any) -> Path:
    """Standard JSON: a NaN or infinite number (an empty mean, a 0/0 metric) is written as null."""
    return write_text(dest, dumps(obj, indent=2) + "\n")


def dumps(obj: Any, indent: int | None = None) -> str:
    """``json.dumps`` that never writes NaN/Infinity (which no other JSON reader accepts)."""
    try:
        return json.dumps(obj, indent=indent, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(obj), indent=indent, ensure_ascii=False, default=str, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


# ---------------------------------------------------------------- reading users' files

def _sniff(path: Path, head: bytes) -> None:
    if b"\x00" in head:
        raise RecordError(str(path), None, "file", "binary data, not a UTF-8 text file")


def _not_utf8(path: Path, data: bytes, e: UnicodeDecodeError, first_line: int = 1) -> RecordError:
    line = data.count(b"\n", 0, e.start) + first_line
    col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return RecordError(str(path), line, "file",
                       f"not UTF-8 text (byte 0x{data[e.start]:02x} at column {col}); save the file as UTF-8")


def read_text(path: str | Path) -> str:
    """A user's whole text file: UTF-8, a leading BOM dropped; binary or other encodings are refused."""
    path = Path(path)
    data = path.read_bytes()
    _sniff(path, data[:8192])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e) from None


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a user's text file, streamed, a leading BOM dropped.

    A line that is not UTF-8 stops the file (a Latin-1 file would otherwise lose every accented record).
    """
    path = Path(path)
    with open(path, "rb") as f:
        _sniff(path, f.read(8192))
        f.seek(0)
        for n, raw in enumerate(f, 1):
            try:
                yield n, (raw.removeprefix(BOM) if n == 1 else raw).decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8(path, raw, e, n) from None


class _NonFinite(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NonFinite(name)


def parse_json(text: str, path: str | Path, line: int | None = 1) -> Any:
    """The JSON value of ``text``, or the RecordError saying why it is none (returned, not raised)."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except _NonFinite as e:
        return RecordError(str(path), line, "json", f"{e.args[0]} is not a JSON value (use null or a string)")
    except json.JSONDecodeError as e:
        return RecordError(str(path), line, "json", f"not valid JSON ({e.msg} at column {e.colno})")
    except RecursionError:
        return RecordError(str(path), line, "json", f"nested deeper than {MAX_DEPTH} levels")
    why = shape_problem(value)
    return RecordError(str(path), line, "json", why) if why else value


def json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line, value) of each record of a JSONL file; a bad line raises its error."""
    for n, line in text_lines(path):
        if line.strip():
            value = parse_json(line, path, n)
            if isinstance(value, RecordError):
                raise value
            yield n, value


def shape_problem(value: Any, max_nodes: int | None = None) -> str | None:
    """Why a parsed document is unusable (too deep, or more than ``max_nodes`` values), or None."""
    stack, seen = [(value, 1)], 0
    while stack:
        v, depth = stack.pop()
        seen += 1
        if max_nodes is not None and seen > max_nodes:
            return f"more than {max_nodes} values (repeated YAML aliases?)"
        if isinstance(v, (list, tuple, dict)):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return None


def read_yaml(path: str | Path) -> Any:
    """A user's YAML file (config, plan, task); errors name the file and line, as ConfigError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        text = read_text(path)
        data = yaml.safe_load(text)
    except RecordError as e:
        raise ConfigError(str(e)) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    why = shape_problem(data, MAX_NODES)
    if why:
        raise ConfigError(f"{path}: {why}")
    return data


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(BUF):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(path: str | Path) -> str:
    """sha256 over a file, or over every file of a folder (names and contents, sorted)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def ils_home() -> Path:
    """Where ILS caches converted models and keeps its default store (``ILS_HOME``)."""
    return Path(os.environ.get("ILS_HOME") or Path.home() / ".cache" / "ils")


class RunDir:
    """The layout of a run folder; every stage finds a run's parts through this class."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    info = property(lambda self: self.root / "ils.json")
    adapter = property(lambda self: self.root / "adapter")
    model = property(lambda self: self.root / "model")
    checkpoints = property(lambda self: self.root / "checkpoints")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    events = property(lambda self: self.root / "events")
    plots = property(lambda self: self.root / "plots")
    eval = property(lambda self: self.root / "eval")

    def is_run(self) -> bool:
        return self.info.is_file()

    def read_info(self) -> dict:
        return json.loads(self.info.read_text())

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:07d}"

    def last_checkpoint(self) -> Path | None:
        done = sorted(p for p in self.checkpoints.glob("step-*") if (p / "state.json").is_file())
        return done[-1] if done else None


def yaml_where(path: str | Path | None, text: str, loc: tuple) -> str:
    """``file:line`` of the YAML node at ``loc`` (or of the deepest parent that exists)."""
    import yaml

    if path is None:
        return "config"
    try:
        node = yaml.compose(text)
    except (yaml.YAMLError, RecursionError):
        return str(path)
    line = node.start_mark.line + 1 if node else None
    for key in loc:
        node = _yaml_child(node, key)
        if node is None:
            break
        line = node.start_mark.line + 1
    return f"{path}:{line}" if line else str(path)


def _yaml_child(node: Any, key: Any) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == str(key)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None
