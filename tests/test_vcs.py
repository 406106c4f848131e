"""Worktrees and restores on real git repositories."""

import pytest

from agentsmith import vcs
from agentsmith.errors import GitError
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


def test_a_throwaway_repo_holds_every_file_and_answers_questions_about_its_history(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    vcs.init_repo(repo)
    (repo / ".gitignore").write_text("_version.py\n")
    (repo / "_version.py").write_text("v = 1\n")  # ignored, yet an sdist ships it
    (repo / "pkg").mkdir()
    (repo / "pkg" / "é.py").write_text("x = 1\n")
    (repo / "notes.txt").write_text("n\n")
    vcs.commit_everything(repo, "base", identity=("bench", "bench@localhost"))
    assert git(repo, "log", "-1", "--format=%an %s") == "bench base\n"
    assert vcs.current_branch(repo) == "main"
    assert vcs.tracked_files(repo, "*.py") == ["_version.py", "pkg/é.py"]
    assert vcs.file_at(repo, "HEAD", "_version.py") == b"v = 1\n"
    assert vcs.file_at(repo, "HEAD", "missing.py") is None
    assert vcs.archive(repo, "HEAD").startswith(b"pax_global_header")
    assert vcs.latest_tag(repo) is None
    git(repo, "tag", "v1.2.0")
    assert vcs.latest_tag(repo) == "v1.2.0"
    assert vcs.short_revision(repo) == git(repo, "rev-parse", "--short", "HEAD").strip()

    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@localhost",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "agent\n\nTrailer-Key: aaa\nTrailer-Key: bbb\n",
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    assert vcs.commit_trailers(repo, "Trailer-Key")[0] == (head, ["aaa", "bbb"])
    assert [values for _, values in vcs.commit_trailers(repo, "Trailer-Key")[1:]] == [[]]


def test_an_empty_commit_when_there_is_nothing_to_commit(tmp_path):
    vcs.init_repo(tmp_path)
    vcs.commit_everything(tmp_path, "base")
    assert git(tmp_path, "log", "--format=%an <%ae> %s") == "agentsmith <agentsmith@localhost> base\n"


def test_a_mirror_a_clone_and_a_push_reach_the_origin(repo_factory, tmp_path):
    origin = repo_factory({"a.py": "a\n"})
    git(origin, "branch", "feature")
    assert sorted(vcs.remote_branches(str(origin))) == ["feature", "main"]
    assert vcs.remote_branches(str(origin), "feature") == ["feature"]
    assert vcs.remote_branches(str(origin), "nope") == []

    cache = tmp_path / "cache.git"
    vcs.update_mirror(str(origin), cache)
    git(origin, "branch", "later")
    vcs.update_mirror(str(origin), cache)  # the second time fetches into the mirror
    assert "later" in git(cache, "branch", "--list")

    clone = tmp_path / "clone"
    vcs.clone(cache, clone, branch="feature")
    assert vcs.current_branch(clone) == "feature" and vcs.remote_default_branch(clone) == "main"
    git(clone, "checkout", "-q", "-b", "agentsmith/r1")
    (clone / "b.py").write_text("b\n")
    sha = vcs.commit_all(clone, "change")
    vcs.push_branch(clone, str(origin), "agentsmith/r1")
    assert git(origin, "rev-parse", "agentsmith/r1").strip() == sha


def test_git_failures_are_one_line_for_people_and_keep_tokens_out(tmp_path):
    url = "https://user:ghp_secret@127.0.0.1:9/acme/shop.git"
    with pytest.raises(GitError) as unreadable:
        vcs.remote_branches(url)
    assert str(unreadable.value).startswith("git ls-remote --heads failed: ") and "ghp_secret" not in str(
        unreadable.value
    )

    vcs.init_repo(tmp_path)
    vcs.commit_everything(tmp_path, "base")
    with pytest.raises(GitError) as push:
        vcs.push_branch(tmp_path, url, "main")
    message = str(push.value)
    assert message.startswith("git push to https://127.0.0.1:9/acme/shop.git failed: ") and "\n" not in message
    assert "ghp_secret" not in message and message.endswith("check the remote and its credentials")
