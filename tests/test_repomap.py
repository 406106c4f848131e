"""The repository map and localisation, on a real library (humanize's sdist from PyPI) and on
repos built in the test. No model: planning is deterministic."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentsmith.bench.realrepo import extract_sdist, fetch_sdist, remove_body
from agentsmith.graph.planning import plan_steps
from agentsmith.repomap import build_map, covering_tests, rank, skeleton, split_identifier
from agentsmith.repomap.parse import parse_file
from tests.conftest import REAL_HOME, make_repo

HUMANIZE = ("humanize", "4.11.0", "e66f36020a2d5a974c504bd2555cf770621dbdbb6d82f94a6857c0b1ea2608be")
SDISTS = REAL_HOME / "bench" / "sdists"  # shared across sessions: PyPI is asked once


@pytest.fixture(scope="module")
def humanize_tree(tmp_path_factory) -> Path:
    return extract_sdist(fetch_sdist(*HUMANIZE, SDISTS), tmp_path_factory.mktemp("humanize"))


def humanize_repo(tree: Path, dest: Path, stubbed: dict[str, list[str]]) -> Path:
    """The library as a git repo with the named functions' bodies removed."""
    shutil.copytree(tree, dest)
    for rel, functions in stubbed.items():
        path = dest / rel
        for function in functions:
            path.write_text(remove_body(path.read_text(), function))
    return make_repo(dest, {})


def test_map_of_a_real_library_has_symbols_signatures_docstrings_and_references(humanize_tree, tmp_path):
    repo_map = build_map(humanize_tree, cache=tmp_path / "cache.sqlite")
    number = repo_map.files["src/humanize/number.py"]
    ordinal = next(s for s in number.symbols if s.name == "ordinal")
    assert ordinal.signature == "def ordinal(value: NumberOrString, gender: str = 'male') -> str"
    assert ordinal.doc == "Converts an integer to its ordinal as a string."
    assert ordinal.kind == "function" and not ordinal.stub and ordinal.end_lineno - ordinal.lineno > 30
    assert {"isfinite", "_format_not_finite"} <= set(ordinal.refs)
    assert {"powers", "human_powers"} <= {a["name"] for a in number.assignments}
    assert "math" in number.imports and ".i18n._gettext" in number.imports
    assert ("tests/test_number.py", "test_ordinal") in repo_map.referencers("ordinal")
    assert "tests/test_number.py::test_ordinal" in covering_tests(repo_map, "ordinal")
    assert repo_map.lines() > 2500 and repo_map.stats["parsed"] == repo_map.stats["files"]


def test_the_second_build_parses_only_what_changed(humanize_tree, tmp_path):
    tree = shutil.copytree(humanize_tree, tmp_path / "tree")
    cache = tmp_path / "cache.sqlite"
    cold = build_map(tree, cache=cache)
    warm = build_map(tree, cache=cache)
    assert cold.stats["parsed"] == cold.stats["files"] > 10
    assert warm.stats["parsed"] == 0 and warm.stats["cached"] == cold.stats["files"]
    assert {p: f.to_dict() for p, f in warm.files.items()} == {p: f.to_dict() for p, f in cold.files.items()}
    lists = tree / "src" / "humanize" / "lists.py"
    lists.write_text(lists.read_text() + "\n\ndef oxford_list(items):\n    pass\n")
    again = build_map(tree, cache=cache)
    assert again.stats["parsed"] == 1
    assert [s.qualname for s in again.files["src/humanize/lists.py"].symbols][-1] == "oxford_list"


def test_stub_bodies_are_recognised():
    source = b'''
def a():
    pass
def b():
    """Only a docstring."""
def c(x):
    ...
def d():
    raise NotImplementedError("later")
def e():
    return 1
class K:
    def m(self):
        raise NotImplementedError
'''
    symbols = {s.qualname: s for s in parse_file("k.py", source).symbols}
    assert {q for q, s in symbols.items() if s.stub} == {"a", "b", "c", "d", "K", "K.m"}
    assert symbols["K.m"].kind == "method" and symbols["c"].signature == "def c(x)"
    by_design = b'''
import abc, typing
class Base(abc.ABC):
    @abc.abstractmethod
    def run(self):
        """Subclasses run."""
    @property
    @abc.abstractmethod
    def name(self):
        ...
@typing.overload
def f(x: int) -> int: ...
def f(x):
    raise NotImplementedError
'''
    stubs = [(s.qualname, s.lineno) for s in parse_file("b.py", by_design).symbols if s.stub]
    assert stubs == [("f", 13)]  # the abstract methods and the @overload are empty by design
    assert parse_file("bad.py", b"def broken(:\n").error.startswith("SyntaxError")


