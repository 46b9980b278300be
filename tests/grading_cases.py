"""Submissions for the grader's tests, made from the committed notebook 01 (nothing stored that
could go stale): the student copy with its answers filled in from the solution, then edited the way
a student -- careless or hostile -- might edit it.

:func:`cases` maps each file name to ``(file bytes, what the test expects)``; ``tests/test_grading.py``
grades them all in one run and checks each row in its own test.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from tensorlab.authoring import solved_copy, tagged_cells
from tensorlab.exercises import ch01, exercises_of
from tensorlab.grading.course import CourseNotebook

NOTEBOOK = "01_tensors_0d_to_nd"
EXERCISES = list(exercises_of(ch01))  # q1 ... q15


def to_bytes(notebook: nbformat.NotebookNode) -> bytes:
    return (nbformat.writes(notebook) + "\n").encode()


def solved(course_nb: CourseNotebook) -> nbformat.NotebookNode:
    return solved_copy(course_nb.student, course_nb.solution)


def set_answer(notebook, exercise: str, source: str) -> nbformat.NotebookNode:
    """Replace the (first) answer cell of ``exercise``."""
    notebook = copy.deepcopy(notebook)
    notebook.cells[tagged_cells(notebook, exercise)[0]].source = source
    return notebook


def insert_after(notebook, exercise: str, role: str, source: str) -> nbformat.NotebookNode:
    """Add a new code cell (no exercise tag, as a student's new cell) after a tagged cell."""
    notebook = copy.deepcopy(notebook)
    index = tagged_cells(notebook, exercise, role)[0]
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return notebook


def delete(notebook, exercise: str, role: str) -> nbformat.NotebookNode:
    notebook = copy.deepcopy(notebook)
    for index in reversed(tagged_cells(notebook, exercise, role)):
        del notebook.cells[index]
    return notebook


READS_SOLUTIONS = r"""
# Try every way a notebook could find the solutions and the hidden tests, and copy the answer.
import json, os, sys
from pathlib import Path
import tensorlab

dose_075 = torch.tensor(0.5)  # my own (wrong) answer, kept if nothing can be read
tried = []
candidates = [Path("../solutions"), Path("../../solutions"),
              Path(tensorlab.__file__).resolve().parents[2] / "solutions",
              Path(sys.prefix).resolve().parent / "solutions",
              Path(f"/proc/{os.getppid()}/cwd") / "solutions"]
import torchvision
readers = [lambda path: path.read_text(),  # Python's open(), and PyTorch's C++ file reader (no audit event)
           lambda path: bytes(torchvision.io.read_file(str(path)).tolist()).decode()]
for folder, read in [(folder, read) for folder in candidates for read in readers]:
    try:
        text = read(folder / "01_tensors_0d_to_nd.ipynb")
    except Exception as error:
        tried.append(type(error).__name__)
        continue
    solution = json.loads(text)
    for cell in solution["cells"]:
        source = "".join(cell["source"])
        if "BEGIN SOLUTION" in source and "dose_075" in source:
            exec(source)
        if "BEGIN HIDDEN TESTS" in source:
            print("HIDDEN TESTS LEAKED:", source)
print("could not read the solutions:", tried)
"""

TAMPERS = r"""
# Make every check in this kernel say "correct" (the answers below are wrong).
import numpy as np
import tensorlab.checking as checking
from tensorlab.checking import Exercise, Result, PASS

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda a, b, **kwargs: torch.ones(torch.as_tensor(a).shape, dtype=torch.bool)
torch.testing.assert_close = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
checking.compare_tensor = checking.compare_number = checking.compare_equal = lambda *a, **k: None
Exercise.evaluate = lambda self, answer: Result(self.label, PASS, "correct.")
for exercise in vars(ex).values():
    if isinstance(exercise, Exercise):
        exercise.judge = lambda answer: None
torch.Tensor.__eq__ = lambda self, other: True
torch.Tensor.__ne__ = lambda self, other: False


class Liar(torch.Tensor):
    # a tensor that claims to equal anything
    def __eq__(self, other): return True
    def __ne__(self, other): return False


import tensorlab.grading.wire as wire  # and send a lying tensor as it is, not as plain data
_encode = wire.encode
wire.encode = lambda value, *args, **kw: value if type(value).__name__ == "Liar" else _encode(value, *args, **kw)
"""

WRONG_ANSWERS = {
    "q1": "dose_075 = torch.tensor(0.5)  # wrong: 0.75",
    "q10": "def to_chw(image):\n    return image.reshape(image.shape[2], image.shape[0], image.shape[1])  # wrong",
    "q8": "linear_weight_shape = (2, 3)  # wrong: (3, 2)",
    "q12": "def scale_channels(image, factors):\n"
    "    return (2 * image * factors.view(3, 1, 1)).as_subclass(Liar)  # wrong",
}

WRITES_OUTSIDE = r"""
import os, shutil, socket, subprocess
from pathlib import Path
import tensorlab

attempts = {{}}
def attempt(name, action):
    try:
        action()
        attempts[name] = "done"
    except BaseException as error:
        attempts[name] = type(error).__name__

attempt("write victim", lambda: Path({victim!r}).write_text("overwritten by a notebook"))
attempt("delete submission", lambda: os.remove({sibling!r}))
attempt("rename submission", lambda: os.rename({sibling!r}, {sibling!r} + ".stolen"))
intruder = Path(tensorlab.__file__).parent / "exercises" / "_intruder.py"
attempt("new file in package", lambda: intruder.write_text("x = 1"))
attempt("rmtree out", lambda: shutil.rmtree({out!r}))
attempt("torch.save outside", lambda: torch.save(torch.ones(1), {victim_dir!r} + "/from_torch.pt"))
attempt("os.open outside", lambda: os.open({victim_dir!r} + "/from_os_open", os.O_WRONLY | os.O_CREAT))
attempt("subprocess", lambda: subprocess.run(["touch", {victim_dir!r} + "/from_subprocess"], check=True))
attempt("os.system", lambda: os.system("touch " + {victim_dir!r} + "/from_system") == 0 or 1 / 0)
attempt("network", lambda: socket.create_connection(("pypi.org", 443), timeout=3))
attempt("scratch write", lambda: Path("mine.txt").write_text("my own scratch folder is fine"))
print(attempts)
assert attempts["scratch write"] == "done"
assert all(v != "done" for k, v in attempts.items() if k != "scratch write"), attempts
"""

MAGICS = """\
%matplotlib inline
import matplotlib.pyplot as plt
plt.plot([1, 2])
plt.show()
from IPython.display import Markdown, display
display(Markdown("**a rich output**"))
%timeit -n 3 -r 1 sum(range(100))
print("magics and display work")"""

MEMORY_HOG = """
def hog():
    blocks = []
    while True:
        blocks.append(bytearray(64 * 2**20))  # 64 MB more, forever
hog()
batch_values = 8 * 3 * 256 * 256
"""

SHARED_MEMORY_HOG = """
import mmap
shared = mmap.mmap(-1, 3 * 2**30)  # shared memory is not "data": only the watchdog sees it
chunk = b"x" * 2**24
for start in range(0, 3 * 2**30, 2**24):
    shared[start:start + 2**24] = chunk
"""


def tampered(good) -> nbformat.NotebookNode:
    """Tampering before the exercises (so the notebook's own check cells print "correct"), then
    wrong answers to q1, q10, q8 and q12."""
    notebook = good
    for exercise, source in WRONG_ANSWERS.items():
        notebook = set_answer(notebook, exercise, source)
    notebook = copy.deepcopy(notebook)
    notebook.cells.insert(tagged_cells(notebook, "q1")[0], nbformat.v4.new_code_cell(TAMPERS))
    return notebook


def cases(course_nb: CourseNotebook, *, victim: Path, sibling: Path, out: Path) -> dict[str, tuple[bytes, dict]]:
    """name -> (file bytes, expectations). Expectations: status, scores {exercise: 0/1} (all of them),
    and optionally reason/notes fragments."""
    good = solved(course_nb)
    full = {q: 1 for q in EXERCISES}

    def scores(**zeros):
        return {q: 0 if q in zeros else 1 for q in EXERCISES}

    no_meta = copy.deepcopy(good)
    del no_meta.metadata["tensorlab"]
    other_meta = copy.deepcopy(good)
    other_meta.metadata["tensorlab"]["notebook"] = "99_not_in_this_course"

    duplicated = copy.deepcopy(good)
    index = tagged_cells(duplicated, "q1")[0]
    wrong_copy = copy.deepcopy(duplicated.cells[index])
    wrong_copy.source = "dose_075 = torch.tensor(0.25)  # changed my mind (wrongly)"
    wrong_copy["id"] = "student-copy-1"
    duplicated.cells.insert(index + 2, wrong_copy)  # after the check cell: the last run counts
    check_copy = copy.deepcopy(duplicated.cells[index + 1])
    check_copy["id"] = "student-copy-2"
    duplicated.cells.insert(index + 3, check_copy)

    reordered = copy.deepcopy(good)
    q1 = tagged_cells(reordered, "q1")[0]
    q2 = tagged_cells(reordered, "q2")[0]
    q2_cells = reordered.cells[q2 - 1 : q2 + 2]  # the question, the answer and the check of q2
    del reordered.cells[q2 - 1 : q2 + 2]
    reordered.cells[q1 - 1 : q1 - 1] = q2_cells

    victim_dir = str(victim.parent)
    return {
        "perfect.ipynb": (to_bytes(good), {"status": "ok", "scores": full}),
        "late/perfect_again.ipynb": (to_bytes(good), {"status": "ok", "scores": full}),
        "blank.ipynb": (
            to_bytes(course_nb.student),
            {"status": "ok", "scores": scores(**full), "not_attempted": EXERCISES},
        ),
        "not_json.ipynb": (b"this is { not JSON at all", {"status": "not a notebook", "reason": "not JSON"}),
        "json_not_notebook.ipynb": (
            json.dumps({"name": "my homework", "answers": [1, 2]}).encode(),
            {"status": "not a notebook", "reason": "not a notebook"},
        ),
        "image.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), {"status": "not a notebook"}),
        "no_metadata.ipynb": (to_bytes(no_meta), {"status": "unknown notebook", "reason": "no tensorlab metadata"}),
        "other_notebook.ipynb": (
            to_bytes(other_meta),
            {"status": "unknown notebook", "reason": "99_not_in_this_course"},
        ),
        "deleted_cells.ipynb": (
            to_bytes(delete(delete(good, "q3", "answer"), "q5", "check")),
            {"status": "exercise cells missing", "scores": scores(q3=0), "reason": "answer cell of q3 is missing"},
        ),
        "duplicated_cells.ipynb": (
            to_bytes(duplicated),
            {"status": "ok", "scores": scores(q1=0), "reason": "appears 2 times"},
        ),
        "reordered_cells.ipynb": (
            to_bytes(reordered),
            {"status": "ok", "scores": full, "reason": "not in the handed-out order"},
        ),
        "magics.ipynb": (to_bytes(insert_after(good, "q1", "check", MAGICS)), {"status": "ok", "scores": full}),
        "exception_in_q3.ipynb": (
            to_bytes(set_answer(good, "q3", "house_bgr = 1 // 0")),
            {"status": "ok", "scores": scores(q3=0), "message_q3": "ZeroDivisionError"},
        ),
        "infinite_loop.ipynb": (
            to_bytes(set_answer(good, "q3", "while True:\n    pass\nhouse_bgr = 1")),
            {"status": "timed out", "scores": scores(q3=0), "reason": "interrupted"},
        ),
        "stubborn_loop.ipynb": (
            to_bytes(
                set_answer(
                    good, "q3", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
                )
            ),
            {"status": "timed out", "scores": scores(q3=0), "reason": "did not stop when interrupted"},
        ),
        "output_flood.ipynb": (
            to_bytes(
                insert_after(
                    good,
                    "q2",
                    "check",
                    "print('spam ' * 4_000_000)\nfor i in range(20_000):\n    print(i, 'spam ' * 20)",
                )
            ),
            {"status": "ok", "scores": full},
        ),
        "sys_exit.ipynb": (
            to_bytes(insert_after(good, "q1", "check", "import sys\nsys.exit('I am done')")),
            {"status": "ok", "scores": full, "notes": "SystemExit"},
        ),
        "os_exit.ipynb": (
            to_bytes(insert_after(good, "q2", "check", "import os\nos._exit(3)")),
            {"status": "crashed", "scores": full, "reason": "exited with code 3"},
        ),
        "killed_kernel.ipynb": (
            to_bytes(insert_after(good, "q4", "check", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")),
            {"status": "crashed", "scores": full, "reason": "killed by signal 9"},
        ),
        "memory_hog.ipynb": (
            to_bytes(set_answer(good, "q5", MEMORY_HOG)),
            {"status": "ok", "scores": scores(q5=0), "reason": "memory limit"},
        ),
        "shared_memory_hog.ipynb": (
            to_bytes(insert_after(good, "q6", "check", SHARED_MEMORY_HOG)),
            {"status": "over limit", "scores": full, "reason": "memory"},
        ),
        "reads_solutions.ipynb": (
            to_bytes(set_answer(good, "q1", READS_SOLUTIONS)),
            {"status": "ok", "scores": scores(q1=0)},
        ),
        "tampers.ipynb": (to_bytes(tampered(good)), {"status": "ok", "scores": scores(q1=0, q10=0, q8=0, q12=0)}),
        "writes_outside.ipynb": (
            to_bytes(
                insert_after(
                    good,
                    "q1",
                    "check",
                    WRITES_OUTSIDE.format(
                        victim=str(victim), sibling=str(sibling), out=str(out), victim_dir=victim_dir
                    ),
                )
            ),
            {"status": "ok", "scores": full},
        ),
    }
