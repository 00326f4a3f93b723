"""Extractive question answering from SQuAD JSON; every answer is checked against its context.

The gold answer keeps every reference text (SQuAD dev has several per question) and the offset of
the first; the target is the first reference, so parsing the target gives the gold span back. An
encoder learns it with the span head: the start and end of the answer inside the context.
Option ``articles: [first, end]`` reads only those articles (a slice), so a config can split one
SQuAD file by article.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.templates import Template

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

    def parse(self, text: str) -> str:
        # Quotes are kept: some gold answers are quoted titles ("Hymn for the Weekend"), and the
        # SQuAD metric ignores punctuation anyway.
        text = text.strip()
        if text.lower().startswith("answer:"):
            text = text[7:].strip()
        return text

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        path = Path(path)
        if not path.is_file():
            raise RecordError(str(path), None, "file", "not found")
        data = json.loads(path.read_text(encoding="utf-8"))
        first, end = self.options.get("articles") or (None, None)
        for i, article in enumerate(data.get("data", [])):
            if (first is not None and i < first) or (end is not None and i >= end):
                continue
            for j, para in enumerate(article.get("paragraphs", [])):
                for k, qa in enumerate(para.get("qas", [])):
                    at = f"data[{i}].paragraphs[{j}].qas[{k}]"
                    yield _record(path, at, article.get("title", f"article{i}"), para["context"], qa)

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


def _record(path: Path, at: str, title: str, context: str, qa: dict) -> RawRecord | RecordError:
    texts, starts = [], []  # every annotator's answer, repeats included
    for a, ans in enumerate(qa.get("answers") or []):
        text, start = str(ans.get("text", "")), ans.get("answer_start")
        lead = len(text) - len(text.lstrip())
        text, start = text.strip(), (start + lead if isinstance(start, int) else start)
        if not text:
            return RecordError(str(path), None, f"{at}.answers[{a}].text", "empty answer")
        if not isinstance(start, int) or context[start:start + len(text)] != text:
            found = context[start:start + len(text)] if isinstance(start, int) else start
            return RecordError(str(path), None, f"{at}.answers[{a}]",
                               f"text '{text}' is not at offset {start} of the context (found '{found}')")
        texts.append(text)
        starts.append(start)
    if not texts:
        return RecordError(str(path), None, f"{at}.answers", "no answer")
    if not str(qa.get("question", "")).strip():
        return RecordError(str(path), None, f"{at}.question", "empty")
    fields = {"context": context, "question": qa.get("question", "").strip(), "title": title,
              "answer": texts[0], "answer_start": starts[0], "answers": list(dict.fromkeys(texts)),
              "answer_spans": [{"text": t, "start": s} for t, s in zip(texts, starts)]}
    return RawRecord(fields, str(path), None, group=title, ref=str(qa.get("id", at)))


TASKS.add(QATask())
