"""Errors meant for people: one line naming the problem and the fix; the CLI exits 2 on them."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix. `str(err)` is the whole message: problem, then fix."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class PolicyError(UserError):
    pass


class DockerUnavailable(UserError):
    pass


class ModelUnavailable(UserError):
    pass


class GitError(UserError):
    """A git command failed: the repository is in a state agentsmith did not expect."""


class SandboxError(UserError):
    """The sandbox engine refused or failed an operation (an API error, a failed copy)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so every `finally` and `with` runs (exit 143)."""
