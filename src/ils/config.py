"""Typed configs per stage, read from YAML with command-line overrides.

An override is ``--key value`` where key is a dotted path (``--lora.r 8``) or a field name that is
unique in the config (``--lr 1e-4``). Values are parsed as YAML scalars, so ``1e-4``, ``true`` and
``[q_proj, v_proj]`` work; a yes/no option alone (``--bf16``) means true, any other option needs a value.
Names of registered units (method, head kind) are checked against their registries by the stage that
uses them, before it creates anything (``ils.train.checks``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ils.errors import ConfigError
from ils.io import read_text, read_yaml, yaml_where

C = TypeVar("C", bound=BaseModel)
PROMPT_MODE = re.compile(r"zero-shot|few-shot(:\d+(:(random|similar))?)?")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraOptions(Strict):
    r: int = Field(16, ge=1, description="rank of the update matrices")
    alpha: int = Field(32, gt=0, description="scale numerator: the update is scaled by alpha / r")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: str | list[str] = Field("all-linear", description="module names, or all-linear")


class EvalOptions(Strict):
    test: str | None = Field(None, description="test file or dataset folder evaluated before/after")
    split: str = Field("test", description="the split of a dataset folder to score: test, or validation "
                       "while choosing a recipe (the test split is then scored once, at the end)")
    max_new_tokens: int = Field(32, ge=1, description="longest generated answer, in tokens")
    batch_size: int = Field(16, ge=1, description="answers generated together (more: faster, more memory)")
    limit: int | None = Field(None, ge=1, description="evaluate at most this many test records")
    modes: list[str] = Field([], description="prompt-learning baselines of the base model scored before "
                             "training beside zero-shot, e.g. [few-shot:4]; exemplars come from the train data")

    @field_validator("modes")
    @classmethod
    def _prompt_modes(cls, modes: list[str]) -> list[str]:
        bad = [m for m in modes if not PROMPT_MODE.fullmatch(m)]
        if bad:
            raise ValueError(f"{bad}: eval modes are zero-shot or few-shot:K[:random|similar]; the tuned "
                             "run is always scored")
        return modes


class HeadOptions(Strict):
    kind: str | None = Field(None, description="train an encoder head of this kind (a name in "
                             "ils.models.heads: token, sequence, span, ...; auto: the head of the records' "
                             "task) instead of tuning a causal LM")
    labels: list[str] | None = Field(None, description="label set of a classification head (default: "
                                     "the labels seen in training data); other labels are an error")
    doc_stride: int = Field(128, ge=1, description="extractive QA: overlap between windows of a long context")
    max_answer_length: int = Field(30, ge=1, description="extractive QA: longest answer span, in tokens")
    n_best: int = Field(20, ge=1, description="extractive QA: start/end candidates considered per window")
    all_answers: bool = Field(False, description="extractive QA: train on every distinct gold span of a "
                              "question (SQuAD dev has up to five distinct ones), not only the first")
    answer_loss: Literal["each", "marginal"] = Field("each", description="extractive QA with all_answers: "
                                                     "'each' makes one training item per gold span; "
                                                     "'marginal' one item per window, scored by the summed "
                                                     "probability of its gold starts (and ends)")
    case_types: bool = Field(False, description="token classification: give sub-tokens of capitalised "
                             "words token type 1, so an uncased encoder still sees casing")
    pooling: Literal["cls", "mean"] = Field("cls", description="sequence classification: classify from the "
                                            "[CLS] token (transformers' head) or the mean of all tokens "
                                            "(how sentence-embedding encoders were trained)")

    def changed(self) -> list[str]:
        """The head options (not ``kind``) that differ from their defaults."""
        fields = type(self).model_fields
        return [k for k, f in fields.items() if k != "kind" and getattr(self, k) != f.default]


class PreferenceOptions(Strict):
    beta: float = Field(0.1, gt=0, description="DPO/KTO: how far the policy may move from the reference "
                        "(the scale of the log-probability ratios; TRL's default)")
    sft_weight: float = Field(0.0, ge=0, description="DPO: weight of an SFT term, the mean negative log-prob of the "
                              "chosen answers' tokens (RPO, Pang et al. 2024; TRL's loss_type [sigmoid, sft]); keeps "
                              "the chosen answers likely so the policy cannot win by making both unlikely")
    desirable_weight: float = Field(1.0, gt=0, description="KTO: weight of the desirable (thumbs-up) answers")
    undesirable_weight: float = Field(1.0, gt=0, description="KTO: weight of the undesirable answers")


class AdversarialOptions(Strict):
    attack: Literal["fgm", "pgd"] | None = Field(None, description="adversarial training on embeddings: fgm "
                                                 "(one step along the gradient, Miyato et al.) or pgd (several "
                                                 "projected steps, Madry et al.); each adds a forward/backward")
    epsilon: float = Field(1.0, gt=0, description="L2 radius of the perturbation of each sequence's embeddings")
    steps: int = Field(3, ge=1, description="pgd: ascent steps (each one more forward and backward)")
    step_size: float | None = Field(None, gt=0, description="pgd: size of one step (default 2.5*epsilon/steps)")
    embedding: str = Field("input", description="which embedding output is perturbed: input (the token "
                           "embeddings) or a module name such as bert.embeddings (tokens+positions+types)")
    weight: float = Field(1.0, gt=0, description="weight of the adversarial loss beside the clean one")


class ContinualOptions(Strict):
    previous: str | None = Field(None, description="the previous task's run folder: training continues from "
                                 "its weights (same method and options); ewc, lwf and adapters read it")
    ewc: float = Field(0.0, ge=0, description="EWC: weight of the penalty sum F*(w - w_prev)^2 / 2, F the diagonal "
                       "Fisher on the previous task's data (0: off)")
    ewc_data: str | None = Field(None, description="EWC: the previous task's data (default: the previous "
                                 "run's training data)")
    ewc_samples: int = Field(128, ge=1, description="EWC: records of that data the Fisher is averaged over")
    lwf: float = Field(0.0, ge=0, description="LwF: weight of the KL from the teacher's outputs on the new "
                       "data (0: off); the teacher's top-k log-probs are computed once and stored")
    lwf_temperature: float = Field(2.0, gt=0, description="LwF: softmax temperature of teacher and student")
    lwf_top_k: int = Field(32, ge=1, description="LwF: teacher log-probs kept per trained token (the rest of "
                           "the vocabulary is one 'other' class)")
    teacher: str | None = Field(None, description="LwF: teacher model or run (default: the model as training "
                                "starts, i.e. the previous run); its tokenizer must be the student's")
    adapters: bool = Field(False, description="one adapter per task: a fresh LoRA on the same base; the run "
                           "lists the earlier runs' adapters and inference routes each prompt to one")

    def active(self) -> bool:
        return bool(self.previous or self.ewc or self.lwf or self.adapters)


class TrainConfig(Strict):
    model: str = Field("default", description="model source name, local HF folder or .gguf file")
    data: str = Field(..., description="training file, or a dataset folder with train.jsonl")
    validation: str | None = Field(None, description="validation file (default: the dataset's)")
    output: str = Field("runs/run", description="run folder to create (or resume)")
    method: str = Field("lora", description="tuning method (docs/methods.md); an unknown name lists them")
    lora: LoraOptions = Field(LoraOptions(), description="LoRA options (method lora, dora, adalora)")
    method_options: dict[str, Any] = Field({}, description="options of the chosen method (see docs/methods.md)")
    head: HeadOptions = Field(HeadOptions(), description="encoder head: its kind and options")
    objective: str = Field("sft", description="what the loss is: sft (response tokens), dpo (chosen/rejected "
                           "pairs) or kto (answers labelled desirable or not); an encoder head uses its own")
    preference: PreferenceOptions = Field(PreferenceOptions(), description="DPO/KTO options")
    adversarial: AdversarialOptions = Field(AdversarialOptions(), description="FGM/PGD on embeddings")
    continual: ContinualOptions = Field(ContinualOptions(), description="keeping earlier tasks: EWC, LwF, "
                                        "one adapter per task, continuing from a previous run")
    epochs: float = Field(1.0, gt=0, description="passes over the training data (max_steps wins when set)")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(8, ge=1, description="records per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step (effective batch: "
                            "batch_size × grad_accum)")
    lr: float = Field(2e-4, gt=0, allow_inf_nan=False, description="peak learning rate (AdamW), reached "
                      "after warm-up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decay on weight matrices (not biases/norms)")
    dropout: float | None = Field(None, ge=0, lt=1, description="set every dropout of the model to this rate")
    activation_checkpointing: bool | None = Field(None, description="recompute blocks' activations in the "
                                                  "backward pass (less memory, slower): unset = as many blocks "
                                                  "as keep activation_budget_mb, true = all, false = none")
    activation_budget_mb: int = Field(2048, ge=1, description="estimated memory of saved activations one "
                                      "micro-batch may use before blocks are checkpointed (unset "
                                      "activation_checkpointing)")
    neftune_alpha: float | None = Field(None, gt=0, description="NEFTune: uniform noise of scale "
                                        "alpha/sqrt(L*d) "
                                        "on input embeddings while training (robustness; 5 is typical)")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="learning-rate decay "
                                                              "after warm-up")
    warmup_steps: int = Field(10, ge=0, description="steps of linear warm-up from 0 to lr")
    max_grad_norm: float = Field(1.0, gt=0, description="clip the gradient norm to this")
    max_length: int = Field(512, ge=1, description="longest training sequence in tokens; longer records "
                            "are cut (memory grows with it)")
    bf16: bool | None = Field(None, description="bf16 autocast; default: on where the hardware multiplies bf16 "
                              "natively (AVX512-BF16/AMX CPUs, bf16 GPUs), off elsewhere, where it is slower")
    group_by_length: bool = Field(True, description="batch records of similar length together (less "
                                  "padding, faster)")
    eval_every: int = Field(50, ge=0, description="validation loss every N steps (0: never)")
    save_every: int = Field(50, ge=0, description="checkpoint every N steps (0: only at the end)")
    keep_checkpoints: int = Field(2, ge=1, description="resumable checkpoints kept (older ones deleted)")
    patience: int | None = Field(None, ge=1, description="stop after N validations without improvement")
    log_every: int = Field(1, ge=1, description="write a metrics.jsonl line every N steps")
    seed: int = Field(0, ge=0, lt=2**32, description="seed of initialisation, batch order and dropout")
    limit: int | None = Field(None, ge=1, description="use at most this many training records")
    eval: EvalOptions | None = Field(None, description="evaluate on a test set before and after training "
                                     "(the run's eval/)")


def load_config(cls: type[C], path: str | Path | None, overrides: dict[str, Any] | None = None) -> C:
    """YAML file (optional) + overrides → a validated config; errors name the file and field."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(Path(path))
    given = {_resolve_key(cls, key): value for key, value in (overrides or {}).items()}
    for key, value in given.items():
        _set(data, key, _flag(cls, key) if value is None else value)
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ConfigError("\n".join(_where(err, path, given) for err in e.errors())) from None


