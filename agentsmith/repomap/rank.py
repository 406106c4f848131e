"""Localisation: rank the repo's functions and classes for a task. BM25 over each symbol's name,
signature and docstring (identifiers split at snake_case and camelCase), plus strong signals a
small model cannot find by itself: the task naming a symbol verbatim, a stub body waiting to be
implemented, a file the task names, tests that use the symbol."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agentsmith.repomap.build import RepoMap
from agentsmith.repomap.model import Symbol

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py)$|(^|/)tests?/")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBWORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "when",
        "which",
        "while",
        "will",
        "with",
        "without",
        "not",
        "no",
        "it's",
        "must",
        "make",
        "makes",
        "return",
        "returns",
        "value",
        "values",
        "function",
        "method",
        "class",
        "implement",
        "implemented",
        "currently",
        "raises",
        "raise",
        "notimplementederror",
        "given",
        "use",
        "using",
        "new",
        "add",
        "self",
        "cls",
        "none",
        "true",
        "false",
        "def",
    ]
)
# Weights: a verbatim name is near-certain; a stub is the usual shape of "implement X".
NAME_WEIGHT, VERBATIM, QUALNAME_VERBATIM, STUB, NAMED_FILE, TESTED = 3, 8.0, 10.0, 4.0, 6.0, 0.5
K1, B = 1.2, 0.75


def is_test_file(path: str) -> bool:
    return bool(_TEST_FILE.search(path))


def split_identifier(name: str) -> list[str]:
    return [w.lower() for w in _SUBWORD.findall(name)]


def _norm(word: str) -> str:
    # Plurals match singulars ("ordinals" finds `ordinal`); anything cleverer costs more than it finds.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    found = []
    for identifier in _IDENTIFIER.findall(text):
        parts = split_identifier(identifier)
        found += [_norm(w) for w in parts if len(w) > 1 and w not in STOPWORDS]
        if len(parts) > 1:
            found.append(identifier.lower())  # the whole identifier, so "intcomma" matches itself
    return found


@dataclass
class Candidate:
    path: str
    symbol: Symbol
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def ref(self) -> dict[str, Any]:
        """The step contract's symbol record."""
        s = self.symbol
        return {
            "path": self.path,
            "name": s.name,
            "qualname": s.qualname,
            "kind": s.kind,
            "lineno": s.lineno,
            "end_lineno": s.end_lineno,
        }

    def to_dict(self) -> dict[str, Any]:
        return self.ref() | {"score": round(self.score, 3), "stub": self.symbol.stub, "reasons": self.reasons}


def _document(symbol: Symbol) -> list[str]:
    return (
        words(symbol.name) * NAME_WEIGHT
        + words(symbol.qualname.rpartition(".")[0])
        + words(symbol.signature.partition("(")[2])
        + words(symbol.docstring)
    )


def mentioned(task: str, name: str) -> bool:
    """The task names `name` as a whole identifier; short plain words ("get", "add") only as code."""
    if name not in task:  # the cheap test first: this runs for every symbol of the repo
        return False
    if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", task):
        return False
    if len(name) >= 5 or "_" in name.strip("_") or any(c.isupper() for c in name[1:]):
        return True
    return bool(re.search(rf"(`[^`]*\b{re.escape(name)}\b[^`]*`|\b{re.escape(name)}\()", task))


def without_parameters(task: str) -> str:
    """`task` with the parameter lists of the signatures it quotes emptied: in "implement
    `Specifier.filter(self, iterable, prereleases=None)`", `prereleases` is a parameter, not a second
    thing to implement (it was: the property of that name became a step of its own)."""
    out, depth, index = [], 0, 0
    while index < len(task):
        char = task[index]
        if depth == 0 and char == "(" and index and (task[index - 1].isalnum() or task[index - 1] == "_"):
            depth = 1
            out.append("(")
        elif depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                out.append(")")
            elif char == "\n" and task[index - 1] == "\n":
                depth = 0  # an unclosed parenthesis: stop at the paragraph's end, keep the rest
                out.append("\n\n")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def rank(
    repo_map: RepoMap, task: str, *, exclude: set[str] = frozenset(), named_files: set[str] = frozenset()
) -> list[Candidate]:
    """Every non-test function, method and class outside `exclude`, best first."""
    pool = [
        Candidate(path, symbol) for path, symbol in repo_map.symbols() if not is_test_file(path) and path not in exclude
    ]
    if not pool:
        return []
    docs = [Counter(_document(c.symbol)) for c in pool]
    average = sum(sum(d.values()) for d in docs) / len(docs) or 1.0
    frequency: Counter[str] = Counter(term for d in docs for term in d)
    query = set(words(task))
    tests = {p for p in repo_map.files if is_test_file(p)}
    naming = without_parameters(task)
    for candidate, doc in zip(pool, docs, strict=True):
        length = sum(doc.values())
        for term in query & doc.keys():
            idf = math.log(1 + (len(docs) - frequency[term] + 0.5) / (frequency[term] + 0.5))
            tf = doc[term]
            candidate.score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
        if candidate.score:
            candidate.reasons.append(f"bm25 {candidate.score:.2f}")
        _boost(candidate, naming, repo_map, tests, named_files)
    return sorted(pool, key=lambda c: (-c.score, c.path, c.symbol.lineno))


def _boost(candidate: Candidate, task: str, repo_map: RepoMap, tests: set[str], named_files: set[str]) -> None:
    symbol = candidate.symbol
    if "." in symbol.qualname and mentioned(task, symbol.qualname):
        candidate.score += QUALNAME_VERBATIM
        candidate.reasons.append("qualname named in task")
    elif mentioned(task, symbol.name):
        candidate.score += VERBATIM
        candidate.reasons.append("named in task")
    if symbol.stub and symbol.kind != "class" and candidate.score > 0:
        candidate.score += STUB
        candidate.reasons.append("stub body")
    if candidate.path in named_files:
        candidate.score += NAMED_FILE
        candidate.reasons.append("file named in task")
    if candidate.score > 0:
        testing = {p for p, _ in repo_map.referencers(symbol.name) if p in tests}
        if testing:
            candidate.score += TESTED * min(len(testing), 2)
            candidate.reasons.append(f"used by {len(testing)} test file(s)")


def covering_tests(repo_map: RepoMap, name: str, *, limit: int = 20) -> list[str]:
    """pytest node ids of the test functions (and test methods) whose bodies use `name`; those
    named after it (test_ordinal for ordinal) first, as they are the ones written for it."""
    found: list[tuple[bool, str]] = []
    for path, qualname in sorted(repo_map.referencers(name)):
        leaf = qualname.rpartition(".")[2]
        if is_test_file(path) and leaf.startswith("test"):
            found.append((name.lower() not in qualname.lower(), f"{path}::{qualname.replace('.', '::')}"))
    return [node for _, node in sorted(found)][:limit]
