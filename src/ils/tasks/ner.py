"""Named entity recognition from CoNLL column files (IOB1 or IOB2 tags).

The instruction output lists one entity per line as ``TYPE: entity text`` (``none`` when there is
none), in sentence order; ``parse`` reads that back and ``locate`` maps it onto token spans, so
the gold spans survive the trip through text exactly (``ils.data.roundtrip`` checks it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.conll import read_conll, spans_from_tags, tags_from_spans
from ils.tasks.templates import Template

NONE = "none"
DESCRIPTIONS = {"PER": "person", "ORG": "organization", "LOC": "location", "MISC": "other name"}
FORMAT = "one per line as TYPE: entity, or 'none' if there are none"

TEMPLATES = (
    Template("question", "Which named entities ({{ options }}) appear in the sentence below? List them "
             f"{FORMAT}.\n\nSentence: {{{{ text }}}}", "{{ entities_text }}", "question"),
    Template("command", f"Extract every named entity from the text, {FORMAT}. Types: {{{{ options }}}}."
             "\n\n{{ text }}", "{{ entities_text }}", "command"),
    Template("options", "{{ text }}\n\nFind the named entities in the text above. Use these types:\n"
             "{% for t in labels %}- {{ t }}{% if t in descriptions %} ({{ descriptions[t] }}){% endif %}\n"
             f"{{% endfor %}}Answer {FORMAT}.", "{{ entities_text }}", "options"),
    Template("who", "Who and what is named in this sentence? Give the people, organizations, places and "
             f"other names {FORMAT} (types: {{{{ options }}}}).\n\n{{{{ text }}}}", "{{ entities_text }}",
             "question"),
    Template("tag", f"Tag the entities of type {{{{ options }}}} in: {{{{ text }}}}\nFormat: {FORMAT}.",
             "{{ entities_text }}", "command"),
    Template("inverted", "Write a sentence that mentions these named entities:\n{{ entities_text }}",
             "{{ text }}", "inverted"),
)


def entities_text(entities: list[dict]) -> str:
    return "\n".join(f"{e['type']}: {e['text']}" for e in entities) or NONE


_SAYS_NONE = re.compile(r"\W*(none|no entities|there are no)\b", re.I)
_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*([A-Za-z][\w-]*)\s*:\s*(.+?)\s*$")


class NERTask(Task):
    name = "ner"
    metric = "entity_f1"
    input_fields = ("text",)
    output = "spans"
    head = "token"  # an encoder tags the words in IOB2; its tags decode back into spans
    labels = ("PER", "ORG", "LOC", "MISC")
    templates = TEMPLATES
    options = {"token_column": 0, "tag_column": -1, "columns": None, "descriptions": DESCRIPTIONS}
    about = ("Named entity recognition from CoNLL column files (one token per line, IOB1 or IOB2 tags, a "
             "blank line between sentences, -DOCSTART- between documents).")
    answer_doc = ("the entities, in sentence order: [{type, text, start, end}] with token offsets (end "
                  "exclusive); a model writes one `TYPE: entity` per line, or `none`")
    option_help = {
        "labels": "the entity types (default: PER, ORG, LOC, MISC, CoNLL-2003's); set it for any other "
                  "types, e.g. [CHEM, DISEASE]",
        "token_column": "the column (0-based; negative counts from the end) holding the token",
        "tag_column": "the column holding the IOB tag (default: the last)",
        "columns": "the number of columns every line must have (default: as many as the first line)",
        "descriptions": "type → a word templates show beside it, e.g. {CHEM: chemical}",
    }
    example = {
        "file": "bio_train.txt",
        "content": "Aspirin\tB-CHEM\nreduces\tO\nheadache\tB-DISEASE\nrisk\tO\n.\tO\n\n"
                   "Ibuprofen\tB-CHEM\neases\tO\njoint\tB-DISEASE\npain\tI-DISEASE\n.\tO\n",
        "options": {"labels": ["CHEM", "DISEASE"], "descriptions": {"CHEM": "chemical",
                                                                     "DISEASE": "disease"}},
    }

    def parse(self, text: str) -> list[dict] | None:
        """``TYPE: entity`` lines → [{"type", "text"}]; lines of any other shape are ignored.
        "none" → []; text with neither form is unparseable (None), not "no entities"."""
        known = {t.lower(): t for t in self.labels or ()}
        out = []
        for line in text.strip().splitlines():
            m = _LINE.match(line)
            if m and (not known or m.group(1).lower() in known):
                out.append({"type": known.get(m.group(1).lower(), m.group(1)), "text": m.group(2)})
        if not out and not _SAYS_NONE.match(text):
            return None
        return out

    def locate(self, entities: list[dict], tokens: list[str]) -> list[dict]:
        """Place parsed entities on token spans, left to right (an entity repeats where it recurs)."""
        placed, used, cursor = [], set(), 0
        for ent in entities:
            words = ent["text"].split()
            start = _find(tokens, words, cursor, used)
            if start is None:
                start = _find(tokens, words, 0, used)
            if start is None:
                continue
            used.add(start)
            cursor = start + len(words)
            placed.append({**ent, "start": start, "end": start + len(words)})
        return placed

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        for rec in read_conll(path, self.options):
            yield rec if isinstance(rec, RecordError) else self._check_types(rec)

    def _check_types(self, rec: RawRecord) -> RawRecord | RecordError:
        for e in rec.fields["entities"]:
            if self.labels and e["type"] not in self.labels:
                return RecordError(rec.file, rec.line, "tag",
                                   f"unknown entity type '{e['type']}'; known: {', '.join(self.labels)} "
                                   "(list your data's types in the source's options: `labels: [...]`)")
        return rec

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {**super().variables(fields), "entities_text": entities_text(fields["entities"]),
                "descriptions": self.options.get("descriptions") or {}}

    def answer(self, fields: dict[str, Any]) -> list[dict]:
        return fields["entities"]

    def correct(self, parsed: Any, gold: Any) -> bool:
        """Same entities (type and text, in order): a parse has no offsets, the gold spans do."""
        return parsed is not None and _typed(parsed) == _typed(gold)

    def answer_text(self, answer: Any) -> str:
        return entities_text(answer)

    def head_input(self, ex: Any) -> dict[str, Any]:
        words = self.fields(ex)["text"].split()
        spans = [(e["start"], e["end"], e["type"]) for e in ex.answer or []]
        return {"words": words, "tags": tags_from_spans(spans, len(words))}

    def from_head(self, output: list[str], ex: Any) -> list[dict]:
        words = self.fields(ex)["text"].split()
        return [{"type": t, "text": " ".join(words[s:e]), "start": s, "end": e}
                for s, e, t in spans_from_tags(output)]

    def dedup_scope(self, fields: dict[str, Any]) -> str:
        return entities_text(fields["entities"])

    def roundtrip(self, reference: str, fields: dict[str, Any]) -> bool:
        parsed = self.parse(reference)
        return parsed is not None and self.locate(parsed, fields["tokens"]) == fields["entities"]


def _typed(entities: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["text"]) for e in entities]


def _find(tokens: list[str], words: list[str], start: int, used: set[int]) -> int | None:
    n = len(words)
    for i in range(start, len(tokens) - n + 1):
        if i not in used and tokens[i:i + n] == words:
            return i
    return None


TASKS.add(NERTask())
