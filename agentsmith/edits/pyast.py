"""Python source seen through `ast`: where a definition lives, a file's skeleton, splicing a
replaced function back in, and what an edit removed. Only the standard library: the edit must be
checked against the file exactly as it is on disk, in the Python that parses it."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Definition:
    qualname: str  # "intcomma", "Foo.bar"
    name: str
    kind: str  # "function" | "class" | "method"
    start: int  # 1-based first line, decorators included
    lineno: int  # the `def`/`class` line
    end: int  # 1-based last line
    indent: str


def parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def syntax_error(source: str) -> str | None:
    try:
        ast.parse(source)
    except SyntaxError as err:
        return f"line {err.lineno}: {err.msg}"
    except ValueError as err:
        return str(err)
    return None


def definitions(source: str, tree: ast.Module | None = None) -> list[Definition]:
    """Every function, class and method, outermost first, in file order."""
    tree = tree or parse(source)
    if tree is None:
        return []
    lines = source.splitlines()
    found: list[Definition] = []

    def visit(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if not isinstance(node, _DEFS):
                continue
            qualname = f"{prefix}{node.name}"
            kind = "class" if isinstance(node, ast.ClassDef) else ("method" if in_class else "function")
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            line = lines[node.lineno - 1] if node.lineno - 1 < len(lines) else ""
            found.append(
                Definition(
                    qualname,
                    node.name,
                    kind,
                    start,
                    node.lineno,
                    node.end_lineno or node.lineno,
                    line[: len(line) - len(line.lstrip())],
                )
            )
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{qualname}.", True)

    visit(tree.body, "", False)
    return found


def find(source: str, name: str) -> Definition | None:
    """A definition by qualified name, else by plain name when that is unambiguous."""
    defs = definitions(source)
    exact = [d for d in defs if d.qualname == name]
    if exact:
        return exact[0]
    plain = [d for d in defs if d.name == name.rsplit(".", 1)[-1]]
    return plain[0] if len(plain) == 1 else None


def extract(source: str, definition: Definition) -> str:
    return "".join(source.splitlines(keepends=True)[definition.start - 1 : definition.end])


def header(source: str, definition: Definition) -> str:
    """A definition's decorators and signature, dedented: what an answer should start with."""
    lines = [line[len(definition.indent) :] for line in extract(source, definition).splitlines()]
    tree = parse("\n".join(lines))
    if tree is None or not tree.body or not getattr(tree.body[0], "body", None):
        return lines[0] + "\n"
    return "\n".join(lines[: tree.body[0].body[0].lineno - 1]) + "\n"


def opening(source: str, definition: Definition) -> str:
    """A definition's decorators, signature and docstring as the file has them, dedented, then the
    body's indentation: where its body's code starts. Begun with this, an answer holds the body alone
    (begun at the margin, the 1.5B model closed the block at once: an empty body). "" for a one-line def."""
    lines = [line[len(definition.indent) :] for line in extract(source, definition).splitlines()]
    tree = parse("\n".join(lines))
    node = tree.body[0] if tree is not None and tree.body else None
    if node is None or not getattr(node, "body", None) or node.body[0].lineno == node.lineno:
        return ""
    first = node.body[0]
    indent = " " * first.col_offset
    if not (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    ):
        return header(source, definition) + indent
    return "\n".join(lines[: first.end_lineno]) + "\n" + indent


def module_names(source: str) -> set[str]:
    """What an edit must not silently drop: definitions (qualified) and module-level assigned names."""
    tree = parse(source)
    if tree is None:
        return set()
    names = {d.qualname for d in definitions(source, tree)}
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AnnAssign, ast.AugAssign))
            else []
        )
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.add(leaf.id)
    return names


def removed_names(before: str, after: str, allowed: set[str] = frozenset()) -> list[str]:
    """Names `before` defines that `after` lost, except those `allowed` (by qualname or plain name)."""
    lost = module_names(before) - module_names(after)
    return sorted(
        n
        for n in lost
        if n not in allowed and n.rsplit(".", 1)[-1] not in allowed and n.split(".", 1)[0] not in allowed
    )


