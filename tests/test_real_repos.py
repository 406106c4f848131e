"""Real repositories: prompts fit the tier's context on big files, function-level edits are spliced in
safely, and the repo's own tests run in the sandbox with the repo installed. humanize 4.9.0 (its
number.py is 571 lines) is the real library, fetched from PyPI as an sdist."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentsmith.bench.realrepo import extract_sdist, fetch_sdist, remove_body
from agentsmith.edits import Edit, apply_edits, parse_edits, pyast, retarget
from agentsmith.graph.excerpts import estimate_tokens, failed_tests, trim_failure_log
from agentsmith.graph.excerpts import test_functions as pick_tests
from agentsmith.graph.prompts import build_edit_prompt, retry_budget
from agentsmith.models import Portfolio
from agentsmith.policy import load_policy
from agentsmith.records import Attempt
from agentsmith.sandbox import project
from tests.conftest import REAL_HOME, git, make_repo

NUMBER = "src/humanize/number.py"
TIME = "src/humanize/time.py"
TESTS = "tests/test_number.py"
STUB = "    raise NotImplementedError\n"
HUMANIZE_SHA256 = "582a265c931c683a7e9b8ed9559089dea7edcf6cc95be39a3cbc2c5d5ac2bcfa"


@pytest.fixture(scope="session")
def humanize_sdist() -> Path:
    """humanize 4.9.0 from PyPI, checked against its pinned sha256 (shared cache: PyPI is asked once)."""
    return fetch_sdist("humanize", "4.9.0", HUMANIZE_SHA256, REAL_HOME / "bench" / "sdists")


def humanize_repo(
    sdist: Path, path: Path, *, stub: str | None = None, stub_in: str = NUMBER, extra: dict[str, str] | None = None
) -> Path:
    """humanize's sdist as a git repo; `stub`: a function of `stub_in` whose body becomes a stub."""
    shutil.copytree(extract_sdist(sdist, path.parent / "unpacked"), path)  # bytes: the .mo catalogues are binary
    if stub:
        (path / stub_in).write_text(remove_body((path / stub_in).read_text(), stub))
    for relative, text in (extra or {}).items():
        (path / relative).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "humanize 4.9.0")
    return path


def local_budget() -> tuple[Portfolio, int]:
    portfolio = Portfolio.from_policy(load_policy(None), tier_flag="local", notify=lambda line: None)
    return portfolio, portfolio.prompt_budget("local")


# ------------------------------------------------------------------------------- prompts


def test_prompt_on_a_500_line_file_fits_the_local_budget(humanize_sdist, tmp_path):
    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="intword")
    _, budget = local_budget()
    assert budget <= 8192 - 1536 - 256  # n_ctx less the answer's room less a margin
    assert len((repo / NUMBER).read_text().splitlines()) > 500
    task = "Implement intword in number.py so the tests pass"
    failing = Attempt(tier="local", passed=False, log="E   AssertionError: assert '1.0 million' == 'x'\n" * 400)
    for previous in (None, failing):
        prompt = build_edit_prompt(
            task=task,
            root=repo,
            files=[NUMBER],
            context_files=[TESTS, "tests/test_time.py"],
            previous=previous,
            budget=budget,
            count=estimate_tokens,
        )
        text = prompt.messages[1]["content"]
        assert prompt.tokens <= budget and prompt.mode == "function"
        assert prompt.targets == {NUMBER: ["intword"]} and prompt.function_level == [NUMBER]
        assert "def intword(" in text and "raise NotImplementedError" in text
        assert "def intcomma(" in text and "def metric(" in text  # the outline of the rest
        assert "def test_intword(" in text and "def test_ordinal(" not in text  # the relevant tests only
        assert "def test_naturaldelta" not in text
    # A tight budget (what a refused request's retry gets) still holds: sections shrink, then the code is cut.
    for tight in (2500, 1200, 600):
        prompt = build_edit_prompt(
            task=task,
            root=repo,
            files=[NUMBER],
            context_files=[TESTS],
            previous=failing,
            budget=tight,
            count=estimate_tokens,
        )
        assert prompt.tokens <= tight and prompt.shrunk, (tight, prompt.summary())


def _shared_prefix(a: list[dict[str, str]], b: list[dict[str, str]]) -> int:
    """Characters the two chat prompts share from their start (what llama.cpp can reuse)."""
    x, y = "".join(m["role"] + m["content"] for m in a), "".join(m["role"] + m["content"] for m in b)
    return next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))


