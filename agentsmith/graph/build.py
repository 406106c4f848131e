"""The run graph, built from its shape in `shape.py` (nodes and edges declared once there):

intake -> plan -> [ route -> edit -> apply -> verify ]* -> gate -> review -> commit -> report
"""

from __future__ import annotations

import functools
import os
import time

from langgraph.graph import END, START, StateGraph

from agentsmith.graph import nodes
from agentsmith.graph.shape import FLOW, NODES
from agentsmith.graph.state import RunContext, RunState


def build_graph(checkpointer=None):
    graph = StateGraph(RunState, context_schema=RunContext)
    for name in NODES:
        graph.add_node(name, timed(name, getattr(nodes, name)))
    graph.add_edge(START, NODES[0])
    for name, following in FLOW.items():
        if len(following) > 1:
            graph.add_conditional_edges(name, getattr(nodes, f"after_{name}"), list(following))
        else:
            graph.add_edge(name, following[0] if following else END)
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
        timing = {
            "node": name,
            "seconds": round(time.monotonic() - start, 3),
            "model": round(portfolio.model_seconds - model_before, 3),
            "started": round(started, 3),
            "pid": os.getpid(),
        }
        return (update or {}) | {"timings": [timing]}

    return run