def test_skeleton_keeps_signatures_and_first_doc_lines_and_the_bodies_asked_for(humanize_tree):
    text = skeleton(humanize_tree / "src" / "humanize" / "number.py", keep={"ordinal"})
    assert 'return f"{value}{t[value % 10]}"' in text  # ordinal kept whole
    assert "def intcomma(value: NumberOrString, ndigits: int | None = None) -> str:" in text
    assert '"""Converts an integer to a string containing commas every three digits."""' in text
    assert "orig = str(value)" not in text  # intcomma's body elided
    original = (humanize_tree / "src" / "humanize" / "number.py").read_text()
    assert len(text) < len(original) / 2


def test_identifiers_split_at_snake_and_camel_case():
    assert split_identifier("parse_HTTPDate2") == ["parse", "http", "date", "2"]
    assert split_identifier("naturalSize") == ["natural", "size"]


# ------------------------------------------------------------------------------ localisation


def test_localisation_finds_a_stubbed_function_the_task_describes_without_naming_it(humanize_tree, tmp_path):
    repo = humanize_repo(humanize_tree, tmp_path / "repo", {"src/humanize/number.py": ["ordinal"]})
    task = (
        "Numbers should read as ordinals: 1 becomes '1st', 2 becomes '2nd', 3 becomes '3rd' and "
        "11 becomes '11th'. That conversion is not written yet."
    )
    steps = plan_steps(task, repo, read_only=[])
    assert len(steps) == 1
    step = steps[0]
    assert step["files"] == ["src/humanize/number.py"]
    assert [s["qualname"] for s in step["symbols"]] == ["ordinal"]
    assert step["symbols"][0]["kind"] == "function" and step["symbols"][0]["lineno"] > 1
    assert "tests/test_number.py::test_ordinal" in step["tests"] and "tests/test_number.py" in step["context"]
    top = step["candidates"][0]
    assert (
        top["qualname"] == "ordinal" and "stub body" in top["reasons"] and top["score"] > step["candidates"][1]["score"]
    )
    assert 1 <= step["difficulty"] <= 5 and step["id"] == "step-1"


def test_a_task_naming_two_unwritten_functions_becomes_two_steps(humanize_tree, tmp_path):
    repo = humanize_repo(
        humanize_tree,
        tmp_path / "repo",
        {"src/humanize/lists.py": ["natural_list"], "src/humanize/number.py": ["intcomma"]},
    )
    task = "Implement intcomma (4500 -> '4,500') and natural_list (['a', 'b'] -> 'a and b')."
    steps = plan_steps(task, repo, read_only=[])
    assert [(s["id"], s["files"], s["symbols"][0]["qualname"]) for s in steps] == [
        ("step-1", ["src/humanize/number.py"], "intcomma"),
        ("step-2", ["src/humanize/lists.py"], "natural_list"),
    ]
    assert "tests/test_lists.py::test_natural_list" in steps[1]["tests"]


PACKAGING = ("packaging", "24.1", "026ed72c8ed3fcce5bf8950572258698927fd1dbda10a5e981cdf0ac37f4f002")


def test_a_quoted_signature_names_one_method_not_its_parameters_or_the_abstract_base(tmp_path):
    """Drawn from packaging's own code: the task quotes `Specifier.filter`'s signature. Its parameter
    `prereleases` is also a property, and BaseSpecifier.filter is abstract (a docstring only); the plan
    used to make them four steps."""
    tree = extract_sdist(fetch_sdist(*PACKAGING, SDISTS), tmp_path / "packaging")
    repo = humanize_repo(tree, tmp_path / "repo", {"src/packaging/specifiers.py": ["Specifier.filter"]})
    task = (
        "Implement packaging's `Specifier.filter(self, iterable: Iterable[UnparsedVersionVar], "
        "prereleases: bool | None = None)`: filter items in the given iterable, that match the specifier. "
        "It currently raises NotImplementedError."
    )
    steps = plan_steps(task, repo, read_only=[])
    assert [(s["files"], [x["qualname"] for x in s["symbols"]]) for s in steps] == [
        (["src/packaging/specifiers.py"], ["Specifier.filter"])
    ]


