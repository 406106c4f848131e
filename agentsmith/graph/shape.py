"""The run graph's shape, declared once. The builder wires these edges; the CLI, the TUI's node
view and the report read them from here, so a new edge cannot drift between them.

intake -> plan -> [ route -> edit -> apply -> verify ]* -> gate -> review -> commit -> report
                     ^                          |
                     +-- sample / retry / escalate / next step
"""

from __future__ import annotations

from typing import Literal

Node = Literal["intake", "plan", "route", "edit", "apply", "verify", "gate", "review", "commit", "report"]
NODES: tuple[Node, ...] = ("intake", "plan", "route", "edit", "apply", "verify", "gate", "review", "commit", "report")

# node -> the nodes that may run after it; the first is the straight path. A node with more than one
# successor has a router in nodes.py or finish.py (`after_<node>`), and the event it records names the choice (`next`).
FLOW: dict[Node, tuple[Node, ...]] = {
    "intake": ("plan",),
    "plan": ("route",),
    "route": ("edit", "report"),  # try the chosen tier, or stop
    "edit": ("apply",),
    "apply": ("verify",),
    "verify": ("gate", "edit", "route"),  # passed / next sampled candidate / retry, escalate, next step
    "gate": ("review", "route", "report"),  # pass / blocking findings go back to the model / a scanner failed
    "review": ("commit", "route", "report"),  # approve / feedback / reject
    "commit": ("report",),
    "report": (),
}

# The audit event each node records when it finishes (others, such as `token` or `incident`, are
# emitted on the way and do not move the graph).
EVENT_NODE: dict[str, Node] = {
    "intake": "intake",
    "plan": "plan",
    "route": "route",
    "call": "edit",
    "model-error": "edit",
    "apply": "apply",
    "verify": "verify",
    "gate": "gate",
    "review": "review",
    "commit": "commit",
    "run-finished": "report",
}


def next_node(kind: str, data: dict) -> Node | None:
    """The node that runs after the event `kind`: the router's choice when the event names one."""
    node = EVENT_NODE.get(kind)
    if node is None or not FLOW[node]:
        return None
    chosen = data.get("next")
    return chosen if chosen in FLOW[node] else FLOW[node][0]