def test_a_retry_prompt_starts_with_the_first_attempts_prompt(humanize_sdist, tmp_path):
    # The retry's extra (the failure, "think first") comes after the code, under the same system message:
    # llama.cpp then evaluates only the new tail instead of the whole prompt again.
    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="intword")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    (tmp_path / "test_m.py").write_text("from m import f\n\ndef test_f():\n    assert f() == 2\n")
    failing = Attempt(tier="local", passed=False, log="E   AssertionError: assert '1.0 million' == 'x'\n")
    for root, files, tests in ((repo, [NUMBER], [TESTS]), (tmp_path, ["m.py"], ["test_m.py"])):
        first, retry = (
            build_edit_prompt(
                task="Implement intword (or f) so the tests pass",
                root=root,
                files=files,
                context_files=tests,
                previous=previous,
                budget=6000,
            )
            for previous in (None, failing)
        )
        first_text = "".join(m["role"] + m["content"] for m in first.messages)
        answer_at = first_text.rindex(first.answer_format)
        assert _shared_prefix(first.messages, retry.messages) >= answer_at, (first.mode, retry.summary())
        assert retry.messages[-1]["content"].rstrip().endswith(retry.answer_format.rstrip())
        assert "Think about every test case first" in retry.answer_format and "million" in retry.messages[1]["content"]


def test_small_files_keep_the_whole_file_prompt(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    (tmp_path / "test_m.py").write_text("from m import f\n\ndef test_f():\n    assert f() == 2\n")
    prompt = build_edit_prompt(
        task="Fix f in m.py", root=tmp_path, files=["m.py"], context_files=["test_m.py"], previous=None, budget=6000
    )
    assert prompt.mode == "whole-file" and "whole file" in prompt.messages[1]["content"]
    assert "from m import f" in prompt.messages[1]["content"]
    # Begun for a local model: the path and the opened block, counted in the prompt's tokens.
    assert prompt.prefill == "m.py\n```python\n" and not prompt.reason_first
    assert prompt.tokens == sum(estimate_tokens(m["content"]) + 8 for m in prompt.messages) + 8 + estimate_tokens(
        prompt.prefill
    )


HUMANIZE_4_11_SHA256 = "e66f36020a2d5a974c504bd2555cf770621dbdbb6d82f94a6857c0b1ea2608be"
ISO8601 = ("iso8601", "2.1.0", "6b1d3829ee8921c4301998c909f7829fa9ed3cbdac0d3b16af2d743aed1ba8df")


def test_a_small_module_that_is_mostly_other_code_is_answered_by_function(tmp_path):
    """iso8601's module is small (125 lines once parse_date is stubbed) but parse_date is a sixth of it:
    the prompt asks for parse_date alone (begun), not the whole module retyped (a real run: 245 s of the
    1.5B model's time, its 40-line regex included)."""
    tree = extract_sdist(fetch_sdist(*ISO8601, REAL_HOME / "bench" / "sdists"), tmp_path / "unpacked")
    module = tree / "iso8601" / "iso8601.py"
    module.write_text(remove_body(module.read_text(), "parse_date"))
    prompt = build_edit_prompt(
        task="Implement iso8601's `parse_date(datestring, default_timezone=UTC)`: parse ISO 8601 dates.",
        root=tree,
        files=["iso8601/iso8601.py"],
        context_files=["iso8601/test_iso8601.py"],
        previous=None,
        symbols=[{"path": "iso8601/iso8601.py", "qualname": "parse_date"}],
        tests=["iso8601/test_iso8601.py::test_parse_valid_date"],
        budget=local_budget()[1],
    )
    assert prompt.mode == "function" and prompt.targets == {"iso8601/iso8601.py": ["parse_date"]}
    assert prompt.prefill.startswith("iso8601/iso8601.py\n```python\ndef parse_date(")
    assert "SEARCH" not in prompt.messages[1]["content"] and "ISO8601_REGEX = " not in prompt.prefill


def test_a_small_file_whose_whole_file_retry_does_not_fit_is_answered_by_function(tmp_path):
    """humanize's lists.py is natural_list and little else: whole, it fits the first prompt; with the failure
    log the retry does not. The retry asks for natural_list alone, not SEARCH/REPLACE over the file shown
    again (what a real run did, on iso8601, to the 1.5B model)."""
    sdist = fetch_sdist("humanize", "4.11.0", HUMANIZE_4_11_SHA256, REAL_HOME / "bench" / "sdists")  # has lists.py
    repo = humanize_repo(sdist, tmp_path / "repo", stub="natural_list", stub_in="src/humanize/lists.py")
    arguments = {
        "task": "Implement humanize's `natural_list(items)`: join items into natural English.",
        "root": repo,
        "files": ["src/humanize/lists.py"],
        "context_files": ["tests/test_lists.py"],
        "previous": None,
        "symbols": [{"path": "src/humanize/lists.py", "qualname": "natural_list"}],
        "tests": ["tests/test_lists.py::test_natural_list"],
        "budget": None,
    }
    first = build_edit_prompt(**arguments)
    assert first.mode == "whole-file"
    budget = first.tokens + 300  # a tier that holds the first prompt, not the first prompt plus a failure log
    log = "\n".join(f"E   AssertionError: assert 'a, b, and {n}' == 'a, b and {n}'" for n in range(120))
    retry = build_edit_prompt(
        **(arguments | {"budget": budget, "previous": Attempt(tier="local", passed=False, log=log)})
    )
    assert retry.mode == "function" and retry.targets == {"src/humanize/lists.py": ["natural_list"]}
    assert retry.function_level == ["src/humanize/lists.py"] and retry.tokens <= budget
    assert retry.prefill.startswith("src/humanize/lists.py\n```python\ndef natural_list(")
    assert "SEARCH" not in retry.messages[1]["content"]


def intword_prompt(repo: Path, **changes):
    """The prompt for humanize's intword task, as the edit node builds it; `changes` vary one argument."""
    arguments = {
        "task": "Implement intword in number.py so the tests pass",
        "root": repo,
        "files": [NUMBER],
        "context_files": [TESTS],
        "previous": None,
        "budget": 6000,
    }
    return build_edit_prompt(**(arguments | changes))


def test_a_single_function_answer_is_begun_for_the_model(humanize_sdist, tmp_path):
    """One function to write: the prompt carries the answer's start (path, fence, signature, docstring as
    the file has them), counted in its tokens, so a local model writes the body alone."""
    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="intword")
    source = (repo / NUMBER).read_text()
    prompt = intword_prompt(repo)
    docstring = pyast.docstring_lines(source, pyast.find(source, "intword"))
    assert prompt.prefill.startswith(f"{NUMBER}\n```python\ndef intword(value: NumberOrString")
    assert prompt.prefill == f"{NUMBER}\n```python\n" + pyast.opening(source, pyast.find(source, "intword"))
    assert "Converts a large integer" in prompt.prefill and prompt.prefill.endswith('    """\n    ')
    assert STUB not in prompt.prefill
    assert prompt.summary()["begun"] and prompt.tokens <= 6000
    assert "# the complete new body" not in prompt.messages[1]["content"]  # begun: no template to copy
    asked = intword_prompt(repo, begins=False)  # a hosted tier: asked in words, with the template
    assert not asked.prefill and "# the complete new body" in asked.messages[1]["content"]
    plain_tokens = sum(estimate_tokens(m["content"]) + 8 for m in prompt.messages) + 8
    assert prompt.tokens == plain_tokens + estimate_tokens(prompt.prefill)
    # The begun answer plus a body is what the edit step splices in.
    answer = prompt.prefill + "return str(value)\n```\n"  # the model writes on at the body's indentation
    result = apply_edits(repo, parse_edits(answer, default_path=NUMBER), function_level={NUMBER})
    after = (repo / NUMBER).read_text()
    assert result.applied == [NUMBER] and pyast.removed_names(source, after) == []
    assert pyast.docstring_lines(after, pyast.find(after, "intword")) == docstring
    # A retry's reasoning comes first, in prose; the begun block follows it.
    failing = Attempt(tier="local", passed=False, log="E   AssertionError: assert '1.0 million' == 'x'\n")
    retry = intword_prompt(repo, previous=failing)
    assert retry.prefill == prompt.prefill and retry.reason_first and not prompt.reason_first
    assert "Think about every test case first" in retry.answer_format
    # Too tight for it: asked in words instead, within the budget.
    tight = intword_prompt(repo, previous=failing, budget=700)
    assert not tight.prefill and "begun:dropped" in tight.shrunk and tight.tokens <= 700


