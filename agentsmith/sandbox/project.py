"""How a Python repository declares its tests: where they live, what they need, how it is built.

Read from the repo's own files only (pyproject.toml, pytest.ini, tox.ini, setup.cfg, requirements
files); nothing here runs the repo's code.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from agentsmith import vcs

PYTEST = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no"]
TEST_GROUPS = ("test", "tests", "testing")
TEST_REQUIREMENT_FILES = (
    "requirements-test.txt",
    "requirements-tests.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "tests/requirements.txt",
)
DEV_REQUIREMENT_FILES = ("requirements-dev.txt", "requirements/dev.txt", "dev-requirements.txt")
BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")
_SKIPPED = {".git", ".tox", ".nox", ".venv", "venv", "node_modules", "build", "dist", "__pycache__"}


@dataclass
class TestSetup:
    testpaths: list[str] = field(default_factory=list)  # from the repo's pytest configuration
    config: str | None = None  # the file that configures pytest
    test_requirements: list[str] = field(default_factory=list)
    build_requires: list[str] = field(default_factory=list)
    installable: bool = False  # has a build system: install it, do not path-hack
    src_layout: bool = False
    options: list[str] = field(default_factory=list)  # pytest options that override the repo's config

    def command(self, selection: list[str] = ()) -> list[str]:
        """pytest over `selection` (node ids or files), else as the repo configures it. A src layout that
        cannot be installed still imports, from src/."""
        prefix = ["env", "PYTHONPATH=src"] if self.src_layout and not self.installable else []
        return prefix + PYTEST + self.options + list(selection)


def _toml(repo: Path) -> dict:
    path = repo / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        return {}


def _ini(path: Path) -> configparser.ConfigParser | None:
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text(encoding="utf-8", errors="replace"))
    except configparser.Error:
        return None
    return parser


def _requirement_lines(repo: Path, relative: str, seen: set[str] | None = None) -> list[str]:
    """Plain requirements from a file; `-r other.txt` is followed inside the repo, other options skipped."""
    seen = seen if seen is not None else set()
    path = repo / relative
    if relative in seen or not path.is_file():
        return []
    seen.add(relative)
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        included = re.match(r"^(-r|--requirement)\s*(\S+)", line)
        if included:
            found += _requirement_lines(repo, str(Path(relative).parent / included.group(2)), seen)
        elif not line.startswith(("-", "git+", ".", "/")) and "://" not in line:
            found.append(line)
    return found


def _pyproject_group(pyproject: dict, names: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    extras = pyproject.get("project", {}).get("optional-dependencies", {})
    groups = pyproject.get("dependency-groups", {})  # PEP 735
    poetry = pyproject.get("tool", {}).get("poetry", {})
    for name in names:
        found += [str(r) for r in extras.get(name, [])]
        found += [str(r) for r in groups.get(name, []) if isinstance(r, str)]
        found += poetry_requirements(poetry.get("group", {}).get(name, {}).get("dependencies", {}))
        if name == "dev":  # Poetry before 1.2
            found += poetry_requirements(poetry.get("dev-dependencies", {}))
    project_name = str(pyproject.get("project", {}).get("name", "")).lower()
    # `tests = ["mypkg[extra]"]`: the repo itself, installed anyway.
    return [r for r in found if not (project_name and re.match(rf"^{re.escape(project_name)}\b", r.lower()))]


def poetry_requirements(table: dict) -> list[str]:
    """A Poetry dependency table as PEP 508 requirements (`^1.2` -> `>=1.2,<2.0`, `~1.2` -> `>=1.2,<1.3`);
    the `python` entry and path, git and url dependencies are left out."""
    found = []
    for name, spec in table.items() if isinstance(table, dict) else ():
        if name.lower() == "python":
            continue
        extras = ""
        if isinstance(spec, dict):
            if spec.get("optional") or any(key in spec for key in ("path", "git", "url")):
                continue  # (optional: only for an extra)
            extras = f"[{','.join(spec['extras'])}]" if spec.get("extras") else ""
            spec = spec.get("version", "*")
        if not isinstance(spec, str) or "||" in spec:
            spec = "*"  # several alternative constraints: pip chooses
        pieces = [piece.strip() for piece in spec.split(",") if piece.strip() not in ("", "*")]
        found.append(f"{name}{extras}{','.join(_poetry_constraint(piece) for piece in pieces)}")
    return found


def _poetry_constraint(piece: str) -> str:
    if piece.startswith("^") or (piece.startswith("~") and not piece.startswith("~=")):
        version = piece.lstrip("^~").strip()
        numbers = [int(n) for n in re.findall(r"\d+", version.split("-")[0].split("+")[0])[:3]]
        if not numbers:
            return f">={version}"
        if piece.startswith("^"):
            # the leftmost non-zero part may not change
            keep = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
        else:
            keep = min(1, len(numbers) - 1) if len(numbers) > 1 else 0
        upper = numbers[:keep] + [numbers[keep] + 1]
        return f">={version},<{'.'.join(map(str, upper))}"
    if piece[0].isdigit():
        return f"=={piece}"
    return piece


def test_requirements(repo: Path) -> list[str]:
    """The repo's declared test dependencies: its test extra or group, test requirement files, tox deps;
    dev ones only when no test ones are declared."""
    pyproject = _toml(repo)
    found = _pyproject_group(pyproject, TEST_GROUPS)
    for relative in TEST_REQUIREMENT_FILES:
        found += _requirement_lines(repo, relative)
    tox = _ini(repo / "tox.ini")
    if tox is not None and tox.has_section("testenv"):
        for line in tox.get("testenv", "deps", fallback="").splitlines():
            line = line.strip()
            if line.startswith(("-r", "--requirement")):
                found += _requirement_lines(repo, line.split(None, 1)[-1].lstrip("r").strip())
            elif line and not line.startswith(("-", "#", ".")) and "{" not in line:
                found.append(line.split(" #", 1)[0].strip())
        extras = tox.get("testenv", "extras", fallback="")
        found += _pyproject_group(pyproject, tuple(e.strip() for e in re.split(r"[\s,]+", extras) if e.strip()))
    if not found:
        found = _pyproject_group(pyproject, ("dev",))
        for relative in DEV_REQUIREMENT_FILES:
            found += _requirement_lines(repo, relative)
    return list(dict.fromkeys(found))


def build_requirements(repo: Path) -> list[str]:
    """The build backend's requirements (PEP 518); setuptools for a setup.py without a pyproject."""
    pyproject = _toml(repo)
    if "build-system" in pyproject:
        return [str(r) for r in pyproject["build-system"].get("requires", [])] or ["setuptools>=40.8", "wheel"]
    setup_cfg = _ini(repo / "setup.cfg")
    if (repo / "setup.py").is_file() or (setup_cfg is not None and setup_cfg.has_section("metadata")):
        return ["setuptools>=40.8", "wheel"]
    return []


