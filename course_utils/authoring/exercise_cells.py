"""Which cells of an exercise notebook the instructors' grader runs, marked in the cells'
metadata by `make nav` (`python -m course_utils nav`).

The solved copy is analysed; its learner copy, generated from it, carries the same
marks. Each code cell that takes part in grading gets `metadata["course"]`:

    {"exercise": "05.1", "role": "answer"}
        a cell with a solution region: the learner's code for exercise 05.1;
    {"exercise": "05.1", "role": "check",
     "checker": "course_utils.exercises.nb05:check_client_update",
     "title": "Exercise 5.1 · local training in client_update",
     "imports": ["import tensorflow as tf"]}
        the cell that calls the exercise's checker (the grader never runs it: it calls
        the checker itself, with the arguments this cell's call gives it); "imports" are
        import statements the exercise needs from cells that are not run for it;
    {"role": "needed", "exercises": ["05.1", "05.2"]}
        a cell the answer cells or the checker's arguments need (the setup cell, data),
        found by following names back to the cell that last defines them; a name that
        cell binds only by an import is satisfied by that import statement instead.

Exercises are numbered NN.1, NN.2, ... in the order of their check cells. Any cell not
marked is never run by the grader (training loops, plots, cells using the verdicts).
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass, field
from pathlib import Path

KEY = "course"  # the cell metadata key
ANSWER, CHECK, NEEDED = "answer", "check", "needed"
EXERCISES_PACKAGE = "course_utils.exercises"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # course_utils/
_BUILTINS = set(dir(builtins)) | {"get_ipython", "display", "__file__"}


class ExerciseCellError(ValueError):
    """The exercise cells of a solved notebook cannot be marked; the message says why."""


@dataclass
class Exercise:
    key: str                 # "05.1"
    checker: str             # "course_utils.exercises.nb05:check_client_update"
    title: str               # the name the checker's Verdict carries
    check_cell: int          # index of the cell calling the checker
    call: ast.Call           # that call
    answer_cells: list[int] = field(default_factory=list)
    needed_cells: list[int] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # statements run instead of cells


def python_source(cell_source: str) -> str:
    """A cell's source as plain Python (IPython magics and `!` lines turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def _names(source: str, where: str) -> tuple[set[str], set[str], dict[str, str]]:
    """(names a cell binds at top level, global names it reads, also inside functions,
    {name: its import statement} for names the cell binds only by importing them)."""
    try:
        python = python_source(source)
        table = symtable.symtable(python, where, "exec")
    except SyntaxError as error:
        raise ExerciseCellError(f"{where}: not valid Python ({error.msg}, line "
                                f"{error.lineno}): fix the cell.") from None
    symbols = table.get_symbols()
    defined = {s.get_name() for s in symbols if s.is_assigned() or s.is_imported()}
    used = {s.get_name() for s in symbols if s.is_referenced()}
    stack = list(table.get_children())
    while stack:  # functions, classes, lambdas, comprehensions: their global reads
        child = stack.pop()
        used |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        stack.extend(child.get_children())
    imports = _import_statements(ast.parse(python))
    assigned = {s.get_name() for s in symbols if s.is_assigned()} - set(imports)
    for name in [n for n in imports if n in assigned or not table.lookup(n).is_imported()]:
        del imports[name]
    return defined, used - _BUILTINS, imports


def _import_statements(tree: ast.Module) -> dict[str, str]:
    """{bound name: the statement binding it} for the imports of a module's top level
    (inside if/try/with too, not inside functions or classes); a name imported twice
    differently is left out."""
    found: dict[str, str] = {}
    skip = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, skip):
            continue
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                one = type(node)(names=[alias], **({"module": node.module, "level": 0}
                                                   if isinstance(node, ast.ImportFrom) else {}))
                statement = ast.unparse(one)
                found[name] = statement if found.get(name, statement) == statement else ""
            continue
        stack.extend(ast.iter_child_nodes(node))
    return {name: statement for name, statement in found.items() if statement}


def defined_names(source: str) -> set[str]:
    """The names a cell binds at top level."""
    return _names(source, "cell")[0]