def test_a_file_the_task_names_still_wins(repo_factory):
    repo = repo_factory(
        {
            "shapes.py": "def area(w, h):\n    raise NotImplementedError\n",
            "geometry.py": "def area_of_rectangle(w, h):\n    raise NotImplementedError\n",
            "test_shapes.py": "from shapes import area\n\ndef test_area():\n    assert area(2, 3) == 6\n",
        }
    )
    steps = plan_steps("Compute the area of a rectangle in shapes.py.", repo, read_only=["test_shapes.py"])
    assert len(steps) == 1 and steps[0]["files"] == ["shapes.py"]
    assert [s["qualname"] for s in steps[0]["symbols"]] == ["area"]
    assert steps[0]["context"] == ["test_shapes.py"] and steps[0]["tests"] == ["test_shapes.py::test_area"]
    ranked = rank(build_map(repo, cache=False), "rectangle area")
    assert ranked[0].symbol.name == "area_of_rectangle"  # without the file name, the words decide


SQL_LIKE = {
    "sqlfmt/__init__.py": (
        "from sqlfmt import formatter\n\n\n"
        "def format(sql, **options):\n"
        '    """Format `sql` according to `options`."""\n'
        "    stack = formatter.build_filter_stack(options)\n"
        "    return stack.run(sql)\n"
    ),
    "sqlfmt/formatter.py": (
        "from sqlfmt import filters\n\n\n"
        "class Stack:\n"
        "    def __init__(self):\n"
        "        self.filters = []\n\n"
        "    def run(self, sql):\n"
        "        for f in self.filters:\n"
        "            sql = f.process(sql)\n"
        "        return sql\n\n\n"
        "def build_filter_stack(options):\n"
        '    """Set up the filters the options ask for."""\n'
        "    stack = Stack()\n"
        "    if options.get('identifier_case'):\n"
        "        stack.filters.append(filters.IdentifierCaseFilter(options['identifier_case']))\n"
        "    if options.get('strip_comments'):\n"
        "        stack.filters.append(filters.StripCommentsFilter())\n"
        "    return stack\n"
    ),
    "sqlfmt/filters.py": (
        "class IdentifierCaseFilter:\n"
        '    """Change the case of identifiers (quoted ones are kept as written)."""\n\n'
        "    def __init__(self, case):\n"
        "        self.convert = getattr(str, case)\n\n"
        "    def process(self, sql):\n"
        "        return ' '.join(w if w.startswith('\"') else self.convert(w) for w in sql.split(' '))\n\n\n"
        "class StripCommentsFilter:\n"
        '    """Remove comments."""\n\n'
        "    def process(self, sql):\n"
        "        return sql.split('--')[0]\n"
    ),
    "tests/test_format.py": (
        "import sqlfmt\n\n\n"
        "def test_strip_comments():\n"
        "    assert sqlfmt.format('a -- b', strip_comments=True) == 'a '\n\n\n"
        "def test_identifier_case_quotes():\n"
        "    assert sqlfmt.format('\"MyCol\" x', identifier_case='upper') == '\"MyCol\" X'\n"
    ),
}


def test_a_bug_report_naming_the_api_called_finds_the_code_it_reaches(repo_factory):
    """A user reports what they called (`format`), not where the fault is: two calls below it. What the
    named function reaches shares its standing, and the report's words choose among them; the step
    takes the named function's tests, those sharing the report's words first."""
    repo = repo_factory(SQL_LIKE)
    task = (
        "Bug: sqlfmt.format('\"MyCol\" x', identifier_case='upper') gives '\"MYCOL\" X'. Quoted identifiers "
        "must keep their case. Fix it."
    )
    (step,) = plan_steps(task, repo, read_only=["tests/test_format.py"])
    assert step["files"] == ["sqlfmt/filters.py"]
    assert [s["qualname"] for s in step["symbols"]] == ["IdentifierCaseFilter"]
    assert step["tests"][0] == "tests/test_format.py::test_identifier_case_quotes"
    top = step["candidates"][0]
    assert top["chain"] == ["format", "build_filter_stack", "IdentifierCaseFilter"]
    assert "`format` -> `build_filter_stack`" in step["description"]


