"""Request bodies of the OpenAI routes we serve (unknown fields are accepted and ignored, like OpenAI's)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


def _encodable(v: Any) -> Any:
    """Text must be valid UTF-8: a lone surrogate such as "\\ud800" is refused, not a 500 later."""
    parts = [v] if isinstance(v, str) else (v if isinstance(v, list) else [])
    for part in parts:
        text = part.get("text") if isinstance(part, dict) else part
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text is not valid Unicode (a lone surrogate?)") from None
    return v


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]]

    @field_validator("content")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return _encodable(v)

    def as_dict(self) -> dict:
        text = self.content if isinstance(self.content, str) else \
            "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingFields(BaseModel):
    model: str
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(1 << 63), lt=1 << 64, description="any 64-bit integer")
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = Field(False, description="vLLM's extension: generate max_tokens tokens whatever comes")

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return _encodable(v)


class ChatRequest(SamplingFields):
    messages: list[Message] = Field(min_length=1)


class CompletionRequest(SamplingFields):
    prompt: str | list[str]
    temperature: float = Field(1.0, ge=0, le=2)
    echo: bool = Field(False, description="return the prompt before the completion (with its log-probs)")
    logprobs: int | None = Field(None, ge=0, le=5, description="log-probs of the chosen tokens (no top list)")

    @field_validator("prompt")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return _encodable(v)


class FeedbackRequest(BaseModel):
    completion_id: str = Field(min_length=1, max_length=64)
    rating: int = Field(ge=-1, le=1, description="-1 bad, 0 neutral, 1 good")
    correction: str | None = Field(None, max_length=100_000)
    comment: str | None = Field(None, max_length=10_000)


class ReloadRequest(BaseModel):
    model: str | None = Field(None, description="run folder or model name; default: the store's current version")