def defined_functions(source: str) -> set[str]:
    """The functions and classes a cell defines at top level (empty if it does not
    parse)."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return set()
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _exercise_modules(sources: list[str]) -> dict[str, str]:
    """Local names bound to checker modules by `from course_utils.exercises import nbNN`
    or `import course_utils.exercises.nbNN as x`, in any cell."""
    aliases = {}
    for source in sources:
        try:
            tree = ast.parse(python_source(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == EXERCISES_PACKAGE:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{EXERCISES_PACKAGE}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(EXERCISES_PACKAGE + ".") and alias.asname:
                        aliases[alias.asname] = alias.name
    return aliases


def _check_calls(source: str, modules: dict[str, str]) -> list[tuple[str, ast.Call]]:
    """The calls `alias.check_x(...)` of checker modules in one cell: (checker, call)."""
    found = []
    for node in ast.walk(ast.parse(python_source(source))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in modules
                and node.func.attr.startswith("check_")):
            found.append((f"{modules[node.func.value.id]}:{node.func.attr}", node))
    return found


def checker_title(checker: str) -> str:
    """The exercise name a checker's `@checker(...)` gives its Verdicts, read from the
    checker module's source, or from the module it imports the checker from (nothing
    is imported)."""
    module, _, function = checker.partition(":")
    path = _PACKAGE_DIR.joinpath(*module.split(".")[1:]).with_suffix(".py")
    tree = ast.parse(path.read_text())
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) for t in n.targets
                 if isinstance(t, ast.Name)}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and any(
                (alias.asname or alias.name) == function == alias.name for alias in node.names):
            return checker_title(f"{node.module}:{function}")  # a checker re-exported
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "")
                        == "checker" and decorator.args):
                    argument = decorator.args[0]
                    if isinstance(argument, ast.Constant):
                        return argument.value
                    if isinstance(argument, ast.Name) and argument.id in constants:
                        return constants[argument.id]
    raise ExerciseCellError(f"{path.name}: no `@checker(...)` function {function}: the "
                            "check cells call checkers that do not exist.")


def call_arguments(call: ast.Call) -> str:
    """The source of a checker call's arguments, `a, b.c, key=d` (for the grader)."""
    parts = [ast.unparse(a) for a in call.args]
    parts += [f"{k.arg}={ast.unparse(k.value)}" if k.arg else f"**{ast.unparse(k.value)}"
              for k in call.keywords]
    return ", ".join(parts)


def checker_arguments(source: str, checker: str) -> str:
    """The arguments (as source) with which check cell `source` calls `checker`."""
    function = checker.partition(":")[2]
    for node in ast.walk(ast.parse(python_source(source))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == function):
            return call_arguments(node)
    raise ExerciseCellError(f"this check cell does not call {checker}: run `make nav`")


