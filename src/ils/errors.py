"""Errors a user sees: each says what is wrong and where (file:line: field: reason)."""

from __future__ import annotations


class ILSError(Exception):
    """Base of every error the CLI prints without a traceback."""


class ConfigError(ILSError):
    """A config file or option is wrong."""


class ModelSourceError(ILSError):
    """A model name cannot be resolved to local files."""


class TrainingError(ILSError):
    """Training cannot start or continue (data, template or checkpoint problems)."""


class RecordError(ILSError):
    """One bad record: where it is, which field, and why."""

    def __init__(self, file: str, line: int | None, field: str, reason: str):
        self.file, self.line, self.field, self.reason = str(file), line, field, reason
        super().__init__(self.location() + f": {field}: {reason}")

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


class DataError(ILSError):
    """Several bad records at once; the message lists each on its own line. The same problem on many
    lines of one file (an unmapped column, an unknown label) is shown a few times, then counted."""

    def __init__(self, errors: list[RecordError], limit: int = 50, same: int = 3, hint: str = ""):
        self.errors = errors
        groups: dict[tuple, list[RecordError]] = {}
        for e in errors:
            groups.setdefault((e.file, e.field, e.reason), []).append(e)
        lines: list[str] = []
        for (file, field, reason), group in groups.items():
            lines += [str(e) for e in group[:same]]
            if len(group) > same:
                lines.append(f"... and {len(group) - same} more records of {file} with {field}: {reason}")
        if len(lines) > limit:
            lines = lines[:limit] + [f"... and {len(lines) - limit} more lines like these"]
        super().__init__("\n".join(lines + ([hint] if hint else [])))


class EvalError(ILSError):
    """Evaluation cannot run as asked (no parser for a task, no model in a run, bad few-shot setup)."""


class InputError(ILSError):
    """The input of a long-instruction run is unusable (missing, empty, binary, chunking impossible)."""


class PlanError(ILSError):
    """A plan is invalid (cycle, unknown reference or adapter) or one of its steps failed."""
