"""Operations on words and letters: reverse word order, upper-case, count letters and words.

Comparison is case-sensitive (upper-casing is the point of one task) and character-exact.
"""

from __future__ import annotations

import random
import string

from ils.tasks.procedural.base import INT, ProceduralTask, procedural
from ils.tasks.procedural.words import WORDS


def _phrase(rng: random.Random, lo: int, hi: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]


@procedural("reverse_words")
class ReverseWords(ProceduralTask):
    templates = (
        "Reverse the order of the words: {text}",
        "What do you get if you write \"{text}\" with the words in reverse order?",
        "Write these words backwards, last word first: {text}",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        words = rng.sample(WORDS, rng.randint(3, 5))  # distinct, so the reversal always differs
        return {"text": " ".join(words)}, " ".join(reversed(words))


@procedural("uppercase")
class Uppercase(ProceduralTask):
    templates = (
        "Convert to uppercase: {text}",
        "How would \"{text}\" look in all capital letters?",
        "Rewrite in upper case, nothing else: {text}",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        text = " ".join(_phrase(rng, 2, 3))
        return {"text": text}, text.upper()


@procedural("count_letter")
class CountLetter(ProceduralTask):
    shape = INT
    templates = (
        "How many times does the letter '{letter}' appear in '{word}'?",
        "Count the letter {letter} in the word {word}. Answer with a number.",
        "In the word \"{word}\", how many times do you see the letter {letter}?",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        word = rng.choice(WORDS)
        # Mostly a letter of the word; sometimes any letter, so that 0 is a possible answer.
        letter = rng.choice(word) if rng.random() < 0.8 else rng.choice(string.ascii_lowercase)
        return {"letter": letter, "word": word}, str(word.count(letter))


@procedural("count_words")
class CountWords(ProceduralTask):
    shape = INT
    templates = (
        "How many words are in this sentence? {text}.",
        "Count the words in \"{text}\". Reply with the number only.",
        "{text}.\nHow many words is that?",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        words = _phrase(rng, 3, 8)
        return {"text": " ".join(words).capitalize()}, str(len(words))
