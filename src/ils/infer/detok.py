"""Text of an answer as its tokens arrive, and stop strings that end it at the step they appear.

Incremental decoding is the tokenizers library's ``DecodeStream`` (it holds back bytes of a character
split across tokens); tokenizers without it fall back to decoding the whole answer each step. Text
that could be the start of a stop string is held back from the stream until it is clear that it is
not, so a client never sees part of a stop string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TextStream:
    def __init__(self, tok: Any, stops: Sequence[str] = ()):
        self.tok, self.stops = tok, tuple(s for s in stops if s)
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.text, self.sent, self.stopped = "", 0, False
        self.ids: list[int] = []
        self._stream = _decode_stream(tok)

    def add(self, token: int) -> None:
        """Append a token; sets ``stopped`` (and cuts the text) when a stop string appears."""
        before = len(self.text)
        self.ids.append(token)
        self.text += self._piece(token)
        if self.stops:
            self._check_stops(max(0, before - self.hold))

    def _piece(self, token: int) -> str:
        if self._stream is not None:
            return self._stream.step(self.tok.backend_tokenizer, token) or ""
        full = self.tok.decode(self.ids, skip_special_tokens=True)
        return "" if full.endswith("\ufffd") else full[len(self.text):]

    def _check_stops(self, start: int) -> None:
        cuts = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if cuts:
            self.text, self.stopped = self.text[: min(cuts)], True

    def flush(self) -> None:
        """The answer ended: bytes held back for a character that never completed become U+FFFD, as
        ``tokenizer.decode`` renders them (a stop string already cut the text: nothing to add)."""
        if self.stopped or self._stream is None or not self.ids:
            return
        full = self.tok.decode(self.ids, skip_special_tokens=True)
        if full.startswith(self.text):
            self.text = full

    def delta(self, final: bool = False) -> str:
        """Text not yet handed out (all of it once ``final``; else all but a possible stop-string start)."""
        end = len(self.text) if final or self.stopped else max(self.sent, len(self.text) - self.hold)
        piece, self.sent = self.text[self.sent:end], end
        return piece


def _decode_stream(tok: Any) -> Any:
    if getattr(tok, "backend_tokenizer", None) is None:
        return None
    from tokenizers.decoders import DecodeStream

    return DecodeStream(skip_special_tokens=True)
