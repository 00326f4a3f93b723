"""ILS — Infinite Instruction Set: data to instructions, tuning, evaluation and long instructions.

The Python API is the CLI's API: ``ils.train(config)``, ``ils.evaluate(...)``, ``ils.generate(...)``.
Heavy imports (torch, transformers) happen inside the stage modules, so ``import ils`` stays fast.
"""

__version__ = "0.1.0"

from ils.errors import ILSError  # noqa: E402

__all__ = ["ILSError", "__version__"]
