"""The instructors' grader: a folder of submitted notebooks in, grades and feedback out.

    make grade SUBMISSIONS=path/to/submissions OUT=path/to/results
    python -m tensorlab.grading SUBMISSIONS OUT [--jobs 2] [--cell-timeout 60] [--trusted] ...

Read it top-down from :mod:`.grader` (the flow: a folder, then one file from its bytes to its row).
Below it, each module does one thing and calls nothing above it:

- :mod:`.course`   what the grader knows of the course, from the solution notebooks;
- :mod:`.kernel`   running a submission's cells in a fresh Jupyter kernel with nbclient;
- :mod:`.sandbox`  the bubblewrap sandbox and the limits around that kernel;
- :mod:`.wire`     the answers as plain data (kernel side and grader side);
- :mod:`.judge`    judging an answer with the exercise's own check and the hidden tests;
- :mod:`.report`   grades.csv, feedback and logs, written safely;
- :mod:`.status`   the status words of grades.csv.

docs/GRADER_FLOW.md follows one submission through them; docs/INSTRUCTORS.md is the guide and the
threat model. Introduced for instructors; learners never need it.
"""

from tensorlab.grading.course import load_course
from tensorlab.grading.grader import GradingOptions, GradingRun, SandboxMissing, grade_folder, student_name
from tensorlab.grading.sandbox import Limits
from tensorlab.grading.status import STATUSES

__all__ = ["GradingOptions", "GradingRun", "Limits", "SandboxMissing", "STATUSES", "grade_folder", "load_course",
           "student_name"]
