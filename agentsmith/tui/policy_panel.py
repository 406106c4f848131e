"""The active policy at a glance: its name, its tiers (external ones marked), what blocks a change."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import Static

from agentsmith.config import POLICIES_DIR


def policy_markup(loaded) -> str:
    policy = loaded.policy
    source = loaded.path.name if loaded.path.parent == POLICIES_DIR.resolve() else str(loaded.path)
    lines = [f"[b]Policy[/] [cyan]{escape(policy.name)}[/] v{policy.version} [dim]({escape(source)})[/]", "[b]Tiers[/]"]
    for tier in policy.tiers:
        model = tier.model or ("from AGENTSMITH_FRONTIER_MODEL" if tier.kind == "openai" else "-")
        prices = [f"${tier.price_in_per_mtok:g}/${tier.price_out_per_mtok:g} per Mtok"] * bool(
            tier.price_in_per_mtok or tier.price_out_per_mtok
        )
        prices += [f"${tier.price_per_hour:g}/hour compute"] * bool(tier.price_per_hour)
        price = ", ".join(prices) or "free"
        where = (
            "[b red]⇡ EXTERNAL[/] [red]code leaves this machine, redacted[/]"
            if tier.external
            else "[green]● local[/] [dim]stays on this machine[/]"
        )
        lines.append(f"  [b]{escape(tier.name):<9}[/] {tier.kind:<6} {escape(model)}  {price}  {where}")
    if not policy.tiers:
        lines.append("  [yellow]no tiers: the policy names none[/]")
    gates = policy.gates
    lines.append(
        f"[b]Gates[/] block at {gates.block_at}; "
        f"frontier unavailable → {policy.routing.frontier_unavailable}; "
        f"budget ${policy.budget.max_usd_per_task:g}/task"
    )
    return "\n".join(lines)


class PolicyPanel(Static):
    def show_policy(self, loaded) -> None:
        self.update(policy_markup(loaded))

    def show_error(self, text: str) -> None:
        self.update(f"[b]Policy[/] [b red]could not be loaded[/]\n{escape(text)}")
