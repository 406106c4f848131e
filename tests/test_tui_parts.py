"""The TUI's plain parts: what events mean on screen, and diffs split and marked file by file."""

from __future__ import annotations

import subprocess

from agentsmith.errors import UserError
from agentsmith.tui.diff import render_file_diff, split_diff
from agentsmith.tui.progress import GraphProgress, Meter, event_line, one_line


def test_progress_follows_a_run_with_a_retry_to_review():
    progress = GraphProgress()
    progress.start()
    assert progress.active == "intake"
    for kind, data in [("intake", {}), ("plan", {}), ("route", {"tier": "local"})]:
        progress.update(kind, data)
    assert progress.active == "edit" and {"intake", "plan", "route"} <= progress.done
    progress.update("call", {})
    progress.update("apply", {})
    assert progress.active == "verify"  # the sandbox is running the tests
    progress.update("verify", {"passed": False, "next": "edit"})  # a sampled candidate failed: the next one
    assert progress.active == "edit"
    progress.update("call", {})
    progress.update("apply", {})
    progress.update("verify", {"passed": False, "next": "route"})
    assert progress.active == "route"
    progress.update("route", {"tier": "local"})
    assert "verify" not in progress.done and "apply" not in progress.done
    for kind, data in [("call", {}), ("apply", {}), ("verify", {"passed": True, "next": "gate"})]:
        progress.update(kind, data)
    assert progress.active == "gate"
    progress.update("gate", {"blocking": 0, "next": "review"})
    assert progress.active == "review"
    progress.pause_for_review()
    assert "⏸ review" in progress.markup()
    progress.update("review", {"decision": "approve", "next": "commit"})
    progress.update("commit", {})
    progress.update("run-finished", {"status": "committed"})
    assert progress.active is None and "report" in progress.done


def test_the_compiled_graph_has_exactly_the_declared_shape():
    """One declaration: the builder's edges are shape.FLOW's, and every router returns only them."""
    import typing

    from agentsmith.graph import nodes
    from agentsmith.graph.build import build_graph
    from agentsmith.graph.shape import FLOW, NODES

    drawn = build_graph().get_graph()
    edges = {(e.source, e.target) for e in drawn.edges}
    declared = {(node, after) for node, following in FLOW.items() for after in following}
    declared |= {("__start__", NODES[0]), ("report", "__end__")}
    assert edges == declared
    for node, following in FLOW.items():
        if len(following) > 1:
            returns = typing.get_type_hints(getattr(nodes, f"after_{node}"))["return"]
            assert set(typing.get_args(returns)) == set(following), node


def test_route_and_external_call_lines_name_tier_reason_and_redactions():
    external = frozenset({"frontier"})
    route = event_line(
        "route",
        {
            "attempt": 2,
            "tier": "frontier",
            "reason": "local failed twice",
            "external": True,
            "degraded": False,
            "sensitive": False,
        },
        external_tiers=external,
    )
    assert "frontier" in route and "EXTERNAL" in route and "local failed twice" in route
    degraded = event_line(
        "route",
        {"attempt": 3, "tier": "local", "reason": "frontier unconfigured", "degraded": True},
        external_tiers=external,
    )
    assert "degraded" in degraded and "EXTERNAL" not in degraded
    call = event_line(
        "call",
        {
            "tier": "frontier",
            "model": "gpt",
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "cost_usd": 0.01,
            "seconds": 1.5,
            "redactions": 3,
        },
        external_tiers=external,
    )
    assert "external call" in call and "3 redaction(s)" in call
    local_call = event_line(
        "call",
        {
            "tier": "local",
            "model": "q",
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "cost_usd": 0,
            "seconds": 0.1,
            "redactions": 0,
        },
        external_tiers=external,
    )
    assert "external" not in local_call
    assert event_line("token", {"text": "x"}) is None
    # markup in the model's or user's text is shown, not interpreted
    assert "\\[b]" in event_line("notice", {"text": "[b]not bold"})


def test_meter_adds_calls_and_counts_external_ones():
    meter = Meter()
    meter.add_call({"prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.0, "redactions": 0}, external=False)
    meter.add_call({"prompt_tokens": 50, "completion_tokens": 10, "cost_usd": 0.0012, "redactions": 2}, external=True)
    text = meter.markup(12.34)
    assert "150 in / 30 out" in text and "$0.0012" in text and "2 (1 external)" in text
    assert "redactions[/] 2" in text and "12.3s" in text


def test_one_line_keeps_user_errors_readable():
    err = UserError("no Docker engine answers", "start one")
    assert one_line(err) == "no Docker engine answers; start one"
    assert one_line(RuntimeError("a\n  b")) == "a b"


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_split_diff_of_a_real_change_maps_finding_lines(repo_factory):
    repo = repo_factory(
        {"calc.py": "def add(a, b):\n    raise NotImplementedError\n", "README.md": "calc\n", "old.txt": "gone\n"}
    )
    (repo / "calc.py").write_text("import subprocess\n\n\ndef add(a, b):\n    return a + b\n")
    (repo / "new.py").write_text("X = 1\n")
    (repo / "old.txt").unlink()
    _git(repo, "add", "-A")
    files = split_diff(_git(repo, "diff", "--cached", "HEAD"))
    by_path = {f.path: f for f in files}
    assert set(by_path) == {"calc.py", "new.py", "old.txt"}
    assert by_path["new.py"].status == "added" and by_path["old.txt"].status == "deleted"
    calc = by_path["calc.py"]
    assert (calc.added, calc.removed) == (4, 1)
    row = calc.row_of(5)
    assert calc.lines[row].text == "    return a + b" and calc.lines[row].kind == "add"
    assert calc.row_of(99) is None
    rendered = render_file_diff(calc, focus_line=5).plain.splitlines()
    marked = [line for line in rendered if line.startswith("▶")]
    assert len(marked) == 1 and "return a + b" in marked[0] and "+" in marked[0]
    assert any(line.startswith("@@") for line in rendered)
