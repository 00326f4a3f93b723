"""Plan logic with a scripted engine (answers by rule): map, exact reducers, reduce trees, refine,
DAGs, chains, validation before any model runs, retry-then-report, and resume from the call cache."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from prose import prose_pool

from ils.errors import InputError, PlanError
from ils.infer.engine import Engine
from ils.infer.longrun import run
from ils.infer.plans import Plan, Step, chain, check_plan, map_reduce
from ils.infer.protocol import Completion
from ils.tasks.longinput import make_case as make_real_case

POOL = {}


def make_case(task, n_tokens, seed=0):
    """Suite cases over made-up prose (the real-text pool needs ../shared; see test_longinput)."""
    if "pool" not in POOL:
        import tempfile
        from pathlib import Path

        POOL["pool"] = prose_pool(Path(tempfile.mkdtemp())).share("eval")
    return make_real_case(task, n_tokens, seed, pool=POOL["pool"])


class WordTok:
    def __call__(self, text, add_special_tokens=False):
        return SimpleNamespace(input_ids=text.split())


class Scripted(Engine):
    """Answers by rule from the prompt; counts calls; can fail after a number of calls. Scores an
    option by whether its chunk says it (-1) or not (-6) against NONE's -3."""

    def __init__(self, context: int = 1024, fail_after: int | None = None):
        self.tok = WordTok()
        self.context = context
        self.calls, self.fail_after, self.prompts, self.scored = 0, fail_after, [], []

    def score(self, prompts, options, *, adapter=None):
        self.scored.append(len(prompts))
        return [[-3.0 if o.endswith("NONE") else -1.0 if o.split()[-1] in p[-1]["content"] else -6.0 for o in opts]
                for p, opts in zip(prompts, options)]

    def count_tokens(self, prompt):
        text = prompt if isinstance(prompt, str) else " ".join(m["content"] for m in prompt)
        return len(text.split()) + (0 if isinstance(prompt, str) else 4)

    def generate(self, chats, sampling=None, *, adapter=None, on_text=None, progress=False):
        if self.fail_after is not None and self.calls + len(chats) > self.fail_after:
            raise RuntimeError("killed")
        self.calls += len(chats)
        self.prompts += [c[-1]["content"] for c in chats]
        return [Completion(answer(c[-1]["content"])) for c in chats]


def chunk_of(p: str) -> str:
    return p.rsplit("\n\n", 1)[0]


def answer(p: str) -> str:
    retry = "Reply in exactly this form" in p
    if "ALWAYS-BAD" in p or ("BAD-ONCE" in p and not retry):
        return "Well, I am not sure about that."
    if "pass key?" in p:
        m = re.search(r"pass ?key[^.;]{0,30}?(\d{5})|(\d{5}) is the pass key", chunk_of(p))
        return f"The pass key is {m.group(1) or m.group(2)}." if m else "NONE"
    if m := re.search(r"mention the ([\w ]+)\?", p):
        return str(chunk_of(p).count(m.group(1)))
    if m := re.search(r'value of key "([\w-]+)"\?', p):
        found = re.search(rf'"{m.group(1)}"[^0-9"]{{0,30}}(\d{{5}})', chunk_of(p))
        return found.group(1) if found else "NONE"
    if "List every assignment" in p:
        return ", ".join(re.findall(r"VAR (\w = (?:VAR )?\w+)", p)) or "NONE"
    if p.startswith("Assignments:"):
        return resolve_vars(p)
    if "Partial answers" in p:
        return "; ".join(re.findall(r"^\d+\. (.*)$", p, re.MULTILINE))
    if "Which facts" in p:
        return "; ".join(f + " was noted in a sentence of some length here" for f in re.findall(r"FACT-\d+", p)) or "NONE"
    if "Answer so far" in p:
        statuses = re.findall(r"STATUS (\w+)", p.split("Next part of the text:")[1])
        return statuses[-1] if statuses else p.split("Answer so far: ")[1].split("\n")[0]
    if "State so far" in p:
        state = int(re.search(r"State so far:\n(\d+)", p).group(1))
        return str(state + sum(int(x) for x in re.findall(r"Add (\d+)", p)))
    return "?"