def test_a_test_id_with_a_class_picks_that_class_test_only(tmp_path):
    # more-itertools has 56 `test_basic`s; the step's tests name WindowedTests' own.
    (tmp_path / "test_w.py").write_text(
        "class LastTests:\n    def test_basic(self):\n        assert last([1]) == 1\n\n"
        "class WindowedTests:\n    def test_basic(self):\n        assert windowed([1], 1)\n\n"
        "def test_empty():\n    assert True\n"
    )
    picked = pick_tests(tmp_path, ["test_w.py"], wanted=["test_w.py::WindowedTests::test_basic"], symbols=[])
    assert [p["qualname"] for p in picked] == ["WindowedTests.test_basic"]
    picked = pick_tests(tmp_path, ["test_w.py"], wanted=["test_basic", "test_w.py::test_empty"], symbols=[])
    assert [p["qualname"] for p in picked] == ["LastTests.test_basic", "WindowedTests.test_basic", "test_empty"]


def test_a_parametrized_test_brings_the_table_of_cases_it_reads(tmp_path):
    # inflection's tests read their cases from tables at the top of the file: shown once, abridged.
    rows = "".join(f"    ('Camel{i}', 'camel{i}'),\n" for i in range(40))
    (tmp_path / "test_i.py").write_text(
        "import pytest\n\nSMALL = (('HTMLTidy', 'html_tidy'),)\n"
        f"BIG = (\n{rows})\nUNUSED = 1\n\n"
        "@pytest.mark.parametrize(('camel', 'under'), SMALL + BIG)\n"
        "def test_underscore(camel, under):\n    assert under == underscore(camel)\n\n"
        "@pytest.mark.parametrize(('camel', 'under'), SMALL)\n"
        "def test_camelize(camel, under):\n    assert camel == camelize(under)\n"
    )
    picked = pick_tests(tmp_path, ["test_i.py"], wanted=["test_underscore", "test_camelize"], symbols=[])
    first, second = (p["text"] for p in picked)
    assert first.startswith("SMALL = (('HTMLTidy', 'html_tidy'),)\n\nBIG = (\n    ('Camel0', 'camel0'),\n")
    assert "# ... 19 more lines" in first and "('Camel39', 'camel39')" not in first and "UNUSED" not in first
    assert first.endswith("assert under == underscore(camel)\n") and len(first.splitlines()) < 40
    assert second.startswith("@pytest.mark.parametrize") and "SMALL =" not in second  # shown once


