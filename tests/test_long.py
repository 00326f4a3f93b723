"""Streaming chunker: natural boundaries, overlap, token budget, bounded memory, bad input."""

from __future__ import annotations

import tracemalloc

import pytest

from ils.errors import InputError
from ils.infer.long import check_input, chunk_file, chunk_units, iter_units, read_blocks, spool_stdin


def words(text: str) -> int:
    return len(text.split())


def doc(paragraphs: int = 10, sentences: int = 8) -> str:
    return "\n\n".join(" ".join(f"p{p} s{s} word word." for s in range(sentences)) for p in range(paragraphs))


def test_chunks_respect_the_budget_and_cut_on_sentences():
    chunks = list(chunk_units(iter_units([doc()], 10_000), words, size=30, overlap=0))
    assert all(c.tokens <= 30 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # never mid-sentence
    rebuilt = " ".join(c.text.replace("\n\n", " ") for c in chunks)
    assert rebuilt.split() == doc().split()  # no overlap: the chunks partition the text


def test_overlap_repeats_the_tail_of_the_previous_chunk():
    chunks = list(chunk_units(iter_units([doc()], 10_000), words, size=30, overlap=10))
    for a, b in zip(chunks, chunks[1:]):
        first_sentence = b.text.split(".")[0] + "."
        assert first_sentence in a.text
    assert len(chunks) > len(list(chunk_units(iter_units([doc()], 10_000), words, size=30, overlap=0)))


def test_paragraphs_are_kept_whole_when_they_fit():
    chunks = list(chunk_units(iter_units([doc(sentences=2)], 10_000), words, size=100, overlap=0))
    assert all("\n\n" not in c.text or c.text.count("p") >= 2 for c in chunks)
    assert chunks[0].text.startswith("p0 s0") and "\n\np1 s0" in chunks[0].text


def test_a_sentence_longer_than_a_chunk_is_cut_into_word_windows():
    text = " ".join(f"w{i}" for i in range(500))
    chunks = list(chunk_units(iter_units([text], 10_000), words, size=40, overlap=0))
    assert all(c.tokens <= 40 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_units_stay_bounded_without_paragraph_breaks():
    blocks = ("lorem ipsum dolor. " * 1000 for _ in range(20))  # one huge paragraph
    assert max(len(u) for u in iter_units(blocks, 2000)) <= 2000


def test_memory_stays_bounded_on_a_50_mb_stream():
    block = ("The grass is green and the sky is blue over the quiet town of Oslo today. " * 20 + "\n\n") * 10
    n_blocks = 50_000_000 // len(block)

    def blocks():
        for _ in range(n_blocks):
            yield block

    tracemalloc.start()
    n = sum(1 for _ in chunk_units(iter_units(blocks(), 8 * 512), lambda t: len(t) // 4, size=512, overlap=64))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n > 20_000
    assert peak < 2_000_000  # < 4% of the 50 MB input


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        check_input(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(InputError, match="empty"):
        check_input(tmp_path / "empty.txt")
    (tmp_path / "bin.dat").write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    with pytest.raises(InputError, match="binary"):
        check_input(tmp_path / "bin.dat")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9 au lait " * 10)
    with pytest.raises(InputError, match="UTF-8.*byte 3"):
        list(read_blocks(tmp_path / "latin.txt"))
    with pytest.raises(InputError, match="overlap"):
        list(chunk_units(["a b"], words, size=10, overlap=10))


def test_file_and_stdin_give_the_same_chunks(tmp_path):
    import io

    path = tmp_path / "doc.txt"
    path.write_text(doc())
    spooled = spool_stdin(tmp_path / "out" / "input.txt", io.BytesIO(doc().encode()))
    a = [c.text for c in chunk_file(path, words, 25, 5)]
    assert a == [c.text for c in chunk_file(spooled, words, 25, 5)] and len(a) > 3
