"""The instructors' grader (`python -m course_utils grade`, course_utils/grading/).

Three runs of the real command on folders of submissions made here (each run grades
its notebooks in fresh kernels, two at a time):

- the course run: the solved copies (all passed), the untouched learner copies (all
  "not attempted"), and two named wrong answers for every exercise (each "mistake",
  its message naming the mistake);
- the tampering run, on notebook 07 (cheap to grade): a learner who redefines the
  checker, patches Verdict, prints fake output, edits the stored outputs, calls
  sys.exit() or os._exit(), loops forever, prints 1 GB, allocates 4 GB, deletes the files
  of its working folder, starts background processes, deletes or renames the exercise;
  and an honest learner graded alongside them;
- five sample submissions graded with --jobs 1 and --jobs 2: the same gradebook.

Cheap unit tests cover the marks, collecting submissions, the plan and usage errors.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import exercise_cells, syllabus
from course_utils.grading import gradebook, plan as planning, submissions
from course_utils.runtime import workers

ROOT = Path(__file__).resolve().parent.parent
EXERCISE_LESSONS = [lesson for lesson in syllabus.SYLLABUS if lesson.has_solution]
TAMPER_LESSON = syllabus.lesson("07")

# Two named wrong answers per exercise: (text in the solved answer cell, its
# replacement, words of the checker's message that name the mistake).
WRONG = {
    "02.1": [("np.random.default_rng([SEED, round_num])", "np.random.default_rng(SEED)",
              "the same clients every round"),
             ("size=NUM_CLIENTS,", "size=NUM_CLIENTS - 1,", "wrong number of clients")],
    "04.1": [("return tff.federated_mean(flags)", "return tff.federated_sum(flags)",
              "how many clients are above the threshold"),
             ("reading > threshold", "reading >= threshold", "not `>=`")],
    "04.2": [("return total / count", "return total", "each client sent the *sum*"),
             ("return tff.federated_mean(client_means)",
              "return tff.federated_sum(client_means)", "you added up the client means")],
    "05.1": [("variable.assign_sub(learning_rate * gradient)",
              "variable.assign_add(learning_rate * gradient)", "UP the gradient"),
             ("variable.assign_sub(learning_rate * gradient)", "variable.assign_sub(gradient)",
              "ignores the learning_rate argument")],
    "05.2": [("mean_client_weights = tff.federated_mean(client_weights)",
              "mean_client_weights = tff.federated_sum(client_weights)",
              "SUM of the client weights"),
             ("mean_client_weights = tff.federated_mean(client_weights)",
              "mean_client_weights = tff.federated_mean(client_weights, weight=num_examples)",
              "weighted by the clients' numbers of examples")],
    "05.3": [("tff.federated_mean(client_weights, weight=num_examples)",
              "tff.federated_mean(client_weights)", "UNWEIGHTED mean"),
             ("tff.federated_mean(client_weights, weight=num_examples)",
              "tff.federated_sum(client_weights)", "SUM of the client weights")],
    "06.1": [("[0.5 * (current + mean)", "[(current + mean)",
              "server_weights + mean_client_weights"),
             ("[0.5 * (current + mean)", "[0.5 * (mean - current)", "half the update")],
    "06.2": [("gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)", "pass",
              "not clipped"),
             ("gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)",
              "gradients = [tf.clip_by_norm(g, clip_norm) for g in gradients]",
              "each tensor separately")],
    "06.3": [("learning_rate=learning_rate * decay)", "learning_rate=learning_rate)",
              "never decays"),
             ("tf.constant(initial_learning_rate, tf.float32)",
              "tf.constant(initial_learning_rate * decay, tf.float32)",
              "decayed before the first round")],
    "07.1": [("kept = ordered[trim:num_clients - trim]", "kept = ordered[trim:]",
              "kept the largest"),
             ("return tf.concat([stack_a, stack_b], axis=0)", "return stack_a",
              "drops the other")],
    "10.1": [("(gradient + mu * (variable - start))", "(gradient - mu * (variable - start))",
              "AWAY from the server"),
             ("(gradient + mu * (variable - start))", "(gradient + mu * variable)",
              "L2 weight decay")],
    "10.2": [("variable.assign_sub(learning_rate * (gradient + k))",
              "variable.assign_sub(learning_rate * (gradient - k))", "sign is flipped"),
             ("c_i - c - dy / (k * learning_rate), c_i)", "c_i - c - dy, c_i)",
              "did not divide (x - y) by K * learning_rate")],
    "10.3": [("control=[c + dc / num_clients", "control=[c + dc", "SUM of dc"),
             ("return new_state, metrics, outputs.new_control",
              "return new_state, metrics, client_controls",
              "control variates came back unchanged")],
    "10.4": [("pseudo_gradient = [w - m for", "pseudo_gradient = [m - w for",
              "sign is flipped"),
             ("optimizer_state=optimizer_state)", 'optimizer_state=state["optimizer_state"])',
              "new state is not returned")],
    "11.1": [("stddev = noise_multiplier * clip", "stddev = noise_multiplier",
              "not noise_multiplier x clip"),
             ("total = tff.federated_sum(updates)", "total = tff.federated_mean(updates)",
              "number of clients who came")],
}


# ------------------------------------------------------------------ making submissions

def read(path):
    return nbformat.read(path, as_version=4)


def solved(lesson):
    return read(ROOT / lesson.path(solution=True))


def learner(lesson):
    return read(ROOT / lesson.path())


def marks(lesson) -> dict:
    return exercise_cells.marked_exercises(learner(lesson))


def cell(nb, cell_id):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def with_answer(nb, key, change):
    """`nb` (a copy) with exercise `key`'s answer cell source changed by `change`."""
    nb = copy.deepcopy(nb)
    lesson = syllabus.lesson(key.split(".")[0])
    answer = cell(nb, marks(lesson)[key]["answers"][0])
    answer.source = change(answer.source)
    return nb


