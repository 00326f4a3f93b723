"""Pull one field out of a sentence, or convert one format to another.

Sentences hold exactly one email (or one number), so the gold answer is unambiguous. The JSON task
compares parsed objects: key order and spacing are format noise, a wrong type ("36" for 36) is not.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from ils.tasks.procedural.base import INT, ProceduralTask, normalize, procedural
from ils.tasks.procedural.words import CITIES, COLORS, DOMAINS, NAMES, PETS

EMAIL_SENTENCES = (
    "Please write to {email} about the invoice",
    "You can reach {name} at {email} after five",
    "Send the report to {email} before Friday",
    "My new address is {email} so update your contacts",
    "For help, contact {email} or call the office",
)

NUMBER_SENTENCES = (
    "The package weighs {n} grams",
    "{name} has {n} books on the shelf",
    "We drove {n} kilometers to reach the lake",
    "The ticket costs {n} dollars",
    "There were {n} people at the concert",
)


@procedural("extract_email")
class ExtractEmail(ProceduralTask):
    shape = re.compile(r"[^@\s]+@[^@\s]+\.\w+")
    templates = (
        "What is the email address in this sentence? {sentence}",
        "Extract the email address from: {sentence}",
        "{sentence}\nCopy out the email address only.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        name = rng.choice(NAMES)
        email = f"{name.lower()}{rng.choice(['', '.', '_'])}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
        sentence = rng.choice(EMAIL_SENTENCES).format(name=name, email=email) + "."
        return {"sentence": sentence}, email


@procedural("extract_number")
class ExtractNumber(ProceduralTask):
    shape = INT
    templates = (
        "Which number appears in this sentence? {sentence}",
        "Extract the number from: {sentence}",
        "{sentence}\nWhat is the number mentioned? Digits only.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        n = rng.randint(2, 9999)
        sentence = rng.choice(NUMBER_SENTENCES).format(name=rng.choice(NAMES), n=n) + "."
        return {"sentence": sentence}, str(n)


KV_FIELDS = {
    "name": lambda rng: rng.choice(NAMES),
    "city": lambda rng: rng.choice(CITIES),
    "color": lambda rng: rng.choice(COLORS),
    "pet": lambda rng: rng.choice(PETS),
    "age": lambda rng: rng.randint(18, 90),
    "year": lambda rng: rng.randint(1950, 2024),
}


@procedural("kv_to_json")
class KvToJson(ProceduralTask):
    templates = (
        "Convert to a JSON object: {kv}",
        "Turn these key-value pairs into JSON: {kv}",
        "What is the JSON form of {kv}? Output only the JSON.",
    )

    def make(self, rng: random.Random) -> tuple[dict, dict]:
        keys = rng.sample(sorted(KV_FIELDS), rng.randint(2, 3))
        obj = {k: KV_FIELDS[k](rng) for k in keys}
        return {"kv": "; ".join(f"{k}: {v}" for k, v in obj.items())}, obj

    def render(self, answer: dict) -> str:
        return json.dumps(answer)

    def parse(self, text: str) -> Any:
        """The JSON value of the text (after ``normalize``), or None if it is not valid JSON."""
        try:
            return json.loads(normalize(text))
        except json.JSONDecodeError:
            return None
