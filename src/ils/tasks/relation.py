"""Relation extraction: which directed relation holds between two marked nominals (SemEval-2010 Task 8).

Raw data is the SemEval format: blocks of ``ID<TAB>"sentence with <e1>…</e1> and <e2>…</e2>"``, the
relation (``Cause-Effect(e1,e2)``; nine relations, each in two directions, or ``Other``), a
``Comment:`` line, a blank line. A generative model answers with the label itself; an encoder learns
it with the ``relation`` head (entity markers, [CLS] and the two entity starts, as R-BERT). Both are
scored with the task's official metric: the scorer's "(9+1)-way evaluation taking directionality
into account", macro-averaged F1 over the nine relations (Other is no class of its own, a relation
with the wrong direction is wrong), exactly as ``semeval2010_task8_scorer-v1.2.pl`` computes it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.templates import Template

RELATIONS = ("Cause-Effect", "Component-Whole", "Content-Container", "Entity-Destination", "Entity-Origin",
             "Instrument-Agency", "Member-Collection", "Message-Topic", "Product-Producer")
OTHER = "Other"
LABELS = (OTHER, *(f"{r}({a},{b})" for r in RELATIONS for a, b in (("e1", "e2"), ("e2", "e1"))))
FORMAT = "the relation and its direction, e.g. Cause-Effect(e1,e2) when e1 causes e2, or Other"

TEMPLATES = (
    Template("question", "Which semantic relation holds between e1 = \"{{ e1 }}\" and e2 = \"{{ e2 }}\" in "
             f"the sentence below? Answer with {FORMAT}.\n\nSentence: {{{{ sentence }}}}", "{{ relation }}",
             "question"),
    Template("command", "Classify the relation between the nominals marked <e1> and <e2>. Reply with "
             f"{FORMAT}.\n\n{{{{ sentence }}}}", "{{ relation }}", "command"),
    Template("options", "{{ sentence }}\n\nWhat is the relation between e1 ({{ e1 }}) and e2 ({{ e2 }})?\n"
             "Options:\n{% for o in labels %}- {{ o }}\n{% endfor %}", "{{ relation }}", "options"),
    Template("short", "Sentence: {{ sentence }}\ne1: {{ e1 }}\ne2: {{ e2 }}\nRelation (Name(e1,e2), "
             "Name(e2,e1) or Other):", "{{ relation }}", "command"),
    Template("describe", "How is \"{{ e1 }}\" (e1) related to \"{{ e2 }}\" (e2) in: {{ text }}\nRelations: "
             f"{', '.join(RELATIONS)}. Answer with {FORMAT}.", "{{ relation }}", "question"),
    Template("inverted", "Write a sentence with two nominals, marked <e1>…</e1> and <e2>…</e2>, that "
             "stand in the relation {{ relation }}.", "{{ sentence }}", "inverted"),
)

_LABEL = re.compile(r"([A-Za-z]+)\s*-\s*([A-Za-z]+)\s*\(\s*(e[12])\s*,\s*(e[12])\s*\)", re.I)
_OTHER = re.compile(r"\bother\b", re.I)
_ENTITY = re.compile(r"<(e[12])>(.*?)</\1>")


class RelationTask(Task):
    name = "relation"
    metric = "semeval_macro_f1"
    input_fields = ("text",)
    output = "label"
    head = "relation"
    labels = LABELS
    templates = TEMPLATES
    about = ("Relation extraction: the directed relation between two marked nominals (SemEval-2010 Task 8 "
             "format), scored with the task's official macro-F1.")
    answer_doc = "one of the 19 labels: Name(e1,e2), Name(e2,e1) for the nine relations, or Other"
    option_help = {"labels": "the label set; a record with another label is an error"}
    example = {
        "file": "TRAIN_FILE.TXT",
        "content": '1\t"The system as described above has its greatest application in an arrayed '
                   '<e1>configuration</e1> of antenna <e2>elements</e2>."\nComponent-Whole(e2,e1)\n'
                   'Comment: Not a collection: there is structure here, organisation.\n\n',
        "options": {},
    }

    def parse(self, text: str) -> str | None:
        """The first ``Name(eX,eY)`` label in the text, else "Other" when it names it; anything else
        (a relation without a direction, an unknown name) is unparseable. A stray "other" costs
        nothing: Other is no relation's prediction in the official score."""
        m = _LABEL.search(text)
        if m:
            name = {r.lower(): r for r in RELATIONS}.get(f"{m.group(1)}-{m.group(2)}".lower())
            label = f"{name}({m.group(3).lower()},{m.group(4).lower()})"
            return label if name and label in LABELS else None
        return OTHER if _OTHER.search(text) else None

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        path = Path(path)
        if not path.is_file():
            raise RecordError(str(path), None, "file", "not found")
        for line, block in _blocks(path):
            yield _record(path, line, block)

    def answer(self, fields: dict[str, Any]) -> str:
        return fields["relation"]

    def label_of(self, fields: dict[str, Any]) -> str | None:
        return fields.get("relation")

    def dedup_text(self, fields: dict[str, Any]) -> str:
        return str(fields["sentence"])  # one sentence may carry several entity pairs

    def dedup_scope(self, fields: dict[str, Any]) -> str:
        return str(fields["relation"])

    def head_input(self, ex: Any) -> dict[str, Any]:
        f = self.fields(ex)
        return {"text": f["text"], "e1": f["e1_span"], "e2": f["e2_span"], "label": ex.answer}

    def compute(self, predictions: list[Any], references: list[Any]) -> dict:
        return official_score(predictions, references)