def wrong(nb, key, which):
    old, new, _ = WRONG[key][which]

    def change(source):
        assert old in source, f"{key}: {old!r} is no longer in the solved answer"
        return source.replace(old, new)

    return with_answer(nb, key, change)


def save(nb, folder: Path, learner_name: str, lesson) -> Path:
    path = folder / learner_name / lesson.file
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# Marks the processes of this session's grader runs (kernels inherit it), so that the
# leftover check below judges them, not a grader another program runs on the machine.
SESSION_MARK = ("COURSE_TEST_GRADER_SESSION", f"{os.getpid()}-{time.time_ns()}")


def run_grader(*args, timeout=600) -> subprocess.CompletedProcess:
    """`python -m course_utils grade ARGS` in a child process. Its output goes to files,
    not pipes: a leftover process holding a pipe would make us wait forever."""
    env = {**os.environ, SESSION_MARK[0]: SESSION_MARK[1], "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run([sys.executable, "-m", "course_utils", "grade", *map(str, args)],
                                stdout=out, stderr=err, env=env, timeout=timeout, cwd=ROOT)
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    return result


def rows_by(run_dir: Path) -> dict[tuple[str, str], gradebook.Row]:
    """The rows of every gradebook of a run (its out*/ folders)."""
    return {(row.learner, row.exercise): row
            for path in sorted(run_dir.glob("out*/gradebook.json"))
            for row in gradebook.read(path)}


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ the course run

