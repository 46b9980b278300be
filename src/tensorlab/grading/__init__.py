"""The instructors' grader (``make grade``): a folder of submitted notebooks in, grades and feedback out.

Read it top-down from :mod:`.grader`, the flow. Below it each module does one thing and calls nothing
above it: :mod:`.course` (the course, from the solutions), :mod:`.kernel` (running a submission with
nbclient), :mod:`.sandbox` (bubblewrap and the limits), :mod:`.wire` (answers as plain data),
:mod:`.judge` (the checks and the hidden tests), :mod:`.report` (grades.csv, feedback, logs) and
:mod:`.status`. docs/GRADER_FLOW.md follows one submission; docs/INSTRUCTORS.md is the guide.
"""

import importlib

# Imported when first used: the student's kernel imports tensorlab.grading.wire, and nothing else of this.
_HOME = {
    "GradingOptions": "grader",
    "GradingRun": "grader",
    "SandboxMissing": "grader",
    "grade_folder": "grader",
    "student_name": "grader",
    "load_course": "course",
    "Limits": "sandbox",
    "STATUSES": "status",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'tensorlab.grading' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tensorlab.grading.{_HOME[name]}"), name)
