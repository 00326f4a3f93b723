"""Run the ``ils`` command in-process, as a user would type it, and capture what it prints."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout

from ils.cli import main


def ils(*args: object) -> tuple[int, str]:
    """(exit status, everything printed). An exception other than a clean exit propagates, so a
    traceback fails the calling test."""
    buf, argv = io.StringIO(), sys.argv
    sys.argv = ["ils", *map(str, args)]
    try:
        with redirect_stdout(buf), redirect_stderr(buf):
            try:
                main()
                status = 0
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return status, buf.getvalue()
