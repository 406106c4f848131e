"""The run graph's paths, fast: two scripted model servers on 127.0.0.1 are the tiers (they speak the
OpenAI wire format and answer from a script), everything else is real: the graph, the Docker sandbox
running the repo's tests, Semgrep and Bandit, git, the audit log and the checkpoints.

Each test drives one path through `start_run`/`resume_run` (or the CLI) and asserts on what a user sees:
the status, the branch and its one commit, the routes, the audit events and the prompts the model got.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentsmith.audit import AuditLog
from agentsmith.config import POLICIES_DIR, audit_db
from agentsmith.graph.runner import resume_run, start_run
from tests import scripted_model
from tests.conftest import git
from tests.frontier_standin import free_port
from tests.test_run import AGENTSMITH, CLAMP_REPO, TASK

pytestmark = pytest.mark.fast

RETRY = "A previous attempt at this task failed"  # what every retry prompt says before the failure


def whole_file(path: str, text: str) -> str:
    """An answer in the format the whole-file prompt asks for."""
    return f"Here is the file.\n\n{path}\n```python\n{text}```\n"


CLAMP_STUB = CLAMP_REPO["mathutil.py"]
CLAMP_DONE = CLAMP_STUB.replace("raise NotImplementedError", "return max(low, min(value, high))")
CLAMP_WRONG = CLAMP_STUB.replace("raise NotImplementedError", "return value  # wrong draft")
CLAMP_WRONG_2 = CLAMP_STUB.replace("raise NotImplementedError", "return min(value, high)  # second draft")


class Scripted:
    """A scripted model server in a thread of this process; `script` may be replaced before a run."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.server = scripted_model.ScriptedServer(0, [], log=str(log))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def script(self) -> list[dict]:
        return self.server.script

    @script.setter
    def script(self, entries: list[dict]) -> None:
        self.server.script = entries

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line)["request"] for line in self.log.read_text().splitlines()]

    def prompts(self) -> list[str]:
        """The user message of each chat request, in order."""
        return [next(m["content"] for m in reversed(r["messages"]) if m["role"] == "user") for r in self.requests()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def shown_file(prompt: str, path: str) -> str:
    """The content of `path` as the prompt shows it (the file to change)."""
    found = re.search(rf"^{re.escape(path)} \(current content[^)]*\)\n```python\n(.*?)^```", prompt, re.S | re.M)
    assert found, f"{path} is not shown in the prompt:\n{prompt}"
    return found.group(1)


class Harness:
    """The two tiers, a policy naming them, and a way to run a task and read what it recorded."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.local = Scripted(tmp_path / "local.jsonl")
        self.frontier = Scripted(tmp_path / "frontier.jsonl")
        self.events: list[tuple[str, dict]] = []

    def policy(self, frontier_url: str | None = None, **routing: Any) -> Path:
        policy = yaml.safe_load((POLICIES_DIR / "default.yaml").read_text())
        policy["name"] = "fast-paths"
        policy["tiers"] = [
            {
                "name": "local",
                "kind": "openai",
                "model": "scripted-local",
                "base_url": self.local.url,
                "external": False,
                "price_in_per_mtok": 0.1,
                "price_out_per_mtok": 0.2,
                "context": 8192,
            },
            {
                "name": "frontier",
                "kind": "openai",
                "model": "scripted-frontier",
                "base_url": frontier_url or self.frontier.url,
                "external": True,
                "price_in_per_mtok": 3.0,
                "price_out_per_mtok": 15.0,
                "context": 32768,
                "timeout_s": 10,
            },
        ]
        policy["routing"] |= {"local_samples": 0} | routing
        path = self.tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        return path

    def listen(self, kind: str, data: dict) -> None:
        if kind != "token":
            self.events.append((kind, data))

    def notices(self) -> list[str]:
        return [data["text"] for kind, data in self.events if kind == "notice"]

    def run(self, task: str, repo: Path, policy: Path | None = None, **kwargs: Any) -> dict[str, Any]:
        return start_run(task, repo=str(repo), policy_path=str(policy or self.policy()), listener=self.listen, **kwargs)

    def close(self) -> None:
        self.local.close()
        self.frontier.close()


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


def audit(run_id: str, *kinds: str) -> list:
    return AuditLog(audit_db()).events(run_id, kinds=kinds)


def assert_one_commit(repo: Path, result: dict[str, Any], path: str, text: str) -> None:
    assert result["status"] == "committed", result["reason"]
    branch = result["branch"]
    assert branch == f"agentsmith/{result['run_id']}" and git(repo, "rev-parse", branch).strip() == result["commit"]
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert git(repo, "show", f"{branch}:{path}") == text
    assert f"Agentsmith-Run: {result['run_id']}" in git(repo, "log", "-1", "--format=%B", branch)
    # The user's checkout is left as it was.
    assert git(repo, "status", "--porcelain") == "" and git(repo, "branch", "--show-current").strip() == "main"
    assert AuditLog(audit_db()).verify()[0]


# ------------------------------------------------------------------------------------------------ paths


def test_first_answer_passes_and_is_committed(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"match": "mathutil.py", "answer": whole_file("mathutil.py", CLAMP_DONE)}]

    result = harness.run(TASK, repo)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert git(repo, "diff", "--name-only", "main", result["branch"]).split() == ["mathutil.py"]
    assert result["tiers_used"] == ["local"] and result["attempts"] == 1 and result["blocking"] == 0
    assert result["cost_usd"] > 0 and result["tokens"]["completion"] > 0
    assert [r["tier"] for r in result["routes"]] == ["local"] and not result["routes"][0]["external"]
    assert harness.frontier.requests() == []
    prompt = harness.local.prompts()[0]
    assert TASK in prompt and "raise NotImplementedError" in shown_file(prompt, "mathutil.py")
    assert "def test_above" in prompt  # the tests that must pass are shown
    kinds = [e.kind for e in audit(result["run_id"]) if e.kind not in ("prompt", "tests", "deps", "token")]
    assert kinds == [
        "run-started",
        "intake",
        "plan",
        "route",
        "call",
        "apply",
        "verify",
        "gate",
        "review",
        "commit",
        "run-finished",
    ]


def test_a_failing_answer_is_retried_with_the_failure_and_the_retry_passes(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG)},
    ]

    result = harness.run(TASK, repo)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    first, retry = harness.local.prompts()
    assert RETRY not in first and RETRY in retry
    assert "test_below" in retry or "test_above" in retry  # the failing test, from the sandbox's log
    assert "raise NotImplementedError" in shown_file(retry, "mathutil.py")  # from the original file
    verifies = audit(result["run_id"], "verify")
    assert [(v.data["passed"], v.data["next"]) for v in verifies] == [(False, "route"), (True, "gate")]
    # how close the failed candidate came, from the audit log alone
    assert verifies[0].data["tests"]["failed"] >= 1 and verifies[0].data["failing"]
    assert all(node.startswith("test_") or "::" in node for node in verifies[0].data["failing"])
    assert [r["reason"].split(":")[1].strip().split(" with")[0] for r in result["routes"]] == [
        "local attempt 1/2",
        "local retry 2/2",
    ]


def test_a_tier_that_charges_for_input_gets_the_failure_as_a_summary(harness, repo_factory):
    """Escalated with-failure, the paid tier's first prompt carries the failing assertion with its values and the
    summary's tail (<= 800 characters), not the 3,000-character log a free local retry gets: the log made
    an escalated call cost 1.07-1.37x what frontier-only paid for the same task."""
    cases = "".join(
        f"\n\ndef test_case_{i + 20}():\n    assert clamp({i}, 0, 10) == {min(max(i, 0), 10)}\n" for i in range(-20, 40)
    )
    repo = repo_factory(CLAMP_REPO | {"test_mathutil.py": "from mathutil import clamp\n" + cases})
    policy = harness.policy(escalation="with-failure")
    settings = yaml.safe_load(policy.read_text())
    settings["tiers"][0] |= {"price_in_per_mtok": 0.0, "price_out_per_mtok": 0.0}
    policy.write_text(yaml.safe_dump(settings))
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_WRONG)}]
    harness.frontier.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]

    result = harness.run(TASK, repo, policy)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)

    def what_went_wrong(prompt: str) -> str:
        return prompt.split(RETRY)[1].split("```\n", 1)[1].split("\n```", 1)[0]

    free = what_went_wrong(harness.local.prompts()[1])
    [paid] = [what_went_wrong(p) for p in harness.frontier.prompts()]
    assert 2_000 < len(free) <= 3_000 and len(paid) <= 800
    assert "E       assert -20 == 0" in paid and "failed" in paid.splitlines()[-1]


def test_an_answer_cut_at_the_output_cap_is_retried_with_that_reason(harness, repo_factory):
    """An answer that ran to the tier's output cap before any code closed holds no edit; the retry is told
    it hit the cap and to write less, not just that no edit applied (the 1.5B's capped answers got that,
    and their retries had nothing to go on)."""
    repo = repo_factory(CLAMP_REPO)
    policy = harness.policy()
    settings = yaml.safe_load(policy.read_text())
    settings["tiers"][0]["max_output_tokens"] = 64
    policy.write_text(yaml.safe_dump(settings))
    harness.local.script = [
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": "Let me think about every case of the clamp first. " * 12},
    ]

    result = harness.run(TASK, repo, policy)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    _, retry = harness.local.prompts()
    assert "reached the 64-token output limit before its code was complete: write less" in retry
    verifies = audit(result["run_id"], "verify")
    assert verifies[0].data["error"] == "no edit applied"


def test_sampled_candidates_on_the_retry_go_back_to_edit_until_one_passes(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [
        {"match": RETRY, "times": 1, "answer": whole_file("mathutil.py", CLAMP_WRONG_2)},
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG)},
    ]

    result = harness.run(TASK, repo, harness.policy(local_samples=2))

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert len(result["routes"]) == 2 and result["routes"][1]["samples"] == 3
    assert "3 sampled candidates" in result["routes"][1]["reason"]
    # verify -> route after the first attempt, verify -> edit between the sampled candidates.
    verifies = audit(result["run_id"], "verify")
    assert [(v.data["passed"], v.data["next"]) for v in verifies] == [(False, "route"), (False, "edit"), (True, "gate")]
    assert [c.data["candidate"] for c in audit(result["run_id"], "call")] == [1, 1, 2]
    requests = harness.local.requests()
    assert [r["temperature"] for r in requests] == [0.0, 0.8, 0.8]
    # Both candidates start from the original file with the first attempt's failure: the same prompt.
    _, first_candidate, second_candidate = harness.local.prompts()
    assert first_candidate == second_candidate and "second draft" not in second_candidate
    assert "raise NotImplementedError" in shown_file(second_candidate, "mathutil.py")


REPAIR = "The code shown above is a previous attempt at this task. It failed."


def policy_with_tiers(harness: Harness, **tiers: dict[str, Any]) -> Path:
    path = harness.policy()
    settings = yaml.safe_load(path.read_text())
    for tier in settings["tiers"]:
        tier |= tiers.get(tier["name"], {})
    path.write_text(yaml.safe_dump(settings))
    return path


def draft_shown(prompt: str, path: str) -> str:
    found = re.search(
        rf"^{re.escape(path)} \(a previous attempt's content, to fix[^)]*\)\n```python\n(.*?)^```", prompt, re.S | re.M
    )
    assert found, f"no draft of {path} in the prompt:\n{prompt}"
    return found.group(1)


def test_repair_candidates_fix_the_tiers_own_draft_and_the_others_start_over(harness, repo_factory):
    """tiers[].retry_repair: the first N candidates of a retry see the tier's failed draft, to fix, with its
    failure; the rest start from the original file with the failure (both kinds are verified alike)."""
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [
        {"match": REPAIR, "answer": whole_file("mathutil.py", CLAMP_WRONG_2)},
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG)},
    ]
    policy = policy_with_tiers(harness, local={"retry_samples": 2, "retry_temperature": 0.8, "retry_repair": 1})

    result = harness.run(TASK, repo, policy)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    _, repair, fresh = harness.local.prompts()
    assert draft_shown(repair, "mathutil.py") == CLAMP_WRONG and "fix the code shown" in repair
    assert "test_below" in repair.split(REPAIR)[1]  # the draft's own failure comes with it
    assert RETRY in fresh and REPAIR not in fresh
    assert "raise NotImplementedError" in shown_file(fresh, "mathutil.py")
    assert [c.data["repair"] for c in audit(result["run_id"], "call")] == [False, True, False]


def test_resampled_candidates_are_drawn_from_the_first_prompt_without_the_failure(harness, repo_factory):
    """tiers[].retry_resample: the last N candidates of a retry are drawn from the step's first prompt (no
    failure shown), the others read the failure; every one is verified, and the call records which it was."""
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_WRONG_2)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG)},
    ]
    policy = policy_with_tiers(harness, local={"retry_samples": 3, "retry_temperature": 0.8, "retry_resample": 2})

    result = harness.run(TASK, repo, policy)

    assert result["status"] == "failed" and result["commit"] is None
    greedy, retry, first_resample, second_resample = harness.local.prompts()
    assert RETRY in retry and "test_below" in retry.split(RETRY)[1]
    assert first_resample == second_resample == greedy and RETRY not in greedy
    assert [r["temperature"] for r in harness.local.requests()] == [0.0, 0.8, 0.8, 0.8]
    calls = [c.data for c in audit(result["run_id"], "call") if c.data["tier"] == "local"]
    assert [(c["candidate"], c["resample"]) for c in calls] == [(1, False), (1, False), (2, True), (3, True)]
    verifies = [v.data for v in audit(result["run_id"], "verify") if v.data["tier"] == "local"]
    assert [v["passed"] for v in verifies] == [False] * 4


def test_a_paid_tier_retries_by_fixing_its_own_draft_never_a_weaker_tiers(harness, repo_factory):
    """Greedy and told only the failure, the frontier stand-in answered its failed first answer again in 4 of
    13 tasks (paid twice for the same code). With retry_repair it is shown that answer to fix; escalated,
    it still starts from the original file (a weaker tier's draft made a stronger one do worse)."""
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_WRONG)}]
    harness.frontier.script = [
        {"match": REPAIR, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG_2)},
    ]
    policy = policy_with_tiers(harness, frontier={"retry_repair": 1})

    result = harness.run(TASK, repo, policy)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert [r["tier"] for r in result["routes"]] == ["local", "local", "frontier", "frontier"]
    escalated, retry = harness.frontier.prompts()
    assert REPAIR not in escalated and "wrong draft" not in escalated
    assert "raise NotImplementedError" in shown_file(escalated, "mathutil.py")
    assert draft_shown(retry, "mathutil.py") == CLAMP_WRONG_2
    assert [r["temperature"] for r in harness.frontier.requests()] == [0.0, 0.0]


