"""Precision and recall of the auth/VPC checklist on a small labelled corpus of infrastructure code.

tests/fixtures/checklist/risky/ holds units (one file each: Terraform, Kubernetes, Dockerfile) that a
reviewer must not let through; safe/ holds realistic units that are fine (world-open 80/443 on a load
balancer, egress to 0.0.0.0/0, non-root pods, Dockerfiles ending with a non-root USER ...). The whole
corpus is scanned as one change with the real Semgrep through `scan_change`, as the gate does.
Target: every risky unit flagged, at most 10% of the safe units flagged.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from agentsmith.gates import scan_change
from agentsmith.policy import load_policy

CORPUS = Path(__file__).resolve().parent / "fixtures" / "checklist"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)


def test_checklist_flags_every_risky_unit_and_few_safe_ones(tmp_path):
    risky = sorted(p.name for p in (CORPUS / "risky").iterdir() if p.is_file())
    safe = sorted(p.name for p in (CORPUS / "safe").iterdir() if p.is_file())
    assert len(risky) >= 15 and len(safe) >= 15

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    (repo / "README.md").write_text("infrastructure\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    shutil.copytree(CORPUS, repo / "infra")  # the whole corpus is the change (untracked files)

    result = scan_change(repo, "HEAD", load_policy())
    assert result.tools["semgrep"]["error"] is None, result.tools["semgrep"]
    flagged: dict[str, list[str]] = {}
    for finding in result.findings:
        if finding.tool == "checklist":
            flagged.setdefault(finding.path, []).append(f"{finding.rule}:{finding.line}")

    risky_hits = [name for name in risky if f"infra/risky/{name}" in flagged]
    safe_hits = {name: flagged[f"infra/safe/{name}"] for name in safe if f"infra/safe/{name}" in flagged}
    print(
        f"\nchecklist corpus: risky flagged {len(risky_hits)}/{len(risky)}, "
        f"safe flagged {len(safe_hits)}/{len(safe)} ({100 * len(safe_hits) / len(safe):.0f}% false alarms)"
    )
    for name, rules in safe_hits.items():
        print(f"  false alarm: safe/{name}: {', '.join(rules)}")

    missed = sorted(set(risky) - set(risky_hits))
    assert not missed, f"risky units not flagged: {missed}"
    assert len(safe_hits) <= 0.10 * len(safe), f"safe units flagged: {safe_hits}"
