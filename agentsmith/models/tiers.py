"""The two kinds of tier: an in-process GGUF run by llama.cpp, and any OpenAI-compatible endpoint.

Both satisfy `agentsmith.seams.ModelTier`; the portfolio adds pricing, budgets, redaction and the
circuit breaker around them. Heavy libraries are imported on first use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from agentsmith.errors import ModelUnavailable, UserError
from agentsmith.models.weights import ensure_model
from agentsmith.policy.schema import Tier
from agentsmith.seams import Answer

GREEDY_SEED = 0
SEED_ENV = "AGENTSMITH_SEED"


def fixed_seed() -> str | None:
    """AGENTSMITH_SEED, checked: None when unset."""
    fixed = os.environ.get(SEED_ENV, "").strip()
    if fixed and not fixed.lstrip("-").isdigit():
        raise UserError(f"{SEED_ENV}={fixed!r} is not an integer", f"unset {SEED_ENV} or set it to a number")
    return fixed or None


class SamplingSeeds:
    """Seeds for sampled calls. Random by default. With AGENTSMITH_SEED set, the n-th draw for one prompt
    gets a seed derived from that number, the prompt and n: a bench or a test run again draws the same
    candidates (llama.cpp on the same build and threads), and a logged call can be drawn again."""

    def __init__(self) -> None:
        self._draws: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, temperature: float, *parts: object) -> int:
        if temperature <= 0:
            return GREEDY_SEED
        fixed = fixed_seed()
        if fixed is None:
            return random.randrange(1 << 30)
        key = hashlib.sha256(json.dumps([fixed, *parts], default=str).encode()).hexdigest()
        with self._lock:
            n = self._draws.get(key, 0)
            self._draws[key] = n + 1
        return int(hashlib.sha256(f"{key}:{n}".encode()).hexdigest()[:8], 16) & ((1 << 30) - 1)


class TierFailure(ModelUnavailable):
    """A call failed. `unhealthy` says whether it counts against the tier's circuit breaker
    (connection errors, timeouts, 5xx, rate limits) or was the request's own fault."""

    def __init__(self, problem: str, fix: str = "", *, unhealthy: bool = True) -> None:
        super().__init__(problem, fix)
        self.unhealthy = unhealthy


class ContextOverflow(TierFailure):
    """The request did not fit the tier's context window. Resending it unchanged cannot succeed."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem, fix, unhealthy=False)


# ---------------------------------------------------------------- in-process GGUF

_LLAMAS: dict[tuple[str, int], object] = {}
_LLAMA_LOCKS: dict[tuple[str, int], threading.Lock] = {}
_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_fd2():
    """llama.cpp writes load-time chatter straight to file descriptor 2, past Python's sys.stderr: it
    would garble the TUI. Divert it, and show it only if loading fails."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace")[-2000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_ABORTS: dict[int, tuple[threading.Event, object]] = {}  # id(llm): its abort flag and the C callback kept alive
_RETIRED: list[object] = []  # models stopped mid-compute (retire_llama)


def load_llama(path: Path, n_ctx: int):
    """One llama.cpp model per (file, context size) per process: loading costs seconds and memory."""
    key = (str(path), n_ctx)
    with _LOAD_LOCK:
        if key not in _LLAMAS:
            from llama_cpp import Llama

            def load():
                with _quiet_fd2():
                    return Llama(
                        model_path=str(path),
                        n_ctx=n_ctx,
                        n_threads=os.cpu_count() or 1,
                        seed=GREEDY_SEED,
                        verbose=False,
                    )

            llm = interruptible(load)
            _ABORTS[id(llm)] = _abort_switch(llm)
            _LLAMAS[key] = llm
            _LLAMA_LOCKS[key] = threading.Lock()
        return _LLAMAS[key], _LLAMA_LOCKS[key]


def retire_llama(llm) -> None:
    """A model stopped mid-compute is not used again: the next call in this process loads a fresh one
    (reused after an abort, llama.cpp 0.3.16 crashed or hung on the next prompt, seen here). It is kept
    referenced, not freed: freeing an aborted context is no safer, and an interrupted process ends."""
    with _LOAD_LOCK:
        for key, loaded in list(_LLAMAS.items()):
            if loaded is llm:
                del _LLAMAS[key], _LLAMA_LOCKS[key]
        _RETIRED.append(llm)


def _abort_switch(llm) -> tuple[threading.Event, object]:
    """llama.cpp asks between the compute graph's operations whether to stop; it stops when this is set."""
    import llama_cpp

    flag = threading.Event()
    callback = llama_cpp.ggml_abort_callback(lambda _data: flag.is_set())
    llama_cpp.llama_set_abort_callback(llm._ctx.ctx, callback, None)
    return flag, callback


def interruptible(work: Callable[[], object], abort: threading.Event | None = None, grace_s: float = 30.0):
    """`work()` (llama.cpp loading or computing) on a thread of its own, so that Ctrl-C and SIGTERM
    reach the main thread at once. On the main thread, a signal's Python handler runs only between
    bytecodes: during a prompt's evaluation (two minutes for 3,000 tokens on 2 cores) a SIGTERM
    waited for the call to end, and during loading it was lost outright (raised inside llama.cpp's
    log callback, where ctypes swallows exceptions): a cancelled run went on and committed. Here the
    interrupt is raised while the work runs; `abort` then stops llama.cpp's compute (within one
    operation), and the work's thread is waited for, `grace_s` at most, so the model is not left
    computing or used by two threads. Work that cannot be stopped (loading, seconds) is waited for, then
    dropped."""
    if threading.current_thread() is not threading.main_thread():
        return work()  # signals are delivered to the main thread only: nothing to wait for here
    box: dict[str, object] = {}
    done = threading.Event()  # not Thread.join: a join a signal interrupts marks a live thread stopped (3.11)

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # handed to the caller, on the main thread
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=run, name="llama-compute", daemon=True).start()
    try:
        while not done.wait(0.25):
            pass
    except BaseException:
        if abort is not None:
            abort.set()
        # Loading cannot be stopped, and it holds the process's stdout and stderr diverted while it runs
        # (llama.cpp's chatter): the interrupt's own message would vanish. So it is waited for too.
        done.wait(grace_s)
        if abort is not None:
            abort.clear()
        raise
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