def test_local_failures_escalate_to_the_frontier_which_starts_from_the_original_files(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_WRONG)}]
    harness.frontier.script = [{"match": "mathutil.py", "answer": whole_file("mathutil.py", CLAMP_DONE)}]

    result = harness.run(TASK, repo, harness.policy(escalation="with-failure"))

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert [r["tier"] for r in result["routes"]] == ["local", "local", "frontier"]
    assert (
        result["routes"][2]["external"]
        and "escalating after 2 failed local attempt(s)" in result["routes"][2]["reason"]
    )
    assert result["tiers_used"] == ["frontier", "local"]
    frontier_calls = [c for c in result["calls"] if c["tier"] == "frontier"]
    assert len(frontier_calls) == 1 and frontier_calls[0]["cost_usd"] > 0
    assert result["cost_usd"] > frontier_calls[0]["cost_usd"]  # the local calls cost something too
    assert len(harness.local.prompts()) == 2
    [escalated] = harness.frontier.prompts()
    shown = shown_file(escalated, "mathutil.py")
    assert "raise NotImplementedError" in shown and "wrong draft" not in shown
    assert RETRY in escalated  # with the last failure's log
    assert "Agentsmith-Tiers: frontier,local" in git(repo, "log", "-1", "--format=%B", result["branch"])


