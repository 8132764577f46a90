"""A notebook's definitions, read from its code cells without running the notebook:
its imports, functions, classes and UPPER_CASE constants (plus a few other names a
caller lists), so that tests can compare them with course_utils or use them."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _is_constant(name: str) -> bool:
    return name.isupper() or (name[:1] == "_" and name[1:].isupper())


def _assigned_names(node) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = []
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.append(sub.id)
    return names


def definitions(source: str, also: tuple[str, ...]) -> list[ast.stmt]:
    """The top-level statements of a cell that define something (see the docstring)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: not a definition cell
        return []
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                             ast.AsyncFunctionDef, ast.ClassDef)):
            kept.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
                _is_constant(n) or n in also for n in _assigned_names(node)):
            kept.append(node)
    return kept


def notebook_cells(notebook: str) -> list[str]:
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def notebook_namespace(notebook: str, also: tuple[str, ...] = (), **given) -> dict:
    """The notebook's definitions, executed in order in a namespace holding `given`.

    A definition that needs a name this leaves out (e.g. a TFF computation whose type
    the notebook computes from its data) is left out too; `undefined` says why."""
    namespace = {"__name__": f"notebook_{Path(notebook).stem}", "undefined": {}, **given}
    for source in notebook_cells(notebook):
        if "course_utils.setup(" in source:  # the generated setup cell
            continue
        for node in definitions(source, also):
            module = ast.Module(body=[node], type_ignores=[])
            try:
                exec(compile(module, notebook, "exec"), namespace)  # noqa: S102
            except NameError as error:
                namespace["undefined"][getattr(node, "name", ast.unparse(node)[:40])] = error
    return namespace


def notebook_function_node(notebook: str, name: str) -> ast.FunctionDef:
    found = [node for source in notebook_cells(notebook)
             for node in definitions(source, ())
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name]
    assert found, f"{notebook} defines no {name}() any more: update COPIES"
    assert len(found) == 1, f"{notebook} defines {name}() {len(found)} times"
    return found[0]


def _without_docstrings(node):
    node = ast.parse(ast.unparse(node)).body[0]  # a copy
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            sub.body = body[1:] or [ast.Pass()]
    return node


def normalised_source(node) -> str:
    return ast.unparse(_without_docstrings(node))


def package_node(obj) -> ast.FunctionDef:
    function = getattr(obj, "python_function", obj)  # a tf.function's Python function
    return ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
