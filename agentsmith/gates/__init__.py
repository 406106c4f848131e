"""Security gates: Semgrep rule packs, Bandit, a secrets scan and the auth/VPC checklist, run over
the files a change touches; only findings the change introduced block."""

from agentsmith.gates.render import render
from agentsmith.gates.scan import ScanResult, scan_change

__all__ = ["ScanResult", "render", "scan_change"]
