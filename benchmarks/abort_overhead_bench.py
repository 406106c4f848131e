"""What the abort callback (Ctrl-C and SIGTERM stop a local model at once) costs a model call: the same
greedy call with llama.cpp asking the callback between operations and without it, interleaved.

    .venv/bin/python benchmarks/abort_overhead_bench.py [--model qwen2.5-coder-1.5b] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentsmith.models.tiers import _ABORTS, load_llama
from agentsmith.models.weights import ensure_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import llama_cpp

    llm, _ = load_llama(ensure_model(args.model), 4096)
    _, callback = _ABORTS[id(llm)]
    prompt = [{"role": "user", "content": "Summarise: " + "the quick brown fox jumps over the lazy dog. " * 90}]
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(args.rounds):
        for arm in ("with", "without"):
            llama_cpp.llama_set_abort_callback(
                llm._ctx.ctx, callback if arm == "with" else llama_cpp.ggml_abort_callback(), None
            )
            llm.reset()  # every call evaluates the whole prompt
            start = time.monotonic()
            out = llm.create_chat_completion(messages=prompt, temperature=0.0, max_tokens=48)
            times[arm].append(time.monotonic() - start)
    usage = out["usage"]
    print(
        f"{args.model}: {usage['prompt_tokens']} prompt + {usage['completion_tokens']} answer tokens, {args.rounds} rounds"
    )
    for arm, seconds in times.items():
        print(
            f"  {arm:8s} the abort callback: median {statistics.median(seconds):.2f}s  ({', '.join(f'{s:.2f}' for s in seconds)})"
        )
    ratio = statistics.median(times["with"]) / statistics.median(times["without"])
    print(f"  overhead: {100 * (ratio - 1):+.1f}%")
    llama_cpp.llama_set_abort_callback(llm._ctx.ctx, callback, None)


if __name__ == "__main__":
    main()
