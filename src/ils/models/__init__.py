"""Model sources (name → local folder), loading (base or run folder) and the chat template."""

from ils.models.sources import SOURCES, resolve

__all__ = ["SOURCES", "resolve"]
