"""The package's layers hold: the algorithms do not import the exercises (the answer key
among them), and the package map in `course_utils/__init__` names every module."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"
# The layers that may import the exercises: the exercises themselves, and the terminal
# (its fedavg-midpoint/-clip/-lr-decay algorithms run notebook 06's references).
MAY_IMPORT_EXERCISES = {"exercises", "cli"}


def imported_modules(path: Path) -> set[str]:
    return modules_imported_by(path.read_text())


def modules_imported_by(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_algorithms_do_not_import_the_exercises():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        layer = path.relative_to(PACKAGE).parts[0]
        if layer in MAY_IMPORT_EXERCISES:
            continue
        bad = sorted(name for name in imported_modules(path)
                     if name.startswith("course_utils.exercises"))
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)}: {', '.join(bad)}")
    assert not offenders, "library modules import the exercises:\n" + "\n".join(offenders)


def test_package_map_names_every_module():
    package_map = (PACKAGE / "__init__.py").read_text().split('"""')[1]
    modules = {path.stem for path in PACKAGE.glob("*.py") if not path.stem.startswith("_")}
    for folder in ("runtime", "authoring", "cli", "grading", "emnist"):
        modules |= {path.stem for path in (PACKAGE / folder).glob("*.py")
                    if not path.stem.startswith("_")}
    missing = sorted(name for name in modules if name not in package_map)
    assert not missing, f"course_utils/__init__'s package map does not name: {missing}"


def test_importing_the_package_and_nav_check_leave_tensorflow_out(tmp_path):
    """`import course_utils` does nothing until `setup()`/`activate()`; the course's tools
    (nav, the book's sources) never need TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys, course_utils, course_utils.runtime, course_utils.runtime.workers\n"
        "from course_utils.authoring import book, navigation, syllabus\n"
        "assert 'tensorflow' not in sys.modules, 'importing the package imported TensorFlow'\n"
        "from course_utils.cli import main\n"
        "code = main.main(['nav', '--check'])\n"
        "heavy = sorted(m for m in ('tensorflow', 'tensorflow_federated', 'keras') "
        "if m in sys.modules)\n"
        "print('nav', code, 'imported:', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=PACKAGE.parent, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("nav 0 imported: []"), result.stdout


def test_no_learner_notebook_imports_an_answer_key():
    """The references are reached only through the checkers' fall-back, under a neutral
    name: no learner copy imports a module named after solutions."""
    import json

    offenders = []
    for path in sorted((PACKAGE.parent / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and ("solution" in source.lower()
                                                and "import" in source):
                named = [line for line in source.splitlines()
                         if "import" in line and "solution" in line.lower()]
                if named:
                    offenders.append(f"{path.name} cell {index}: {named}")
    assert not offenders, "learner copies import an answer key:\n" + "\n".join(offenders)
    assert not list(PACKAGE.rglob("*solution*.py")), "a module is named after solutions"


def notebook_imports(path: Path) -> set[str]:
    """The modules a notebook's code cells import (magics and shell lines skipped)."""
    import json

    names = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "\n".join(line for line in "".join(cell["source"]).splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        try:
            names |= modules_imported_by(source)
        except SyntaxError:
            continue
    return names


def test_no_course_notebook_imports_the_command_line():
    """Learner code stands on the library (`data`, `training_loop`, ...); the terminal's
    `course_utils.cli` is built on it, never the other way round."""
    notebooks = PACKAGE.parent / "notebooks"
    offenders = {path.relative_to(notebooks).as_posix(): sorted(
                     name for name in notebook_imports(path)
                     if name.startswith("course_utils.cli"))
                 for path in sorted(notebooks.rglob("*.ipynb"))}
    offenders = {name: bad for name, bad in offenders.items() if bad}
    assert len(list(notebooks.rglob("*.ipynb"))) >= 12
    assert not offenders, f"notebooks import the command line: {offenders}"


def test_what_a_learner_asks_help_about_has_a_docstring():
    """`help(nb06.check_midpoint_server_update)` shows the task; `help(CourseSettings)`
    the settings; so do the other classes a notebook hands a learner."""
    wanted = {"exercises/__init__.py": ["Verdict"], "settings.py": ["CourseSettings"],
              "aggregation.py": ["Method"], "comparison.py": ["Comparison"],
              "remedies.py": ["Remedy"]}
    missing = []
    for path in sorted((PACKAGE / "exercises").glob("*.py")):
        tree = ast.parse(path.read_text())
        missing += [f"exercises/{path.name}: {node.name}" for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")
                    and not ast.get_docstring(node)]
    for name, classes in wanted.items():
        tree = ast.parse((PACKAGE / name).read_text())
        found = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        missing += [f"{name}: {cls}" for cls in classes
                    if cls not in found or not ast.get_docstring(found[cls])]
    assert not missing, f"no docstring for help(): {missing}"