def test_the_outline_leaves_out_docstrings_licences_and_long_tables():
    source = (
        "# Copyright (c) someone\n# All rights reserved.\n\n"
        '"""The module."""\n\nimport re\n\n'
        "TABLE = {\n" + "".join(f"    'k{i}': {i},\n" for i in range(20)) + "}\n"
        "SHORT = {'a': 1}\n\n"
        'def f(x):\n    """Doc of f.\n\n    More.\n    """\n    return TABLE[x]\n\n'
        'def g(y):\n    """Doc of g."""\n    return y\n'
    )
    outline = pyast.skeleton(source, {"g"}, docstrings=False)
    assert "Copyright" not in outline and "The module" not in outline and "Doc of f" not in outline
    assert outline.startswith("import re\n")
    assert "TABLE = {...}  # 22 lines" in outline and "'k3'" not in outline and "SHORT = {'a': 1}" in outline
    assert "def f(x):\n    ...\n" in outline and "# g: shown in full below" in outline
    assert pyast.opening(source, pyast.find(source, "f")) == 'def f(x):\n    """Doc of f.\n\n    More.\n    """\n    '
    assert pyast.opening("def h(): return 1\n", pyast.find("def h(): return 1\n", "h")) == ""


def test_the_outline_keeps_a_long_value_whole_when_its_name_shares_a_word_with_the_target():
    """boltons' `strip_ansi` uses `ANSI_SEQUENCES`, a 15-line regex: shown `= ...`, the 1.5B model wrote its
    own (broken) one. A related value is shown whole; an unrelated one says what it is."""
    regex = 're.compile(r"""\n' + "".join(f"    part{i}\n" for i in range(10)) + '""", re.VERBOSE)\n'
    source = (
        "import re\n\n"
        f"ANSI_SEQUENCES = {regex}"
        f"HTML_TAGS = {regex}"
        "WORDS = [\n" + "".join(f"    'w{i}',\n" for i in range(10)) + "]\n\n"
        "def strip_ansi(text):\n    raise NotImplementedError\n"
    )
    outline = pyast.skeleton(source, {"strip_ansi"}, docstrings=False)
    assert 'ANSI_SEQUENCES = re.compile(r"""\n    part0\n' in outline and "part9" in outline
    assert "HTML_TAGS = re.compile(...)  # 12 lines" in outline and "WORDS = [...]  # 12 lines" in outline


@pytest.mark.model
def test_prompt_counted_with_the_local_models_own_tokenizer(humanize_sdist, tmp_path):
    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="intword")
    portfolio, budget = local_budget()
    count = portfolio.token_counter("local")
    prompt = intword_prompt(repo, budget=budget, count=count)
    real = sum(count(m["content"]) for m in prompt.messages)
    assert real <= prompt.tokens <= budget
    # Today's whole-file prompt of the same task did not leave the answer its room.
    whole = (repo / NUMBER).read_text() + (repo / TESTS).read_text()
    assert count(whole) + 1536 > 8192 - 256 or count(whole) > prompt.tokens


# ------------------------------------------------------------------------------- edits


def test_a_replaced_function_is_spliced_into_a_big_file(humanize_sdist, tmp_path):
    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="apnumber")
    before = (repo / NUMBER).read_text()
    answer = (
        'number.py\n```python\nimport math\n\ndef apnumber(value):\n    """AP style."""\n    return str(value)\n```\n'
    )
    edits = retarget(parse_edits(answer, default_path=NUMBER), repo, [NUMBER])  # "number.py": the model's name
    result = apply_edits(repo, edits, function_level={NUMBER})
    after = (repo / NUMBER).read_text()
    assert result.applied == [NUMBER] and not result.refused
    assert pyast.syntax_error(after) is None and pyast.removed_names(before, after) == []
    assert "    return str(value)\n" in after and STUB not in after
    outside = [d.qualname for d in pyast.definitions(before) if d.qualname != "apnumber"]
    for name in outside:  # every other definition is byte-identical
        assert pyast.extract(before, pyast.find(before, name)) == pyast.extract(after, pyast.find(after, name))


def test_an_answer_without_the_docstring_keeps_the_files_docstring(humanize_sdist, tmp_path):
    # The prompt asks for the def without its docstring: fewer tokens to write, and the doctests kept.
    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="apnumber")
    before = (repo / NUMBER).read_text()
    docstring = pyast.docstring_lines(before, pyast.find(before, "apnumber"))
    assert docstring.count("\n") > 5
    answer = "```python\ndef apnumber(value):\n    # the answer's own comment\n    return str(value)\n```\n"
    result = apply_edits(repo, parse_edits(answer, default_path=NUMBER), function_level={NUMBER})
    after = (repo / NUMBER).read_text()
    assert result.applied == [NUMBER] and pyast.syntax_error(after) is None
    spliced = pyast.extract(after, pyast.find(after, "apnumber"))
    assert pyast.docstring_lines(after, pyast.find(after, "apnumber")) == docstring
    assert spliced.index('"""') < spliced.index("# the answer's own comment") < spliced.index("return str(value)")