def test_escalated_fresh_the_frontier_is_asked_exactly_what_frontier_only_asks(harness, repo_factory):
    """routing.escalation = fresh (the default): the local tier's failures are not shown to the frontier, so
    its requests, first and retry, are byte for byte frontier-only's and an escalated task costs what
    frontier-only pays (with the local failure shown, the cascade paid 1.10x on the same 25 tasks)."""
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_WRONG)}]
    harness.frontier.script = [
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG_2)},
    ]
    alone = harness.run(TASK, repo_factory(CLAMP_REPO), tier="frontier")
    frontier_only = harness.frontier.requests()
    harness.frontier.log.unlink()

    repo = repo_factory(CLAMP_REPO)
    result = harness.run(TASK, repo)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert alone["status"] == "committed" and alone["cost_usd"] > 0
    assert [r["tier"] for r in result["routes"]] == ["local", "local", "frontier", "frontier"]
    assert (
        all(r["fresh"] for r in result["routes"][2:]) and "routing.escalation = fresh" in result["routes"][2]["reason"]
    )
    assert harness.frontier.requests() == frontier_only and len(frontier_only) == 2
    escalated, retry = harness.frontier.prompts()
    assert RETRY not in escalated and "wrong draft" not in escalated
    assert RETRY in retry and "second draft" not in retry  # its own failure, from the original file
    paid = sum(c["cost_usd"] for c in result["calls"] if c["tier"] == "frontier")
    assert paid == pytest.approx(alone["cost_usd"])


