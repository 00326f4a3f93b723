"""The commands that explain ILS to a user from its own code: config fields in ``--help``, ``ils config
show|validate|fields`` and ``ils data tasks``. Kept beside ``ils.cli`` (which registers them) so that
module stays one short function per stage command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from typer.core import TyperCommand

out = Console(soft_wrap=True)
config_app = typer.Typer(help="Configs: every field with its default, and a check before running.",
                         no_args_is_help=True)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def config_command(kind: str) -> type[TyperCommand]:
    """A command class whose ``--help`` ends with every field of the ``kind`` config (built only when
    help is shown, so starting ``ils`` does not import every stage)."""

    class WithFields(TyperCommand):
        @property
        def epilog(self) -> str:
            from rich.markup import escape

            from ils.config import config_help
            from ils.reference import config_models

            model, usage = config_models()[kind]
            flags = kind != "build"
            how = "YAML keys, or --FIELD VALUE overrides" if flags else "YAML keys; sources[] is a list"
            head = f"Config fields ({usage}; {how}; a dotted name is a nested key; docs/config.md):"
            return escape(f"{head}\n\n{config_help(model, flags)}")

        @epilog.setter
        def epilog(self, _: object) -> None:
            pass

    return WithFields


@config_app.command("show", context_settings=EXTRA)
def show(ctx: typer.Context, file: Path = typer.Argument(..., help="a train, loop or build config (.yaml)"),
         kind: Optional[str] = typer.Option(None, help="train | loop | build (default: from the file's keys)")):
    """Print the config with every default filled in (and --FIELD VALUE overrides applied)."""
    from ils.config import dump_config, parse_overrides
    from ils.reference import load_any

    found, cfg = load_any(str(file), parse_overrides(list(ctx.args)), kind)
    out.print(f"# {found} config: {file}", markup=False, highlight=False)
    out.print(dump_config(cfg).rstrip(), markup=False, highlight=False)


@config_app.command("validate", context_settings=EXTRA)
def validate(ctx: typer.Context, file: Path = typer.Argument(..., help="a train, loop or build config (.yaml)"),
             kind: Optional[str] = typer.Option(None, help="train | loop | build (default: from the file's keys)")):
    """Check a config as its command would before running: fields, names, options, paths, the model."""
    from ils.config import parse_overrides
    from ils.reference import validate as check

    found = check(str(file), parse_overrides(list(ctx.args)), kind)
    out.print(f"{file}: a valid {found} config", markup=False, highlight=False)


@config_app.command("fields")
def fields(kind: Optional[str] = typer.Argument(None, help="train | loop | build (default: all)"),
           markdown: bool = typer.Option(False, help="the Markdown of docs/config.md")):
    """Every field of a config: its type, default and what it does."""
    from ils.config import config_help
    from ils.reference import config_models, config_reference

    if markdown:
        print(config_reference(), end="")
        return
    for name, (model, usage) in config_models().items():
        if kind in (None, name):
            out.print(f"{name}: {usage}\n\n{config_help(model, name != 'build')}\n", markup=False,
                      highlight=False)


def data_tasks(names: Optional[list[str]] = typer.Argument(None, help="task names (default: every data task)"),
               markdown: bool = typer.Option(False, help="the Markdown of docs/tasks.md")):
    """Data tasks: fields, options with defaults, answer shape, metric, an example file and build config."""
    from ils.reference import task_reference

    text = task_reference(names or None)
    if markdown or not out.is_terminal:
        print(text, end="")
    else:
        from rich.markdown import Markdown

        out.print(Markdown(text))