@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course_run")
    subs = folder / "submissions"
    for lesson in EXERCISE_LESSONS:
        save(solved(lesson), subs, "solved", lesson)
        save(learner(lesson), subs, "untouched", lesson)
        for which, name in ((0, "mistakes-a"), (1, "mistakes-b")):
            nb = solved(lesson)
            for key in marks(lesson):
                nb = wrong(nb, key, which)
            save(nb, subs, name, lesson)
    result = run_grader(subs, "--out", folder / "out", "--jobs", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result


def all_keys():
    return [key for lesson in EXERCISE_LESSONS for key in marks(lesson)]


def test_the_grader_knows_every_exercise_of_the_course():
    assert set(all_keys()) == set(WRONG)


def test_solved_copies_pass_every_exercise(course_run):
    rows = rows_by(course_run[0])
    for key in all_keys():
        row = rows["solved", key]
        assert row.status == "passed", (key, row.message)


def test_untouched_learner_copies_are_not_attempted(course_run):
    rows = rows_by(course_run[0])
    for key in all_keys():
        row = rows["untouched", key]
        assert row.status == "not attempted", (key, row.status, row.message)


@pytest.mark.parametrize("which, name", [(0, "mistakes-a"), (1, "mistakes-b")])
def test_wrong_answers_get_their_mistakes_name(course_run, which, name):
    rows = rows_by(course_run[0])
    for key in all_keys():
        row = rows[name, key]
        assert row.status == "mistake", (key, row.status, row.message)
        assert WRONG[key][which][2] in row.message, (key, row.message)


def test_summary_and_both_gradebooks(course_run):
    folder, result = course_run
    rows = gradebook.read(folder / "out" / "gradebook.json")
    assert len(rows) == 4 * len(all_keys())
    with (folder / "out" / "gradebook.csv").open() as file:
        assert sum(1 for _ in file) == len(rows) + 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["learner", "notebook", "passed", "exercises", "seconds"]
    assert any(line.startswith("solved") and "05_fedavg_from_scratch" in line and
               "3/3" in line and "05.3 passed" in line for line in lines)
    n = len(all_keys())
    assert (f"{4 * len(EXERCISE_LESSONS)} notebook(s) of 4 learner(s), {4 * n} exercise(s): "
            f"{n} passed, {2 * n} mistake, {n} not attempted") in result.stdout


# ------------------------------------------------------------------ tampering

FAKE_PASS = "✅ Exercise 7.1 · trimmed mean: correct!"
TAMPERING = {
    "redefines-checker": ("wrong", '''
import sys
from course_utils.exercises import Verdict, nb07


def check_trimmed_mean(*args, **kwargs):
    return Verdict("Exercise 7.1 · trimmed mean", "passed", "correct!")


nb07.check_trimmed_mean = check_trimmed_mean
sys.modules["course_utils.exercises.nb07"].check_trimmed_mean = check_trimmed_mean
'''),
    "patches-verdict": ("wrong", '''
import importlib.abc, importlib.machinery, sys
import course_utils.exercises as exercises

exercises.Verdict.passed = property(lambda self: True)
_init = exercises.Verdict.__init__
exercises.Verdict.__init__ = lambda self, exercise, status, message: _init(
    self, exercise, "passed", "correct!")
exercises._grade = lambda exercise, *rest: exercises.Verdict(exercise, "passed", "ok")


class FakeCheckers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves its own course_utils.exercises.nb07 to whoever imports it next."""
    def find_spec(self, name, path, target=None):
        if name == "course_utils.exercises.nb07":
            return importlib.machinery.ModuleSpec(name, self, origin=exercises.__file__)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.check_trimmed_mean = lambda *a, **k: exercises.Verdict("7.1", "passed", "ok")


sys.meta_path.insert(0, FakeCheckers())
'''),
    "prints-fake-output": ("stub", f'print("{FAKE_PASS}")'),
    "edits-stored-outputs": ("stub", ""),
    "calls-sys-exit": ("solved", 'import sys\nsys.exit("bye")'),
    "exits-the-kernel": ("solved", "import os\nos._exit(0)"),
    "loops-forever": ("solved", "while True:\n    pass"),
    "floods-output": ("stub", 'for _ in range(1024):\n    print("x" * 2**20)'),
    "hogs-memory": ("stub", 'hog = b"x" * (4 * 2**30)'),
    "removes-its-files": ("wrong", '''
import os, shutil
for name in os.listdir("."):
    shutil.rmtree(name) if os.path.isdir(name) else os.remove(name)
'''),
    "spawns-processes": ("stub", '''
import subprocess
import tensorflow_federated as tff
children = [subprocess.Popen(["sleep", "600"]),
            subprocess.Popen(["sleep", "601"], start_new_session=True, env={})]
shell = subprocess.run(["sh", "-c", "sleep 602 >/dev/null 2>&1 & echo $!"],
                       capture_output=True, text=True)
# TFF's own runtime: a worker_binary without the course's parent-death signal
tff.backends.native.set_sync_local_cpp_execution_context()
tff.federated_computation(lambda: tff.federated_value(1, tff.SERVER))()
with open(PIDS, "w") as file:
    file.write(" ".join([str(c.pid) for c in children] + [shell.stdout.strip()]))
'''),
}
EXPECTED = {  # learner -> (status, words in the message)
    "redefines-checker": ("mistake", WRONG["07.1"][0][2]),
    "patches-verdict": ("error", "not imported from the course's file"),
    "prints-fake-output": ("not attempted", "not attempted"),
    "edits-stored-outputs": ("not attempted", "not attempted"),
    "calls-sys-exit": ("error", "SystemExit: bye"),
    "exits-the-kernel": ("error", "the kernel exited"),
    "loops-forever": ("timeout", "time limit"),
    "floods-output": ("not attempted", "not attempted"),
    "hogs-memory": ("error", "GB of memory (the limit is 3 GB)"),
    "removes-its-files": ("mistake", WRONG["07.1"][0][2]),
    "spawns-processes": ("not attempted", "not attempted"),
    "deletes-the-exercise": ("missing", "not in the notebook"),
    "renames-the-function": ("missing", "`trimmed_mean_parts` is not defined"),
    "honest": ("passed", "correct"),
}


TAMPERING_NAMES = list(EXPECTED)
SHORT_LIMIT_CASES = ["loops-forever"]


def tampering_notebooks(pids_file: Path) -> dict:
    lesson, key = TAMPER_LESSON, "07.1"
    answer_id, check_id = marks(lesson)[key]["answers"][0], marks(lesson)[key]["check"]
    bases = {"wrong": wrong(solved(lesson), key, 0), "stub": learner(lesson),
             "solved": solved(lesson)}
    notebooks = {}
    for name, (base, code) in TAMPERING.items():
        code = code.replace("PIDS", repr(str(pids_file)))
        tail = not code.startswith(("import sys\nsys.exit", "import os\nos._exit", "while"))
        notebooks[name] = with_answer(bases[base], key, lambda s: (
            s + "\n\n" + code if tail else code + "\n\n" + s))
    # the learner's check cell claims a pass; its stored output says so too
    for name in ("prints-fake-output", "edits-stored-outputs"):
        check = cell(notebooks[name], check_id)
        check.source = f'print("{FAKE_PASS}")' if name == "prints-fake-output" else check.source
        check.outputs = [nbformat.v4.new_output("stream", name="stdout", text=FAKE_PASS + "\n")]
        check.execution_count = 7
        for c in notebooks[name].cells:  # marks in the submission are never read
            c.metadata.pop(exercise_cells.KEY, None)
    deleted = learner(lesson)
    deleted.cells = [c for c in deleted.cells if c.get("id") != answer_id]
    notebooks["deletes-the-exercise"] = deleted
    notebooks["renames-the-function"] = with_answer(
        solved(lesson), key, lambda s: s.replace("def trimmed_mean_parts(", "def my_trimmed_mean_parts("))
    notebooks["honest"] = solved(lesson)
    return notebooks


@pytest.fixture(scope="module")
def tampering_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tampering_run")
    subs, pids_file = folder / "submissions", folder / "spawned.pids"
    for name, nb in tampering_notebooks(pids_file).items():
        save(nb, subs, name, TAMPER_LESSON)
    before = tree_hashes(subs)
    course_files = tree_hashes(ROOT / "course_utils" / "exercises")
    started = time.time()
    # The endless loop alone with a short time limit; the rest with the default one, so
    # that a busy machine cannot push them over it.
    loops = SHORT_LIMIT_CASES
    results = [
        run_grader(*[subs / name for name in TAMPERING_NAMES if name not in loops],
                   "--out", folder / "out", "--jobs", "2"),
        run_grader(*[subs / name for name in loops], "--out", folder / "out-short",
                   "--timeout", "30")]
    return dict(folder=folder, results=results, before=before, subs=subs, started=started,
                course_files=course_files, pids_file=pids_file)


def test_the_grader_survives_tampering(tampering_run):
    for result in tampering_run["results"]:
        assert result.returncode == 0, result.stderr[-3000:]
    assert set(learner for learner, _ in rows_by(tampering_run["folder"])) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_tampering_gets_no_credit(tampering_run, name):
    row = rows_by(tampering_run["folder"])[name, "07.1"]
    status, words = EXPECTED[name]
    assert (row.status, words in row.message) == (status, True), row.message
    assert "x" * 100 not in row.message


def test_tampering_harms_no_other_file(tampering_run):
    assert tree_hashes(tampering_run["subs"]) == tampering_run["before"]
    assert tree_hashes(ROOT / "course_utils" / "exercises") == tampering_run["course_files"]
    assert (tampering_run["folder"] / "out" / "gradebook.csv").stat().st_size < 20_000


def test_no_process_of_a_graded_notebook_is_left(tampering_run):
    spawned = [int(pid) for pid in tampering_run["pids_file"].read_text().split()]
    assert len(spawned) == 3
    assert not [pid for pid in spawned if workers.is_running(pid)]
    assert not [pid for pid in workers.running_pids()
                if "COURSE_GRADE_JOB" in (env := workers.environment_of(pid))
                and env.get(SESSION_MARK[0]) == SESSION_MARK[1]]
    assert workers.orphaned_workers(since=tampering_run["started"]) == []


# ------------------------------------------------------------------ --jobs 1 and 2

def sample_submissions(folder: Path) -> None:
    """Five learners: passed, a named mistake, not attempted, missing, an error
    (a TypeError in the exercise's code)."""
    eleven, seven, six = syllabus.lesson("11"), syllabus.lesson("07"), syllabus.lesson("06")
    save(solved(eleven), folder, "ana", eleven)
    save(wrong(solved(seven), "07.1", 1), folder, "ben", seven)
    save(learner(seven), folder, "chloe", seven)
    gone = solved(six)
    gone.cells = [c for c in gone.cells if c.get("id") != marks(six)["06.2"]["answers"][0]]
    save(wrong(gone, "06.1", 0), folder, "dev", six)
    save(with_answer(solved(eleven), "11.1", lambda s: s.replace(
        "stddev = noise_multiplier * clip", "stddev = noise_multiplier * clip + None")),
        folder, "eve", eleven)


def test_two_jobs_give_the_same_gradebook_as_one(tmp_path):
    sample_submissions(tmp_path / "submissions")
    books = {}
    for jobs in ("1", "2"):
        result = run_grader(tmp_path / "submissions", "--out", tmp_path / jobs, "--jobs", jobs)
        assert result.returncode == 0, result.stderr[-3000:]
        books[jobs] = [{k: v for k, v in vars(row).items() if "seconds" not in k}
                       for row in gradebook.read(tmp_path / jobs / "gradebook.json")]
        print(result.stdout)
    assert books["1"] == books["2"]
    statuses = {(row["learner"], row["exercise"]): row["status"] for row in books["1"]}
    assert statuses == {("ana", "11.1"): "passed", ("ben", "07.1"): "mistake",
                        ("chloe", "07.1"): "not attempted", ("dev", "06.1"): "mistake",
                        ("dev", "06.2"): "missing", ("dev", "06.3"): "passed",
                        ("eve", "11.1"): "error"}


# ------------------------------------------------------------------ unit tests


def test_marks_name_the_answer_check_and_needed_cells():
    marked = marks(syllabus.lesson("02"))["02.1"]
    nb = learner(syllabus.lesson("02"))
    assert marked["checker"] == "course_utils.exercises.nb02:check_clients_for_round"
    assert marked["title"] == "Exercise 2.1 · random clients per round"
    assert "def clients_for_round" in cell(nb, marked["answers"][0]).source
    assert "check_clients_for_round" in cell(nb, marked["check"]).source
    needed = [cell(nb, i).source for i in marked["needed"]]
    assert "course_utils.setup()" in needed[0] and "train_data" in needed[1]
    # only the import of a cell that does more is needed: not the training loops
    assert marks(syllabus.lesson("07"))["07.1"]["imports"] == [
        "import tensorflow as tf", "import tensorflow_federated as tff"]


def synthetic(*sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s, id=f"c{i}")
                                         for i, s in enumerate(sources)])
    return nb


