"""What the repository map records: plain dataclasses that round-trip through JSON (the cache)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Symbol:
    """A function, method or class. `refs` are the names its body uses (calls, attributes, globals)."""

    name: str
    qualname: str
    kind: str  # "function" | "method" | "class"
    lineno: int  # the first decorator's line, so a slice holds the whole definition
    end_lineno: int
    signature: str
    decorators: list[str] = field(default_factory=list)
    doc: str = ""  # the docstring's first line
    docstring: str = ""  # the docstring's start, for ranking
    stub: bool = False  # pass / ... / raise NotImplementedError / docstring only
    refs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileMap:
    path: str  # repo-relative, POSIX
    sha: str  # sha256 of the content: the cache key
    lines: int
    symbols: list[Symbol] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)  # {"name", "lineno"}
    imports: list[str] = field(default_factory=list)  # modules and imported names ("os", "os.path.join")
    refs: list[str] = field(default_factory=list)  # every name the file uses
    error: str | None = None  # a file Python cannot parse is kept, empty, with the reason

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileMap:
        symbols = [Symbol(**s) for s in data.get("symbols", [])]
        return cls(**{**data, "symbols": symbols})