def test_a_method_keeps_its_class_indentation(tmp_path):
    source = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n" + "\n" * 160
    (tmp_path / "a.py").write_text(source)
    answer = "```python\ndef g(self):\n    return 3\n```"
    result = apply_edits(tmp_path, parse_edits(answer, default_path="a.py"), function_level={"a.py"})
    assert result.applied == ["a.py"]
    assert "    def g(self):\n        return 3\n" in (tmp_path / "a.py").read_text()


def test_a_method_whose_name_other_classes_share_goes_to_the_step_target(tmp_path):
    # Two classes define __init__: the plain name is ambiguous, the step's target is not.
    source = (
        "class A:\n    def __init__(self):\n        self.a = 1\n\n"
        "class B:\n    def __init__(self):\n        raise NotImplementedError\n" + "\n" * 160
    )
    (tmp_path / "a.py").write_text(source)
    answer = "```python\ndef __init__(self):\n    self.b = 2\n```"
    edits = parse_edits(answer, default_path="a.py")
    result = apply_edits(tmp_path, edits, function_level={"a.py"}, targets={"a.py": ["B.__init__"]})
    after = (tmp_path / "a.py").read_text()
    assert result.applied == ["a.py"] and "NotImplementedError" not in after
    assert "class A:\n    def __init__(self):\n        self.a = 1\n" in after
    assert "class B:\n    def __init__(self):\n        self.b = 2\n" in after and after.count("def __init__") == 2


def test_a_helper_the_answer_adds_is_kept_and_new_imports_go_on_top(tmp_path):
    module = "import os\n\n\n" + "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(60))
    (tmp_path / "big.py").write_text(module)
    answer = "```python\nimport re\n\n\ndef _twice(x):\n    return 2 * x\n\n\ndef f7(x):\n    return _twice(x)\n```"
    result = apply_edits(tmp_path, parse_edits(answer, default_path="big.py"), function_level={"big.py"})
    after = (tmp_path / "big.py").read_text()
    assert result.applied == ["big.py"] and after.startswith("import os\nimport re\n")
    assert after.index("def _twice(") < after.index("def f7(") and "return _twice(x)" in after
    assert pyast.removed_names(module, after) == []


def test_an_edit_dropping_an_unrelated_function_is_refused(humanize_sdist, tmp_path):
    repo = humanize_repo(humanize_sdist, tmp_path / "repo")
    before = (repo / NUMBER).read_text()
    ordinal = pyast.extract(before, pyast.find(before, "ordinal"))
    truncated = before.replace(ordinal, "").replace("def apnumber", "def apnumber", 1)
    result = apply_edits(repo, [Edit(NUMBER, None, truncated)], allowed_removals={"apnumber"})
    assert result.applied == [] and (repo / NUMBER).read_text() == before
    assert result.refused[0].kind == "tool-misuse"
    assert "removed ordinal which the step did not name; keep it" in result.refused[0].detail
    # Named by the step, the same removal is allowed.
    assert apply_edits(repo, [Edit(NUMBER, None, truncated)], allowed_removals={"ordinal"}).applied == [NUMBER]


def test_an_unparsable_edit_is_refused_and_the_file_kept(humanize_sdist, tmp_path):
    repo = humanize_repo(humanize_sdist, tmp_path / "repo")
    before = (repo / NUMBER).read_text()
    broken = "```python\ndef apnumber(value):\n    return (str(value)\n```"
    result = apply_edits(repo, parse_edits(broken, default_path=NUMBER), function_level={NUMBER})
    assert result.applied == [] and "would not parse" in result.failed[0]
    assert (repo / NUMBER).read_text() == before


# ------------------------------------------------------------------------------- logs and discovery