def test_marks_follow_names_back_and_refuse_a_need_only_a_check_cell_meets():
    nb = synthetic("import numpy as np\nDATA = np.arange(3)", "slow = train()",
                   "from course_utils.exercises import nb07\n",
                   "def f(x):\n    # BEGIN SOLUTION\n    return DATA + x\n    # END SOLUTION",
                   "v = nb07.check_trimmed_mean(f, DATA)")
    found = exercise_cells.find_exercises(nb, "07")
    assert [(e.key, e.answer_cells, e.needed_cells, e.imports) for e in found] == [
        ("07.1", [3], [0], [])]
    nb.cells.insert(4, nbformat.v4.new_code_cell("v = nb07.check_trimmed_mean(f)", id="x"))
    nb.cells[5].source = "w = nb07.check_trimmed_mean(f, v)"
    with pytest.raises(exercise_cells.ExerciseCellError, match="needs `v`, which this check"):
        exercise_cells.find_exercises(nb, "07")


def test_plan_runs_the_learners_answer_and_never_their_checks():
    lesson = TAMPER_LESSON
    marked = marks(lesson)["07.1"]
    nb = wrong(solved(lesson), "07.1", 0)
    steps = planning.build(learner(lesson), nb).steps
    codes = "\n".join(step.code for step in steps)
    assert WRONG["07.1"][0][1] in codes and "check_trimmed_mean(" not in codes
    assert [s.kind for s in steps].count("capture") == 1
    gone = copy.deepcopy(nb)
    gone.cells = [c for c in gone.cells if c.get("id") != marked["answers"][0]]
    plan = planning.build(learner(lesson), gone)
    assert list(plan.missing) == ["07.1"] and not [s for s in plan.steps if s.kind == "capture"]
    assert "nor another cell defining `trimmed_mean_parts`" in plan.missing["07.1"]
    # the answer pasted into a new cell (or an editor that drops ids) is still found
    moved = copy.deepcopy(nb)
    cell(moved, marked["answers"][0])["id"] = "pasted-1"
    plan = planning.build(learner(lesson), moved)
    assert not plan.missing and WRONG["07.1"][0][1] in "\n".join(s.code for s in plan.steps)


