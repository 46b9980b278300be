"""The status of a graded file (grades.csv's ``status`` column): every place uses these names."""

OK = "ok"  # the notebook ran; every answer was judged
CELLS_MISSING = "exercise cells missing"  # an answer or check cell was deleted; the rest was judged
TIMED_OUT = "timed out"  # a cell ran past --cell-timeout, or the file past --timeout
OVER_LIMIT = "over limit"  # the grader stopped the kernel: memory, processes or files
CRASHED = "crashed"  # the kernel died; the notebook was run again without that cell
NOT_A_NOTEBOOK = "not a notebook"  # not JSON, not a notebook, not a regular file, a link ...
UNKNOWN_NOTEBOOK = "unknown notebook"  # not a course notebook with exercises
GRADER_ERROR = "grader error"  # a bug of the grader's: the instructor's log says which

STATUSES = (OK, CELLS_MISSING, TIMED_OUT, OVER_LIMIT, CRASHED, NOT_A_NOTEBOOK, UNKNOWN_NOTEBOOK, GRADER_ERROR)

# for the student's feedback file
IN_WORDS = {
    OK: "graded",
    CELLS_MISSING: "graded, but some exercise cells are missing",
    TIMED_OUT: "graded, but part of the notebook ran too long",
    OVER_LIMIT: "graded, but the notebook used more memory, processes or disk than allowed",
    CRASHED: "graded, but the notebook stopped the grader's kernel",
    NOT_A_NOTEBOOK: "not graded: the file is not a notebook",
    UNKNOWN_NOTEBOOK: "not graded: the grader could not tell which course notebook this is",
    GRADER_ERROR: "not graded: the grader failed on this file (your instructor has the details)",
}
