"""Security gates: Semgrep rule packs, Bandit, a secrets scan and the auth/VPC checklist, run over
the files a change touches; only findings the change introduced block."""

from agentsmith.gates.render import render
from agentsmith.gates.scan import ScanResult, check_scanners, scan_change

__all__ = ["ScanResult", "check_scanners", "render", "scan_change"]