def test_submissions_are_found_by_their_header_or_file_name(tmp_path):
    lesson = syllabus.lesson("05")
    save(learner(lesson), tmp_path, "ana", lesson)
    renamed = tmp_path / "ben" / "my homework.ipynb"
    renamed.parent.mkdir()
    nbformat.write(solved(lesson), renamed)
    downloaded = tmp_path / "cy" / "05_fedavg_from_scratch (1).ipynb"
    downloaded.parent.mkdir()
    downloaded.write_text("{ not json")
    nbformat.write(read(ROOT / syllabus.lesson("01").path()), tmp_path / "cy" / "01_x.ipynb")
    found, skipped = submissions.collect([str(tmp_path)])
    assert [(s.learner, s.lesson.number, s.path.name) for s in found] == [
        ("ana", "05", lesson.file), ("ben", "05", "my homework.ipynb"),
        ("cy", "05", "05_fedavg_from_scratch (1).ipynb")]
    assert [p.name for p in skipped] == ["01_x.ipynb"]


@pytest.mark.parametrize("args, words", [
    (["no/such/folder"], "no such file or folder"),
    ([str(ROOT / syllabus.lesson("01").path())], "not a course notebook with exercises"),
    ([str(ROOT / "README.md")], "not a course notebook with exercises"),
    ([str(ROOT / "course_utils" / "bundled")], "no course notebook with exercises"),
])
def test_usage_errors_are_one_line_and_exit_2(args, words, capsys):
    from course_utils.cli.main import main

    assert main(["grade", *args]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_an_unknown_option_is_a_usage_error(capsys):
    from course_utils.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["grade", "--bogus", str(ROOT / syllabus.lesson("07").path())])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and len(err.strip().splitlines()) == 1


def test_gradebook_files_and_summary(tmp_path):
    rows = [gradebook.Row("ana", "07_x", "07.1", "t", "passed", "ok", 0.5, 6.0, "a.ipynb"),
            gradebook.Row("ana", "07_x", "07.2", "t", "mistake", "said, \"no\"", 0.5, 6.0,
                          "a.ipynb")]
    csv_path, json_path = gradebook.write(rows, tmp_path / "out")
    assert gradebook.read(json_path) == rows
    assert json.loads(json_path.read_text())["statuses"][:2] == ["passed", "mistake"]
    assert csv_path.read_text().splitlines()[0].startswith("learner,notebook,exercise")
    assert "ana      07_x      1/2     07.1 passed · 07.2 mistake  6" in gradebook.summary(rows)