COMPUTE_LOCK = "model-compute.lock"  # under AGENTSMITH_HOME/locks


@contextlib.contextmanager
def compute_slot(notify: Callable[[str], None] | None = None) -> Iterator[float]:
    """This machine's cores, for one in-process model call at a time; yields how long the wait was.

    A model runs on every core (n_threads = cores), so two computing at once thrash: here a 3,075-token
    prompt took 449 s beside another process's model, where alone (cold) it took 124 s. In turn, a call
    waits only for the other's compute (benchmarks/compute_slot_bench.py). An exclusive flock on a file
    under AGENTSMITH_HOME: every run sharing the home takes turns (a worker's processes, the TUI beside a
    CLI run, a bench's jobs), and the kernel lets go of it when a holder dies."""
    from agentsmith.config import home

    path = home() / "locks" / COMPUTE_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(path, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if notify is not None:
                notify(f"waiting for this machine's cores: another agentsmith run's local model is computing ({path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - start
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def kv_tokens(llm) -> list[int]:
    """The tokens whose keys and values the context holds now (the last prompt and its answer)."""
    return llm.input_ids[: llm.n_tokens].tolist()


def evaluated_prompt_tokens(llm, cached: list[int], prompt_tokens: int) -> int:
    """Prompt tokens the call really computed. `Llama.generate` keeps the longest common prefix of the
    cached tokens and the new prompt less its last token, and evaluates only the rest: a sampled
    candidate with the same prompt as the one before costs one prompt token, not the whole prompt."""
    from llama_cpp import Llama

    prompt = llm.input_ids[:prompt_tokens].tolist()  # the prompt heads the context after the call
    return prompt_tokens - Llama.longest_token_prefix(cached, prompt[:-1])


def chat_prompt(llm, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
    """The model's own chat template applied to `messages`, ending where the assistant's turn starts
    (exactly the text `create_chat_completion` would tokenize), and the template's stop strings."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise TierFailure("the model file has no chat template", "use an instruct model's GGUF", unhealthy=False)
    eos, bos = llm.token_eos(), llm.token_bos()
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
    )
    rendered = formatter(messages=messages)
    stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
    return rendered.prompt, [s for s in stops if s]


# A begun answer is one fenced block: the model's closing fence ends it (no explanation after it to pay for).
FENCE_STOP = "\n```"
# Reasoning before a begun answer: what the retry asks for ("think about every test case first").
REASONING_TOKENS = 384
# The reasoning begun for the model (tiers[].retry_reasoning = begun): asked in words only, the 1.5B model
# mostly answered with code at once and repeated its first attempt's mistake.
REASONING_LEAD = (
    "Going through the tests one by one: what each one gives, what it expects, and how the code gets there.\n\n1."
)


class LoopGuard:
    """Says when a small model has fallen into a loop: the same line, or block of up to three lines, over
    and over with only its numbers changing (`if roll == 22: raise ...`, `== 23`, ... until the output
    cap). Seen on the 1.5B's bowling answers: 768 tokens, a minute of model time, nothing usable. Real code
    repeats a shape too (tic-tac-toe's 8 winning lines), so the bar is 10 repeats and 16 lines."""

    REPEATS = 10
    MIN_LINES = 16

    def __init__(self) -> None:
        self.partial = ""
        self.lines: list[str] = []
        self.looped = False

    def feed(self, piece: str) -> bool:
        """True once the text fed so far ends in a loop."""
        self.partial += piece
        *done, self.partial = self.partial.split("\n")
        for line in done:
            if line.strip():
                self.lines.append(re.sub(r"\d+", "0", line.strip()))
        if done and not self.looped:
            self.looped = self._loops()
        return self.looped

    def _loops(self) -> bool:
        for period in (1, 2, 3):
            span = max(self.REPEATS * period, self.MIN_LINES)
            tail = self.lines[-span:]
            if len(tail) == span and all(tail[i] == tail[i % period] for i in range(span)):
                return True
        return False


def _generate(llm, prompt: list[int], temperature, max_tokens, seed, stop, on_token, guard=None) -> str:
    pieces: list[str] = []
    for chunk in llm.create_completion(
        prompt=prompt, temperature=temperature, max_tokens=max_tokens, seed=seed, stop=stop, stream=True
    ):
        piece = chunk["choices"][0].get("text") or ""
        if piece:
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
            if guard is not None and guard.feed(piece):
                break  # the rest would be more of the same, up to the output cap
    return "".join(pieces)


def _continue(llm, cached, messages, prefill, reason_first, temperature, max_tokens, seed, on_token, lead="") -> Answer:
    """The answer begun with `prefill` and continued by the model, up to the block's closing fence.
    `reason_first`: the model first writes freely (its reasoning) until it opens a code block; the begun
    answer then takes over, so reasoning cannot end in an empty block or a path with no code. `lead`: the
    reasoning's first words, written for the model (it then reasons for sure); the code block keeps the
    whole `max_tokens`, the reasoning having its own cap."""
    text, stops = chat_prompt(llm, messages)

    def tokens_of(value: str) -> list[int]:
        return llm.tokenize(value.encode("utf-8"), add_bos=False, special=True)

    prompt = tokens_of(text + lead)
    reasoning, evaluated, written = "", 0, 0
    if reason_first:
        room = min(max_tokens // 2, REASONING_TOKENS)
        if on_token is not None and lead:
            on_token(lead)
        own = _generate(llm, prompt, temperature, room, seed, ["```", *stops], on_token)  # the model's part
        reasoning = lead + own
        evaluated = evaluated_prompt_tokens(llm, cached, len(prompt))
        written = len(tokens_of(own)) if own else 0
        lines = reasoning.rstrip().splitlines()
        if lines and lines[-1].strip().strip("`*:") == prefill.split("\n", 1)[0]:
            lines.pop()  # the path it wrote before opening the block: the begun answer names it
        reasoning = "\n".join(lines).rstrip() + "\n\n" if lines else ""
        cached = kv_tokens(llm)
    # Begun at an indentation, the last space is left for the model: its code tokens carry one (" return"
    # after three spaces), and begun with all four it wrote five, on every line.
    healed = prefill[:-1] if prefill.endswith(" ") else prefill
    if on_token is not None:
        on_token(healed)
    full = tokens_of(text + reasoning + healed)
    guard = LoopGuard()
    body = _generate(
        llm,
        full,
        temperature,
        max_tokens if lead else max(16, max_tokens - written),
        seed + 1 if reason_first else seed,
        [FENCE_STOP, *stops],
        on_token,
        guard,
    )
    if healed != prefill and body[:1] not in (" ", "\t", "\n"):
        body = " " + body  # it did not bring the space: the line still starts at the body's indentation
    closing = "\n```\n"
    if on_token is not None:
        on_token(closing)
    completion_tokens = written + (len(llm.tokenize(body.encode("utf-8"), add_bos=False)) if body else 0)
    return Answer(
        reasoning + healed + body.rstrip("\n") + closing,
        len(full) - written,
        completion_tokens,
        evaluated + evaluated_prompt_tokens(llm, cached, len(full)),
        seed,
        "loop" if guard.looped else None,
    )


class LocalTier:
    kind = "gguf"

    def __init__(self, spec: Tier, model_ref: str) -> None:
        self.spec = spec
        self.name = spec.name
        self.model_ref = model_ref
        self.model = Path(model_ref).name if "/" in model_ref else model_ref
        self.external = spec.external
        self.seeds = SamplingSeeds()
        self.notify: Callable[[str], None] | None = None  # told when a call waits for the machine's cores

    def configured(self) -> str | None:
        return None

    def check(self) -> Path:
        return ensure_model(self.model_ref)

    def probe(self) -> None:
        self.check()  # in-process: a verified model file is an answering model

    continues_answers = True  # the answer may be started for the model (see `chat`'s `prefill`)

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        on_token: Callable[[str], None] | None = None,
        prefill: str = "",
        reason_first: bool = False,
    ) -> Answer:
        """`prefill`: the start of the answer's code block, written for the model, which continues it (a
        local model is run token by token here, so its answer can be begun). `reason_first`: the model
        may write its reasoning before the block begins."""
        llm, lock = load_llama(self.check(), self.spec.context)
        lead = REASONING_LEAD if reason_first and self.spec.retry_reasoning == "begun" else ""
        seed = self.seeds.next(temperature, messages, prefill, reason_first, *([lead] if lead else []))
        # a llama.cpp context is not thread-safe; the machine's cores take one model at a time
        abort = _ABORTS[id(llm)][0]
        with lock, compute_slot(self.notify) as queued:
            try:
                answer = interruptible(
                    lambda: self._answer(
                        llm, messages, temperature, max_tokens, on_token, prefill, reason_first, seed, lead
                    ),
                    abort,
                )
            except KeyboardInterrupt:
                retire_llama(llm)
                raise
        answer.queued_s = round(queued, 3)
        return answer

    def _answer(self, llm, messages, temperature, max_tokens, on_token, prefill, reason_first, seed, lead) -> Answer:
        cached = kv_tokens(llm)
        try:
            if prefill:
                return _continue(
                    llm, cached, messages, prefill, reason_first, temperature, max_tokens, seed, on_token, lead
                )
            if on_token is None:
                result = llm.create_chat_completion(
                    messages=messages, temperature=temperature, max_tokens=max_tokens, seed=seed
                )
                usage = result.get("usage") or {}
                prompt_tokens = int(usage.get("prompt_tokens", 0))
                return Answer(
                    result["choices"][0]["message"].get("content") or "",
                    prompt_tokens,
                    int(usage.get("completion_tokens", 0)),
                    evaluated_prompt_tokens(llm, cached, prompt_tokens),
                    seed,
                )
            pieces: list[str] = []
            for chunk in llm.create_chat_completion(
                messages=messages, temperature=temperature, max_tokens=max_tokens, seed=seed, stream=True
            ):
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    pieces.append(piece)
                    on_token(piece)
            text = "".join(pieces)
            completion_tokens = len(llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0
            prompt_tokens = max(0, llm.n_tokens - completion_tokens)
            return Answer(
                text,
                prompt_tokens,
                completion_tokens,
                evaluated_prompt_tokens(llm, cached, prompt_tokens),
                seed,
            )
        except ValueError as err:  # llama.cpp raises ValueError when the prompt exceeds n_ctx
            if "context" in str(err):
                raise ContextOverflow(
                    f"local tier {self.name}: {err}",
                    "send a smaller prompt, or raise the tier's context in the policy",
                ) from None
            raise TierFailure(
                f"local tier {self.name}: {err}",
                "send fewer or smaller files, or raise the tier's context in the policy",
                unhealthy=False,
            ) from None

    def count_tokens(self, text: str) -> int:
        """The model's own tokenizer: the budget is exact, not guessed (the model is loaded for the call anyway)."""
        llm, lock = load_llama(self.check(), self.spec.context)
        with lock:
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


# ---------------------------------------------------------------- OpenAI-compatible endpoint


def served_prompt_tokens_evaluated(usage) -> int | None:
    """Servers that cache prompts say how many tokens came from the cache; None when one does not say."""
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) if usage else None
    return usage.prompt_tokens - cached if isinstance(cached, int) else None


def frontier_settings(spec: Tier) -> tuple[str | None, str | None, str | None]:
    """(base_url, model, api key): the policy's values first, then the AGENTSMITH_FRONTIER_* env."""
    base_url = spec.base_url or os.environ.get("AGENTSMITH_FRONTIER_BASE_URL") or None
    model = spec.model or os.environ.get("AGENTSMITH_FRONTIER_MODEL") or None
    key = None
    for var in (spec.api_key_env, "AGENTSMITH_FRONTIER_API_KEY", "OPENAI_API_KEY"):
        if var and os.environ.get(var):
            key = os.environ[var]
            break
    return base_url, model, key


class OpenAITier:
    kind = "openai"

    def __init__(self, spec: Tier) -> None:
        self.spec = spec
        self.name = spec.name
        self.external = spec.external
        self.base_url, model, self._api_key = frontier_settings(spec)
        self.model = model or ""
        self._client = None

    def configured(self) -> str | None:
        """None when usable, else what is missing."""
        missing = []
        if not self.base_url:
            missing.append("AGENTSMITH_FRONTIER_BASE_URL" if not self.spec.base_url else "base_url")
        if not self.model:
            missing.append("AGENTSMITH_FRONTIER_MODEL" if not self.spec.model else "model")
        return f"tier {self.name} is not configured (missing {', '.join(missing)})" if missing else None

    def check(self) -> None:
        problem = self.configured()
        if problem:
            raise ModelUnavailable(
                problem,
                "set AGENTSMITH_FRONTIER_BASE_URL and AGENTSMITH_FRONTIER_MODEL "
                "(and AGENTSMITH_FRONTIER_API_KEY), or use --tier local",
            )

    def count_tokens(self, text: str) -> int:
        """No tokenizer API on an OpenAI-compatible endpoint: an estimate that overshoots."""
        return int(len(text) / 3.2) + 1

    def probe(self) -> None:
        """Reachability, for a tier the user pinned: any HTTP answer is a live server; no answer, or a
        refused key, is a one-line error before any work starts."""
        import openai

        self.check()
        try:
            self.client().with_options(timeout=5, max_retries=0).models.list()
        except (openai.APIConnectionError, openai.APITimeoutError) as err:
            raise ModelUnavailable(
                f"frontier tier {self.name} at {self.base_url} is unreachable ({type(err).__name__})",
                "check AGENTSMITH_FRONTIER_BASE_URL and that the server is up, or use --tier local",
            ) from None
        except openai.AuthenticationError:
            raise ModelUnavailable(
                f"frontier tier {self.name} at {self.base_url} rejected the API key",
                "set AGENTSMITH_FRONTIER_API_KEY (or OPENAI_API_KEY)",
            ) from None
        except openai.APIStatusError:
            pass  # answered: some servers do not list models

    def client(self):
        if self._client is None:
            import openai

            self.check()
            # The SDK's own retries are the only retry loop; the breaker sits above it.
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self._api_key or "not-needed",
                max_retries=self.spec.max_retries,
                timeout=self.spec.timeout_s,
            )
        return self._client

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        import openai

        client = self.client()
        where = f"tier {self.name} at {self.base_url}"
        try:
            if on_token is None:
                result = client.chat.completions.create(
                    model=self.model, messages=messages, temperature=temperature, max_tokens=max_tokens
                )
                usage = result.usage
                return Answer(
                    result.choices[0].message.content or "",
                    usage.prompt_tokens if usage else 0,
                    usage.completion_tokens if usage else 0,
                    served_prompt_tokens_evaluated(usage),
                )
            pieces: list[str] = []
            usage = None
            stream = client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            for chunk in stream:
                if chunk.usage:
                    usage = chunk.usage
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                    on_token(chunk.choices[0].delta.content)
            text = "".join(pieces)
            if usage:
                return Answer(text, usage.prompt_tokens, usage.completion_tokens, served_prompt_tokens_evaluated(usage))
            # Some servers send no usage when streaming: estimate (about 4 characters a token).
            prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
            return Answer(text, prompt_chars // 4 + 1, len(text) // 4 + 1)
        except (openai.APIConnectionError, openai.APITimeoutError) as err:
            raise TierFailure(
                f"{where} is unreachable ({type(err).__name__})", "check the endpoint, or use --tier local"
            ) from None
        except openai.AuthenticationError:
            raise TierFailure(
                f"{where} rejected the API key", "set AGENTSMITH_FRONTIER_API_KEY to a valid key", unhealthy=False
            ) from None
        except openai.APIStatusError as err:
            detail = str(getattr(err, "message", "") or err).lower()
            if err.status_code in (400, 413) and ("context" in detail or "too long" in detail or "maximum" in detail):
                raise ContextOverflow(
                    f"{where} refused the request: it exceeds the model's context",
                    "send a smaller prompt, or raise the tier's context in the policy",
                ) from None
            unhealthy = err.status_code >= 500 or err.status_code == 429
            raise TierFailure(
                f"{where} answered HTTP {err.status_code}",
                "check the endpoint and the model name, or use --tier local",
                unhealthy=unhealthy,
            ) from None
