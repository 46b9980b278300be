"""The instructor grader, end to end: a folder of submissions of notebook 01 -- careful, careless
and hostile ones, made from the committed student notebook -- graded in one run; each case is
checked in its own test. Plus the pieces on their own: the course catalogue, the wire format, the
bubblewrap sandbox, the command line. (A whole hostile class, issue 19, is in
tests/test_grading_hostile.py.)

The grading run uses short limits (a cell may run 15 s, a kernel 1 GB on top of its libraries) so
the infinite loops and memory hogs cost little.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch
from grading_cases import EXERCISES, NOTEBOOK, cases

from tensorlab import authoring
from tensorlab.authoring import solved_copy
from tensorlab.grading import STATUSES, GradingOptions, Limits, grade_folder, load_course, wire
from tensorlab.grading.course import free_names
from tensorlab.grading.grader import parse_notebook, structure_problems
from tensorlab.grading.sandbox import LIBRARIES_MB, WRITABLE, Plan, bwrap_works, systemd_scope_works

pytestmark = pytest.mark.xdist_group(name="grading")  # the grading run is shared by this module

LIMITS = Limits(cell_seconds=15, submission_seconds=240, memory_mb=1024, interrupt_grace=5)
REPO = authoring.REPO_ROOT
NO_BWRAP = (
    "bubblewrap is not installed (or cannot create namespaces) here, and untrusted grading needs it; "
    "`make test` installs it (tools/ensure_browser.sh)"
)


@pytest.fixture(scope="module")
def course():
    course, broken = load_course()
    assert NOTEBOOK in course, f"notebook 01 is missing from the course ({broken})"
    return course


def grade_cases(
    root: Path, made: dict[str, tuple[bytes, dict]], limits: Limits = LIMITS, jobs: int = 2
) -> SimpleNamespace:
    """Write the submissions ``made`` into ``root``/submissions and grade them into ``root``/out."""
    subs, out = root / "submissions", root / "out"
    subs.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    (out / "keep.txt").write_text("the instructor's own file in OUT")
    for name, (data, _) in made.items():
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        (subs / name).write_bytes(data)
    checkpoint = subs / ".ipynb_checkpoints" / "perfect-checkpoint.ipynb"  # Jupyter's autosave: skipped
    checkpoint.parent.mkdir(exist_ok=True)
    checkpoint.write_bytes(b"not even JSON")
    before = {name: hashlib.sha256((subs / name).read_bytes()).hexdigest() for name in made}
    run = grade_folder(subs, out, GradingOptions(limits=limits, jobs=jobs, progress=False))
    rows = {g.relpath: g for g in run.grades}
    return SimpleNamespace(run=run, rows=rows, cases=made, subs=subs, out=out, before=before)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course) -> SimpleNamespace:
    """Every case graded once, in the bubblewrap sandbox."""
    if not bwrap_works():
        pytest.skip(NO_BWRAP)
    root = tmp_path_factory.mktemp("grading")
    victim = root / "victim" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("original")
    made = cases(course[NOTEBOOK], victim=victim, sibling=root / "submissions" / "perfect.ipynb", out=root / "out")
    result = grade_cases(root, made)
    result.victim = victim
    return result


def _check(graded, name: str) -> None:
    """The row of ``name`` has the expected status, scores and reason."""
    expected = graded.cases[name][1]
    row = graded.rows[name]
    assert row.status == expected["status"], f"{name}: {row.status} ({row.reason})"
    if "scores" in expected:
        got = {e.name: int(e.passed) for e in row.exercises}
        assert got == expected["scores"], f"{name}: {got} ({row.reason})"
        assert row.total == sum(expected["scores"].values()) and len(row.exercises) == len(EXERCISES)
    if "reason" in expected:
        assert expected["reason"] in row.reason, f"{name}: {row.reason!r}"
    if "notes" in expected:
        assert any(expected["notes"] in note for note in row.notes), row.notes


# ---------------------------------------------------------------------------------------------
# the folder as a whole
# ---------------------------------------------------------------------------------------------


def test_every_file_gets_one_row_and_stays_byte_for_byte_unchanged(graded):
    assert sorted(graded.rows) == sorted(graded.cases)
    assert graded.run.changed == [] and graded.run.survivors == []
    for name, digest in graded.before.items():
        assert hashlib.sha256((graded.subs / name).read_bytes()).hexdigest() == digest, name
    on_disk = sorted(p.relative_to(graded.subs).as_posix() for p in graded.subs.rglob("*") if p.is_file())
    assert on_disk == sorted([*graded.cases, ".ipynb_checkpoints/perfect-checkpoint.ipynb"])  # nothing added


def test_a_submission_in_a_sub_folder_is_graded_and_named_by_its_file(graded):
    _check(graded, "late/perfect_again.ipynb")
    assert graded.rows["late/perfect_again.ipynb"].student == "perfect_again"
    assert (graded.out / "feedback" / "late__perfect_again.md").exists()


def test_student_names_come_from_the_file_name_or_a_pattern():
    from tensorlab.grading import student_name

    assert student_name("alice.ipynb", None) == "alice"
    assert student_name("late/alice_12345_01_tensors.ipynb", r"^(?P<student>[a-z]+)_\d+") == "alice"
    assert student_name("Bob.ipynb", r"^(?P<student>[a-z]+)_\d+") == "Bob"  # no match: the stem
    assert student_name("image.png", None) == "image" and student_name("tmp", None) == "tmp"


def test_grades_csv_has_a_row_per_file_with_scores_total_and_status(graded):
    rows = list(csv.DictReader(io.StringIO((graded.out / "grades.csv").read_text())))
    assert len(rows) == len(graded.cases)
    assert list(rows[0])[:5] == ["student", "file", "notebook", "status", "reason"]
    assert [c for c in rows[0] if c.startswith("q")] == EXERCISES
    for row in rows:
        assert row["status"] in STATUSES
        assert row["student"] == Path(row["file"]).name.rsplit(".", 1)[0]  # the file name without .ipynb
        if row["q1"] != "":
            assert int(row["total"]) == sum(int(row[q]) for q in EXERCISES)
            assert row["max"] == str(len(EXERCISES))
    perfect = next(r for r in rows if r["file"] == "perfect.ipynb")
    assert perfect["total"] == str(len(EXERCISES)) and perfect["status"] == "ok" and perfect["notebook"] == NOTEBOOK
    assert [r["student"] for r in rows] == sorted(r["student"] for r in rows)  # sorted at the end


def test_each_submission_gets_a_feedback_file_without_hidden_tests(graded, course):
    feedback = sorted((graded.out / "feedback").glob("*.md"))
    assert len(feedback) == len(graded.cases)
    hidden_lines = [
        line.strip() for e in course[NOTEBOOK].exercises for line in e.hidden_code.splitlines() if line.strip()
    ]
    assert hidden_lines, "notebook 01 has hidden tests to keep secret"
    for path in feedback:
        text = path.read_text()
        assert "BEGIN HIDDEN" not in text and "evaluate(" not in text and "assert " not in text, path.name
        assert not [line for line in hidden_lines if line in text], path.name
    perfect = (graded.out / "feedback" / "perfect.md").read_text()
    assert f"**{len(EXERCISES)} / {len(EXERCISES)}**" in perfect and perfect.count("✅ passed") == len(EXERCISES)


def test_grades_csv_does_not_let_a_file_name_become_a_spreadsheet_formula(tmp_path):
    from tensorlab.grading.report import Reports, SubmissionGrade

    reports = Reports(tmp_path, ["q1"])
    reports.add(
        SubmissionGrade(
            "=HYPERLINK(1).ipynb", b"=HYPERLINK(1).ipynb", "=HYPERLINK(1)", status="not a notebook", reason="x"
        )
    )
    reports.finish()
    row = next(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert row["student"] == "'=HYPERLINK(1)" and row["file"] == "'=HYPERLINK(1).ipynb"


def test_the_instructors_own_files_in_out_are_left_alone(graded):
    assert (graded.out / "keep.txt").read_text() == "the instructor's own file in OUT"
    assert len(list((graded.out / "logs").glob("*.txt"))) == len(graded.cases)


# ---------------------------------------------------------------------------------------------
# one test per kind of submission
# ---------------------------------------------------------------------------------------------


def test_perfect_submission_scores_full_marks(graded):
    _check(graded, "perfect.ipynb")
    assert all(e.message == "correct." for e in graded.rows["perfect.ipynb"].exercises)


def test_untouched_student_copy_scores_zero_and_says_not_attempted(graded):
    _check(graded, "blank.ipynb")
    assert {e.status for e in graded.rows["blank.ipynb"].exercises} == {"not attempted"}


def test_a_file_that_is_not_json(graded):
    _check(graded, "not_json.ipynb")
    assert graded.rows["not_json.ipynb"].exercises == []


def test_json_that_is_not_a_notebook(graded):
    _check(graded, "json_not_notebook.ipynb")


def test_a_file_that_is_not_even_text(graded):
    _check(graded, "image.png")


def test_a_notebook_without_the_course_metadata(graded):
    _check(graded, "no_metadata.ipynb")
    assert "ch01" in graded.rows["no_metadata.ipynb"].reason  # a hint for the instructor


def test_a_notebook_naming_a_notebook_the_course_does_not_have(graded):
    _check(graded, "other_notebook.ipynb")


def test_deleted_exercise_cells_cost_only_their_exercise(graded):
    _check(graded, "deleted_cells.ipynb")
    row = graded.rows["deleted_cells.ipynb"]
    assert "check cell of q5 is missing" in row.reason  # q5's answer is still graded (and passes)
    assert "was not defined" in row.exercises[2].message


def test_duplicated_cells_are_graded_as_run_the_last_answer_counts(graded):
    _check(graded, "duplicated_cells.ipynb")


def test_reordered_cells_are_graded_as_run(graded):
    _check(graded, "reordered_cells.ipynb")


def test_ipython_magics_and_display_work_as_in_jupyter(graded):
    _check(graded, "magics.ipynb")
    assert "magics and display work" in graded.rows["magics.ipynb"].output


def test_an_exception_in_one_exercise_leaves_the_others_counting(graded):
    _check(graded, "exception_in_q3.ipynb")
    message = graded.rows["exception_in_q3.ipynb"].exercises[2].message
    assert "ZeroDivisionError" in message and "house_bgr" in message


def test_an_infinite_loop_is_interrupted_and_the_rest_still_runs(graded):
    _check(graded, "infinite_loop.ipynb")


def test_a_loop_that_ignores_interrupts_is_killed_and_skipped_in_a_fresh_kernel(graded):
    _check(graded, "stubborn_loop.ipynb")


def test_a_flood_of_output_is_drained_and_cut_for_the_log(graded):
    _check(graded, "output_flood.ipynb")
    assert "characters left out" in graded.rows["output_flood.ipynb"].output
    assert len(graded.rows["output_flood.ipynb"].output) < 100_000


def test_sys_exit_is_an_error_in_its_cell_only(graded):
    _check(graded, "sys_exit.ipynb")


def test_os_exit_kills_the_kernel_the_cell_is_skipped_in_a_fresh_one(graded):
    _check(graded, "os_exit.ipynb")


def test_a_killed_kernel_is_restarted_without_the_killing_cell(graded):
    _check(graded, "killed_kernel.ipynb")


def test_a_memory_hog_hits_the_data_limit_in_its_cell(graded):
    _check(graded, "memory_hog.ipynb")


def test_a_shared_memory_hog_is_stopped_by_the_watchdog_and_the_rest_counts(graded):
    _check(graded, "shared_memory_hog.ipynb")


def test_reading_the_solutions_from_disk_fails_and_gains_nothing(graded):
    _check(graded, "reads_solutions.ipynb")
    row = graded.rows["reads_solutions.ipynb"]
    assert "could not read the solutions" in row.output and "HIDDEN TESTS LEAKED" not in row.output


def test_tampering_with_torch_numpy_and_the_checks_does_not_pass_wrong_answers(graded):
    _check(graded, "tampers.ipynb")
    row = graded.rows["tampers.ipynb"]
    # the notebook's own (patched) check cells said "correct" for the wrong answers ...
    assert "✅ Exercise 1 (a dose as a 0-D tensor): correct." in row.output
    # ... the judge did not, and the lying tensor subclass was refused as data
    assert "expected 0.75, got 0.5" in row.exercises[0].message
    assert "Liar" in row.exercises[EXERCISES.index("q12")].message  # scale_channels


def test_writing_or_deleting_outside_the_scratch_folder_fails(graded):
    _check(graded, "writes_outside.ipynb")
    row = graded.rows["writes_outside.ipynb"]
    assert "AssertionError" not in row.reason  # the notebook's own check: every attempt failed
    assert "'scratch write': 'done'" in row.output
    assert graded.victim.read_text() == "original"
    assert sorted(p.name for p in graded.victim.parent.iterdir()) == ["victim.txt"]
    assert (graded.subs / "perfect.ipynb").exists()
    assert not (REPO / "src" / "tensorlab" / "exercises" / "_intruder.py").exists()


# ---------------------------------------------------------------------------------------------
# the pieces
# ---------------------------------------------------------------------------------------------


def test_course_catalogue_reads_answers_and_hidden_tests_from_the_solution(course):
    notebook = course[NOTEBOOK]
    assert [e.name for e in notebook.exercises] == EXERCISES
    assert notebook.exercise("q1").expression == "dose_075"
    assert notebook.exercise("q10").expression == "to_chw"
    assert "assert ex.q1.evaluate(dose_075).passed" in notebook.exercise("q1").hidden_code
    assert notebook.exercise("q1").hidden_names == ["dose_075"]  # torch and ex come from the imports
    assert notebook.module.__name__ == "tensorlab.exercises.ch01"


def test_every_exercise_is_named_once_after_its_attribute(course):
    from tensorlab.exercises import exercises_of

    for notebook in course.values():
        exercises = exercises_of(notebook.module)
        assert [e.name for e in exercises.values()] == list(exercises), notebook.name


def test_free_names_ignores_what_the_code_binds_itself():
    code = "assert f(x) == [y for y in z]\nlam = lambda a: a + w\nimport math\nmath.pi"
    assert sorted(free_names(code)) == ["f", "w", "x", "z"]


def test_solved_copy_is_the_student_copy_with_the_solutions_filled_in(course):
    solved = solved_copy(course[NOTEBOOK].student, course[NOTEBOOK].solution)
    text = nbformat.writes(solved)
    assert "dose_075 = torch.tensor(0.75)" in text and "YOUR CODE HERE" not in text
    assert "BEGIN" not in text and "evaluate(" not in text
    cell = (
        "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\n### BEGIN HIDDEN TESTS\n    assert b\n### END HIDDEN TESTS"
    )
    assert authoring.reference_source(cell) == "a = 1\nb = 2"  # what solved_copy puts in an answer cell
    assert authoring.hidden_tests(cell) == "assert b"  # what the grader runs, dedented


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not JSON"),
        (b"\xff\xfe\x00", "not text"),
        (b"[1, 2, 3]", "no list of cells"),
        (
            b'{"cells": [{"cell_type": "code", "source": 3}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a notebook",
        ),
    ],
)
def test_parse_notebook_says_why_a_file_is_not_a_notebook(data, reason):
    notebook, why = parse_notebook(data)
    assert notebook is None and reason in why


def test_structure_problems_names_missing_duplicated_and_reordered_cells(course):
    student = course[NOTEBOOK].student
    assert structure_problems(student, course[NOTEBOOK]) == ([], [])
    trimmed = nbformat.from_dict(json.loads(nbformat.writes(student)))
    trimmed.cells = [c for c in trimmed.cells if c.metadata.get("tensorlab", {}).get("exercise") != "q2"]
    missing, other = structure_problems(trimmed, course[NOTEBOOK])
    assert missing == ["the answer cell of q2 is missing", "the check cell of q2 is missing"] and other == []


def through_the_wire(value):
    """What the grader gets for ``value``: encoded in the kernel, saved, read back safely, decoded."""
    return wire.decode(wire.loads(wire._saved(wire.encode(value))))


def test_wire_round_trips_plain_data():
    values = [
        torch.arange(6.0).reshape(2, 3),
        torch.Size([2, 3]),
        torch.float64,
        torch.device("cpu"),
        3,
        2.5,
        "text",
        None,
        True,
        (1, [2, {"a": 3}]),
        {1, 2},
        Ellipsis,
    ]
    back = through_the_wire(values)
    torch.testing.assert_close(back[0], values[0])
    assert back[1:] == values[1:]
    import numpy as np

    array = through_the_wire(np.arange(4, dtype=np.int16))
    assert isinstance(array, np.ndarray) and array.dtype == np.int16 and array.tolist() == [0, 1, 2, 3]
    assert through_the_wire(np.float16(2.5)) == np.float16(2.5) and type(through_the_wire(np.float16(1))) is np.float16


class Liar(torch.Tensor):
    """A tensor subclass that says it equals anything (what a tampering notebook would send)."""

    def __eq__(self, other):
        return True


def test_wire_keeps_functions_and_models_in_the_kernel_and_refuses_code():
    linear = torch.nn.Linear(2, 3)
    back = through_the_wire([len, linear, [torch.ones(1), torch.zeros(1)]])
    assert isinstance(back[0], wire.KernelObject) and type(back[0]).__name__ == "builtin_function_or_method"
    assert isinstance(back[1], wire.KernelModule) and type(back[1]).__name__ == "Linear"
    torch.testing.assert_close(back[1].weight, linear.weight)  # the parameters come as data ...
    assert wire._KEPT[back[1]._oid] is linear  # ... the model itself stays where it was
    with pytest.raises(TypeError, match="cannot be run"):  # and without a kernel nothing runs it
        back[1](torch.ones(2))
    with pytest.raises(wire.WireError, match="Liar"):  # a pickled class never reaches the grader
        wire.loads(wire._saved(torch.ones(2).as_subclass(Liar)))
    with pytest.raises(wire.WireError):  # a bare dict is not wire data
        wire.decode({"a": 1})


def test_wire_refuses_a_tensor_too_large_to_compare():
    huge_view = torch.zeros(1).expand(2**27)  # (134217728,) from one stored number
    with pytest.raises(wire.WireError, match="more than the grader compares"):
        through_the_wire(huge_view)
    meta = torch.empty(2**28, device="meta")  # no data at all: its shape and dtype travel, nothing to compare
    assert through_the_wire(meta).shape == meta.shape


def test_sync_mirrors_what_a_function_did_to_its_model_argument():
    moved = torch.nn.Linear(4, 3).to("meta")
    after = through_the_wire([moved])
    grader_copy = torch.nn.Linear(4, 3)
    wire.sync([grader_copy], after)
    assert {p.device.type for p in grader_copy.parameters()} == {"meta"}


def test_remote_exceptions_keep_their_name_and_builtins_stay_builtins():
    assert type(wire.remote_exception("NotImplementedError", "x")) is NotImplementedError
    custom = wire.remote_exception("MyError", "boom")
    assert type(custom).__name__ == "MyError" and str(custom) == "boom"


BWRAP_SCRIPT = textwrap.dedent("""
    import json, os, socket, sys
    writable, solutions, tests, repo_file, private = sys.argv[1:6]
    results = {
        "solutions": sorted(os.listdir(solutions)),
        "tests": sorted(os.listdir(tests)),
        "package": os.path.exists(os.path.join(os.path.dirname(solutions), "src", "tensorlab", "checking.py")),
        "private": os.path.exists(private),
    }
    for name, path in [("write repo", repo_file), ("write writable", os.path.join(writable, "ok.txt"))]:
        try:
            open(path, "a").close()
            results[name] = "done"
        except OSError as error:
            results[name] = error.errno
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=3)
        results["internet"] = "done"
    except OSError as error:
        results["internet"] = "refused"
    server = socket.create_server(("127.0.0.1", 0))
    socket.create_connection(server.getsockname(), timeout=3).close()
    results["loopback"] = "done"
    results["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
    print(json.dumps(results))
""")


@pytest.mark.skipif(not bwrap_works(), reason=NO_BWRAP)
def test_bubblewrap_hides_the_solutions_and_makes_everything_else_read_only(tmp_path):
    private, secret = tmp_path / "private", tmp_path / "secret"
    (private / "ipc").mkdir(parents=True)
    (private / "connection.json").touch()
    secret.mkdir()
    (secret / "secret.txt").write_text("not for notebooks")
    readable = [str(REPO), os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)]
    hidden = [str(REPO / "solutions"), str(REPO / "tests")]
    plan = Plan(
        limits=LIMITS, trusted=False, readable=readable, hidden=hidden, env={"PATH": "/usr/bin:/bin"}, cgroup=False
    )
    script = [
        sys.executable,
        "-c",
        BWRAP_SCRIPT,
        "/home/student",
        *hidden,
        str(REPO / "README.md"),
        str(secret / "secret.txt"),
    ]
    done = subprocess.run(plan.kernel_command(private, script), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["solutions"] == [] and results["tests"] == []  # hidden under empty folders
    assert results["package"] is True  # what notebooks import is there
    assert results["private"] is False  # nothing that was not asked for
    assert results["write repo"] == 30  # EROFS: read-only file system
    assert results["write writable"] == "done"
    assert results["internet"] == "refused" and results["loopback"] == "done"
    assert results["processes"] <= 3  # its own process list


def cgroup_plan(limits: Limits) -> Plan:
    readable = [str(REPO), os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)]
    return Plan(limits=limits, trusted=False, readable=readable, hidden=[], env={"PATH": "/usr/bin:/bin"}, cgroup=True)


def test_where_systemd_offers_a_user_scope_the_kernel_runs_in_a_cgroup_with_the_same_limits(tmp_path):
    limits = Limits(memory_mb=1024, disk_mb=256, processes=16)
    command = cgroup_plan(limits).kernel_command(tmp_path, ["python3", "-c", "pass"])
    assert command[:4] == ["systemd-run", "--user", "--scope", "--quiet"]
    assert "MemorySwapMax=0" in command and "TasksMax=16" in command
    # the data limit plus the tmpfs folders, which live in memory too
    assert f"MemoryMax={(1024 + LIBRARIES_MB + len(WRITABLE) * 256) << 20}" in command
    assert command.index("bwrap") > command.index("--")  # the cgroup holds the whole sandbox


@pytest.mark.skipif(
    not (bwrap_works() and systemd_scope_works()),
    reason="needs bubblewrap and a systemd user session (systemd-run --user --scope), as a desktop Linux has; "
    "this machine lacks one, so its process limit rests on the watchdog, tested in test_grading_hostile.py",
)
def test_the_cgroup_stops_a_fork_loop_at_its_process_limit(tmp_path):
    (tmp_path / "ipc").mkdir()
    (tmp_path / "connection.json").touch()
    script = (
        "import subprocess\nstarted = []\ntry:\n    for _ in range(40):\n"
        "        started.append(subprocess.Popen(['sleep', '30']))\nexcept OSError as error:\n"
        "    print('refused after', len(started))\nfor p in started:\n    p.kill()\n"
    )
    command = cgroup_plan(Limits(processes=12)).kernel_command(tmp_path, [sys.executable, "-c", script])
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "refused after" in done.stdout, done.stdout + done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) < 12


def test_command_line_refuses_missing_folders_and_out_inside_submissions(tmp_path):
    run = [sys.executable, "-m", "tensorlab.grading"]
    missing = subprocess.run(
        [*run, str(tmp_path / "nope"), str(tmp_path / "out")], capture_output=True, text=True, timeout=300
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    (tmp_path / "subs").mkdir()
    inside = subprocess.run(
        [*run, str(tmp_path / "subs"), str(tmp_path / "subs" / "out")], capture_output=True, text=True, timeout=300
    )
    assert inside.returncode == 1 and "outside SUBMISSIONS" in inside.stderr


def test_make_grade_without_folders_says_how_to_call_it():
    done = subprocess.run(
        ["make", "--no-print-directory", "grade"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "make grade SUBMISSIONS=" in done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# every notebook of the course (opt-in: notebook 07 alone starts three Python processes)
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("TENSORLAB_GRADE_ALL") != "1",
    reason="grading every course notebook takes minutes (notebook 07 runs torchrun); "
    "run it with TENSORLAB_GRADE_ALL=1",
)
def test_every_course_notebook_solved_scores_full_marks_and_blank_scores_zero(tmp_path, course):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name, notebook in course.items():
        nbformat.write(solved_copy(notebook.student, notebook.solution), subs / f"solved_{name}.ipynb")
        nbformat.write(notebook.student, subs / f"blank_{name}.ipynb")
    run = grade_folder(subs, tmp_path / "out", GradingOptions(jobs=2, progress=False))
    for grade in run.grades:
        detail = {e.name: (e.status, e.message, e.detail) for e in grade.exercises}
        if grade.relpath.startswith("solved_"):
            assert grade.total == len(grade.exercises) > 0, (grade.relpath, grade.reason, detail)
        else:
            assert grade.total == 0 and {e.status for e in grade.exercises} == {"not attempted"}, (
                grade.relpath,
                detail,
            )
