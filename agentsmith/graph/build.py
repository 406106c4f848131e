"""The run graph. It reads like the diagram in DESIGN.md:

intake -> plan -> [ route -> edit -> apply -> verify ]* -> gate -> review -> commit -> report
"""

from __future__ import annotations

import functools
import os
import time

from langgraph.graph import END, START, StateGraph

from agentsmith.graph import nodes
from agentsmith.graph.state import RunContext, RunState


def build_graph(checkpointer=None):
    graph = StateGraph(RunState, context_schema=RunContext)
    for name in ("intake", "plan", "route", "edit", "apply", "verify", "gate", "review", "commit", "report"):
        graph.add_node(name, timed(name, getattr(nodes, name)))

    graph.add_edge(START, "intake")
    graph.add_edge("intake", "plan")
    graph.add_edge("plan", "route")
    graph.add_conditional_edges("route", nodes.after_route, ["edit", "report"])     # stop, or try a tier
    graph.add_edge("edit", "apply")
    graph.add_edge("apply", "verify")
    graph.add_conditional_edges("verify", nodes.after_verify, ["gate", "edit", "route"])  # sample / retry / escalate
    graph.add_conditional_edges("gate", nodes.after_gate, ["review", "route"])      # findings go back
    graph.add_conditional_edges("review", nodes.after_review, ["commit", "route", "report"])
    graph.add_edge("commit", "report")
    graph.add_edge("report", END)
    return graph.compile(checkpointer=checkpointer)


def timed(name: str, node):
    """The node, recording its wall seconds and the model seconds inside it: the run's time split
    (model, sandbox, gate, orchestration) is computed from these, with no timer in the nodes' bodies."""
    @functools.wraps(node)
    def run(state: RunState, runtime):
        portfolio = runtime.context.portfolio
        model_before, started, start = portfolio.model_seconds, time.time(), time.monotonic()
        update = node(state, runtime)
        # `started` and `pid` let the split tell a reviewer's or a resume's wait from orchestration.
        timing = {"node": name, "seconds": round(time.monotonic() - start, 3),
                  "model": round(portfolio.model_seconds - model_before, 3), "started": round(started, 3),
                  "pid": os.getpid()}
        return (update or {}) | {"timings": [timing]}
    return run
