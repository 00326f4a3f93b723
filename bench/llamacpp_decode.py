"""Single-stream decode speed of the ``llamacpp`` engine on a GGUF (target: >= 90 tok/s on the q8_0 export
of the default model), beside llama-cpp-python's own ``create_completion`` on the same file as the peer,
at its defaults (flash attention off) and at its best here (flash attention on, as the engine runs it).

Greedy, one prompt at a time (a raw text to continue), the KV cache cleared before each run. Decode
tok/s counts the tokens after the first over the time after the first (prefill excluded); prefill
tok/s is the prompt over the time to the first token. Rounds interleave the rows; medians are printed.

    python bench/llamacpp_decode.py FILE.gguf [--threads 2] [--tokens 128] [--rounds 5]

Make FILE.gguf with ``ils export RUN --gguf --quant q8_0 -o FILE.gguf`` (docs/export.md). llama.cpp's
threads spin while they wait: run it on an otherwise idle machine, or the figure drops many times over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# A raw text to continue: a model tuned on short answers (the demo run) ends a chat turn after a few tokens,
# and decode speed needs a long answer. Every row generates --tokens tokens (finish "length").
PROMPT = ("The storm reached the island a little after midnight. The lighthouse keeper, who had kept the "
          "lamp burning for thirty years, climbed the stairs once more and")
PEER = "llama-cpp-python create_completion, defaults (flash attention off)"
PEER_BEST = "llama-cpp-python create_completion, flash attention on"


def ils_row(engine, tokens: int) -> tuple[float, float]:
    from ils.infer.protocol import Sampling

    engine.llm.reset()
    first: list[float] = []
    start = time.perf_counter()
    done = engine.generate([PROMPT], Sampling(max_new_tokens=tokens),
                           on_text=lambda i, piece: first or (piece and first.append(time.perf_counter())))[0]
    end = time.perf_counter()
    assert done.completion_tokens == tokens, "the answer ended early: decode speed needs a long one"
    return (done.completion_tokens - 1) / (end - first[0]), done.prompt_tokens / (first[0] - start)


def peer_row(llm, ids: list[int], tokens: int) -> tuple[float, float]:
    """create_completion has no token callback: prefill is timed as a 1-token completion, then the
    full completion; decode is the difference."""
    def timed(n: int) -> tuple[float, int]:
        llm.reset()
        start = time.perf_counter()
        r = llm.create_completion(ids, max_tokens=n, temperature=0, top_k=0, min_p=0.0, repeat_penalty=1.0)
        return time.perf_counter() - start, r["usage"]["completion_tokens"]

    prefill, _ = timed(1)
    total, n = timed(tokens)
    assert n == tokens, "the answer ended early: decode speed needs a long one"
    return (n - 1) / (total - prefill), len(ids) / prefill


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gguf")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or 2))
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from ils.infer.engines import load_engine

    from llama_cpp import Llama

    engine = load_engine(args.gguf, "llamacpp", threads=args.threads, context=2048)
    plain = Llama(args.gguf, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    ids = engine.tokens(PROMPT)
    rows: dict[str, list[tuple[float, float]]] = {PEER: [], PEER_BEST: [], "ILS llamacpp engine": []}
    for r in range(args.rounds):
        rows[PEER].append(peer_row(plain, ids, args.tokens))
        rows[PEER_BEST].append(peer_row(engine.llm, ids, args.tokens))  # the engine's own Llama: same settings
        rows["ILS llamacpp engine"].append(ils_row(engine, args.tokens))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.1f} tok/s" for k, v in rows.items()),
              flush=True)
    peer = statistics.median(d for d, _ in rows[PEER])
    print(f"\n{args.gguf}, {args.threads} threads, {len(ids)}-token prompt, up to {args.tokens} new tokens")
    print(f"{'':66}{'decode tok/s':>14}{'prefill tok/s':>15}{'vs defaults':>13}")
    for name, v in rows.items():
        decode = statistics.median(d for d, _ in v)
        print(f"{name:66}{decode:14.1f}{statistics.median(p for _, p in v):15.1f}{decode / peer:12.2f}x")


if __name__ == "__main__":
    main()
