"""Extractive question answering from SQuAD JSON (or its JSONL rows); every answer is checked against
its context.

The gold answer keeps every reference text (SQuAD dev has several per question) and the offset of
the first; the target is the first reference, so parsing the target gives the gold span back. An
encoder learns it with the span head: the start and end of the answer inside the context.
Option ``articles: [first, end]`` reads only those articles (a slice), so a config can split one
SQuAD file by article.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.io import json_lines, parse_json, read_text
from ils.tasks import TASKS
from ils.tasks.answers import has_content
from ils.tasks.base import RawRecord, Task
from ils.tasks.templates import Template

_NO_ANSWER = re.compile(r"(i don'?t know|i do not know|i cannot|i can'?t|sorry|no answer|not (given|stated|"
                        r"mentioned)|the (passage|text|context) does not)\b", re.I)

TEMPLATES = (
    Template("question", "{{ context }}\n\nQ: {{ question }}\nAnswer with a short span copied from the "
             "text above.", "{{ answer }}", "question"),
    Template("command", "Read the passage and answer the question with the exact words of the passage."
             "\n\nPassage: {{ context }}\n\nQuestion: {{ question }}", "{{ answer }}", "command"),
    Template("extract", "Extract the answer to \"{{ question }}\" from this text:\n\n{{ context }}",
             "{{ answer }}", "command"),
    Template("title", "Article: {{ title }}\n\n{{ context }}\n\n{{ question }}", "{{ answer }}",
             "question"),
    Template("span", "Question: {{ question }}\nContext: {{ context }}\nWhich span of the context answers "
             "the question?", "{{ answer }}", "question"),
    Template("inverted", "Write a question about the passage below whose answer is \"{{ answer }}\"."
             "\n\n{{ context }}", "{{ question }}", "inverted"),
)


class QATask(Task):
    name = "qa"
    metric = "squad"
    input_fields = ("context", "question")
    output = "span"
    head = "span"
    templates = TEMPLATES
    options = {"articles": None}
    about = "Extractive question answering: the answer is a span of the context (SQuAD)."
    answer_doc = ("{text, start, texts}: the first reference span, its character offset in the context, and "
                  "every distinct reference text (SQuAD EM/F1 take the best one)")
    option_help = {"articles": "[first, end]: read only these articles (a slice), to split one SQuAD "
                               "file by article"}
    example = {
        "file": "squad_train.jsonl",
        "content": '{"id": "q1", "title": "Denver", "context": "Denver is the capital of Colorado.", '
                   '"question": "What is Denver the capital of?", "answers": {"text": ["Colorado"], '
                   '"answer_start": [25]}}\n',
        "options": {},
        "note": "SQuAD's own JSON ({\"data\": [articles]}) is read as well.",
    }

    def parse(self, text: str) -> str | None:
        """The answer text; empty output or a non-answer ("I don't know") is unparseable. Quotes are
        kept: some gold answers are quoted titles, and the SQuAD metric ignores punctuation anyway."""
        text = text.strip()
        if text.lower().startswith("answer:"):
            text = text[7:].strip()
        return text if has_content(text) and not _NO_ANSWER.match(text) else None

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        """SQuAD JSON (``{"data": [articles]}``) or JSONL rows as Hugging Face datasets writes them."""
        path = Path(path)
        if not path.is_file():
            raise RecordError(str(path), None, "file", "not found")
        rows = _squad_rows(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _squad_articles(path)
        first, end = self.options.get("articles") or (None, None)
        empty = True
        for i, title, where, context, qa in rows:
            empty = False
            if isinstance(qa, RecordError):
                yield qa  # a JSONL row not in SQuAD's layout belongs to no article
            elif (first is None or i >= first) and (end is None or i < end):
                yield _record(path, where, title, context, qa)
        if empty:
            raise RecordError(str(path), None, "file", "no questions in it (an empty file)")

    def correct(self, parsed: Any, gold: Any) -> bool:
        return parsed is not None and parsed in gold["texts"]

    def head_input(self, ex: Any) -> dict[str, Any]:
        f = self.fields(ex)
        spans = f.get("answer_spans") or [{"text": f["answer"], "start": f["answer_start"]}]
        return {"id": ex.id, "question": f["question"], "context": f["context"], "answers": spans}

    def answer(self, fields: dict[str, Any]) -> dict:
        return {"text": fields["answer"], "start": fields["answer_start"], "texts": fields["answers"]}

    def roundtrip(self, reference: str, fields: dict[str, Any]) -> bool:
        text, start = self.parse(reference), fields["answer_start"]
        return text == fields["answer"] and fields["context"][start:start + len(text)] == text

    def dedup_text(self, fields: dict[str, Any]) -> str:
        return str(fields["question"])

    def dedup_scope(self, fields: dict[str, Any]) -> str:
        return f"{fields['context']}\x00{fields['answer']}"


Where = tuple[int | None, str]  # (line, field prefix): a JSONL line, or a path inside SQuAD JSON


def _squad_articles(path: Path) -> Iterator[tuple[int, str, Where, str, dict]]:
    """(article index, title, where, context, qa) of every question; a broken layout stops the file."""
    data = parse_json(read_text(path), path, None)
    if isinstance(data, RecordError):
        raise data
    for i, article in enumerate(_items(data, "data", path, "the file")):
        title = str(article.get("title") or f"article{i}")
        for j, para in enumerate(_items(article, "paragraphs", path, f"data[{i}]")):
            at = f"data[{i}].paragraphs[{j}]"
            if not isinstance(para.get("context"), str):
                raise RecordError(str(path), None, "data", f"not SQuAD's layout ({at} has no 'context' text)")
            for k, qa in enumerate(_items(para, "qas", path, at)):
                yield i, title, (None, f"{at}.qas[{k}]"), para["context"], qa


def _items(parent: Any, key: str, path: Path, at: str) -> list[dict]:
    items = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise RecordError(str(path), None, "data", f"not SQuAD's layout ({at} has no '{key}' list of "
                          "objects; expected {\"data\": [{\"paragraphs\": [{\"context\", \"qas\"}]}]})")
    return items


def _squad_rows(path: Path) -> Iterator[tuple[int, str, Where, str, Any]]:
    """JSONL rows {id, title, question, context, answers: {text: [...], answer_start: [...]}}; the
    article index of a row is the order its title first appears in."""
    titles: dict[str, int] = {}
    for n, row in json_lines(path):
        answers = row.get("answers") if isinstance(row, dict) else None
        if not (isinstance(answers, dict) and isinstance(row.get("question"), str)
                and isinstance(row.get("context"), str) and isinstance(answers.get("text"), list)
                and isinstance(answers.get("answer_start"), list)):
            yield -1, "", (n, ""), "", RecordError(str(path), n, "answers", "expected {question, context, "
                                                   "answers: {text: [...], answer_start: [...]}}")
            continue
        title = str(row.get("title") or "")
        spans = zip(answers["text"], answers["answer_start"])
        qa = {"id": row.get("id", f"line{n}"), "question": row["question"],
              "answers": [{"text": t, "answer_start": s} for t, s in spans]}
        yield titles.setdefault(title, len(titles)), title, (n, ""), row["context"], qa


def _record(path: Path, where: Where, title: str, context: str, qa: dict) -> RawRecord | RecordError:
    line, at = where
    field = lambda name: f"{at}.{name}" if at else name  # noqa: E731
    texts, starts = [], []  # every annotator's answer, repeats included
    for a, ans in enumerate(qa.get("answers") or []):
        ans = ans if isinstance(ans, dict) else {}
        text, start = str(ans.get("text", "")), ans.get("answer_start")
        lead = len(text) - len(text.lstrip())
        text, start = text.strip(), (start + lead if isinstance(start, int) else start)
        if not text:
            return RecordError(str(path), line, field(f"answers[{a}].text"), "empty answer")
        if not isinstance(start, int) or context[start:start + len(text)] != text:
            found = context[start:start + len(text)] if isinstance(start, int) else start
            return RecordError(str(path), line, field(f"answers[{a}]"),
                               f"text '{text}' is not at offset {start} of the context (found '{found}')")
        texts.append(text)
        starts.append(start)
    if not texts:
        return RecordError(str(path), line, field("answers"), "no answer")
    if not str(qa.get("question", "")).strip():
        return RecordError(str(path), line, field("question"), "empty")
    fields = {"context": context, "question": str(qa.get("question", "")).strip(), "title": title,
              "answer": texts[0], "answer_start": starts[0], "answers": list(dict.fromkeys(texts)),
              "answer_spans": [{"text": t, "start": s} for t, s in zip(texts, starts)]}
    ref = str(qa.get("id", at or line))
    return RawRecord(fields, str(path), line, group=title or None, ref=ref)


TASKS.add(QATask())
