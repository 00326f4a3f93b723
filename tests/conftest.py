"""Fixtures: a tiny random-weight Llama with a trained byte-level BPE tokenizer (no downloads)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from ils.records import Example

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
CORPUS = ["Add 2 and 3.", "What is 12 plus 7?", "Sort these numbers: 5, 1, 4.", "Reverse the words.",
          "hello world", "The answer is 42.", "0123456789 abcdefghijklmnopqrstuvwxyz"] * 20


IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) every part is installed, so a skipped test is a failure, with the skip's reason.

    On a laptop a test whose system part is missing (PostgreSQL, Chromium, bubblewrap, the data folder)
    still skips and says why."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every part must be present: {reason}"


def needs_module(name: str, extra: str) -> None:
    """Skip (a failure in CI) when an optional extra's package is missing."""
    try:
        importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} is not installed: pip install -e '.[{extra}]' (make install does)")


@pytest.fixture(autouse=True)
def _ils_home(tmp_path_factory, monkeypatch, request):
    """Every test gets its own ILS_HOME, except integration tests, which reuse the real cache."""
    if "integration" not in request.keywords:
        monkeypatch.setenv("ILS_HOME", str(tmp_path_factory.mktemp("ils_home")))


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|im_end|>", unk_token="<|endoftext|>")
    fast.chat_template = CHATML
    return fast


def build_tiny_llama(folder: Path, seed: int = 0, **overrides) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer()
    torch.manual_seed(seed)
    settings = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                    tie_word_embeddings=True, initializer_range=0.3, eos_token_id=tok.eos_token_id,
                    pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    config = LlamaConfig(**{**settings, **overrides})
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def tiny_llama_1k(tmp_path_factory) -> Path:
    """The tiny Llama with a 1,024-token context (for prompts longer than 256 tokens)."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama_1k"), max_position_embeddings=1024)


@pytest.fixture(scope="session")
def tiny_llama_bias(tmp_path_factory) -> Path:
    """The tiny Llama with biases in attention and MLP (for BitFit)."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama_bias"), attention_bias=True, mlp_bias=True)


def toy_examples(n: int = 32, seed: int = 0) -> list[Example]:
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        out.append(Example.from_alpaca(f"Add {a} and {b}.", "", str(a + b), task="toy_add",
                                       answer=str(a + b), id=f"toy-{i}"))
    return out


@pytest.fixture
def toy_data(tmp_path) -> Path:
    from ils.records import write_examples

    folder = tmp_path / "toy"
    write_examples(folder / "train.jsonl", toy_examples(48))
    write_examples(folder / "validation.jsonl", toy_examples(8, seed=1))
    write_examples(folder / "test.jsonl", toy_examples(8, seed=2))
    return folder


def pytest_configure(config):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


BERT_WORDS = ("the a is was in on at of and to movie film plot good great fine lovely bad awful dull poor "
              "peter mary john lives works visited paris london berlin acme corp where did who what cat dog "
              "sat ran mat park house city . , ?").split()


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A tiny random BERT with a WordPiece vocabulary written here (sub-words: ##ville, ##son)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS, "##ville", "##son",
             *letters, *[f"##{c}" for c in letters]]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    wp = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok = PreTrainedTokenizerFast(tokenizer_object=wp, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]",
                                  model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    BertForMaskedLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
