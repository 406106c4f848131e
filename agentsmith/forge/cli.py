"""`agentsmith pr`: a CI bot turns an issue (or a task) into a reviewed pull request."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("pr", help="run a task in CI mode, push the branch and open a pull request")
    source = pr.add_mutually_exclusive_group(required=True)
    source.add_argument("--issue", type=int, help="GitHub issue number: its title and body are the task")
    source.add_argument("--task", help="the task text")
    pr.add_argument("--repo", default=".")
    pr.add_argument("--github-repo", default=None, help="OWNER/NAME (default: $GITHUB_REPOSITORY)")
    pr.add_argument("--remote", default="origin", help="git remote to push the branch to")
    pr.add_argument("--base", default=None, help="base branch of the PR (default: the current branch)")
    pr.add_argument("--policy", default=None)
    pr.add_argument("--tier", default="auto")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_pr)


def pr_body(result: dict[str, Any], task: str, issue: int | None) -> str:
    lines = [
        f"Closes #{issue}" if issue else "",
        "",
        f"> {task[:500]}",
        "",
        f"- run `{result['run_id']}`, tiers: {', '.join(result['tiers_used']) or '-'}",
        f"- {result['attempts']} attempt(s), {result['tokens']['prompt'] + result['tokens']['completion']} tokens, "
        f"${result['cost_usd']:.4f}, {result['seconds']:.0f}s",
        f"- security gate: {result['blocking']} blocking, {len(result['findings'])} finding(s)",
    ]
    for finding in result["findings"][:20]:
        lines.append(
            f"  - `{finding['rule']}` {finding['severity']} {finding['path']}:{finding['line']} {finding['message']}"
        )
    for route in result["routes"]:
        lines.append(f"- route: attempt {route['attempt']} -> {route.get('tier') or 'stop'}: {route['reason']}")
    lines.append("\nOpened by agentsmith. Routing, gates and costs are in the audit log (`agentsmith report`).")
    return "\n".join(lines).strip() + "\n"


def cmd_pr(args: argparse.Namespace) -> int:
    from agentsmith import vcs
    from agentsmith.forge.github import GitHubForge
    from agentsmith.graph.cli import _progress
    from agentsmith.graph.runner import start_run
    from agentsmith.policy import load_policy

    forge = GitHubForge.from_env(args.github_repo)  # fail before any work when unconfigured
    root = vcs.repo_root(args.repo)
    base = args.base or vcs.current_branch(root)
    if args.issue:
        issue = forge.issue(args.issue)
        task = f"{issue['title']}\n\n{issue.get('body') or ''}".strip()
    else:
        task = args.task
    result = start_run(task, repo=str(root), policy_path=args.policy, tier=args.tier, mode="ci", listener=_progress)
    if result["status"] != "committed":
        print(json.dumps(result, default=str) if args.json else f"{result['status']}: {result['reason']}")
        return 1
    vcs.push_branch(root, args.remote, result["branch"])
    review = load_policy(args.policy).policy.review
    needs_review = review.ci == "draft" or bool(result["findings"])
    pr = forge.open_pull_request(
        branch=result["branch"],
        base=base,
        title=f"agentsmith: {task.splitlines()[0][:70]}",
        body=pr_body(result, task, args.issue),
        draft=needs_review,
        labels=[review.label] if needs_review else [],
    )
    out = result | {"pull_request": {"url": pr.url, "number": pr.number, "draft": pr.draft, "labels": pr.labels}}
    print(
        json.dumps(out, indent=2, default=str) if args.json else f"opened {pr.url}" + (" (draft)" if pr.draft else "")
    )
    return 0