def test_failure_log_trimming_keeps_the_assertion(tmp_path):
    noise = "\n".join(f"def test_ok_{i}():\n    print('x' * 200)\n    assert True\n" for i in range(60))
    (tmp_path / "test_t.py").write_text(noise + "\n\ndef test_bad():\n    value = 41\n    assert value + 1 == 43\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--color=yes", "-rA", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 1
    trimmed = trim_failure_log(run.stdout, 1_500)
    assert len(trimmed) <= 1_600 < len(run.stdout)
    assert "E       assert (41 + 1) == 43" in trimmed and ">       assert value + 1 == 43" in trimmed
    assert "FAILED test_t.py::test_bad" in trimmed and "\x1b[" not in trimmed
    assert failed_tests(run.stdout) == ["test_t.py::test_bad"]
    # the same failure makes the same text whatever the run took: no duration, no object address
    assert re.search(r" in \d+\.\d+s", run.stdout) and not re.search(r" in \d+\.\d+s", trimmed)
    assert trimmed.splitlines()[-1].strip("= ") == "1 failed, 60 passed"


def test_poetry_dependencies_and_groups_become_pep_508_requirements(tmp_path):
    """iso8601 declares its test tools only as a Poetry dev group: read as nothing, its suite could not
    import hypothesis. Poetry's ^ and ~ ranges keep their meaning; path, git and optional entries and
    python itself are left out."""
    from agentsmith.sandbox.deps import declared_requirements

    repo = make_repo(
        tmp_path / "lib",
        {
            "pyproject.toml": (
                '[tool.poetry]\nname = "lib"\nversion = "1.0"\n\n'
                '[tool.poetry.dependencies]\npython = ">=3.8"\nattrs = "^23.1"\n'
                'rich = { version = "~13.3.1", extras = ["jupyter"] }\nyaml-extra = { version = "*", optional = true }\n\n'
                '[tool.poetry.group.dev.dependencies]\npytest = "*"\nhypothesis = "^0.6.2"\nlocal = { path = "../local" }\n'
                'pinned = "1.2.3"\n\n[build-system]\nrequires = ["poetry-core>=1.0.0"]\n'
                'build-backend = "poetry.core.masonry.api"\n'
            ),
            "lib/__init__.py": "",
        },
    )
    assert declared_requirements(repo) == ["attrs>=23.1,<24", "rich[jupyter]>=13.3.1,<13.4"]
    setup = project.discover(repo)
    assert setup.test_requirements == ["pytest", "hypothesis>=0.6.2,<0.7", "pinned==1.2.3"]
    assert setup.build_requires == ["poetry-core>=1.0.0"]


def test_coverage_options_in_the_repos_addopts_are_left_out_and_the_rest_kept(tmp_path):
    repo = make_repo(
        tmp_path / "lib",
        {
            "setup.cfg": "[tool:pytest]\naddopts = --cov lib --cov-report=html --no-cov-on-fail --doctest-modules -p no:warnings\n",
            "lib/__init__.py": "",
        },
    )
    assert project.discover(repo).options == ["-o", "addopts=--doctest-modules -p no:warnings"]
    plain = make_repo(tmp_path / "plain", {"pytest.ini": "[pytest]\naddopts = -ra --strict-markers\n"})
    assert project.discover(plain).options == []  # nothing to leave out: the repo's config as it is


def test_test_discovery_in_a_src_layout_with_pyproject_testpaths(tmp_path):
    repo = make_repo(
        tmp_path / "lib",
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["setuptools>=61", "setuptools-scm>=8"]\n'
                'build-backend = "setuptools.build_meta"\n\n[project]\nname = "lib"\ndynamic = ["version"]\n'
                'dependencies = ["attrs"]\n\n[project.optional-dependencies]\ntests = ["pytest>=7", "lib[extra]"]\n'
                'extra = ["rich"]\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
            ),
            "src/lib/__init__.py": "VALUE = 1\n",
            "tests/test_value.py": "def test_value():\n    pass\n",
            "tests/unit/test_more.py": "def test_more():\n    pass\n",
            "scripts/test_release.py": "raise SystemExit('not a test')\n",
            "requirements-test.txt": "-r requirements-base.txt\nhypothesis==6.100.0  # pinned\n",
            "requirements-base.txt": "freezegun\n",
        },
    )
    setup = project.discover(repo)
    assert setup.config == "pyproject.toml" and setup.testpaths == ["tests"]
    assert setup.src_layout and setup.installable
    assert setup.build_requires == ["setuptools>=61", "setuptools-scm>=8"]
    assert setup.test_requirements == ["pytest>=7", "freezegun", "hypothesis==6.100.0"]
    assert project.test_files(repo, setup) == ["tests/test_value.py", "tests/unit/test_more.py"]
    assert setup.command(["tests/test_value.py::test_value"])[-1] == "tests/test_value.py::test_value"
    assert "PYTHONPATH=src" not in setup.command()  # installed, not path-hacked
    git(repo, "tag", "v2.3.4")
    assert project.version_hint(repo) == "2.3.4"


# ------------------------------------------------------------------------------- the sandbox layer


@pytest.mark.docker
def test_the_repo_itself_is_installed_and_its_own_tests_run(humanize_sdist, tmp_path):
    """hatchling + hatch-vcs build, humanize reads its version via importlib.metadata, src layout,
    test extra (freezegun, pytest-cov): all inside the network-less sandbox layer."""
    from agentsmith.policy.schema import SandboxPolicy
    from agentsmith.sandbox import open_sandbox, prepare_dependencies

    repo = humanize_repo(humanize_sdist, tmp_path / "repo")
    policy = SandboxPolicy(allow_dependency_network=True)  # the host downloads; the container stays offline
    log = io.StringIO()
    tag = prepare_dependencies(policy, repo, log=log)
    assert tag.startswith("agentsmith-deps:")
    setup = project.discover(repo)
    with open_sandbox(policy, run_id="test-real-repo", worktree=repo, image=tag) as box:
        related = box.exec(setup.command(["tests/test_number.py::test_apnumber"]), timeout=120)
        assert related.ok and "14 passed" in related.output, related.output
        version = box.exec(
            [
                "python3",
                "-c",
                "import importlib.metadata as m, humanize; print(m.version('humanize'), humanize.__file__)",
            ]
        )
        assert version.output.split() == ["4.9.0", "/workspace/src/humanize/__init__.py"]
        # The install points at the workspace: an edit synced in is what the tests see.
        (repo / NUMBER).write_text((repo / NUMBER).read_text().replace('_("five")', '_("FIVE")'))
        box.sync_in(repo)
        edited = box.exec(setup.command(["tests/test_number.py::test_apnumber"]), timeout=120)
        assert edited.exit_code == 1 and failed_tests(edited.output) == ["tests/test_number.py::test_apnumber[5-five]"]
        suite = box.exec(setup.command(), timeout=300)
        assert re.search(r"1 failed, \d{3} passed", suite.output), suite.output[-2000:]


