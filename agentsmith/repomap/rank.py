"""Localisation: rank the repo's functions and classes for a task. BM25 over each symbol's name,
signature and docstring (identifiers split at snake_case and camelCase), plus strong signals a
small model cannot find by itself: the task naming a symbol verbatim, a stub body waiting to be
implemented, a file the task names, tests that use the symbol.

A bug report names the API its writer called, not the code at fault: "sqlparse.format(...,
identifier_case='lower') lowercases quoted names" is a bug in `IdentifierCaseFilter`, two calls
below `format`. So what a named, written (not stub) symbol calls, down to DESCENT_DEPTH calls,
shares the named symbol's standing, and BM25 on the report's words decides among them."""

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
_NESTED_CALL = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\(")
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
# A name defined more often than this (`run`, `process`, `__init__`) says nothing about which one is called.
DESCENT_DEPTH, DESCENT_AMBIGUOUS = 3, 3


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
    chain: list[str] = field(default_factory=list)  # reached from a named symbol: the calls down to this one

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
        record = {"score": round(self.score, 3), "stub": self.symbol.stub, "reasons": self.reasons}
        return self.ref() | record | ({"chain": self.chain} if self.chain else {})


def _document(symbol: Symbol) -> list[str]:
    return (
        words(symbol.name) * NAME_WEIGHT
        + words(symbol.qualname.rpartition(".")[0])
        + words(symbol.signature.partition("(")[2])
        + words(symbol.docstring)
    )


def _module_name(path: str) -> str:
    stem = path.rpartition("/")[2].rpartition(".")[0]
    return path.rstrip("/").rpartition("/")[0].rpartition("/")[2] if stem == "__init__" else stem


def mentioned(task: str, name: str) -> bool:
    """The task names `name` as a whole identifier; short plain words ("get", "add") only as code."""
    if name not in task:  # the cheap test first: this runs for every symbol of the repo
        return False
    if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", task):
        return False
    if len(name) >= 5 or "_" in name.strip("_") or any(c.isupper() for c in name[1:]):
        return True
    return bool(re.search(rf"(`[^`]*\b{re.escape(name)}\b[^`]*`|\b{re.escape(name)}\()", task))


def _named_as_code(task: str, symbol: Symbol) -> bool:
    """Named as code, not only as a word: in backquotes, called, dotted, or an identifier no prose spells
    (snake_case, camelCase). "In Markdown tables, ..." names the format, not the class `Markdown`, and
    following that class's calls took the report to the wrong file."""
    name = symbol.name
    if "_" in name.strip("_") or any(c.isupper() for c in name[1:]):
        return True
    code = rf"(`[^`\n]*(?<![\w]){re.escape(name)}(?![\w])[^`\n]*`|(?<![\w]){re.escape(name)}\(|\.{re.escape(name)}\b)"
    return bool(re.search(code, task))


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
    # ... but a call inside the parentheses is named all the same: "list(always_iterable(None))".
    kept = "".join(out)
    nested = set(_NESTED_CALL.findall(task)) - set(_NESTED_CALL.findall(kept))
    return kept + "".join(f"\n{name}()" for name in sorted(nested))


def rank(
    repo_map: RepoMap, task: str, *, exclude: set[str] = frozenset(), named_files: set[str] = frozenset()
) -> list[Candidate]:
    """Every non-test function, method and class outside `exclude`, best first."""
    pool = [
        Candidate(path, symbol) for path, symbol in repo_map.symbols() if not is_test_file(path) and path not in exclude
    ]
    if not pool:
        return []
    # The module's own name counts once: "with the toc extension" is about toc.py's code.
    docs = [Counter(_document(c.symbol) + words(_module_name(c.path))) for c in pool]
    average = sum(sum(d.values()) for d in docs) / len(docs) or 1.0
    frequency: Counter[str] = Counter(term for d in docs for term in d)
    query = set(words(task))
    tests = {p for p in repo_map.files if is_test_file(p)}
    naming = without_parameters(task)
    bm25: dict[int, float] = {}
    named_part: dict[int, float] = {}  # the BM25 a symbol scores on its own name's words
    for candidate, doc in zip(pool, docs, strict=True):
        length = sum(doc.values())
        own = set(words(candidate.symbol.name))
        for term in query & doc.keys():
            idf = math.log(1 + (len(docs) - frequency[term] + 0.5) / (frequency[term] + 0.5))
            tf = doc[term]
            part = idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
            candidate.score += part
            named_part[id(candidate)] = named_part.get(id(candidate), 0.0) + (part if term in own else 0.0)
        if candidate.score:
            candidate.reasons.append(f"bm25 {candidate.score:.2f}")
        bm25[id(candidate)] = candidate.score
        _boost(candidate, naming, repo_map, tests, named_files)
    _descend(pool, bm25, named_part, naming)
    return sorted(pool, key=lambda c: (-c.score, len(c.chain), c.path, c.symbol.lineno))


def _descend(pool: list[Candidate], bm25: dict[int, float], named_part: dict[int, float], task: str) -> None:
    """What a named, written symbol calls (down to DESCENT_DEPTH calls; a class reached brings its
    methods) gets that symbol's standing on top of its own BM25, once, from the nearest named caller:
    its boosts and the BM25 its name scored (the report names the symbol because it was called, which
    says as much about the code it calls); the rest of the report's words decide between them."""
    by_name: dict[str, list[Candidate]] = {}
    for candidate in pool:
        by_name.setdefault(candidate.symbol.name, []).append(candidate)
    members: dict[str, list[Candidate]] = {}
    for candidate in pool:
        parent = candidate.symbol.qualname.rpartition(".")[0]
        if parent:
            members.setdefault(f"{candidate.path}:{parent}", []).append(candidate)
    seeds = [
        c
        for c in pool
        if not c.symbol.stub and any(r.endswith("named in task") for r in c.reasons) and _named_as_code(task, c.symbol)
    ]
    reached = {id(s) for s in seeds}
    for seed in sorted(seeds, key=lambda c: -c.score):
        boost = seed.score - bm25[id(seed)] + named_part.get(id(seed), 0.0)
        frontier = [(seed, [seed.symbol.qualname])]
        for _ in range(DESCENT_DEPTH):
            following = []
            for caller, chain in frontier:
                callees = [c for ref in caller.symbol.refs for c in _defined(by_name, ref)]
                if caller.symbol.kind == "class":
                    callees += members.get(f"{caller.path}:{caller.symbol.qualname}", [])
                for callee in callees:
                    if id(callee) in reached:
                        continue
                    path = [*chain, callee.symbol.qualname]
                    reached.add(id(callee))
                    following.append((callee, path))
                    if bm25[id(callee)] > 0:
                        callee.score += boost
                        callee.chain = path
                        callee.reasons.append("reached from " + " -> ".join(f"`{q}`" for q in path[:-1]))
            frontier = following


def _defined(by_name: dict[str, list[Candidate]], name: str) -> list[Candidate]:
    found = by_name.get(name, [])
    return found if len(found) <= DESCENT_AMBIGUOUS else []


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