def test_an_unreachable_frontier_degrades_to_local_with_a_notice(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]
    # A hard step (difficulty >= frontier_difficulty) goes to the frontier first; nothing listens there.
    policy = harness.policy(
        frontier_url=f"http://127.0.0.1:{free_port()}/v1", frontier_difficulty=1, frontier_unavailable="degrade"
    )

    result = harness.run(TASK, repo, policy)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert [r["tier"] for r in result["routes"]] == ["frontier", "local"]
    degraded = result["routes"][1]
    assert degraded["degraded"] and "unreachable" in degraded["reason"] and "degrade to local" in degraded["reason"]
    assert any(n.startswith("! degraded to local") and "unreachable" in n for n in harness.notices())
    assert result["tiers_used"] == ["local"]
    assert [e.data["tier"] for e in audit(result["run_id"], "model-error")] == ["frontier"]


def test_an_unreachable_frontier_under_policy_stop_stops_the_run_with_the_reason(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]
    policy = harness.policy(
        frontier_url=f"http://127.0.0.1:{free_port()}/v1", frontier_difficulty=1, frontier_unavailable="stop"
    )

    result = harness.run(TASK, repo, policy)

    assert result["status"] == "failed" and result["branch"] is None and result["commit"] is None
    assert "unreachable" in result["reason"] and "frontier_unavailable = stop" in result["reason"]
    assert harness.local.requests() == []
    assert [r["tier"] for r in result["routes"]] == ["frontier", None]
    assert git(repo, "branch", "--list", "agentsmith/*") == ""
    finished = audit(result["run_id"], "run-finished")[0].data
    assert finished["status"] == "failed" and finished["reason"] == result["reason"]


