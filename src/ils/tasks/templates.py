"""Instruction templates as data: Jinja text with an explicit input/target split.

Templates live beside their task (a tuple of ``Template``) or in a user's YAML file; rendering uses
StrictUndefined so a template that names a field the record lacks fails with that field's name,
instead of silently producing an instruction with a hole in it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import jinja2
from jinja2 import meta as jinja_meta

STYLES = ("question", "command", "options", "inverted")


@dataclass(frozen=True)
class Template:
    """One phrasing of a task: ``input`` becomes the user turn, ``target`` the assistant turn."""

    name: str
    input: str
    target: str
    style: str = "command"
    system: str | None = None

    @property
    def inverted(self) -> bool:
        return self.style == "inverted"

    def variables(self) -> set[str]:
        """Every field the template reads (to check it against a task's fields up front)."""
        names: set[str] = set()
        for text in (self.input, self.target, self.system or ""):
            names |= jinja_meta.find_undeclared_variables(_ENV.parse(text))
        return names


class TemplateFieldError(ValueError):
    """A template read a field the record does not have."""

    def __init__(self, template: str, field: str):
        self.template, self.field = template, field
        super().__init__(f"template '{template}' references field '{field}', which the record lacks")


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                          autoescape=False)


@lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


def render(text: str, variables: dict[str, Any], template_name: str = "") -> str:
    try:
        return _compile(text).render(**variables).strip()
    except jinja2.UndefinedError as e:
        field = str(e.message or "").split("'")[1] if "'" in str(e.message) else str(e)
        raise TemplateFieldError(template_name, field) from None


def render_template(tpl: Template, variables: dict[str, Any]) -> tuple[str | None, str, str]:
    """(system, user, assistant) texts of one record under one template."""
    system = render(tpl.system, variables, tpl.name) if tpl.system else None
    return system, render(tpl.input, variables, tpl.name), render(tpl.target, variables, tpl.name)


def choose(templates: Sequence[Template], seed: int, key: str) -> Template:
    """Seeded per record: the same seed and record key always give the same template."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return templates[random.Random(digest).randrange(len(templates))]


def from_dict(d: dict[str, Any]) -> Template:
    """A template from YAML: ``{name, input, target, style?, system?}``."""
    missing = [k for k in ("name", "input", "target") if not d.get(k)]
    if missing:
        raise ValueError(f"a template needs {', '.join(missing)}")
    style = d.get("style", "command")
    if style not in STYLES:
        raise ValueError(f"unknown template style '{style}'; known: {', '.join(STYLES)}")
    return Template(str(d["name"]), str(d["input"]), str(d["target"]), style, d.get("system"))
