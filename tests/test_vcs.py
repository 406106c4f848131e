"""Worktrees and restores on real git repositories."""

from agentsmith import vcs
from tests.conftest import git


def test_worktree_branch_leaves_the_checkout_alone_and_restore_undoes_a_draft(repo_factory, tmp_path):
    repo = repo_factory({"a.py": "orig\n"})
    before = vcs.status_snapshot(repo)
    branch, base = vcs.create_worktree(repo, "r1", tmp_path / "wt")
    wt = tmp_path / "wt"
    (wt / "a.py").write_text("draft\n")
    (wt / "new.py").write_text("new\n")
    assert vcs.changed_files(wt, base) == ["a.py", "new.py"]
    vcs.restore_files(wt, base, ["a.py", "new.py"])
    assert (wt / "a.py").read_text() == "orig\n" and not (wt / "new.py").exists()
    (wt / "a.py").write_text("final\n")
    sha = vcs.commit_all(wt, "change")
    vcs.remove_worktree(repo, wt)
    assert git(repo, "rev-parse", branch).strip() == sha
    assert vcs.status_snapshot(repo) == before