def test_a_bug_in_the_named_function_itself_stays_there(repo_factory):
    """Nothing it calls matches the report's words better than the function named: the plan keeps it."""
    files = dict(SQL_LIKE)
    files["sqlfmt/__init__.py"] = files["sqlfmt/__init__.py"].replace(
        '    """Format `sql` according to `options`."""\n',
        '    """Format `sql` according to `options`; an empty statement is returned empty."""\n',
    )
    repo = repo_factory(files)
    task = "Bug: sqlfmt.format('') raises instead of returning the empty statement as it is. Fix it."
    (step,) = plan_steps(task, repo, read_only=["tests/test_format.py"])
    assert step["files"] == ["sqlfmt/__init__.py"] and [s["qualname"] for s in step["symbols"]] == ["format"]
    assert "chain" not in step["candidates"][0]


def test_a_call_quoted_inside_another_is_named_too():
    from agentsmith.repomap.rank import without_parameters

    named = without_parameters("list(always_iterable(None)) returns [None]; f(a, key=g(b)) too")
    assert "always_iterable()" in named and "g()" in named and "None" not in named.replace("[None]", "")


def test_a_method_reached_from_the_named_api_stands_for_its_small_class(repo_factory):
    """The report's words can pick the wrong method of the right class (sqlparse's TruncateStringFilter:
    `__init__` holds `width`, the bug was in `process`): a small class reached is changed whole."""
    files = dict(SQL_LIKE)
    files["sqlfmt/filters.py"] += (
        "\n\nclass TruncateFilter:\n"
        '    """Shorten long string literals."""\n\n'
        "    def __init__(self, width, char):\n"
        "        self.width, self.char = width, char\n\n"
        "    def process(self, sql):\n"
        "        return sql[: self.width - 1] + self.char\n"
    )
    files["sqlfmt/formatter.py"] = files["sqlfmt/formatter.py"].replace(
        "    return stack\n",
        "    if options.get('truncate_width'):\n"
        "        stack.filters.append(filters.TruncateFilter(options['truncate_width'], '...'))\n"
        "    return stack\n",
    )
    repo = repo_factory(files)
    task = "Bug: sqlfmt.format(sql, truncate_width=4) keeps 3 characters, not the width 4 asked for. Fix it."
    (step,) = plan_steps(task, repo, read_only=["tests/test_format.py"])
    assert step["files"] == ["sqlfmt/filters.py"]
    assert [s["qualname"] for s in step["symbols"]] == ["TruncateFilter"]


WRAPPERS = {
    "words/__init__.py": (
        "def ordinal(number):\n"
        '    """The suffix of the ordinal number: st, nd, rd or th."""\n'
        "    n = abs(int(number))\n"
        "    if n % 100 in (11, 12):\n"
        "        return 'th'\n"
        "    return {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')\n\n\n"
        "def ordinalize(number):\n"
        '    """The number with its ordinal suffix: 1st, 2nd, 3rd."""\n'
        "    return f'{number}{ordinal(number)}'\n\n\n"
        "def pluralize(word):\n"
        '    """The plural of an English word."""\n'
        "    return word + 's'\n"
    ),
    "tests/test_words.py": (
        "import words\n\n\n"
        "def test_ordinalize():\n"
        "    assert words.ordinalize(13) == '13th'\n\n\n"
        "def test_ordinal():\n"
        "    assert words.ordinal(2) == 'nd'\n"
    ),
}


def test_a_thin_wrapper_the_report_names_brings_what_it_hands_its_work_to(repo_factory):
    """The report names the API the user called and what it calls; the API, a one-line wrapper, ranks first
    and the fault is in the function it calls (inflection's ordinalize and ordinal): both are the step's,
    shown and editable together, the wrapper first and its tests first."""
    repo = repo_factory(WRAPPERS)
    task = (
        "Bug: `words.ordinal(13)` returns 'rd', so `words.ordinalize(13)` gives '13rd' where '13th' is "
        "expected, like 11 and 12. Fix it."
    )
    (step,) = plan_steps(task, repo, read_only=["tests/test_words.py"])
    assert [s["qualname"] for s in step["symbols"]] == ["ordinalize", "ordinal"]
    assert step["tests"][:2] == ["tests/test_words.py::test_ordinalize", "tests/test_words.py::test_ordinal"]
    assert "`ordinalize` -> `ordinal`" in step["description"]

    # A function that does its own work keeps the step to itself.
    (step,) = plan_steps("Bug: `words.ordinal(12)` gives 'nd'. Fix it.", repo, read_only=["tests/test_words.py"])
    assert [s["qualname"] for s in step["symbols"]] == ["ordinal"]