def find_exercises(nb, lesson_number: str, where: str = "notebook") -> list[Exercise]:
    """The exercises of a SOLVED notebook, with their answer and needed cells."""
    from course_utils.authoring.learner_copy import BEGIN

    cells = nb.cells
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    label = {i: f"{where}, cell {i + 1} (id {cells[i].get('id', '?')})" for i in code}
    names = {i: _names(cells[i].source, label[i]) for i in code}
    modules = _exercise_modules([cells[i].source for i in code])
    solution_cells = {i for i in code if any(line.strip() == BEGIN
                                             for line in cells[i].source.split("\n"))}
    exercises: list[Exercise] = []
    for i in code:
        calls = _check_calls(cells[i].source, modules)
        if len(calls) > 1:
            raise ExerciseCellError(f"{label[i]}: calls {len(calls)} checkers; give each "
                                    "exercise's check a cell of its own.")
        for checker, call in calls:
            exercises.append(Exercise(f"{lesson_number}.{len(exercises) + 1}", checker,
                                      checker_title(checker), i, call))
    check_cells = {e.check_cell for e in exercises}

    def definer(name: str, before: int, user: str) -> int | None:
        for j in reversed([j for j in code if j < before]):
            if name in names[j][0]:
                if j in check_cells:
                    raise ExerciseCellError(
                        f"{label[j]}: {user} needs `{name}`, which this check cell defines; "
                        "the grader never runs check cells: define it in another cell.")
                return j
        return None

    for exercise in exercises:
        arguments = ast.parse(call_arguments(exercise.call) or "None").body[0]
        wanted = [(n.id, exercise.check_cell) for n in ast.walk(arguments)
                  if isinstance(n, ast.Name)]
        seen: set[int] = set()
        imports: set[str] = set()
        while wanted:
            name, position = wanted.pop()
            j = definer(name, position, f"exercise {exercise.key}")
            if j is not None and name in names[j][2] and j not in solution_cells:
                imports.add(names[j][2][name])  # an import: run it, not its whole cell
                continue
            if j is None or j in seen:
                continue
            seen.add(j)
            wanted += [(n, j) for n in names[j][1] - names[j][0]]
        exercise.answer_cells = sorted(seen & solution_cells)
        exercise.needed_cells = sorted(seen - solution_cells)
        exercise.imports = sorted(imports)
        if not exercise.answer_cells:
            raise ExerciseCellError(f"{label[exercise.check_cell]}: the checker's arguments "
                                    "come from no cell with a solution region: check the "
                                    "learner's own code, defined between the markers.")
    orphans = solution_cells - {i for e in exercises for i in e.answer_cells}
    if orphans and exercises:  # (no check cell at all: a notebook being written)
        first = min(orphans)
        raise ExerciseCellError(f"{label[first]}: a solution region that no checker's "
                                "arguments lead to: add a check cell for it.")
    return exercises


def marks(exercises: list[Exercise], setup_cell: int | None) -> dict[int, dict]:
    """The metadata each marked cell gets, by cell index. The setup cell is needed by
    every exercise (it installs the course's TFF runtime)."""
    result: dict[int, dict] = {}
    needed: dict[int, list[str]] = {}
    for exercise in exercises:
        for i in exercise.answer_cells:
            result[i] = {"exercise": exercise.key, "role": ANSWER}
        result[exercise.check_cell] = {"exercise": exercise.key, "role": CHECK,
                                       "checker": exercise.checker, "title": exercise.title,
                                       "imports": exercise.imports}
        for i in exercise.needed_cells + ([setup_cell] if setup_cell is not None else []):
            needed.setdefault(i, []).append(exercise.key)
    for i, keys in needed.items():
        result.setdefault(i, {"role": NEEDED, "exercises": sorted(set(keys))})
    return result


def mark(nb, lesson_number: str, setup_cell_id: str, where: str = "notebook") -> None:
    """Write the grading marks into the cells of solved notebook `nb` (in place),
    removing stale ones."""
    exercises = find_exercises(nb, lesson_number, where)
    setup = next((i for i, c in enumerate(nb.cells) if c.get("id") == setup_cell_id), None)
    wanted = marks(exercises, setup)
    for index, cell in enumerate(nb.cells):
        if index in wanted:
            cell.metadata[KEY] = wanted[index]
        else:
            cell.metadata.pop(KEY, None)


def marked_exercises(nb) -> dict[str, dict]:
    """Read back the marks of a notebook: {exercise key: {"checker", "title", "check"
    (the check cell's id), "answers" (cell ids), "needed" (cell ids)}}, in order."""
    found: dict[str, dict] = {}
    for cell in nb.cells:
        mark_ = cell.get("metadata", {}).get(KEY)
        if not mark_:
            continue
        keys = mark_.get("exercises", []) if mark_["role"] == NEEDED else [mark_["exercise"]]
        for key in keys:
            entry = found.setdefault(key, {"answers": [], "needed": []})
            if mark_["role"] == CHECK:
                entry.update(check=cell.get("id"), checker=mark_["checker"],
                             title=mark_["title"], imports=mark_.get("imports", []))
            else:
                entry["answers" if mark_["role"] == ANSWER else "needed"].append(cell.get("id"))
    return dict(sorted(found.items(), key=lambda item: [int(p) for p in item[0].split(".")]))
