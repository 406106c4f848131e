"""A/B of a retry's candidates on the real-repo suite: fresh (original code + the greedy draft's failure)
vs repair (the greedy draft shown to fix + its failure). Same greedy draft (from a bench run's audit log),
same model and temperature, N candidates each, judged by the task's own test command.
Usage: ab_repair.py RESULTS SLUG[,SLUG|all] N [modes]"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from agentsmith import vcs
from agentsmith.bench.suite import load_suite
from agentsmith.edits import apply_edits, parse_edits
from agentsmith.graph.planning import plan_steps
from agentsmith.graph.prompts import build_edit_prompt
from agentsmith.models import Portfolio
from agentsmith.policy import load_policy
from agentsmith.records import Attempt

ROOT = Path(__file__).resolve().parent.parent

SUITE = sorted(Path(os.path.expanduser("~/.local/share/agentsmith/bench")).glob("realrepo-*"))[-1]
results, slugs, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
modes = sys.argv[4].split(",") if len(sys.argv) > 4 else ["fresh", "repair"]
r = json.loads(Path(results).read_text())
tasks = next(iter(r["strategies"].values()))["tasks"]
slugs = [s for s, t in tasks.items() if t["status"] != "committed"] if slugs == "all" else slugs.split(",")
db = sqlite3.connect(os.path.expanduser("~/.local/share/agentsmith/audit.sqlite"))
policy = load_policy(ROOT / "agentsmith/data/policies/default.yaml").policy
p = Portfolio(policy, tier_flag="local", notify=lambda line: None)
ENV = {**os.environ, "PATH": str(ROOT / ".venv/bin") + ":" + os.environ["PATH"]}


def fresh_repo(slug, tmp):
    repo = Path(tmp) / "repo"
    shutil.copytree(SUITE / slug / "repo", repo)
    return repo


def test(repo, task):
    try:
        proc = subprocess.run(task["test_command"], cwd=repo, capture_output=True, text=True, env=ENV, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    return proc.returncode == 0, proc.stdout + proc.stderr


def apply(repo, text, prefill, targets):
    res = apply_edits(repo, parse_edits(prefill + text), function_level=set(targets))
    return res


total = {m: 0 for m in modes}
for slug in slugs:
    task = json.loads((SUITE / slug / "task.json").read_text())
    run_id = tasks[slug]["run_id"]
    (greedy,) = db.execute(
        "select data from events where run_id=? and kind='call' order by seq limit 1", (run_id,)
    ).fetchone()
    g = json.loads(greedy)
    with tempfile.TemporaryDirectory() as tmp:
        repo = fresh_repo(slug, tmp)
        vcs.init_repo(repo)
        vcs.commit_everything(repo, "base")
        task_text = next(t for t in load_suite(SUITE) if t.slug == slug).task_text()
        step = plan_steps(task_text, repo, read_only=list(task["test"]))[0]
        res = apply_edits(repo, parse_edits(g["answer"]), function_level=set(step["files"]))
        ok, log = test(repo, task)
        if ok or not res.applied:
            print(f"{slug}: greedy draft {'passes' if ok else 'did not apply'}; skipped", flush=True)
            continue
        code = {rel: (repo / rel).read_text() for rel in res.applied}
    previous = Attempt(tier="local", passed=False, error="tests exited 1", log=log[-20000:], code=code)
    for mode in modes:
        passed = 0
        with tempfile.TemporaryDirectory() as tmp:
            repo = fresh_repo(slug, tmp)
            if mode == "repair":
                for rel, text in code.items():
                    (repo / rel).write_text(text)
            prompt = build_edit_prompt(
                task=step.get("description") or task_text,
                root=repo,
                files=step["files"],
                context_files=step.get("context", []),
                previous=previous,
                symbols=step.get("symbols"),
                tests=step.get("tests"),
                budget=6000,
                count=p.token_counter("local"),
                begins=True,
                repair=(mode == "repair"),
            )
        if os.environ.get("DUMP") == slug:
            print(prompt.messages[-1]["content"][-3500:])
            print("PREFILL:", prompt.prefill, prompt.summary())
        for i in range(n):
            c = p.complete(
                "local", prompt.messages, temperature=0.8, prefill=prompt.prefill, reason_first=prompt.reason_first
            )
            with tempfile.TemporaryDirectory() as tmp:
                repo = fresh_repo(slug, tmp)
                res = apply_edits(repo, parse_edits(c.text), function_level=set(prompt.function_level))
                ok = bool(res.applied) and test(repo, task)[0]
            passed += ok
            print(
                f"{slug} {mode} cand {i + 1}: {'PASS' if ok else 'fail'} applied={bool(res.applied)} {c.completion_tokens}t {c.seconds:.0f}s",
                flush=True,
            )
        total[mode] += passed
        print(f"== {slug} {mode}: {passed}/{n}", flush=True)
print("TOTAL", total, flush=True)