SHELL_REPO = {
    "runner.py": '"""Run commands."""\n\nimport shlex\nimport subprocess\n\n\ndef run_command(command):\n'
    '    """Run the command line `command` and return its exit code."""\n'
    "    raise NotImplementedError\n",
    "test_runner.py": "from runner import run_command\n\n\ndef test_exit_code():\n"
    "    assert run_command(\"sh -c 'exit 3'\") == 3\n",
}
SHELL_UNSAFE = SHELL_REPO["runner.py"].replace(
    "raise NotImplementedError", "return subprocess.run(command, shell=True).returncode"
)
SHELL_SAFE = SHELL_REPO["runner.py"].replace(
    "raise NotImplementedError", "return subprocess.run(shlex.split(command), check=False).returncode"
)


def test_a_blocking_finding_goes_back_to_the_model_and_the_clean_answer_is_committed(harness, repo_factory):
    repo = repo_factory(SHELL_REPO)
    harness.local.script = [
        {"match": "security gate blocked", "answer": whole_file("runner.py", SHELL_SAFE)},
        {"answer": whole_file("runner.py", SHELL_UNSAFE)},
    ]

    result = harness.run("Implement run_command in runner.py so the tests pass", repo)

    assert_one_commit(repo, result, "runner.py", SHELL_SAFE)
    gates = audit(result["run_id"], "gate")
    assert len(gates) == 2 and gates[0].data["blocking"] >= 1 and gates[0].data["next"] == "route"
    assert gates[1].data["blocking"] == 0 and gates[1].data["next"] == "review"
    # Both answers passed the tests; the first went back to the model because of the gate.
    assert [v.data["passed"] for v in audit(result["run_id"], "verify")] == [True, True]
    retry = harness.local.prompts()[1]
    assert "The security gate blocked the change" in retry and "shell" in retry.lower()
    assert "shell=True" not in shown_file(retry, "runner.py")
    assert result["blocking"] == 0 and "shell=True" not in git(repo, "show", f"{result['branch']}:runner.py")


def test_review_feedback_reaches_the_model_and_the_approved_change_is_committed(harness, repo_factory):
    repo = repo_factory(CLAMP_REPO)
    feedback = "Please name the bounds in a comment: clamp between low and high."
    revised = CLAMP_DONE.replace("    return max", "    # clamp between low and high\n    return max")
    harness.local.script = [
        {"match": feedback, "answer": whole_file("mathutil.py", revised)},
        {"answer": whole_file("mathutil.py", CLAMP_DONE)},
    ]
    reviewed: list[dict] = []

    def reviewer(pending: dict) -> dict:
        reviewed.append(pending)
        if len(reviewed) == 1:
            return {"decision": "feedback", "feedback": feedback}
        return {"decision": "approve"}

    result = harness.run(TASK, repo, mode="interactive", reviewer=reviewer)

    assert_one_commit(repo, result, "mathutil.py", revised)
    assert len(reviewed) == 2
    assert "+    return max(low, min(value, high))" in reviewed[0]["diff"]
    assert "+    # clamp between low and high" in reviewed[1]["diff"]
    assert reviewed[1]["branch"] == result["branch"]
    retry = harness.local.prompts()[1]
    assert f"The reviewer asked for changes: {feedback}" in retry
    reviews = audit(result["run_id"], "review")
    assert [(r.data["decision"], r.data["by"], r.data["next"]) for r in reviews] == [
        ("feedback", "human", "route"),
        ("approve", "human", "commit"),
    ]
    assert "Agentsmith-Review: human" in git(repo, "log", "-1", "--format=%B", result["branch"])


