"""One Python file to a FileMap with the standard library's `ast` (no parser to install)."""

from __future__ import annotations

import ast
import hashlib

from agentsmith.repomap.model import FileMap, Symbol

DOCSTRING_KEPT = 400
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def content_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_file(path: str, data: bytes, sha: str | None = None) -> FileMap:
    sha = sha or content_sha(data)
    text = data.decode("utf-8", errors="replace")
    result = FileMap(path=path, sha=sha, lines=text.count("\n") + 1)
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as err:  # ValueError: NUL bytes
        result.error = f"{type(err).__name__}: {err}"
        return result
    result.symbols = list(_symbols(tree.body, prefix="", in_class=False))
    result.assignments = _assignments(tree.body)
    result.imports = _imports(tree)
    result.refs = sorted(_names(tree))
    return result


def _symbols(body: list[ast.stmt], *, prefix: str, in_class: bool):
    for node in body:
        if isinstance(node, _FUNCTIONS):
            yield _function(node, prefix, in_class)
            # Nested functions are part of their parent's body; they are not separate targets.
        elif isinstance(node, ast.ClassDef):
            yield _class(node, prefix)
            yield from _symbols(node.body, prefix=f"{prefix}{node.name}.", in_class=True)


def _start(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, in_class: bool) -> Symbol:
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    doc = ast.get_docstring(node, clean=True) or ""
    return Symbol(
        name=node.name,
        qualname=prefix + node.name,
        kind="method" if in_class else "function",
        lineno=_start(node),
        end_lineno=node.end_lineno or node.lineno,
        signature=f"{keyword} {node.name}({_parameters(node.args)}){returns}",
        decorators=[ast.unparse(d) for d in node.decorator_list],
        doc=doc.split("\n", 1)[0],
        docstring=doc[:DOCSTRING_KEPT],
        stub=_unwritten(node),
        refs=sorted(_names(node)),
    )


# Decorators that make an empty body the definition, not a gap: an abstract method is implemented by its
# subclasses, an @overload by the function after it. Counted as stubs, packaging's BaseSpecifier.filter
# became a second step of "implement Specifier.filter" (seen drawing tasks from 17 libraries).
_EMPTY_BY_DESIGN = {"abstractmethod", "abstractproperty", "abstractclassmethod", "abstractstaticmethod", "overload"}


def _unwritten(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function waiting to be implemented: a stub body not empty by design."""
    return is_stub(node.body) and not _empty_by_design(node)


def _empty_by_design(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in _EMPTY_BY_DESIGN:
            return True
    return False


def _parameters(args: ast.arguments) -> str:
    """Parameters as PEP 8 writes them (`x: int = 1`, `x=1`); ast.unparse writes `x: int=1`."""

    def one(arg: ast.arg, default: ast.expr | None, star: str = "") -> str:
        text = star + arg.arg + (f": {ast.unparse(arg.annotation)}" if arg.annotation else "")
        if default is not None:
            text += f" = {ast.unparse(default)}" if arg.annotation else f"={ast.unparse(default)}"
        return text

    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [one(a, d) for a, d in zip(positional, defaults, strict=True)]
    if args.posonlyargs:
        parts.insert(len(args.posonlyargs), "/")
    if args.vararg:
        parts.append(one(args.vararg, None, "*"))
    elif args.kwonlyargs:
        parts.append("*")
    parts += [one(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg:
        parts.append(one(args.kwarg, None, "**"))
    return ", ".join(parts)


def _class(node: ast.ClassDef, prefix: str) -> Symbol:
    bases = ", ".join(ast.unparse(b) for b in [*node.bases, *node.keywords])
    doc = ast.get_docstring(node, clean=True) or ""
    methods = [n for n in node.body if isinstance(n, _FUNCTIONS)]
    return Symbol(
        name=node.name,
        qualname=prefix + node.name,
        kind="class",
        lineno=_start(node),
        end_lineno=node.end_lineno or node.lineno,
        signature=f"class {node.name}({bases})" if bases else f"class {node.name}",
        decorators=[ast.unparse(d) for d in node.decorator_list],
        doc=doc.split("\n", 1)[0],
        docstring=doc[:DOCSTRING_KEPT],
        stub=bool(methods) and all(_unwritten(m) for m in methods),
        refs=sorted({n for base in node.bases for n in _names(base)}),
    )


def is_stub(body: list[ast.stmt]) -> bool:
    """A body that does nothing yet: what "implement X" tasks start from."""
    rest = body[1:] if body and _is_docstring(body[0]) else body
    if not rest:
        return True
    if len(rest) != 1:
        return False
    only = rest[0]
    if isinstance(only, ast.Pass):
        return True
    if isinstance(only, ast.Expr) and isinstance(only.value, ast.Constant) and only.value.value is Ellipsis:
        return True
    if isinstance(only, ast.Raise) and only.exc is not None:
        exc = only.exc.func if isinstance(only.exc, ast.Call) else only.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def _assignments(body: list[ast.stmt]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for node in body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    found.append({"name": leaf.id, "lineno": node.lineno})
    return found


def _imports(tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found += [
                f"{module}.{alias.name}" if module and not module.endswith(".") else module + alias.name
                for alias in node.names
            ]
    return sorted(set(found))