def resolve_vars(p: str) -> str:
    pairs = dict(re.findall(r"(\w) = ((?:VAR )?\w+)", p))
    value = re.search(r"value (\d+)", p).group(1)

    def val(name, depth=0):
        v = pairs.get(name, "")
        return val(v[4:], depth + 1) if v.startswith("VAR ") and depth < 20 else v

    return ", ".join(sorted(n for n in pairs if val(n) == value))


def write(tmp_path, case, name="doc.txt"):
    return case.write(tmp_path / name)


@pytest.mark.parametrize("task", ["passkey", "kv", "count"])
def test_map_reduce_finds_exact_answers_at_length(tmp_path, task):
    case = make_case(task, 30_000, seed=1)
    engine = Scripted()
    result = run(case.instruction, write(tmp_path, case), "map-reduce", case.kind, {"default": engine},
                 tmp_path / "out", chunk_tokens=400)
    assert case.check(result["answer"]), (result["answer"], case.answer)
    assert result["chunks"] > 40 and result["calls"] == result["chunks"] == engine.calls
    if task == "count":
        assert result["overlap"] == 0  # summed counts would count the overlap twice


def test_dag_plan_tracks_variables_across_chunks(tmp_path):
    case = make_case("vartrack", 20_000, seed=2)
    plan = Plan(instruction=case.instruction, steps=[
        Step(name="extract", kind="map", answer="list",
             prompt="{{chunk}}\n\nList every assignment in this text as NAME = VALUE, or NONE."),
        Step(name="merge", kind="reduce", answer="list", reads=["extract"]),
        Step(name="resolve", answer="list", prompt="Assignments:\n{{merge}}\n\n{{instruction}}")])
    result = run(case.instruction, write(tmp_path, case), plan, models={"default": Scripted()},
                 out=tmp_path / "out", chunk_tokens=300)
    assert case.check(result["answer"]), (result["answer"], case.answer)
    assert json.loads((tmp_path / "out" / "result.json").read_text())["answer"] == result["answer"]


def test_text_reduce_is_a_tree_that_keeps_every_partial(tmp_path):
    text = "\n\n".join(f"Filler words here. FACT-{i} is noted." + " pad" * 40 for i in range(60))
    (tmp_path / "doc.txt").write_text(text)
    result = run("Which facts are noted?", tmp_path / "doc.txt", "map-reduce", "text",
                 {"default": Scripted(context=300)}, tmp_path / "out", chunk_tokens=100, overlap=0)
    assert sorted(re.findall(r"FACT-\d+", result["answer"])) == sorted(f"FACT-{i}" for i in range(60))
    assert result["reduce_depth"] >= 2


def test_refine_keeps_the_order(tmp_path):
    text = "\n\n".join(f"Day {i}. STATUS {w}." for i, w in enumerate(["red", "green", "blue", "gold"] * 10))
    (tmp_path / "doc.txt").write_text(text)
    result = run("What is the last status?", tmp_path / "doc.txt", "refine", "label",
                 {"default": Scripted()}, tmp_path / "out", chunk_tokens=20, overlap=0)
    assert result["answer"] == "gold" and result["chunks"] > 5


def test_long_instruction_becomes_a_chain_carrying_state(tmp_path):
    steps = "\n".join(f"{i}. Add {i} to the number." for i in range(1, 201))
    (tmp_path / "in.txt").write_text("7")
    engine = Scripted(context=1024)
    result = run(steps, tmp_path / "in.txt", "auto", models={"default": engine}, out=tmp_path / "out")
    assert len(result["plan"]["steps"]) > 1 and result["calls"] == len(result["plan"]["steps"])
    assert result["answer"] == str(7 + sum(range(1, 201)))
    assert chain(steps, lambda t: len(t.split()), 100).steps[1].prompt.count("{{part0}}") == 1