def killed_while_paused(harness: Harness, repo: Path, tmp_path: Path) -> str:
    """A real `agentsmith run` paused before verify and SIGKILLed there: its run id."""
    policy = harness.policy()
    agent = subprocess.Popen(
        [AGENTSMITH, "run", TASK, "--repo", str(repo), "--policy", str(policy), "--mode", "ci"],
        stdout=(tmp_path / "run.out").open("w"),
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"AGENTSMITH_PAUSE_AT": "verify:600"},
        start_new_session=True,
    )
    run_id, seen = None, []
    watchdog = threading.Timer(120, os.killpg, (agent.pid, signal.SIGKILL))  # a run that never pauses
    watchdog.start()
    try:
        for line in agent.stderr:
            seen.append(line)
            paused = re.search(r"run (\S+) paused before verify", line)
            if paused:
                run_id = paused.group(1)
                break
    finally:
        watchdog.cancel()
        if agent.poll() is None:
            os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(timeout=30)
    assert run_id, "".join(seen)[-3000:]
    return run_id


def test_a_run_killed_while_paused_before_verify_resumes_to_one_commit(harness, repo_factory, tmp_path):
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]
    run_id = killed_while_paused(harness, repo, tmp_path)

    result = resume_run(run_id, listener=harness.listen)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert len(harness.local.requests()) == 1  # the answer was checkpointed: not asked again
    kinds = [e.kind for e in audit(run_id)]
    assert kinds.count("run-started") == 1 and kinds.count("call") == 1 and kinds.count("commit") == 1
    assert kinds.index("apply") < kinds.index("run-resumed") < kinds.index("verify")
    resumed = audit(run_id, "run-resumed")[0].data
    assert resumed["next"] == ["verify"] and resumed["took_over_from"]
    assert git(repo, "branch", "--list", "agentsmith/*").split() == [result["branch"]]


TWO_STUBS = {
    "mathutil.py": (
        '"""Number helpers."""\n\n\ndef clamp(value, low, high):\n'
        '    """Return value limited to the range [low, high]."""\n    raise NotImplementedError\n\n\n'
        "def wrap_around(value, size):\n"
        '    """Return value wrapped into the range [0, size)."""\n    raise NotImplementedError\n'
    ),
    "test_mathutil.py": (
        "from mathutil import clamp, wrap_around\n\n\n"
        "def test_clamp():\n    assert clamp(42, 0, 10) == 10 and clamp(-1, 0, 10) == 0\n\n\n"
        "def test_wrap_around():\n    assert wrap_around(12, 10) == 2 and wrap_around(-1, 10) == 9\n"
    ),
}
STEP_1_DONE = TWO_STUBS["mathutil.py"].replace("raise NotImplementedError", "return max(low, min(value, high))", 1)
STEP_2_DONE = STEP_1_DONE.replace("raise NotImplementedError", "return value % size")
# Step 2 done, but step 1's work undone: clamp is a stub again (it fails on the base revision too).
STEP_2_UNDOES_STEP_1 = STEP_2_DONE.replace("return max(low, min(value, high))", "raise NotImplementedError")