def skeleton(source: str, keep: set[str] = frozenset(), *, docstrings: bool = True) -> str:
    """The file with function bodies elided (signature, and docstring if asked, kept); the definitions
    named in `keep` are left out (they are shown in full elsewhere). Module-level code stays."""
    tree = parse(source)
    if tree is None:
        return source
    lines = source.splitlines()
    out: list[str] = []
    cursor = 0  # 0-based index of the next line to copy
    related = _subwords(" ".join(keep))

    def emit_until(stop: int) -> None:
        nonlocal cursor
        out.extend(lines[cursor:stop])
        cursor = max(cursor, stop)

    def walk(body: list[ast.stmt], prefix: str) -> None:
        nonlocal cursor
        for node in body:
            if not docstrings and isinstance(node, (ast.Assign, ast.AnnAssign)) and _long(node):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = " = ".join(ast.get_source_segment(source, t) or "_" for t in targets)
                size = node.end_lineno - node.lineno + 1
                if size <= RELATED_LINES and related & _subwords(names):
                    continue  # `ANSI_SEQUENCES` for `strip_ansi`: likely what the body uses, shown whole
                # A 60-line table says less than its name: `_IRR_S2P = {...}` (boltons' strutils has several).
                emit_until(node.lineno - 1)
                indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
                out.append(f"{indent}{names} = {_shape(source, node.value)}  # {size} lines")
                cursor = node.end_lineno
                continue
            if not isinstance(node, _DEFS):
                continue
            qualname = f"{prefix}{node.name}"
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = node.end_lineno or node.lineno
            emit_until(start)
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
            if qualname in keep:
                out.append(f"{indent}# {qualname}: shown in full below")
                cursor = end
                continue
            first = node.body[0]
            if first.lineno == node.lineno:  # `def f(): return 1`: one line, nothing to elide
                emit_until(end)
                continue
            header_end = first.lineno - 1  # lines before the first statement: the signature
            emit_until(header_end)
            doc = ast.get_docstring(node, clean=False) is not None
            if doc and docstrings:
                emit_until(first.end_lineno or first.lineno)
            if isinstance(node, ast.ClassDef):
                # A class keeps its attributes; its methods are elided one by one.
                walk(node.body, f"{qualname}.")
                emit_until(end)
                continue
            body_indent = re.match(r"\s*", lines[first.lineno - 1]).group(0) or indent + "    "
            out.append(f"{body_indent}...")
            cursor = end

    if not docstrings and tree.body:
        # Nor the module's: its docstring and the comment block above the code (a licence, often).
        body = tree.body
        skip = 1 if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0].value, "value", None), str) else 0
        if skip < len(body):
            node = body[skip]
            cursor = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        else:
            cursor = len(lines)
    walk(tree.body, "")
    emit_until(len(lines))
    text = "\n".join(out)
    # Runs of blank lines left by elision say nothing.
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"


LONG_STATEMENT_LINES = 8
# A long module-level value whose name shares a word with a definition being changed is kept whole up
# to this size: the 1.5B model, shown `ANSI_SEQUENCES = ...`, wrote its own broken regex for `strip_ansi`.
RELATED_LINES = 30
_SUBWORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_GENERIC = {"get", "set", "the", "and", "for", "default", "defaults", "all", "str", "int", "list", "dict"}


def _subwords(names: str) -> set[str]:
    found = {w.lower() for w in _SUBWORD.findall(names)}
    return {w for w in found if len(w) >= 3 and w not in _GENERIC}


def _shape(source: str, value: ast.expr | None) -> str:
    """What an elided value is, in one token: `re.compile(...)`, `{...}`, `[...]`, `(...)`."""
    if isinstance(value, ast.Call):
        return f"{ast.get_source_segment(source, value.func) or '_'}(...)"
    brackets = {ast.Dict: "{...}", ast.Set: "{...}", ast.DictComp: "{...}", ast.SetComp: "{...}"}
    brackets |= {ast.List: "[...]", ast.ListComp: "[...]", ast.Tuple: "(...)", ast.GeneratorExp: "(...)"}
    return brackets.get(type(value), "...")


def module_data(source: str) -> dict[str, str]:
    """Module-level assignments by name, as written: the tables a parametrized test reads its cases
    from (`CAMEL_TO_UNDERSCORE = (("HTMLTidy", "html_tidy"), ...)`)."""
    tree = parse(source)
    found: dict[str, str] = {}
    for node in tree.body if tree else []:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        text = ast.get_source_segment(source, node) if targets else None
        for target in targets:
            if isinstance(target, ast.Name) and text:
                found[target.id] = text
    return found


def abridged(text: str, max_lines: int) -> str:
    """`text` with its middle lines left out beyond `max_lines` (the first ones and the closing line kept)."""
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return text
    cut = len(lines) - max_lines + 1
    indent = re.match(r"\s*", lines[1]).group(0) if len(lines) > 1 else "    "
    return "\n".join([*lines[: max_lines - 2], f"{indent}# ... {cut} more lines", lines[-1]])


def _long(node: ast.stmt) -> bool:
    return (node.end_lineno or node.lineno) - node.lineno + 1 > LONG_STATEMENT_LINES


def signatures(source: str, keep: set[str] = frozenset()) -> str:
    """The smallest useful outline: one line per definition."""
    lines = source.splitlines()
    out = []
    for d in definitions(source):
        if d.qualname in keep:
            continue
        out.append(lines[d.lineno - 1].rstrip())
    return "\n".join(out) + "\n"