def test_unparsable_output_is_retried_once_then_reported_with_its_chunk(tmp_path):
    text = "\n\n".join(["BAD-ONCE filler."] * 3 + ["The pass key is 42424."] + ["ALWAYS-BAD filler."])
    (tmp_path / "doc.txt").write_text(text)
    result = run("What is the pass key?", tmp_path / "doc.txt", "map-reduce", "value", {"default": Scripted()},
                 tmp_path / "out", chunk_tokens=5, overlap=0)
    assert result["answer"] == "42424" and result["chunks"] == 4  # [bad, bad] [bad] [key] [always-bad]
    assert result["retries"] == 3
    assert [e["from"]["chunk"] for e in result["errors"]] == [3]
    assert "ALWAYS-BAD" in result["errors"][0]["from"]["text"]


class Cached(Scripted):
    """A scripted engine whose prefix cache holds ``prefix_tokens``; records each call's size."""

    def __init__(self, prefix_tokens: int):
        super().__init__()
        self.prefix_tokens, self.sizes = prefix_tokens, []

    def generate(self, chats, sampling=None, **kw):
        self.sizes.append((len(chats), "Reply in exactly this form" in chats[0][-1]["content"]))
        return super().generate(chats, sampling, **kw)


def test_map_batches_fit_the_prefix_cache_so_a_retry_follows_its_chunk(tmp_path):
    text = "\n\n".join([f"BAD-ONCE filler {i}." for i in range(6)] + ["The pass key is 42424."])
    (tmp_path / "doc.txt").write_text(text)
    engine = Cached(prefix_tokens=2 * (5 + 16))  # two chunks of 5 tokens (+ margin) at a time
    result = run("What is the pass key?", tmp_path / "doc.txt", "map-reduce", "value", {"default": engine},
                 tmp_path / "out", chunk_tokens=5, overlap=0, batch_size=64)
    assert result["answer"] == "42424"
    firsts = [n for n, retry in engine.sizes if not retry]
    assert max(firsts) == 2 and sum(firsts) == result["chunks"]
    assert [retry for _, retry in engine.sizes[:4]] == [False, True, False, True]  # each batch, then its retries


def test_a_killed_run_resumes_from_the_cache(tmp_path):
    case = make_case("passkey", 20_000, seed=3)
    path = write(tmp_path, case)
    args = (case.instruction, path, "map-reduce", "value")
    with pytest.raises(RuntimeError, match="killed"):
        run(*args, {"default": Scripted(fail_after=24)}, tmp_path / "out", chunk_tokens=300, batch_size=8)
    again = Scripted()
    result = run(*args, {"default": again}, tmp_path / "out", chunk_tokens=300, batch_size=8)
    assert result["cached_calls"] == 24 and again.calls == result["chunks"] - 24
    assert case.check(result["answer"])
    third = Scripted()
    assert run(*args, {"default": third}, tmp_path / "out", chunk_tokens=300)["answer"] == result["answer"]
    assert third.calls == 0


def test_dry_run_counts_calls_without_calling(tmp_path):
    case = make_case("kv", 10_000)
    engine = Scripted()
    plan = run(case.instruction, write(tmp_path, case), "map-reduce", "value", {"default": engine},
               tmp_path / "out", chunk_tokens=500, dry_run=True)
    assert plan["dry_run"] and plan["total_calls"] == plan["chunks"] > 10 and engine.calls == 0