def is_test_file(repo: Path, relative: str) -> bool:
    return bool(_TEST_FILE.search(relative)) and (repo / relative).is_file()


def pytest_config(repo: Path) -> tuple[str | None, list[str]]:
    """(the file configuring pytest, its testpaths), in pytest's own order of precedence."""
    ini = _ini(repo / "pytest.ini")
    if ini is not None and ini.has_section("pytest"):
        return "pytest.ini", ini.get("pytest", "testpaths", fallback="").split()
    options = _toml(repo).get("tool", {}).get("pytest", {}).get("ini_options")
    if options is not None:
        paths = options.get("testpaths", [])
        return "pyproject.toml", [paths] if isinstance(paths, str) else [str(p) for p in paths]
    tox = _ini(repo / "tox.ini")
    if tox is not None and tox.has_section("pytest"):
        return "tox.ini", tox.get("pytest", "testpaths", fallback="").split()
    setup_cfg = _ini(repo / "setup.cfg")
    if setup_cfg is not None and setup_cfg.has_section("tool:pytest"):
        return "setup.cfg", setup_cfg.get("tool:pytest", "testpaths", fallback="").split()
    return None, []


def project_name(repo: Path) -> str | None:
    """The name the repo's packaging metadata gives it (pyproject, Poetry, setup.cfg), if any."""
    pyproject = _toml(repo)
    name = pyproject.get("project", {}).get("name") or pyproject.get("tool", {}).get("poetry", {}).get("name")
    if not name:
        setup_cfg = _ini(repo / "setup.cfg")
        name = setup_cfg.get("metadata", "name", fallback=None) if setup_cfg is not None else None
    return str(name) if name else None


