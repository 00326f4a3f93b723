"""The ``ils`` command: one small function per command, each calling a stage; no logic here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ils.cli_reference import config_app, config_command, data_tasks
from ils.errors import ILSError

app = typer.Typer(help="ILS: turn data into instructions, tune models on them, run instructions of any length.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Instruction data: validate, convert, generate.", no_args_is_help=True)
app.add_typer(data_app, name="data")
keys_app = typer.Typer(help="API keys for ils serve.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")
data_app.command("tasks")(data_tasks)
@app.callback()
def _machine(cpus: Optional[str] = typer.Option(None, envvar="ILS_CPUS", help="CPUs to run on, e.g. 0 or 0-3 "
                                                "(a server and a trainer on disjoint CPUs keep their speed)"),
             threads: Optional[int] = typer.Option(None, envvar="ILS_THREADS", help="compute threads "
                                                   "(default: one per CPU the process may use)")) -> None:
    from ils.cpu import configure

    configure(cpus, threads)


out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
DTYPE_HELP = "auto (bfloat16 where the CPU has bf16 units, else float32) | float32 | bfloat16"
ENGINE_HELP = "hf (this machine) | llamacpp | openai:URL[,URL...] (any OpenAI-compatible server)"
SEED = typer.Option(0, min=0, max=2**32 - 1, help="random seed")
UNSAFE_HELP = ("run model-written code even where no namespace sandbox (bubblewrap) works: rlimits only, "
               "the code can reach the network and your files")


@app.command(context_settings=EXTRA, cls=config_command("train"))
def train(ctx: typer.Context,
          resume: bool = typer.Option(False, help="continue the run in --output from its last checkpoint")):
    """Instruction-tune a model: ils train [CONFIG.yaml] [--lr 1e-4 --lora.r 8 ...] (LoRA by default)."""
    from ils.config import TrainConfig, load_config, parse_overrides
    from ils.train.loop import train as run_train

    args = list(ctx.args)
    config = Path(args.pop(0)) if args and not args[0].startswith("--") else None
    if config is not None and config.suffix.lower() not in (".yaml", ".yml"):
        raise ILSError(f"{config}: a config is a .yaml file; to train on a data file pass --data {config}")
    overrides = parse_overrides(args)
    if resume and config is None:
        cfg = TrainConfig(data="", output=overrides.get("output") or "runs/run")
    else:
        cfg = load_config(TrainConfig, config, overrides)
    _print_run(run_train(cfg, resume=resume))


@app.command()
def demo(output: Path = typer.Option(Path("demo-out"), "-o", "--output"),
         steps: int = typer.Option(100, min=1, help="LoRA optimizer steps"),
         model: str = typer.Option("default", help="model source, folder or .gguf")):
    """The main job: build procedural data, score the base model, LoRA-tune, score again."""
    from ils.demo import run_demo

    if (output / "run").exists():
        raise ILSError(f"{output}/run exists; remove it or pass -o NEW_FOLDER")
    _print_run(run_demo(output, steps=steps, model=model))


generate_app = typer.Typer(help="Generate: answers for prompts (no subcommand), or new instruction data.",
                           invoke_without_command=True)
app.add_typer(generate_app, name="generate")


@generate_app.callback()
def generate(ctx: typer.Context,
             model: str = typer.Option("default", "--model", "-m", help="model name or run folder"),
             prompt: list[str] = typer.Option([], "--prompt", "-p", help="a user message (repeatable)"),
             input: Optional[Path] = typer.Option(None, "--input", "-i", help="Example file: generate for each"),
             max_new_tokens: int = typer.Option(128, min=1), temperature: float = typer.Option(0.0, min=0.0),
             top_p: float = typer.Option(1.0, min=0.0, max=1.0), seed: int = SEED,
             batch_size: int = typer.Option(64, min=1, help="most sequences decoded together"),
             dtype: str = typer.Option("auto", help=DTYPE_HELP),
             engine: str = typer.Option("hf", help=ENGINE_HELP)):
    """Generate answers, batched; greedy unless --temperature > 0. Prints one JSON line per prompt."""
    if ctx.invoked_subcommand:
        return
    from ils.infer.engine import Engine, Sampling
    from ils.records import load_examples

    chats = [[{"role": "user", "content": p}] for p in prompt]
    if input:
        chats += [ex.prompt_messages for ex in load_examples(input)]
    with Engine.load(model, batch_size, dtype, engine) as eng:
        done = eng.generate(chats, Sampling(max_new_tokens, temperature, top_p, seed), progress=True)
    for chat, c in zip(chats, done):
        print(json.dumps({"prompt": chat[-1]["content"], "output": c.text, "finish_reason": c.finish_reason},
                         ensure_ascii=False))


@generate_app.command("self-instruct")
def self_instruct(seeds: Path = typer.Option(..., help="seed_tasks.jsonl layout or any Example file"),
                  n: int = typer.Option(100, min=1, help="stop once this many tasks are kept"),
                  output: Path = typer.Option(..., "-o", "--output", help="dataset folder (rerun to resume)"),
                  model: str = typer.Option("default", "--model", "-m", help="default | RUN_DIR | openai:URL"),
                  prompts_per_round: int = typer.Option(16, min=1), seed: int = SEED,
                  temperature: float = typer.Option(0.7, min=0.0),
                  time_limit: Optional[float] = typer.Option(None, min=0.0,
                                                             help="minutes for this invocation"),
                  max_rounds: Optional[int] = typer.Option(None, min=1),
                  patience: int = typer.Option(10, min=1),
                  evolve: float = typer.Option(0.0, min=0.0,
                                               help="extra Evol-Instruct rewrites, as a fraction of prompts"),
                  code: bool = typer.Option(False, help="code tasks, kept only if the solution passes its tests"),
                  endpoint_model: str = typer.Option("default", help="model name sent to an openai: endpoint"),
                  api_key_env: str = "OPENAI_API_KEY", api: str = "chat",
                  concurrency: int = typer.Option(4, min=1),
                  retries: int = typer.Option(3, min=0), budget: Optional[int] = typer.Option(None, min=1),
                  batch_size: int = typer.Option(64, min=1),
                  engine: str = typer.Option("hf", help=ENGINE_HELP + "; openai: takes --endpoint-model"),
                  unsafe_exec: bool = typer.Option(False, help=UNSAFE_HELP)):
    """Self-Instruct: grow an instruction dataset from seed tasks (resumable; report and plots in -o)."""
    from ils import sandbox
    from ils.generate import SelfInstructConfig, load_seeds, make_backend, run

    if engine.startswith("openai:"):  # the same as --model openai:URL
        model = engine
    kw = dict(model=endpoint_model, key_env=api_key_env, api=api, concurrency=concurrency, retries=retries,
              budget=budget) if model.startswith("openai:") else {"engine": engine}
    cfg = SelfInstructConfig(n=n, prompts_per_round=prompts_per_round, seed=seed, temperature=temperature,
                             time_limit=time_limit * 60 if time_limit else None, max_rounds=max_rounds,
                             patience=patience, evolve=evolve, code=code)
    load_seeds(seeds)  # a bad seeds file fails before the model loads
    with sandbox.allow_unsafe(unsafe_exec):
        if code:
            sandbox.mode()  # refuse before any model loads if code cannot run safely here
        man = run(seeds, output, cfg, make_backend(model, batch_size, **kw), on_round=_round_line)
    out.print(f"kept {man['kept_tasks']} tasks ({man['examples']} examples) of {man['candidates']} candidates "
              f"({man['kept_fraction']:.1%}); report: {output / 'report.md'}")


def _round_line(r: dict) -> None:
    err.print(f"round {r['round']}: kept {r['kept']} (total {r['total_kept']}), "
              f"dropped {sum(r['dropped'].values())}", highlight=False)


@app.command()
def chat(model: str = typer.Option("default", "--model", "-m"),
         max_new_tokens: int = typer.Option(256, min=1), temperature: float = typer.Option(0.0, min=0.0),
         system: Optional[str] = None,
         dtype: str = typer.Option("auto", help=DTYPE_HELP), engine: str = typer.Option("hf", help=ENGINE_HELP)):
    """Chat in the terminal with a model or a run folder, the answer streamed as it is written."""
    from ils.infer.engine import Engine, Sampling

    history = [{"role": "system", "content": system}] if system else []
    with Engine.load(model, 8, dtype, engine) as eng:
        for line in iter(lambda: input("you> ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n"), ""):
            history.append({"role": "user", "content": line})
            out.print("[bold]ils>[/] ", end="")
            reply = ""
            for piece in eng.stream(history, Sampling(max_new_tokens, temperature)):
                reply += piece
                out.print(piece, end="", markup=False, highlight=False)
            out.print()
            history.append({"role": "assistant", "content": reply})


@app.command("eval")
def eval_cmd(test: Path = typer.Argument(..., help="test file or dataset folder (its --split)"),
             split: str = typer.Option("test", help="split of a dataset folder: test, or validation while "
                                       "choosing a recipe"),
             compare: str = typer.Option("zero-shot", "--compare", "--mode", help="comma-separated modes: "
                                         "zero-shot, few-shot:K[:similar], or a run folder / model (tuned)"),
             model: str = typer.Option("default", "--model", "-m", help="base model for zero-/few-shot"),
             train: Optional[Path] = typer.Option(None, help="few-shot pool (default: TEST folder's train.jsonl)"),
             output: Path = typer.Option(Path("eval-out"), "-o", "--output"),
             limit: Optional[int] = typer.Option(None, min=1), max_new_tokens: int = typer.Option(32, min=1),
             batch_size: int = typer.Option(64, min=1), seed: int = SEED,
             plain: bool = typer.Option(False, help="score unregistered tasks by exact text match"),
             engine: str = typer.Option("hf", help=ENGINE_HELP),
             dtype: str = typer.Option("auto", help=DTYPE_HELP),
             unsafe_exec: bool = typer.Option(False, help=UNSAFE_HELP)):
    """Zero-shot, few-shot and tuned side by side: parsed and likelihood scores, charts, report.html."""
    from ils import sandbox
    from ils.dataset import read_split
    from ils.evaluate.judge import task_named
    from ils.evaluate.modes import evaluate_modes
    from ils.evaluate.report import rich_breakdown, rich_table
    from ils.infer.protocol import Sampling

    specs = [s for s in compare.split(",") if s.strip()]
    pool = train or (test if test.is_dir() and (test / "train.jsonl").is_file() else None)
    records = read_split(test, split, limit)
    with sandbox.allow_unsafe(unsafe_exec):
        if any(task_named(ex.task).metric == "pass_at_k" for ex in records):
            sandbox.mode()  # code tasks run model output: refuse before any model loads if unsafe here
        shots = read_split(pool, "train") if pool and any("few" in s for s in specs) else None
        report = evaluate_modes(records, specs, output, model, shots, Sampling(max_new_tokens), batch_size,
                                seed, strict=not plain, sources={"test": test, "train": pool}, engine=engine,
                                dtype=dtype)
    out.print(rich_table(report))
    for table in rich_breakdown(report):
        out.print(table)
    out.print(f"report: {output}/report.json, {output}/report.html, charts in {output}/charts/")


@app.command("rescore")
def rescore_cmd(folder: Path = typer.Argument(..., help="an eval output folder or a run folder"),
                unsafe_exec: bool = typer.Option(False, help=UNSAFE_HELP)):
    """Parse saved predictions again with the current task parsers and rewrite the reports (no model runs)."""
    from ils import sandbox
    from ils.evaluate.rescore import rescore

    with sandbox.allow_unsafe(unsafe_exec):
        done_folders = rescore(folder)  # code tasks run their tests again
    for done in done_folders:
        report = json.loads((done / "report.json").read_text())
        out.print(f"{done}: " + ", ".join(f"{t} {r['score']:.3f} ({r['unparseable']} unparseable)"
                                          for t, r in report["tasks"].items()))


@app.command("compare")
def compare_cmd(reports: list[Path] = typer.Argument(..., help="ils eval output folders or run folders")):
    """Earlier evaluation reports side by side, with deltas against the first column."""
    from ils.evaluate.compare import compare_reports, rich_compare

    out.print(rich_compare(compare_reports(reports)))


@app.command("run")
def run_cmd(instruction: str = typer.Argument(..., help="the instruction (any length)"),
            input: str = typer.Option(..., "--input", "-i", help="input text file, or - for stdin"),
            plan: str = typer.Option("auto", help="auto | map-reduce | refine | single | PLAN.yaml"),
            model: str = typer.Option("default", "--model", "-m", help="model name or run folder"),
            adapter: list[str] = typer.Option([], help="NAME=RUN_DIR, a model a PLAN.yaml step may name"),
            answer: str = typer.Option("text", help="answer kind: text | value | label | span | number | list"),
            ground: Optional[bool] = typer.Option(None, "--ground/--no-ground", help="count a chunk's answer only "
                                                  "if it occurs in the chunk (default: on for value, label, span, "
                                                  "list; --no-ground for answers not quoted from the text)"),
            output: Path = typer.Option(Path("ils-run"), "-o", "--output", help="run folder (cache, result)"),
            chunk_tokens: Optional[int] = typer.Option(None, min=1),
            overlap: Optional[int] = typer.Option(None, min=0),
            batch_size: int = typer.Option(64, min=1, help="chunks sent to the engine at once"),
            dtype: str = typer.Option("auto", help=DTYPE_HELP),
            engine: str = typer.Option("hf", help=ENGINE_HELP),
            dry_run: bool = typer.Option(False, help="print chunks, steps and model calls; run nothing")):
    """Run an instruction over an input of any length (chunk, map, reduce, refine, chain, DAG)."""
    from ils.infer.longrun import parse_models, run

    result = run(instruction, input, plan, answer, parse_models(model, adapter), output, chunk_tokens,
                 overlap, dry_run=dry_run, progress=not dry_run, batch_size=batch_size, dtype=dtype,
                 engine=engine, ground=ground)
    if dry_run:
        out.print_json(data={k: v for k, v in result.items() if k != "plan"})
        return
    for e in result["errors"]:
        err.print(f"[yellow]unparsed[/] step {e['step']} from {e['from']}: {e['reason']}", highlight=False)
    _print_evidence(result)
    out.print(result["answer_text"], markup=False, highlight=False)
    err.print(f"{result['chunks']} chunks, {result['calls']} calls ({result['cached_calls']} cached), "
              f"{result['scored']} answers weighed; "
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
    from ils.errors import ConfigError
    from ils.records import LAYOUTS, read_examples, write_examples

    if to not in LAYOUTS:
        raise ConfigError(f"--to {to}: unknown layout; use one of {', '.join(LAYOUTS)}")
    result = read_examples(src, skip_invalid=skip_invalid)
    write_examples(dest, result.examples, to)
    out.print(f"wrote {len(result.examples)} records to {dest} ({to})")
    for reason, count in result.drop_counts().most_common():
        out.print(f"  dropped {count}: {reason}")


@data_app.command("build", cls=config_command("build"))
def data_build(config: Path, output: Path = typer.Option(..., "-o", "--output"),
               skip_invalid: bool = typer.Option(False, help="drop bad records with their reason")):
    """Raw task data → instruction dataset folder (templates, dedup, decontamination, splits, report)."""
    from ils.data.build import build_dataset

    folder = build_dataset(config, output, skip_invalid=skip_invalid)
    manifest = json.loads((folder / "manifest.json").read_text())
    out.print(f"wrote {folder}: " + ", ".join(f"{k} {v}" for k, v in manifest["splits"].items()))
    out.print(f"report: {folder / 'report.md'}")


@data_app.command("procedural")
def data_procedural(output: Path = typer.Option(..., "-o", "--output"),
                    tasks: Optional[str] = typer.Option(None, help="comma-separated; default all"),
                    n: int = typer.Option(100, min=1, help="records per task"), seed: int = SEED):
    """Generate the built-in procedural tasks (exact answers) into a dataset folder."""
    from ils.tasks.procedural import build_dataset

    names = [t.strip() for t in tasks.split(",")] if tasks else None
    folder = build_dataset(output, names, n=n, seed=seed)
    manifest = json.loads((folder / "manifest.json").read_text())
    out.print(f"wrote {folder}: " + ", ".join(f"{k} {v}" for k, v in manifest["splits"].items()))


@app.command("export")
def export_cmd(run: Path = typer.Argument(..., help="a run folder (what ils train wrote)"),
               output: Path = typer.Option(..., "-o", "--output", help="folder (--merged) or .gguf file"),
               merged: bool = typer.Option(False, "--merged", help="a Hugging Face folder (the default)"),
               gguf: bool = typer.Option(False, "--gguf", help="one GGUF file for llama.cpp / ollama"),
               quant: str = typer.Option("q8_0", help="GGUF type: f16 | q8_0 | q4_k_m | any llama.cpp knows"),
               dtype: Optional[str] = typer.Option(None, help="bf16 | fp16 | fp32 (default: the base's)"),
               force: bool = typer.Option(False, help="replace OUTPUT if it exists")):
    """Merge a run into its base model: a standalone Hugging Face folder, or a GGUF for llama.cpp."""
    from ils.export import export

    if merged and gguf:
        raise ILSError("--merged and --gguf: pick one")
    done = export(run, output, "gguf" if gguf else "merged", dtype=dtype, quant=quant, force=force)
    kind = f"GGUF {done['quant']}" if gguf else f"merged, {done['dtype']}"
    out.print(f"wrote {done['path']} ({kind}, {done['bytes'] / 1e6:.1f} MB, method {done['method']})")


@app.command()
def serve(model: Optional[str] = typer.Option(None, "--model", "-m", help="model or run folder (default: the store's current version, else default)"),
          adapter: list[str] = typer.Option([], help="NAME=RUN_DIR: serve a LoRA run as model NAME (repeatable)"),
          db: Optional[str] = typer.Option(None, help="store URL (default: sqlite under ILS_HOME)"),
          api_key_env: Optional[str] = typer.Option(None, help="environment variable holding the server's "
                                                    "(admin) key; ILS_API_KEY is used when set"),
          api_key_file: Optional[Path] = typer.Option(None, help="file holding the server's (admin) key(s), "
                                                      "one a line"),
          api_key: list[str] = typer.Option([], hidden=True),
          host: str = "127.0.0.1", port: int = typer.Option(8000, min=0, max=65535),
          batch_size: int = typer.Option(64, min=1, help="most sequences decoded together"),
          kv_tokens: Optional[int] = typer.Option(None, min=64, help="KV cache budget in tokens (default: 2 GiB)"),
          max_queue_tokens: int = typer.Option(1 << 17, min=1, help="prompt + max_tokens of all waiting requests"),
          max_tokens: int = typer.Option(128, min=1, help="default and cap of a request's max_tokens"),
          dtype: str = typer.Option("auto", help=DTYPE_HELP),
          fd: Optional[int] = typer.Option(None, hidden=True)):
    """OpenAI-compatible server: continuous batching, token streaming, adapters, API keys, feedback, a chat page."""
    from ils.serve.run import ServeOptions, parse_adapters
    from ils.serve.run import serve as run_serve

    if api_key:
        raise ILSError("--api-key shows the key to every user of this machine (ps); put it in an environment "
                       "variable (--api-key-env VAR) or a file (--api-key-file PATH) instead")
    env = api_key_env or ("ILS_API_KEY" if os.environ.get("ILS_API_KEY") else None)
    run_serve(ServeOptions(model, parse_adapters(adapter), db, host=host, port=port, batch_size=batch_size,
                           kv_tokens=kv_tokens, max_queue_tokens=max_queue_tokens, dtype=dtype,
                           max_tokens=max_tokens, fd=fd, api_key_env=env,
                           api_key_file=str(api_key_file) if api_key_file else None))


@app.command(context_settings=EXTRA, cls=config_command("loop"))
def loop(ctx: typer.Context, config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML LoopConfig")):
    """Feedback + replay → train → evaluate vs current → promote if not worse. Options: --regression FILE
    --replay FILE --replay-ratio 1 --tolerance 0.02 --max-steps 50 --db URL --current RUN."""
    from ils.config import load_config, parse_overrides
    from ils.loop import LoopConfig, run_loop

    report = run_loop(load_config(LoopConfig, config, parse_overrides(ctx.args)))
    out.print_json(data=report)


@keys_app.command("create")
def keys_create(name: str, admin: bool = typer.Option(False, help="may also call /admin/* (reload models)"),
                db: Optional[str] = typer.Option(None, help="store URL")):
    """Make an API key; only its sha256 is stored, so copy the printed key now."""
    from ils.store import open_store

    print(open_store(db).create_api_key(name, admin=admin))


@keys_app.command("list")
def keys_list(db: Optional[str] = typer.Option(None, help="store URL")):
    """Every key: id, name, scope, when made, when revoked (never the key itself)."""
    from ils.store import open_store

    table = Table()
    for col in ("id", "name", "scope", "created", "revoked"):
        table.add_column(col)
    for k in open_store(db).api_keys():
        table.add_row(str(k["id"]), k["name"], "admin" if k["admin"] else "user", _when(k["created"]),
                      _when(k["revoked"]))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(name_or_id: str = typer.Argument(..., metavar="NAME|ID"),
                db: Optional[str] = typer.Option(None, help="store URL")):
    """Revoke a key by name or id; a running server refuses it from the next request on."""
    from ils.store import open_store

    ids = open_store(db).revoke_api_key(name_or_id)
    out.print(f"revoked key {', '.join(map(str, ids))}")


def _when(t) -> str:
    return "–" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _print_evidence(result: dict) -> None:
    """Say on stderr when the answer is contested or absent; stdout keeps only the answer."""
    if not result["found"]:
        err.print(f"[yellow]{result['answer_text']}[/]: {result['reason']}", highlight=False)
    for step, ev in result["evidence"].items():
        if ev["tie"] or ev["near_tie"]:
            shown = ", ".join(f"{c['answer']!r} {c['weight']:.2f} ({c['votes']} chunks)" for c in ev["candidates"][:3])
            err.print(f"[yellow]{'tie' if ev['tie'] else 'close call'}[/] in step {step}: {shown}", highlight=False)


def _print_run(run: Path) -> None:
    from ils.evaluate.compare import compare_reports, rich_compare
    from ils.evaluate.report import rich_breakdown
    from ils.io import RunDir

    rd = RunDir(run)
    combined = rd.eval / "report.json"
    if combined.is_file():
        out.print(rich_compare(compare_reports([rd.root])))
        for table in rich_breakdown(json.loads(combined.read_text())):
            out.print(table)
    weights = rd.adapter if rd.adapter.is_dir() else rd.model
    out.print(f"run folder: {rd.root}\nadapter/model: {weights}\nevaluation: {combined}"
              f"\nplots: {', '.join(str(p) for p in sorted(rd.plots.glob('*.png')))}")


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation notes, not for users
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except ILSError as e:
        if debug:
            raise
        err.print("[red]error:[/] ", end="", highlight=False)
        err.print(str(e), markup=False, highlight=False)
        sys.exit(2)
    except OSError as e:  # a path the user named cannot be read or written (permissions, a file as folder)
        if debug or not e.filename:
            raise
        err.print("[red]error:[/] ", end="", highlight=False)
        err.print(f"{e.filename}: {e.strerror}", markup=False, highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