# ------------------------------------------------------------------------------- end to end

KNOWN_BROKEN = (
    "\n\ndef test_known_broken_on_main() -> None:\n"
    '    assert humanize.naturalsize(1) == "1 Bytes"   # fails on the base revision already\n'
)


@pytest.mark.docker
@pytest.mark.model
def test_a_real_library_task_with_the_local_model(humanize_sdist, tmp_path, agentsmith_home):
    """_quotient_and_remainder's body removed from humanize's 613-line time.py, and the task does not name
    the file: localisation finds it, the 1.5B model gets the function, an outline of the file and the
    relevant tests, answers with the function, and the repo's own suite (550 tests, one already failing
    on main) judges it inside the sandbox. (apnumber in number.py, tried first, was beyond the 1.5B model
    in 5 candidates: every answer was spliced in and failed the tests.)"""
    from agentsmith.audit import AuditLog
    from agentsmith.policy import DEFAULT_POLICY

    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="_quotient_and_remainder", stub_in=TIME)
    with (repo / "tests/test_filesize.py").open("a") as handle:
        handle.write(KNOWN_BROKEN)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qam", "a test that already fails")
    policy = tmp_path / "policy.yaml"
    # The host may download the repo's wheels; the sandbox stays offline. Rule paths stay the bundled ones.
    policy.write_text(
        DEFAULT_POLICY.read_text()
        .replace("allow_dependency_network: false", "allow_dependency_network: true")
        # The loop is under test, not the model's odds: 16 candidates on the retry (the bench measures odds).
        .replace("retry_samples: 4", "retry_samples: 16")
        .replace("rules: [semgrep]", f"rules: [{DEFAULT_POLICY.parent / 'semgrep'}]")
    )
    # A fixed seed: the same candidates on every run, so the test does not pass or fail on the draw.
    env = {"AGENTSMITH_LOCAL_MODEL": "qwen2.5-coder-1.5b", "AGENTSMITH_SEED": "1"}
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("agentsmith")),
            "run",
            "Implement _quotient_and_remainder so the tests pass",
            "--repo",
            str(repo),
            "--policy",
            str(policy),
            "--tier",
            "local",
            "--mode",
            "ci",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        env=os.environ | env,
    )
    result = json.loads(proc.stdout)
    events = AuditLog(agentsmith_home / "audit.sqlite").events(result["run_id"])
    prompts = [e.data for e in events if e.kind == "prompt"]
    assert prompts and all(p["tokens"] <= p["budget"] <= 8192 - 1536 for p in prompts), prompts
    assert prompts[0]["mode"] == "function" and prompts[0]["targets"] == {TIME: ["_quotient_and_remainder"]}
    assert not [e for e in events if e.kind == "model-error"]
    assert result["status"] == "committed", (result, proc.stderr[-3000:])
    assert git(repo, "diff", "--name-only", "main", result["branch"]).split() == [TIME]
    # The step's own tests (test_time.py, which imports the changed module) ran first and had to pass;
    # the suite's one failure is on main already, so it did not count.
    related = [e.data for e in events if e.kind == "tests" and e.data["scope"] == "related"]
    assert related[-1]["passed"] and related[-1]["selection"] == ["tests/test_time.py"]
    baseline = [e.data for e in events if e.kind == "baseline"]
    assert "tests/test_filesize.py::test_known_broken_on_main" in baseline[0]["tests"]


@pytest.mark.model
def test_a_request_the_tier_refused_as_too_big_is_never_resent_unchanged(humanize_sdist, tmp_path):
    """llama.cpp refuses a prompt longer than its context: that is a ContextOverflow (not a breaker
    failure), and the retry's budget is at most 60% of the refused prompt, so the retry is smaller."""
    from agentsmith.models.tiers import ContextOverflow, LocalTier
    from agentsmith.policy.schema import Tier

    repo = humanize_repo(humanize_sdist, tmp_path / "repo", stub="apnumber")
    tier = LocalTier(Tier(name="tiny", kind="gguf", context=512, max_output_tokens=64), "qwen2.5-coder-0.5b")
    task = "Implement apnumber in number.py so the tests pass"
    sent = build_edit_prompt(
        task=task, root=repo, files=[NUMBER], context_files=[TESTS], previous=None, budget=8000, count=tier.count_tokens
    )  # a policy declaring more than the model has
    with pytest.raises(ContextOverflow) as refused:
        tier.chat(sent.messages, temperature=0.0, max_tokens=64)
    assert refused.value.unhealthy is False
    history = [Attempt(tier="tiny", passed=False, overflow=True, prompt_tokens=sent.tokens)]
    budget = retry_budget(8000, history, "tiny")
    assert budget == int(sent.tokens * 0.6)
    retry = build_edit_prompt(
        task=task,
        root=repo,
        files=[NUMBER],
        context_files=[TESTS],
        previous=Attempt(tier="tiny", passed=False, log=str(refused.value)),
        budget=budget,
        count=tier.count_tokens,
    )
    assert retry.tokens <= budget < sent.tokens and retry.shrunk
    assert retry_budget(8000, history, "other-tier") == 8000  # another tier starts from its own budget