def test_a_class_named_only_as_a_plain_word_is_not_followed(repo_factory):
    """ "In Markdown tables, ..." names the format, not the class `Markdown`: following that class's calls
    took a report about the tables extension to the core module. Named as code, it is followed."""
    files = {
        "mdlib/core.py": (
            "from mdlib import blocks\n\n\n"
            "class Markdown:\n"
            '    """Convert Markdown text to HTML."""\n\n'
            "    def convert(self, text):\n"
            "        return blocks.render_paragraphs(text)\n"
        ),
        "mdlib/blocks.py": (
            "def render_paragraphs(text):\n"
            '    """Render the blocks of the text (paragraphs, tables, lists, aligned columns) in order."""\n'
            "    return ''.join(f'<p>{p}</p>' for p in text.split('\\n\\n'))\n"
        ),
        "mdlib/tables.py": (
            "def table_column_alignment(separator):\n"
            '    """The text-align a Markdown table column is rendered with: left-aligned, right-aligned or center columns, from the separator."""\n'
            "    if separator.startswith(':') or separator.endswith(':'):\n"
            "        return 'center'\n"
            "    return None\n"
        ),
        "mdlib/util.py": "".join(
            f'def {name}(value):\n    """{doc}"""\n    return value\n\n\n'
            for name, doc in [
                ("escape", "Escape HTML special characters."),
                ("unescape", "Turn entities back into characters."),
                ("indent", "Indent every line by four spaces."),
                ("dedent", "Remove the common leading whitespace."),
                ("slug", "A URL-safe identifier for a heading."),
                ("wrap", "Wrap long lines at a width."),
            ]
        ),
        "tests/test_tables.py": "from mdlib import tables\n\n\ndef test_left():\n    assert tables.table_column_alignment(':--') == 'left'\n",
    }
    repo = repo_factory(files)
    task = "In Markdown tables, left-aligned columns (separator `:---`) are rendered with text-align center. Fix it."
    (step,) = plan_steps(task, repo, read_only=["tests/test_tables.py"])
    assert step["files"] == ["mdlib/tables.py"] and not step["candidates"][0].get("chain")
    assert [s["qualname"] for s in step["symbols"]] == ["table_column_alignment"]


def test_a_thin_method_brings_the_method_of_its_class_it_calls(repo_factory):
    """`self._helper()` names the class's own method: a thin public method and the helper it calls."""
    files = {
        "clockface/clock.py": (
            "class Clock:\n"
            '    """A clock that wraps around midnight."""\n\n'
            "    def __init__(self, hour, minute):\n"
            "        self.minutes = (hour * 60 + minute) % 1440\n\n"
            "    def __repr__(self):\n"
            '        """The time as HH:MM."""\n'
            "        return self._format_time()\n\n"
            "    def _format_time(self):\n"
            "        hours, minutes = divmod(self.minutes, 60)\n"
            "        return f'{hours:02d}:{minutes:02d}'\n"
            + "".join(f"\n    def extra_{n}(self):\n        return {n}\n" for n in range(30))
        ),
        "tests/test_clock.py": "from clockface.clock import Clock\n\n\ndef test_repr():\n    assert repr(Clock(8, 0)) == '08:00'\n",
    }
    repo = repo_factory(files)
    task = "Bug: `Clock.__repr__` shows 8:0 for Clock(8, 0); the time must read 08:00 (HH:MM). Fix it."
    (step,) = plan_steps(task, repo, read_only=["tests/test_clock.py"])
    assert [s["qualname"] for s in step["symbols"]] == ["Clock.__repr__", "Clock._format_time"]


def test_the_module_a_report_names_by_its_name_decides_between_like_worded_functions(repo_factory):
    """ "With the toc extension enabled, heading ids ..." is about toc.py's code, though a footnotes function
    shares the report's words as well (Markdown's toc and footnotes both make ids)."""
    files = {
        "mdlib/footnotes.py": (
            "def make_id(text):\n"
            '    """The id of a footnote: its text, lowercase."""\n'
            "    return 'fn-' + text.lower()\n"
        ),
        "mdlib/toc.py": (
            "def make_id(text):\n"
            '    """The id of a heading: its text, lowercase."""\n'
            "    return text.replace(' ', '-')\n"
        ),
        "tests/test_toc.py": "from mdlib import toc\n\n\ndef test_id():\n    assert toc.make_id('A B') == 'a-b'\n",
    }
    repo = repo_factory(files)
    task = "With the toc extension enabled, ids keep capital letters: they should be lowercase. Fix it."
    (step,) = plan_steps(task, repo, read_only=["tests/test_toc.py"])
    assert step["files"] == ["mdlib/toc.py"]