def splice(source: str, new_text: str, targets: list[str] | tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Replace each top-level definition in `new_text` into `source` where a definition of that name
    lives (a method keeps its class's indentation); new imports go after the last import. `targets`:
    the qualified names the step asked for, which win over a plain-name lookup (an answer's `def
    __init__` for `Parser.__init__` in a file with ten classes). Returns (new source, qualnames
    replaced). Raises ValueError when nothing matches."""
    fragment = parse(_dedent(new_text))
    if fragment is None:
        raise ValueError("the code block does not parse: " + (syntax_error(_dedent(new_text)) or "?"))
    fragment_text = _dedent(new_text)
    frag_lines = fragment_text.splitlines(keepends=True)
    imports = [n for n in fragment.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    replaced: list[str] = []
    added: list[str] = []
    result = source
    for node in fragment.body:
        if not isinstance(node, _DEFS):
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        block = "".join(frag_lines[start - 1 : node.end_lineno])
        named = [q for q in targets if q.rsplit(".", 1)[-1] == node.name]
        target = find(result, named[0]) if len(named) == 1 else None
        target = target or find(result, node.name)
        if target is not None:
            block = _keep_docstring(block, node, start, docstring_lines(result, target))
        if target is None:
            added.append(block.rstrip("\n") + "\n")  # a new helper the answer defines next to its function
            continue
        indented = "".join((target.indent + line if line.strip() else line) for line in block.splitlines(keepends=True))
        if not indented.endswith("\n"):
            indented += "\n"
        lines = result.splitlines(keepends=True)
        result = "".join(lines[: target.start - 1]) + indented + "".join(lines[target.end :])
        replaced.append(target.qualname)
    if not replaced:
        raise ValueError("no definition in the answer matches one in the file")
    if added:
        first = find(result, replaced[0])
        lines = result.splitlines(keepends=True)
        at = first.start - 1 if first is not None and not first.indent else len(lines)
        helpers = "".join(h + "\n\n" for h in added)
        result = "".join(lines[:at]) + helpers + "".join(lines[at:])
    missing = [ast.get_source_segment(fragment_text, n) for n in imports]
    missing = [m for m in missing if m and m not in result]
    if missing:
        lines = result.splitlines(keepends=True)
        tree = parse(result)
        last = max(
            (n.end_lineno for n in (tree.body if tree else []) if isinstance(n, (ast.Import, ast.ImportFrom))),
            default=0,
        )
        result = "".join(lines[:last]) + "".join(m + "\n" for m in missing) + "".join(lines[last:])
    return result, replaced


def docstring_lines(source: str, definition: Definition) -> str:
    """The definition's docstring as it stands in the file (its lines, dedented to column 0), or ""."""
    tree = parse(source)
    node = (
        next((n for n in ast.walk(tree) if isinstance(n, _DEFS) and n.lineno == definition.lineno), None)
        if tree
        else None
    )
    if node is None or ast.get_docstring(node, clean=False) is None:
        return ""
    first = node.body[0]
    lines = source.splitlines(keepends=True)[first.lineno - 1 : first.end_lineno]
    return _dedent("".join(lines))


def _keep_docstring(block: str, node: ast.AST, start: int, original: str) -> str:
    """The answer's definition with the file's docstring put back when the answer left it out: the
    prompt lets the model skip it (writing a 30-line docstring again cost a small model half a minute
    per candidate here, and a retyped docstring can break the doctests it holds)."""
    if not original or ast.get_docstring(node, clean=False) is not None or not node.body:
        return block
    lines = block.splitlines(keepends=True)
    at = node.body[0].lineno - start  # the body's first line, in the block
    if at <= 0 or at >= len(lines) + 1 or node.body[0].lineno == node.lineno:
        return block  # a one-line `def f(): return x`: nothing safe to insert into
    body_line = lines[at]
    indent = body_line[: len(body_line) - len(body_line.lstrip())]
    while at > node.lineno - start + 1 and lines[at - 1].strip().startswith("#"):
        at -= 1  # right under the signature, above the answer's leading comments
    doc = "".join((indent + line if line.strip() else line) for line in original.splitlines(keepends=True))
    if not doc.endswith("\n"):
        doc += "\n"
    return "".join(lines[:at]) + doc + "".join(lines[at:])


def looks_like_definitions(text: str) -> bool:
    """An answer holding only definitions (and imports): a replaced function, not a whole file."""
    tree = parse(_dedent(text))
    if tree is None or not tree.body:
        return False
    allowed = (*_DEFS, ast.Import, ast.ImportFrom)
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    return bool(body) and all(isinstance(n, allowed) for n in body) and any(isinstance(n, _DEFS) for n in body)


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)
