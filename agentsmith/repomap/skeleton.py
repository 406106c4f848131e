"""A file's skeleton for a prompt: imports, short module statements, class headers and every
signature with its docstring's first line; bodies elided except the symbols asked for."""

from __future__ import annotations

import ast
from pathlib import Path

LONG_STATEMENT = 3  # module-level statements longer than this (big literals) are cut to one line
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def skeleton(path: str | Path, keep: set[str] | frozenset[str] = frozenset()) -> str:
    """`keep`: names or qualnames ("Class.method") whose full source stays."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return skeleton_of(text, keep)


def skeleton_of(text: str, keep: set[str] | frozenset[str] = frozenset()) -> str:
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text  # unparseable: the file as it is beats nothing
    out: list[str] = []
    _render(tree.body, lines, keep, prefix="", out=out)
    return "\n".join(out) + "\n"


def _render(
    body: list[ast.stmt], lines: list[str], keep: set[str] | frozenset[str], *, prefix: str, out: list[str]
) -> None:
    for node in body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        end = node.end_lineno or node.lineno
        if not prefix and out and out[-1] and isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            out.append("")  # top-level definitions apart, as in the file
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)) and _kept(node.name, prefix, keep):
            out += lines[start - 1 : end]
        elif isinstance(node, _FUNCTIONS):
            out += _elided_function(node, lines, start)
        elif isinstance(node, ast.ClassDef):
            first = node.body[0]
            first_line = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
            header_end = first_line - 1 if first_line > node.lineno else node.lineno
            out += lines[start - 1 : header_end]
            if _docstring(node.body[0]):
                out.append(_doc_line(node.body[0], lines))
            _render(node.body, lines, keep, prefix=f"{prefix}{node.name}.", out=out)
        elif _docstring(node) and not out:
            out.append(_doc_line(node, lines))
        elif end - start + 1 > LONG_STATEMENT:
            out.append(lines[start - 1].rstrip() + f"  # ... ({end - start + 1} lines elided)")
        elif not _docstring(node):
            out += lines[start - 1 : end]


def _kept(name: str, prefix: str, keep: set[str] | frozenset[str]) -> bool:
    return name in keep or f"{prefix}{name}" in keep


def _elided_function(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], start: int) -> list[str]:
    first = node.body[0]
    if first.lineno == node.lineno:  # `def f(): return 1` on one line
        return lines[start - 1 : node.end_lineno]
    header = lines[start - 1 : first.lineno - 1]
    indent = " " * first.col_offset
    kept = [_doc_line(first, lines)] if _docstring(first) else []
    return [*header, *kept, f"{indent}..."]


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _doc_line(node: ast.stmt, lines: list[str]) -> str:
    indent = " " * node.col_offset
    value = node.value.value if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) else ""
    first = str(value).strip().split("\n", 1)[0].strip().replace('"""', r"\"\"\"")
    return f'{indent}"""{first}"""'
