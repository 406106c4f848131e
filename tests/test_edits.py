"""Edits are parsed from what small models really write and applied only inside the repo."""

import os

import pytest

from agentsmith.edits import Edit, apply_edits, parse_edits


def test_whole_file_with_path_line(tmp_path):
    answer = "text.py\n```python\ndef slugify(t):\n    return t.lower()\n```\n"
    edits = parse_edits(answer)
    assert [(e.path, e.search) for e in edits] == [("text.py", None)]
    assert "return t.lower()" in edits[0].replace


def test_bare_block_goes_to_the_single_target():
    answer = "Here you go:\n\n```python\ndef add(a, b):\n    return a + b\n```\nThis adds."
    edits = parse_edits(answer, default_path="calc.py")
    assert edits[0].path == "calc.py" and "return a + b" in edits[0].replace


def test_search_replace_block_applies(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\ny = 2\n")
    answer = "m.py\n<<<<<<< SEARCH\ny = 2\n=======\ny = 3\n>>>>>>> REPLACE\n"
    result = apply_edits(tmp_path, parse_edits(answer))
    assert result.applied == ["m.py"] and (tmp_path / "m.py").read_text() == "x = 1\ny = 3\n"


def test_search_text_missing_is_reported_not_applied(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    result = apply_edits(tmp_path, [Edit("m.py", "nope = 0\n", "z\n")])
    assert result.applied == [] and "not found" in result.failed[0]
    assert (tmp_path / "m.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("path", ["../evil.py", "/etc/passwd", ".git/hooks/pre-commit", "a/../../b.py", "C:/x.py"])
def test_paths_leaving_the_repo_are_refused_as_incidents(tmp_path, path):
    (tmp_path / "inside").mkdir()
    result = apply_edits(tmp_path / "inside", [Edit(path, None, "boom\n")])
    assert result.applied == []
    assert result.refused and result.refused[0].kind == "tool-misuse"


def test_symlink_out_of_the_repo_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside, repo / "link")
    result = apply_edits(repo, [Edit("link/pwned.py", None, "boom\n")])
    assert result.refused and not (outside / "pwned.py").exists()


def test_read_only_tests_are_refused(tmp_path):
    (tmp_path / "test_x.py").write_text("def test(): pass\n")
    result = apply_edits(tmp_path, [Edit("test_x.py", None, "")], read_only={"test_x.py"})
    assert result.refused and (tmp_path / "test_x.py").read_text() == "def test(): pass\n"


def test_misnamed_path_is_retargeted_to_the_only_matching_file(tmp_path):
    from agentsmith.edits import retarget

    (tmp_path / "text.py").write_text("x\n")
    edits = retarget(parse_edits("path/to/text.py\n```python\ny = 1\n```\n"), tmp_path, ["text.py"])
    assert edits[0].path == "text.py"
    # A path leaving the repo is not laundered into a target: it stays, and apply refuses it.
    assert retarget([Edit("../text.py", None, "")], tmp_path, ["text.py"])[0].path == "../text.py"


def test_a_path_inside_the_block_and_half_a_replace_block_are_salvaged():
    # Two answers the 1.5B model gave on one retry: neither would parse as written.
    broken_replace = "```\nacronym.py\n=======\ndef abbreviate(words):\n    return words\n>>>>>>> REPLACE\n```"
    (edit,) = parse_edits(broken_replace, default_path="acronym.py")
    assert (edit.path, edit.search, edit.replace) == ("acronym.py", None, "def abbreviate(words):\n    return words\n")
    path_inside = "```python\nsrc/acronym.py\ndef abbreviate(words):\n    return words\n```"
    (edit,) = parse_edits(path_inside, default_path="acronym.py")
    assert edit.path == "src/acronym.py" and edit.replace == "def abbreviate(words):\n    return words\n"
    heading = "README.md\n```markdown\nTitle\n=======\n\nText.\n```"
    (edit,) = parse_edits(heading, default_path="acronym.py")
    assert edit.replace == "Title\n=======\n\nText.\n"  # a real heading underline is kept


@pytest.mark.parametrize(
    "answer",
    [
        "```\nacronym.py\n```python\ndef abbreviate(words):\n    return words\n```",
        "```\nacronym.py\n```\n```python\ndef abbreviate(words):\n    return words\n```",
        "```\nacronym.py (new content)\n```\n\n```python\ndef abbreviate(words):\n    return words\n```",
        "acronym.py\n```python\ndef abbreviate(words):\n    return words\n```",
    ],
)
def test_the_path_fenced_on_its_own_names_the_code_that_follows(answer):
    # Shapes of one answer the 1.5B model gave on the Exercism bench; before, each was "no edit applied".
    (edit,) = parse_edits(answer, default_path="other.py")
    assert (edit.path, edit.search, edit.replace) == ("acronym.py", None, "def abbreviate(words):\n    return words\n")


def test_a_block_holding_only_the_path_is_no_edit():
    assert parse_edits("```\nacronym.py\n```", default_path="acronym.py") == []


def test_a_placeholder_answer_cannot_wipe_the_module_whose_names_the_task_mentions(tmp_path):
    # The 1.5B model answered the template's placeholder for a whole humanize module; every name the
    # module defines was in the task's words, which used to make them all removable.
    from agentsmith.graph.nodes import removable

    module = 'suffixes = {"decimal": (" kB", " MB")}\n\n\ndef naturalsize(value):\n    raise NotImplementedError\n'
    (tmp_path / "filesize.py").write_text(module)
    task = "Implement naturalsize(value) using the decimal suffixes so the tests pass"
    symbols = [{"name": "naturalsize", "qualname": "naturalsize"}]
    assert removable(task, symbols) == set()
    placeholder = "```python\n# every line of the new filesize.py\n```"
    result = apply_edits(
        tmp_path, parse_edits(placeholder, default_path="filesize.py"), allowed_removals=removable(task, symbols)
    )
    assert result.applied == [] and "removed naturalsize, suffixes" in result.refused[0].detail
    assert (tmp_path / "filesize.py").read_text() == module
    # A task that asks for a removal may remove what it names.
    assert "naturalsize" in removable("Remove the deprecated naturalsize helper", symbols)
