"""The ``ils`` command: one small function per command, each calling a stage; no logic here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ils.errors import ILSError

app = typer.Typer(help="ILS: turn data into instructions, tune models on them, run instructions of any length.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Instruction data: validate, convert, generate.", no_args_is_help=True)
app.add_typer(data_app, name="data")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(context_settings=EXTRA)
def train(ctx: typer.Context, config: Optional[Path] = typer.Argument(None, help="YAML config"),
          resume: bool = typer.Option(False, help="continue the run in --output from its last checkpoint")):
    """Instruction-tune a model (LoRA by default). Any config field is an option: --lr 1e-4 --lora.r 8."""
    from ils.config import TrainConfig, load_config, parse_overrides
    from ils.train.loop import train as run_train

    overrides = parse_overrides(ctx.args)
    cfg = load_config(TrainConfig, config, overrides) if not resume or config else None
    if resume and cfg is None:
        cfg = TrainConfig(data="", output=overrides.get("output", "runs/run"))
    run = run_train(cfg, resume=resume)
    _print_run(run)


@app.command()
def demo(output: Path = typer.Option(Path("demo-out"), "-o", "--output"),
         steps: int = typer.Option(100, help="LoRA optimizer steps"),
         model: str = typer.Option("default", help="model source, folder or .gguf")):
    """The main job: build procedural data, score the base model, LoRA-tune, score again."""
    from ils.demo import run_demo

    if (output / "run").exists():
        raise ILSError(f"{output}/run exists; remove it or pass -o NEW_FOLDER")
    _print_run(run_demo(output, steps=steps, model=model))


@app.command()
def generate(model: str = typer.Option("default", "--model", "-m", help="model name or run folder"),
             prompt: list[str] = typer.Option([], "--prompt", "-p", help="a user message (repeatable)"),
             input: Optional[Path] = typer.Option(None, "--input", "-i", help="Example file: generate for each"),
             max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
             batch_size: int = 16):
    """Generate answers, batched; greedy unless --temperature > 0. Prints one JSON line per prompt."""
    from ils.infer.engine import Engine, Sampling
    from ils.records import load_examples

    chats = [[{"role": "user", "content": p}] for p in prompt]
    if input:
        chats += [ex.prompt_messages for ex in load_examples(input)]
    engine = Engine.load(model, batch_size)
    texts = engine.chat(chats, Sampling(max_new_tokens, temperature, top_p, seed), progress=True)
    for chat, text in zip(chats, texts):
        print(json.dumps({"prompt": chat[-1]["content"], "output": text}, ensure_ascii=False))


@app.command()
def chat(model: str = typer.Option("default", "--model", "-m"), max_new_tokens: int = 256,
         temperature: float = 0.0, system: Optional[str] = None):
    """Chat in the terminal with a model or a run folder (empty line or Ctrl-D ends)."""
    from ils.infer.engine import Engine, Sampling

    engine = Engine.load(model, 1)
    history = [{"role": "system", "content": system}] if system else []
    for line in iter(lambda: input("you> ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n"), ""):
        history.append({"role": "user", "content": line})
        reply = engine.chat([history], Sampling(max_new_tokens, temperature))[0]
        history.append({"role": "assistant", "content": reply})
        out.print(f"[bold]ils>[/] {reply}")


@app.command("eval")
def eval_cmd(test: Path = typer.Argument(..., help="test file or dataset folder (its test.jsonl)"),
             model: list[str] = typer.Option(["default"], "--model", "-m", help="model or run (repeatable)"),
             output: Path = typer.Option(Path("eval-out"), "-o", "--output"),
             limit: Optional[int] = None, max_new_tokens: int = 64, batch_size: int = 16):
    """Score models on a test set (exact match / accuracy per task); writes report.json per model."""
    from ils.evaluate.runner import evaluate
    from ils.infer.engine import Engine, Sampling
    from ils.train.data import read_split

    records = read_split(test, "test", limit)
    reports = {}
    for i, ref in enumerate(model):
        dest = output / (f"{i}-" + Path(ref).name.replace("/", "_"))
        reports[ref] = evaluate(Engine.load(ref, batch_size), records, dest, Sampling(max_new_tokens), label=ref)
    out.print(_report_table(reports))
    out.print(f"reports in {output}/")


@app.command("run")
def run_cmd(instruction: str = typer.Argument(..., help="the instruction (any length)"),
            input: str = typer.Option(..., "--input", "-i", help="input text file, or - for stdin"),
            plan: str = typer.Option("auto", help="auto | map-reduce | refine | single | PLAN.yaml"),
            model: str = typer.Option("default", "--model", "-m", help="model name or run folder"),
            adapter: list[str] = typer.Option([], help="NAME=RUN_DIR, a model a PLAN.yaml step may name"),
            answer: str = typer.Option("text", help="answer kind: text | value | label | number | list"),
            output: Path = typer.Option(Path("ils-run"), "-o", "--output", help="run folder (cache, result)"),
            chunk_tokens: Optional[int] = None, overlap: Optional[int] = None, batch_size: int = 8,
            dry_run: bool = typer.Option(False, help="print chunks, steps and model calls; run nothing")):
    """Run an instruction over an input of any length (chunk, map, reduce, refine, chain, DAG)."""
    from ils.infer.longrun import parse_models, run

    result = run(instruction, input, plan, answer, parse_models(model, adapter), output, chunk_tokens,
                 overlap, dry_run=dry_run, progress=not dry_run, batch_size=batch_size)
    if dry_run:
        out.print_json(data={k: v for k, v in result.items() if k != "plan"})
        return
    for e in result["errors"]:
        err.print(f"[yellow]unparsed[/] step {e['step']} from {e['from']}: {e['reason']}", highlight=False)
    out.print(result["answer_text"], markup=False, highlight=False)
    err.print(f"{result['chunks']} chunks, {result['calls']} calls ({result['cached_calls']} cached); "
              f"{output}/result.json")


@data_app.command("validate")
def data_validate(files: list[Path]):
    """Check instruction files; prints file:line: field: reason for each bad record."""
    from ils.records import read_examples

    bad = 0
    for f in files:
        result = read_examples(f, skip_invalid=True)
        bad += len(result.errors)
        for e in result.errors:
            err.print(str(e), markup=False, highlight=False)
        out.print(f"{f}: {len(result.examples)} valid, {len(result.errors)} invalid")
    raise typer.Exit(1 if bad else 0)


@data_app.command("convert")
def data_convert(src: Path, dest: Path, to: str = typer.Option("messages", help="alpaca|sharegpt|messages"),
                 skip_invalid: bool = typer.Option(False, help="drop bad records and count them")):
    """Convert between layouts (and formats, by extension: .jsonl .json .csv .parquet)."""
    from ils.records import read_examples, write_examples

    result = read_examples(src, skip_invalid=skip_invalid)
    write_examples(dest, result.examples, to)
    out.print(f"wrote {len(result.examples)} records to {dest} ({to})")
    for reason, count in result.drop_counts().most_common():
        out.print(f"  dropped {count}: {reason}")


@data_app.command("procedural")
def data_procedural(output: Path = typer.Option(..., "-o", "--output"),
                    tasks: Optional[str] = typer.Option(None, help="comma-separated; default all"),
                    n: int = typer.Option(100, help="records per task"), seed: int = 0):
    """Generate the built-in procedural tasks (exact answers) into a dataset folder."""
    from ils.tasks.procedural import build_dataset

    names = [t.strip() for t in tasks.split(",")] if tasks else None
    folder = build_dataset(output, names, n=n, seed=seed)
    manifest = json.loads((folder / "manifest.json").read_text())
    out.print(f"wrote {folder}: " + ", ".join(f"{k} {v['total']}" for k, v in manifest["counts"].items()))


def _report_table(reports: dict) -> Table:
    table = Table(title="evaluation")
    table.add_column("task")
    table.add_column("metric")
    for ref in reports:
        table.add_column(ref, justify="right")
    tasks = sorted({t for r in reports.values() for t in r["tasks"]})
    for t in tasks:
        metric = next(r["tasks"][t]["metric"] for r in reports.values() if t in r["tasks"])
        table.add_row(t, metric, *[_fmt(r["tasks"].get(t, {}).get("score")) for r in reports.values()])
    table.add_row("overall", "exact_match", *[_fmt(r["overall"]["score"]) for r in reports.values()])
    return table


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _print_run(run: Path) -> None:
    from ils.io import RunDir

    rd = RunDir(run)
    comparison = rd.eval / "comparison.json"
    if comparison.is_file():
        rows = json.loads(comparison.read_text())
        table = Table(title="before vs after tuning (same test records)")
        for col in ("task", "metric", "before", "after"):
            table.add_column(col, justify="left" if col in ("task", "metric") else "right")
        for task, r in rows.items():
            table.add_row(task, r["metric"], _fmt(r["before"]), _fmt(r["after"]))
        out.print(table)
    info = rd.read_info()
    out.print(f"run folder: {rd.root}\nadapter/model: {rd.root / ('adapter' if info['method'] != 'full' else 'model')}"
              f"\nplots: {', '.join(str(p) for p in sorted(rd.plots.glob('*.png')))}")


def main() -> None:
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except ILSError as e:
        if debug:
            raise
        err.print(f"[red]error:[/] {e}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