def test_two_named_stubs_are_two_steps_and_the_commit_holds_both(harness, repo_factory):
    repo = repo_factory(TWO_STUBS)
    harness.local.script = [
        {"match": "`wrap_around`", "times": 1, "answer": whole_file("mathutil.py", STEP_2_UNDOES_STEP_1)},
        {"match": "`wrap_around`", "answer": whole_file("mathutil.py", STEP_2_DONE)},
        {"match": "`clamp`", "answer": whole_file("mathutil.py", STEP_1_DONE)},
    ]

    result = harness.run("Implement clamp and wrap_around so the tests pass", repo)

    assert_one_commit(repo, result, "mathutil.py", STEP_2_DONE)
    [plan] = audit(result["run_id"], "plan")
    assert [s["id"] for s in plan.data["steps"]] == ["step-1", "step-2"]
    assert [(r["step"], r["tier"]) for r in result["routes"]] == [
        ("step-1", "local"),
        ("step-2", "local"),
        ("step-2", "local"),
    ]
    [done] = audit(result["run_id"], "step-done")
    assert done.data == {"step": "step-1", "next_step": "step-2", "attempts": 1}
    step_1, step_2, step_2_retry = harness.local.prompts()
    assert "raise NotImplementedError" in shown_file(step_1, "mathutil.py")
    # Step 2 starts from step 1's work, and its retry is restored to that, not to the base revision.
    for prompt in (step_2, step_2_retry):
        shown = shown_file(prompt, "mathutil.py")
        assert "return max(low, min(value, high))" in shown and "return value % size" not in shown
    # The first step-2 answer undid step 1: step 1's test failed it, though it fails on the base revision too.
    assert RETRY in step_2_retry and "test_clamp" in step_2_retry
    verifies = audit(result["run_id"], "verify")
    assert [(v.data["passed"], v.data["next"]) for v in verifies] == [(True, "route"), (False, "route"), (True, "gate")]


def test_without_a_docker_engine_a_policy_allowing_the_weaker_backend_runs_in_bubblewrap(
    harness, repo_factory, monkeypatch
):
    repo = repo_factory(CLAMP_REPO)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{harness.tmp_path}/no-engine.sock")  # no engine answers
    harness.local.script = [{"match": "mathutil.py", "answer": whole_file("mathutil.py", CLAMP_DONE)}]
    strict = harness.policy()

    refused = subprocess.run(
        [AGENTSMITH, "run", TASK, "--repo", str(repo), "--policy", str(strict), "--mode", "ci"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"DOCKER_HOST": f"unix://{harness.tmp_path}/no-engine.sock"},
    )
    assert refused.returncode == 2 and "no Docker engine answers" in refused.stderr, refused.stderr
    assert git(repo, "branch", "--list", "agentsmith/*").strip() == ""  # refused before anything was created

    weaker = yaml.safe_load(strict.read_text())
    weaker["sandbox"]["allow_weaker_backend"] = True
    strict.write_text(yaml.safe_dump(weaker))
    result = harness.run(TASK, repo, strict)

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    assert [v.data["backend"] for v in audit(result["run_id"], "verify")] == ["bubblewrap"]


def test_the_steps_own_tests_fail_it_even_when_they_also_failed_on_the_base(harness, repo_factory):
    """The stub fails the step's tests on the base revision too. When pytest cannot select them by the id
    the planner made (a mixin's test runs under the class using it), the suite decides, and its baseline
    must not forgive them: cachetools' typedkey was committed unimplemented that way."""
    tests = (
        "from mathutil import clamp\n\n\nclass ClampCases:\n    def test_clamp(self):\n"
        "        assert clamp(5, 0, 3) == 3\n        assert clamp(-1, 0, 3) == 0\n\n\n"
        "class TestClamp(ClampCases):\n    pass\n\n\ndef test_unrelated():\n    assert True\n"
    )
    repo = repo_factory(CLAMP_REPO | {"test_mathutil.py": tests})
    harness.local.script = [
        {"match": RETRY, "answer": whole_file("mathutil.py", CLAMP_DONE)},
        {"answer": whole_file("mathutil.py", CLAMP_WRONG)},
    ]

    result = harness.run(TASK, repo, harness.policy())

    assert_one_commit(repo, result, "mathutil.py", CLAMP_DONE)
    first, *_ = audit(result["run_id"], "verify")
    assert not first.data["passed"]
    suite = [e.data for e in audit(result["run_id"], "tests") if e.data.get("scope") == "suite"]
    assert suite[0]["new"] == ["test_mathutil.py::TestClamp::test_clamp"], suite


def test_a_missing_scanner_stops_the_run_before_any_model_time(harness, repo_factory, monkeypatch):
    """The gate could not scan at the end, and the passing change would be discarded: refused at intake."""
    from agentsmith.errors import UserError

    repo = repo_factory(CLAMP_REPO)
    monkeypatch.setenv("AGENTSMITH_SEMGREP", str(harness.tmp_path / "no-semgrep"))
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]

    with pytest.raises(UserError, match=r"semgrep not found at .*no-semgrep; run scripts/setup\.sh"):
        harness.run(TASK, repo)

    assert harness.local.requests() == []
    assert git(repo, "branch", "--list", "agentsmith/*").strip() == "" and git(repo, "status", "--porcelain") == ""


