"""agentsmith: a coding agent a security team can sign off on. The seams are in `agentsmith.seams`."""

__version__ = "0.1.0"
