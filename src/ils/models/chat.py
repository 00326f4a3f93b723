"""One chat template for training and inference, and the encoding of an Example for training.

Labels are built from the known lengths of prompt and response, never by masking pad ids:
SmolLM2 uses ``<|im_end|>`` as both pad and EOS, and masking pads would leave EOS untrained.
"""

from __future__ import annotations

from typing import Any, Sequence

from ils.errors import TrainingError

IGNORE = -100

# ChatML, used only when a local model folder ships no chat template of its own.
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + eos_token + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)


def ensure_chat_template(tok: Any) -> Any:
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML
    return tok


def render_prompt(tok: Any, messages: Sequence[dict]) -> str:
    """The text the model sees before it answers: the same at training and at inference."""
    return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def encode_prompt(tok: Any, messages: Sequence[dict]) -> list[int]:
    return tok(render_prompt(tok, messages), add_special_tokens=False).input_ids


def encode_example(tok: Any, example: Any, max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): prompt masked, response + EOS trained; truncated from the left of the prompt."""
    prompt = encode_prompt(tok, example.prompt_messages)
    answer = tok(example.response, add_special_tokens=False).input_ids + [tok.eos_token_id]
    answer = answer[: max(0, max_length - 1)]
    prompt = prompt[len(prompt) - (max_length - len(answer)):] if max_length > len(answer) else []
    return prompt + answer, [IGNORE] * len(prompt) + answer


def check_template(tok: Any, example: Any) -> None:
    """Refuse to train when the template renders a finished conversation differently from
    the inference prompt followed by the answer and EOS (training and serving would disagree)."""
    msgs = [m.model_dump() for m in example.messages]
    full = tok.apply_chat_template(msgs, tokenize=False)
    expected = render_prompt(tok, example.prompt_messages) + example.response + tok.eos_token
    if not full.startswith(expected):
        raise TrainingError(
            "the chat template renders a training conversation differently from the inference prompt "
            f"+ answer + EOS ({tok.eos_token!r}); expected it to start with {expected[-80:]!r}, got "
            f"{full[len(expected) - 80: len(expected) + 20]!r}. Fix the tokenizer's chat_template.")