def test_a_scanner_that_fails_mid_run_blocks_with_its_error_and_the_model_is_not_asked_again(
    harness, repo_factory, monkeypatch
):
    """A scanner crash is not the change's fault: the run stops blocked (fail closed) naming the error,
    instead of spending the model's attempts on a failure it cannot fix."""
    repo = repo_factory(CLAMP_REPO)
    (harness.tmp_path / "bin").mkdir()
    broken = harness.tmp_path / "bin" / "semgrep"  # beside the policy, semgrep/ is its rules folder
    broken.write_text("#!/bin/sh\necho 'rule engine crashed' >&2\nexit 2\n")
    broken.chmod(0o755)
    monkeypatch.setenv("AGENTSMITH_SEMGREP", str(broken))
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]

    result = harness.run(TASK, repo)

    assert result["status"] == "blocked" and result["commit"] is None
    assert (
        result["reason"]
        == "the gate could not scan the change: semgrep did not complete: semgrep exited 2: rule engine crashed"
    )
    assert len(harness.local.requests()) == 1
    [gate] = audit(result["run_id"], "gate")
    assert gate.data["tool_errors"] == ["semgrep did not complete: semgrep exited 2: rule engine crashed"]
    assert gate.data["next"] == "report"
    assert git(repo, "branch", "--list", "agentsmith/*").strip() == "" and git(repo, "status", "--porcelain") == ""


def test_an_answer_that_changes_nothing_is_a_failed_attempt_not_a_pass(harness, repo_factory):
    """The repo's tests pass before any change (they do not catch the reported bug): an answer giving the
    file back unchanged passed them, went to commit, and git had nothing to commit (the run crashed,
    seen on markdown's toc). Now it fails the attempt, and the retry is told why."""
    source = "def clamp(value, low, high):\n    return max(low, min(value, high))\n"
    repo = repo_factory(
        {
            "mathutil.py": source,
            "test_mathutil.py": "from mathutil import clamp\n\n\ndef test_inside():\n    assert clamp(5, 0, 9) == 5\n",
        }
    )
    fixed = source.replace("    return", '    if low > high:\n        raise ValueError("low > high")\n    return')
    harness.local.script = [
        {"match": "back exactly as it was", "answer": whole_file("mathutil.py", fixed)},
        {"answer": whole_file("mathutil.py", source)},
    ]

    result = harness.run("In mathutil.py, clamp(5, 9, 0) must raise ValueError when low > high. Fix it.", repo)

    assert_one_commit(repo, result, "mathutil.py", fixed)
    first, retry = audit(result["run_id"], "apply")
    assert first.data["unchanged"] == ["mathutil.py"] and "unchanged" not in retry.data
    verifies = audit(result["run_id"], "verify")
    assert [(v.data["passed"], v.data["error"]) for v in verifies] == [
        (False, "the answer changed nothing"),
        (True, None),
    ]
    assert "back exactly as it was" in harness.local.prompts()[1]


def test_an_interrupted_run_can_be_discarded_and_leaves_nothing_behind(harness, repo_factory, tmp_path):
    """Each interrupted run kept its worktree and branch for `resume`; `discard` takes them away, marks the
    run ended in its checkpoint and the audit log, and a second discard or a resume says it has ended."""
    repo = repo_factory(CLAMP_REPO)
    harness.local.script = [{"answer": whole_file("mathutil.py", CLAMP_DONE)}]
    run_id = killed_while_paused(harness, repo, tmp_path)
    branch = f"agentsmith/{run_id}"
    assert git(repo, "branch", "--list", branch).strip() and len(git(repo, "worktree", "list").splitlines()) == 2

    done = subprocess.run([AGENTSMITH, "discard", run_id], capture_output=True, text=True)

    assert done.returncode == 0 and "discarded by the user" in done.stdout, done.stderr
    assert git(repo, "branch", "--list", "agentsmith/*") == "" and len(git(repo, "worktree", "list").splitlines()) == 1
    assert git(repo, "status", "--porcelain") == "" and git(repo, "show", "main:mathutil.py") == CLAMP_STUB
    assert audit(run_id, "run-finished")[-1].data["status"] == "discarded"
    assert resume_run(run_id)["status"] == "discarded"  # ended: nothing is driven again
    again = subprocess.run([AGENTSMITH, "discard", run_id], capture_output=True, text=True)
    assert again.returncode != 0 and "already ended (discarded)" in again.stderr
    assert len(harness.local.requests()) == 1