def _where(err: Any, path: str | Path | None, given: dict[str, Any]) -> str:
    """``--key: reason (got VALUE)`` for an override, ``file: key: reason (got VALUE)`` for the file."""
    key = ".".join(map(str, err["loc"]))
    got = f" (got {err['input']!r})" if not isinstance(err.get("input"), (dict, list)) else ""
    if key in given:
        return f"--{key}: {err['msg']}{got}"
    where = yaml_where(path, read_text(path), err["loc"]) if path else "options"
    return f"{where}: {key}: {err['msg']}{got}"


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options")
    return data


def _fields(cls: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in cls.model_fields.items():
        sub = _model_type(info.annotation)
        out.append(prefix + name)
        if sub is not None:
            out.extend(_fields(sub, prefix + name + "."))
    return out


def _model_type(annotation: Any) -> type[BaseModel] | None:
    for t in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _resolve_key(cls: type[BaseModel], key: str) -> str:
    key = key.lstrip("-").replace("-", "_")
    paths = _fields(cls)
    if key in paths:
        return key
    matches = [p for p in paths if p.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    hint = f"ambiguous, use one of {matches}" if matches else "unknown option"
    raise ConfigError(f"--{key}: {hint}; options are: {', '.join(paths)}")


def _flag(cls: type[BaseModel], dotted: str) -> bool:
    """An option given without a value: true for a yes/no option, refused for any other."""
    model: Any = cls
    *parents, leaf = dotted.split(".")
    for p in parents:
        model = _model_type(model.model_fields[p].annotation)
    annotation = model.model_fields[leaf].annotation
    if annotation is bool or bool in getattr(annotation, "__args__", ()):
        return True
    raise ConfigError(f"--{dotted}: needs a value (--{dotted} VALUE); only yes/no options stand alone")


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        data = data.setdefault(p, {}) if isinstance(data.get(p), dict) or p not in data else data[p]
    data[leaf] = _scalar(dotted, value) if isinstance(value, str) else value


def _scalar(dotted: str, value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except (yaml.YAMLError, RecursionError) as e:
        why = getattr(e, "problem", None) or e
        raise ConfigError(f"--{dotted}: {value!r} is not a valid value ({why})") from None


def parse_overrides(args: list[str]) -> dict[str, str | None]:
    """['--lr', '1e-4', '--lora.r=8', '--bf16'] → {'lr': '1e-4', 'lora.r': '8', 'bf16': None}.

    An option followed by another option (or by nothing) has no value: None, which ``load_config``
    turns into true for a yes/no option and refuses for any other."""
    out: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument {arg!r}; options look like --lr 1e-4")
        key, eq, value = arg[2:].partition("=")
        if eq:
            out[key] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[key], i = args[i + 1], i + 1
        else:
            out[key] = None
        i += 1
    return out


def dump_config(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- the config reference (--help, docs)

def config_fields(cls: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted name, type, default, description) of every field, sub-models expanded after their row."""
    import typing

    rows = []
    for name, info in cls.model_fields.items():
        sub = _model_type(info.annotation)
        rows.append((prefix + name, type_name(info.annotation), _default(info), info.description or ""))
        if sub is not None:  # a list of sections (a build config's sources) reads ``sources[].task``
            many = typing.get_origin(info.annotation) is list
            rows.extend(config_fields(sub, prefix + name + ("[]." if many else ".")))
    return rows


def type_name(annotation: Any) -> str:
    """A type as a user reads it: ``int``, ``float | null``, ``cosine | linear | constant``."""
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if args and origin in (typing.Union, __import__("types").UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def config_help(cls: type[BaseModel], flags: bool = True) -> str:
    """Plain text for ``--help``: per field ``--name TYPE (default D)`` (without ``--`` when the command
    takes no overrides) and its description below it."""
    lines = []
    for name, kind, default, what in config_fields(cls):
        if "section" in kind:
            continue
        shown = " (required)" if default == "required" else f" (default {default})" if default else ""
        lines += [f"{'--' if flags else ''}{name} {kind}{shown}", f"    {what}"]
    return "\n".join(lines)