def bad_plans():
    m = Step(name="m", kind="map", prompt="{{chunk}} x")
    yield Plan(steps=[Step(name="a", prompt="{{b}}"), Step(name="b", prompt="{{a}}")]), "cycle"
    yield Plan(steps=[m, Step(name="r", prompt="{{nowhere}}")]), "unknown step 'nowhere'"
    yield Plan(steps=[m.model_copy(update={"model": "nosuch"})]), "unknown model or adapter 'nosuch'"
    yield Plan(steps=[Step(name="m", kind="map", prompt="no chunk")]), "must contain"
    yield Plan(steps=[Step(name="a", prompt="x"), Step(name="r", kind="reduce", reads=["a"])]), "one map step"
    yield Plan(steps=[m, m]), "duplicate"


@pytest.mark.parametrize("plan,message", list(bad_plans()))
def test_bad_plans_are_rejected_before_any_model_runs(tmp_path, plan, message):
    (tmp_path / "doc.txt").write_text("some text.")
    engine = Scripted()
    with pytest.raises(PlanError, match=message):
        run("x", tmp_path / "doc.txt", plan, models={"default": engine}, out=tmp_path / "out")
    assert engine.calls == 0


def test_plan_yaml_and_bad_inputs(tmp_path):
    (tmp_path / "plan.yaml").write_text("steps:\n  - {name: a, prompt: '{{b}}'}\n  - {name: b, prompt: '{{a}}'}\n")
    (tmp_path / "doc.txt").write_text("text.")
    engine = Scripted(context=300)
    with pytest.raises(PlanError, match="cycle among a, b"):
        run("x", tmp_path / "doc.txt", str(tmp_path / "plan.yaml"), models={"default": engine})
    (tmp_path / "blank.txt").write_text("  \n\n  \n")
    with pytest.raises(InputError, match="empty"):
        run("x", tmp_path / "blank.txt", "map-reduce", models={"default": engine}, out=tmp_path / "o")
    with pytest.raises(InputError, match="larger than the context"):
        run("x", tmp_path / "doc.txt", "map-reduce", models={"default": engine}, out=tmp_path / "o",
            chunk_tokens=5000)
    with pytest.raises(PlanError, match="not a run folder or a model"):
        run("x", tmp_path / "doc.txt", "map-reduce", models={"default": str(tmp_path / "no-run")})
    assert engine.calls == 0
    assert check_plan(map_reduce("x", "list"), {"default"}) == [["map"], ["reduce"]]


def test_map_reduce_runs_on_the_tiny_model_and_resumes(tmp_path, tiny_llama):
    """The real Engine path (chat template, batching, budget from the model's 256-token context)."""
    case = make_case("passkey", 400, seed=0)
    engine = Engine.load(str(tiny_llama), batch_size=8)
    plan = map_reduce(case.instruction, "value")
    plan.steps[0].max_new_tokens = 4
    args = (case.instruction, write(tmp_path, case), plan, "value", {"default": engine}, tmp_path / "out")
    first = run(*args)
    assert first["chunks"] >= 4 and first["calls"] >= first["chunks"] and first["chunk_tokens"] < 256
    second = run(*args)
    assert second["calls"] == 0 and second["answer"] == first["answer"]
    assert (tmp_path / "out" / "answer.txt").read_text().strip() == first["answer_text"]


def test_parsers_forgive_one_value_in_a_sentence_but_not_two():
    from ils.infer.reducers import ParseFailure, parse, reduce_exact

    assert parse("value", "The pass key is 10867.") == "10867"
    assert parse("value", 'The value of key "green-otter-9" is 53256') == "53256"
    assert parse("value", 'The value of key "green-otter-9" is NONE.') is None
    assert parse("value", "NONE") is None and parse("number", "1,204") == 1204
    with pytest.raises(ParseFailure):
        parse("value", "It is 123 or 456")
    with pytest.raises(ParseFailure):
        parse("number", "three")
    assert reduce_exact("list", [["a", "B"], ["b", "c"], None]) == ["a", "B", "c"]
    assert reduce_exact("label", ["x", None, "y", "y"]) == "y" and reduce_exact("number", [2, None, 3]) == 5