@pytest.mark.docker
def test_failures_already_on_the_base_revision_do_not_count_but_new_ones_do(humanize_sdist, tmp_path):
    from agentsmith.audit import AuditLog
    from agentsmith.graph.state import RunContext
    from agentsmith.graph.testing import run_tests
    from agentsmith.policy import DEFAULT_POLICY

    repo = humanize_repo(humanize_sdist, tmp_path / "repo")
    with (repo / "tests/test_filesize.py").open("a") as handle:
        handle.write(KNOWN_BROKEN)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qam", "a test that already fails")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        DEFAULT_POLICY.read_text().replace("allow_dependency_network: false", "allow_dependency_network: true")
    )
    ctx = RunContext(policy=load_policy(policy), portfolio=None, audit=AuditLog(tmp_path / "audit.sqlite"))
    state = {
        "run_id": "test-baseline",
        "worktree": str(repo),
        "base_rev": git(repo, "rev-parse", "HEAD").strip(),
        "steps": [{"id": "step-1", "files": [NUMBER], "context": [TESTS], "tests": ["test_apnumber"]}],
    }
    try:
        unchanged = run_tests(state, ctx)
        assert unchanged.passed, unchanged.log
        assert unchanged.baseline == ["tests/test_filesize.py::test_known_broken_on_main"]
        assert "also fail on the base revision" in unchanged.log
        state["baseline"] = unchanged.baseline
        # A regression outside the step's own tests is caught by the whole suite.
        source = (repo / NUMBER).read_text()
        (repo / NUMBER).write_text(
            source.replace("def intcomma(", "def intcomma(*args, **kwargs):\n    return ''\n\n\ndef _old_intcomma(", 1)
        )
        broken = run_tests(state, ctx)
        assert not broken.passed and broken.baseline is None
        assert "The change breaks" in broken.log and "test_intcomma" in broken.log
        assert "test_known_broken_on_main" not in broken.log.split("\n", 1)[0]
    finally:
        ctx.close()


def test_a_step_of_several_definitions_begins_each_candidate_on_another_one(tmp_path):
    """A wrapper and what it hands its work to (planning's delegates): a local model's answer is begun on
    one of them, the last shown first, and successive candidates begin the others. Not begun (given the
    list), the 1.5B model gave both back as shown, twice (inflection's ordinalize and ordinal)."""
    module = tmp_path / "words.py"
    module.write_text(
        "def ordinalize(number):\n"
        '    """The number with its suffix."""\n'
        "    return f'{number}{ordinal(number)}'\n\n\n"
        "def ordinal(number):\n"
        '    """The suffix: st, nd, rd or th."""\n'
        "    n = abs(int(number))\n"
        "    return 'th' if n % 100 in (11, 12) else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')\n"
        + "".join(f"\n\ndef other_{n}(x):\n    return x + {n}\n" for n in range(30))
    )
    symbols = [{"path": "words.py", "qualname": "ordinalize"}, {"path": "words.py", "qualname": "ordinal"}]

    def prompt(focus: int, begins: bool = True):
        return build_edit_prompt(
            task="Bug: ordinalize(13) gives 13rd.",
            root=tmp_path,
            files=["words.py"],
            context_files=[],
            previous=None,
            symbols=symbols,
            budget=6000,
            begins=begins,
            focus=focus,
        )

    begun = [prompt(n).prefill for n in range(3)]
    assert [b.splitlines()[2] for b in begun] == [
        "def ordinal(number):",
        "def ordinalize(number):",
        "def ordinal(number):",
    ]
    assert prompt(0).targets == {"words.py": ["ordinalize", "ordinal"]}
    asked = prompt(0, begins=False)
    assert asked.prefill == "" and "the one(s) you change of words.py: ordinalize, ordinal" in asked.answer_format
    assert "def ordinal(number):\n    # the complete new body" in asked.answer_format


def test_pytest_counts_reads_the_closing_line():
    from agentsmith.graph.excerpts import pytest_counts

    log = "x.py:3: in test_a\nFAILED x.py::test_a - assert 1 == 2\n==== 2 failed, 11 passed, 1 error in 0.41s ====\n"
    assert pytest_counts(log) == {"failed": 2, "passed": 11, "errors": 1}
    assert pytest_counts("the answer changed nothing") == {}