def official_score(predictions: list[str | None], references: list[str]) -> dict:
    """The official SemEval-2010 Task 8 score: (9+1)-way with direction, macro F1 over the relations.

    Per relation R: precision = right (label and direction) / predictions of R in either direction,
    recall = right / gold R; macro-averaged over the relations present in the gold answers. Other,
    an unparseable output (None, "skipped" to the scorer) and a label not in the gold set are no
    relation's prediction."""
    rel = lambda label: None if label in (None, OTHER) else label.split("(")[0]  # noqa: E731
    proposed = Counter(rel(p) for p in predictions)
    gold = Counter(rel(g) for g in references)
    right = Counter(rel(g) for p, g in zip(predictions, references, strict=True) if p == g)
    per = {}
    for r in sorted(k for k in gold if k is not None):
        p = right[r] / proposed[r] if proposed[r] else 0.0
        c = right[r] / gold[r]
        f1 = 2 * p * c / (p + c) if p + c else 0.0
        per[r] = {"precision": p, "recall": c, "f1": f1, "support": gold[r]}
    macro = {k: sum(v[k] for v in per.values()) / len(per) if per else 0.0
             for k in ("precision", "recall", "f1")}
    exact = sum(p == g for p, g in zip(predictions, references))
    return {"semeval_macro_f1": macro["f1"], "score": macro["f1"], "macro_precision": macro["precision"],
            "macro_recall": macro["recall"], "accuracy_19way": exact / len(references) if references else 0.0,
            "per_relation": per}


def _blocks(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line, lines) of each blank-line separated block."""
    block, first = [], 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                first = first if block else n
                block.append(line.rstrip("\r\n"))
            elif block:
                yield first, block
                block = []
    if block:
        yield first, block


def _record(path: Path, line: int, block: list[str]) -> RawRecord | RecordError:
    sent_id, tab, quoted = block[0].partition("\t")
    if not tab or not quoted.startswith('"') or not quoted.endswith('"'):
        return RecordError(str(path), line, "sentence", 'expected ID<TAB>"sentence"')
    if len(block) < 2 or block[1].strip() not in LABELS:
        found = block[1].strip() if len(block) > 1 else "nothing"
        return RecordError(str(path), line + 1, "relation", f"'{found}' is not one of the 19 labels")
    sentence = quoted[1:-1]
    text, spans = _unmark(sentence)
    if set(spans) != {"e1", "e2"}:
        return RecordError(str(path), line, "sentence", "needs one <e1>…</e1> and one <e2>…</e2>")
    fields = {"id": sent_id.strip(), "sentence": sentence, "text": text, "relation": block[1].strip(),
              **{k: text[s:e] for k, (s, e) in spans.items()},
              **{f"{k}_span": list(v) for k, v in spans.items()}}
    return RawRecord(fields, str(path), line, ref=sent_id.strip())


def _unmark(sentence: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """The sentence without entity tags, and each entity's character span in it."""
    out, spans, last = [], {}, 0
    for m in _ENTITY.finditer(sentence):
        out.append(sentence[last:m.start()])
        start = sum(len(p) for p in out)
        spans[m.group(1)] = (start, start + len(m.group(2)))
        out.append(m.group(2))
        last = m.end()
    out.append(sentence[last:])
    return "".join(out), spans


TASKS.add(RelationTask())