def addopts(repo: Path, config: str | None) -> list[str]:
    """The options the repo's pytest configuration adds to every run (`addopts`)."""
    value: object = ""
    if config == "pyproject.toml":
        value = _toml(repo).get("tool", {}).get("pytest", {}).get("ini_options", {}).get("addopts", "")
    elif config is not None:
        parsed = _ini(repo / config)
        section = "tool:pytest" if config == "setup.cfg" else "pytest"
        value = parsed.get(section, "addopts", fallback="") if parsed is not None else ""
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(str(value))
    except ValueError:
        return []


# Coverage options are left out of the agent's test runs: coverage does not judge a change, it slows every
# run, and without pytest-cov installed pytest refuses them (wcwidth's tox.ini: every run exit 4).
_COVERAGE_SWITCHES = ("--no-cov", "--no-cov-on-fail", "--cov-append", "--cov-branch")  # (take no value)


def without_coverage(options: list[str]) -> list[str]:
    kept, value_next = [], False
    for option in options:
        if value_next:
            value_next = False
            if not option.startswith("-"):
                continue  # the value of the coverage option before it
        name = option.split("=", 1)[0]
        if name in _COVERAGE_SWITCHES or name == "--cov" or name.startswith("--cov-"):
            value_next = "=" not in option and name not in _COVERAGE_SWITCHES
            continue
        kept.append(option)
    return kept


def discover(repo: Path) -> TestSetup:
    config, testpaths = pytest_config(repo)
    build = build_requirements(repo)
    added = addopts(repo, config)
    kept = without_coverage(added)
    return TestSetup(
        options=["-o", f"addopts={shlex.join(kept)}"] if kept != added else [],
        testpaths=testpaths,
        config=config,
        test_requirements=test_requirements(repo),
        build_requires=build,
        installable=bool(build),
        src_layout=(repo / "src").is_dir(),
    )


def test_files(repo: Path, setup: TestSetup | None = None) -> list[str]:
    """The test modules pytest would collect, under the configured testpaths (else the whole repo)."""
    setup = setup or discover(repo)
    roots = [repo / p for p in setup.testpaths if (repo / p).exists()] or [repo]
    found = []
    for root in roots:
        candidates = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in candidates:
            relative = path.relative_to(repo).as_posix()
            if _TEST_FILE.search(relative) and not set(Path(relative).parts) & _SKIPPED:
                found.append(relative)
    return list(dict.fromkeys(found))


def version_hint(repo: Path) -> str:
    """The version a VCS-versioned build (setuptools-scm, hatch-vcs) should report inside the sandbox,
    where there is no .git: the latest tag, else the sdist's PKG-INFO, else 0.0.0."""
    tag = vcs.latest_tag(repo)
    if tag and re.match(r"^v?\d", tag):
        return tag.lstrip("v")
    info = repo / "PKG-INFO"
    if info.is_file():
        match = re.search(r"^Version: (\S+)", info.read_text(encoding="utf-8", errors="replace"), re.M)
        if match:
            return match.group(1)
    return "0.0.0"
