"""The instructors' grader: `python -m course_utils grade PATH... [--out DIR]`.

One module per concern:
    submissions  which notebooks to grade, and whose (the folder names the learner)
    plan         which of a submission's cells run: the exercise cells and the cells
                 they need, found by the marks `make nav` writes (authoring/exercise_cells.py)
    kernel       a fresh kernel per notebook in a scratch folder: time and memory limits,
                 no process left (processes.py ends them by pid)
    in_kernel    runs inside the kernel after the learner's cells: the course's checker,
                 imported afresh from disk, and its verdict written for the grader only
    grader       puts them together, one notebook after another or --jobs at a time
    gradebook    gradebook.csv / gradebook.json and the summary table

Learner-facing code never imports this package; it imports the checkers
(course_utils/exercises/).
"""
