"""solutions/ -> notebooks/: generate the student notebooks from the solution notebooks.

The solution notebook is the one source of each notebook. Its code cells mark answers and
instructor-only checks with nbgrader's markers, so nbgrader users can take them as they are::

    dose = torch.tensor(0.5)               # a line outside the markers stays as it is
    ### BEGIN SOLUTION
    scalar = torch.tensor(0.5)             # becomes:  scalar = ...  # YOUR CODE HERE: replace ...
    ### END SOLUTION
    ### BEGIN HIDDEN TESTS
    assert ex.q1.evaluate(scalar).passed   # removed from the student copy
    ### END HIDDEN TESTS

A solution region at the top level of a cell becomes one ``name = ...  # YOUR CODE HERE: replace ...
with your answer`` line for every name it assigns *that later code reads* (the answer the check cell
reads, a value a later cell uses), so the untouched notebook still runs and the check says "not
attempted yet", while the solution's intermediate names (its steps) stay hidden. A region inside a
function body becomes ``raise NotImplementedError("your code here")  # YOUR CODE HERE: replace this
line with your code``, which the checks also read as "not attempted yet". Outputs are cleared. A
first cell tells the learner that this is their copy and how to answer; the notebook metadata
(``metadata["tensorlab"]``) says, for maintainers, that the file is generated and from which solution.

Commands (``python -m tensorlab.authoring ...``; ``make student`` runs ``generate``):

    generate            rewrite notebooks/ from solutions/
    check               exit 1 (and name the files) if a committed student notebook is stale
    execute [NB ...]    run solution notebooks in place, storing their outputs for nbval
    badges [--check] [NB ...]
                        rewrite the launch badges and setup cell of solution notebooks (all, or the
                        ones named) from the repository address in tensorlab/launch.py, then
                        regenerate their student copies (``make badges``); with --check, only list
                        what disagrees and exit 1 if anything does
    tags [NB ...]       turn ``# NBVAL_...`` comment lines of solution notebooks into nbval's cell
                        tags (nbval-ignore-output ...), which learners do not read
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tensorlab import launch
from tensorlab.launch import COURSE_BRANCH, COURSE_REPO_URL, SETUP_CELL

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PLACEHOLDER_COMMENT = "# YOUR CODE HERE"
METADATA_KEY = "tensorlab"
# nbval's comment markers and the cell tags that replace them (solutions/ uses only the tags: a test
# keeps learners from reading "# NBVAL_..." lines). The student copies keep none of the nbval tags.
NBVAL_COMMENT_TAGS = {
    "NBVAL_IGNORE_OUTPUT": "nbval-ignore-output",
    "NBVAL_CHECK_OUTPUT": "nbval-check-output",
    "NBVAL_SKIP": "nbval-skip",
    "NBVAL_RAISES_EXCEPTION": "raises-exception",
    "PYTEST_VALIDATE_IGNORE_OUTPUT": "nbval-ignore-output",
}
MAINTAINER_TAG_PREFIXES = ("nbval-",)
# A check cell calls ``ex.<name>.check(...)``; that names the exercise its answer cells belong to.
CHECK_CALL = re.compile(r"\bex\.(\w+)\.check\(")

# Every notebook's first code cell is exactly SETUP_CELL (a test checks it). In Colab the package is
# not there until the course is cloned, so the cell clones it in two lines and then calls
# tensorlab.launch.setup(), which does the rest. It and the launch badges are built from the one
# repository address in tensorlab/launch.py; after changing that address, `make badges` rewrites both
# in every notebook.
# (COURSE_REPO_URL, COURSE_BRANCH and SETUP_CELL are imported from there above, and re-exported.)

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"  # 00_start_here.ipynb ... 07_beyond_one_device.ipynb
SOLUTIONS_DIR = REPO_ROOT / "solutions"
STUDENT_DIR = REPO_ROOT / "notebooks"


class MarkerError(ValueError):
    """A solution notebook whose markers do not pair up."""


# ---- parsing one code cell into its regions ------------------------------------------------------
# One parser serves the student copy (strip_cell_source), the reference solution that
# ``ex.qN.solution()`` prints (reference_source) and the placeholders' name analysis.


@dataclass
class Segment:
    kind: str  # "code" (kept as it is), "solution" or "hidden"
    lines: list[str] = field(default_factory=list)
    indent: str = ""  # a solution region's indentation: "" at the top level of the cell


def parse_cell_source(source: str, where: str = "cell") -> list[Segment]:
    """Split a solution cell into plain code, solution regions and hidden tests (markers dropped)."""
    segments: list[Segment] = []
    current: Segment | None = None  # the open solution or hidden region
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if current is not None:
                raise MarkerError(f"{where}, line {number}: {stripped} inside another region")
            kind = "solution" if stripped == BEGIN_SOLUTION else "hidden"
            current = Segment(kind, indent=line[: len(line) - len(line.lstrip())])
            segments.append(current)
        elif stripped in (END_SOLUTION, END_HIDDEN):
            begin = BEGIN_SOLUTION if stripped == END_SOLUTION else BEGIN_HIDDEN
            if current is None or current.kind != ("solution" if stripped == END_SOLUTION else "hidden"):
                raise MarkerError(f"{where}, line {number}: {stripped} without {begin}")
            if current.kind == "solution" and not current.indent:
                _assigned_names("\n".join(current.lines))  # refuse a region that does not parse, early
            current = None
        elif current is not None:
            current.lines.append(line)
        else:
            if not segments or segments[-1].kind != "code":
                segments.append(Segment("code"))
            segments[-1].lines.append(line)
    if current is not None:
        end = END_SOLUTION if current.kind == "solution" else END_HIDDEN
        begin = BEGIN_SOLUTION if current.kind == "solution" else BEGIN_HIDDEN
        raise MarkerError(f"{where}: {begin} is never closed by {end}")
    return segments


def _assigned_names(code: str) -> list[str]:
    """Names assigned at the top level of ``code``, in order, without repeats."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError as error:
        raise MarkerError(f"the code between the solution markers does not parse: {error}") from None
    names: list[str] = []

    def add_target(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            if target.id not in names:
                names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add_target(element)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add_target(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add_target(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.name not in names:
                names.append(node.name)
    return names


def _reads_and_writes(code: str) -> tuple[set[str], set[str]] | None:
    """(names the code reads anywhere, names it assigns at the top level); None if it does not parse.

    Words inside string constants count as reads: ``benchmark.Timer("a @ b", globals=globals())``
    reads ``a`` and ``b``.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:  # IPython syntax (%timeit, !ls): the caller falls back to a word search
        return None
    reads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            reads.update(re.findall(r"[A-Za-z_]\w*", node.value))
    writes = set(_assigned_names(code)) if code.strip() else set()
    return reads, writes


def _read_later(name: str, later_code: list[str]) -> bool:
    """Does the code after a solution region read ``name`` before assigning it anew?

    ``later_code`` is what the student copy keeps after the region, chunk by chunk (the rest of its
    cell, then each later cell). A chunk that reads and assigns the name counts as reading it.
    """
    for code in later_code:
        found = _reads_and_writes(code)
        if found is None:
            if re.search(rf"\b{re.escape(name)}\b", code):
                return True
            continue
        reads, writes = found
        if name in reads:
            return True
        if name in writes:
            return False
    return False


def _placeholder(region: Segment, later_code: list[str] | None) -> list[str]:
    """The student copy's lines for one solution region.

    Inside a function body: ``raise NotImplementedError``. At the top level: ``name = ...`` for each
    name the region assigns that the rest of the student copy reads (the answer the check cell
    reads, a value a later cell uses), so the untouched notebook runs; the region's intermediate
    names (02 Ex4's ``y1_start``) are not listed, since they would give its steps away. With
    ``later_code=None`` every assigned name is kept.
    """
    if region.indent:
        return [
            f'{region.indent}raise NotImplementedError("your code here")  {PLACEHOLDER_COMMENT}: '
            "replace this line with your code"
        ]
    names = _assigned_names("\n".join(region.lines))
    if later_code is not None:
        names = [name for name in names if _read_later(name, later_code)]
    if not names:
        return [f"{PLACEHOLDER_COMMENT}: write your code here"]
    return [f"{name} = ...  {PLACEHOLDER_COMMENT}: replace ... with your answer" for name in names]


def _student_lines(segments: list[Segment], later_cells: list[str] | None) -> list[str]:
    out: list[str] = []
    for index, segment in enumerate(segments):
        if segment.kind == "code":
            out.extend(segment.lines)
        elif segment.kind == "solution":
            later = None
            if later_cells is not None:
                rest = [line for s in segments[index + 1 :] if s.kind == "code" for line in s.lines]
                later = ["\n".join(rest)] + later_cells
            out.extend(_placeholder(segment, later))
    while out and not out[-1].strip():
        out.pop()
    return out


def visible_code(source: str, where: str = "cell") -> str:
    """What the student copy keeps of a cell's code, less its placeholders (for the name analysis)."""
    return "\n".join(line for s in parse_cell_source(source, where) if s.kind == "code" for line in s.lines)


def strip_cell_source(source: str, where: str = "cell", later_cells: list[str] | None = None) -> tuple[str, bool, bool]:
    """Return (student source, had a solution region, had hidden tests) for one code cell.

    ``later_cells``: the student copy's code of every later cell (``visible_code``), in order; with
    it, a top-level region lists only the names that later code reads (see ``_placeholder``).
    """
    segments = parse_cell_source(source, where)
    had_solution = any(s.kind == "solution" for s in segments)
    had_hidden = any(s.kind == "hidden" for s in segments)
    return "\n".join(_student_lines(segments, later_cells)), had_solution, had_hidden


def reference_source(source: str, where: str = "cell") -> str:
    """The cell as the reference solution reads: solutions kept, markers and hidden tests removed."""
    lines = [line for s in parse_cell_source(source, where) if s.kind != "hidden" for line in s.lines]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def hidden_tests(source: str, where: str = "cell") -> str:
    """A cell's hidden tests alone, dedented (the grader runs them; the student copy drops them)."""
    lines = [line for s in parse_cell_source(source, where) if s.kind == "hidden" for line in s.lines]
    return textwrap.dedent("\n".join(lines)).strip()


def student_path_for(solution_path: Path) -> Path:
    return STUDENT_DIR / solution_path.name


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


# The student copy's first cell is for learners; where the copy comes from is written in its metadata
# (notebook.metadata["tensorlab"]), for maintainers, and the staleness test reads all of it.
BANNER = "This is your copy of the notebook: run it, change it, try things."
BANNER_EXERCISES = (
    " In each exercise, replace the `...` (or the `raise NotImplementedError` line) in the "
    "answer cell with your answer, then run the check cell under it. "
    "✅ means right, ❌ says what to fix, ⏳ means not tried yet; `ex.q1.hint()` gives a hint "
    "for exercise 1."
)
GENERATED_NOTE = (
    "Generated from {source} by `make student` (python -m tensorlab.authoring generate): "
    "edit the solution notebook and regenerate; changes made here are overwritten."
)


def learner_banner(has_exercises: bool) -> str:
    return "*" + BANNER + (BANNER_EXERCISES if has_exercises else "") + "*"


def _keep_learner_tags(cell: nbformat.NotebookNode) -> None:
    """Drop the tags that only tell nbval what to compare (nbval-ignore-output, nbval-skip ...).

    ``raises-exception`` stays: Jupyter's "Run All" and nbclient read it too, and a cell that raises
    on purpose must not stop a learner's run.
    """
    tags = [tag for tag in cell.metadata.get("tags", []) if not tag.startswith(MAINTAINER_TAG_PREFIXES)]
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)


def exercise_roles(solution: nbformat.NotebookNode, where: str = "notebook") -> tuple[dict[int, dict], list[str]]:
    """Which cells belong to which exercise: ``({cell index: {"exercise": "q1", "role": ...}}, ["q1", ...])``.

    A check cell calls ``ex.qN.check(...)`` (role "check"); the cells with a solution region since the
    previous check cell are its answer cells (role "answer"; a cell that holds both is an answer cell).
    The student copy's metadata, the grader and ``ex.qN.solution()`` all read the roles from here.
    """
    roles: dict[int, dict] = {}
    pending: list[int] = []
    exercises: list[str] = []
    for index, cell in enumerate(solution.cells):
        if cell.cell_type != "code":
            continue
        segments = parse_cell_source(cell.source, f"{where}, cell {index}")
        code = "\n".join(line for s in segments if s.kind == "code" for line in s.lines)
        if any(s.kind == "solution" for s in segments):
            pending.append(index)
        checks = CHECK_CALL.findall(code)
        if checks:
            name = checks[0]
            roles[index] = {"exercise": name, "role": "check"}
            for answer in pending:
                roles[answer] = {"exercise": name, "role": "answer"}
            pending = []
            if name not in exercises:
                exercises.append(name)
    if pending:
        raise MarkerError(f"{where}: a solution region is not followed by a check cell (ex.<name>.check(...))")
    return roles, exercises


def reference_solution(solution_path: Path, exercise: str) -> str:
    """The reference solution of one exercise: its answer cells as the solution notebook has them,
    without the markers and the hidden tests (what ``ex.qN.solution()`` prints)."""
    notebook = nbformat.read(solution_path, as_version=4)
    roles, _ = exercise_roles(notebook, _relative(solution_path))
    answers = [index for index, role in sorted(roles.items()) if role == {"exercise": exercise, "role": "answer"}]
    if not answers:
        raise MarkerError(f"{_relative(solution_path)} has no answer cell for {exercise}")
    return "\n\n".join(reference_source(notebook.cells[index].source) for index in answers)


def exercise_tag(cell) -> tuple[str | None, str | None]:
    """(exercise, role) that the generator wrote into a student cell: ("q1", "answer"), ("q1", "check"),
    or (None, None) for any other cell (also for a submitted cell whose metadata is not a dict)."""
    metadata = cell.get("metadata")
    tag = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(tag, dict) or not isinstance(tag.get("exercise"), str):
        return None, None
    return tag["exercise"], tag.get("role")


def tagged_cells(notebook: nbformat.NotebookNode, exercise: str, role: str = "answer") -> list[int]:
    """Indices of the cells of a student copy tagged as ``role`` ("answer" or "check") of ``exercise``."""
    return [i for i, cell in enumerate(notebook.cells) if exercise_tag(cell) == (exercise, role)]


def solved_copy(student: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy with every answer cell filled in from its solution: a perfect submission."""
    filled = copy.deepcopy(student)
    for position, cell in enumerate(filled.cells[1:]):  # [0]: the generator's banner
        if exercise_tag(cell)[1] == "answer":
            cell.source = reference_source(solution.cells[position].source)
    return filled


def exercise_module_name(solution_path: Path) -> str:
    """Notebook NN's exercises live in ``tensorlab.exercises.chNN`` (tests/test_exercises.py checks it)."""
    return f"tensorlab.exercises.ch{Path(solution_path).name[:2]}"


def make_student_notebook(solution: nbformat.NotebookNode, solution_path: Path) -> nbformat.NotebookNode:
    """Build the student copy of one solution notebook (pure: the input is not modified)."""
    source_name = _relative(solution_path)
    student = copy.deepcopy(solution)
    # What the student copy keeps of each code cell, for the placeholders' name analysis.
    visible = [
        visible_code(c.source, f"{source_name}, cell {i}") if c.cell_type == "code" else None
        for i, c in enumerate(solution.cells)
    ]
    roles, exercises = exercise_roles(solution, source_name)
    cells = []
    for index, cell in enumerate(student.cells):
        cell.metadata.pop(METADATA_KEY, None)
        cell.metadata.pop("execution", None)  # execution timestamps: not for learners, noise in diffs
        _keep_learner_tags(cell)
        if cell.cell_type == "code":
            where = f"{source_name}, cell {index}"
            later = [code for code in visible[index + 1 :] if code is not None]
            cell.source, _, _ = strip_cell_source(cell.source, where, later)
            cell.outputs = []
            cell.execution_count = None
            if index in roles:
                cell.metadata[METADATA_KEY] = dict(roles[index])
        cells.append(cell)
    banner = nbformat.v4.new_markdown_cell(learner_banner(has_exercises=bool(exercises)))
    banner.metadata[METADATA_KEY] = {"role": "generated-banner"}
    banner.pop("id", None)
    student.cells = [banner] + cells
    if any(c.cell_type == "markdown" and c.source.startswith("# ") for c in cells):
        launch.set_badges(student, f"{STUDENT_DIR.name}/{solution_path.name}")  # open the student copy
    student.metadata[METADATA_KEY] = {
        "notebook": solution_path.stem,
        "generated_from": source_name,
        "generator": "python -m tensorlab.authoring generate",
        "note": GENERATED_NOTE.format(source=source_name),
        "exercises": exercises,
    }
    # Stable cell ids: derived from position, so regenerating gives byte-identical files.
    for number, cell in enumerate(student.cells):
        cell["id"] = f"cell-{number:03d}"
    return student


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def notebook_paths(directory: Path) -> list[Path]:
    """The course's notebooks in a folder, in order (``NN_name.ipynb``): solutions/, notebooks/ or a
    copy of either. The one place that says which files those are."""
    return sorted(Path(directory).glob(NOTEBOOK_GLOB))


def solution_paths(directory: Path | None = None) -> list[Path]:
    """The solution notebooks of the course, or of another folder laid out like solutions/."""
    return notebook_paths(directory or SOLUTIONS_DIR)


def expected_student_text(solution_path: Path) -> str:
    solution = nbformat.read(solution_path, as_version=4)
    return render(make_student_notebook(solution, solution_path))


def generate(paths: list[Path] | None = None) -> list[Path]:
    written = []
    STUDENT_DIR.mkdir(exist_ok=True)
    for path in paths or solution_paths():
        target = student_path_for(path)
        text = expected_student_text(path)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def stale_notebooks() -> list[str]:
    """Names of student notebooks that differ from what the generator makes (or are missing/extra)."""
    problems = []
    expected_names = set()
    for path in solution_paths():
        target = student_path_for(path)
        expected_names.add(target.name)
        if not target.exists():
            problems.append(f"{_relative(target)} is missing")
        elif target.read_text(encoding="utf-8") != expected_student_text(path):
            problems.append(f"{_relative(target)} is stale")
    for target in sorted(STUDENT_DIR.glob("*.ipynb")):
        if target.name not in expected_names:
            problems.append(f"{_relative(target)} has no solution notebook")
    return problems


def execute(paths: list[Path], timeout: int = 600) -> None:
    """Run each solution notebook in a fresh kernel, in its folder, and store the outputs.

    A notebook that fails is left as it was, and the run stops there with the cell's traceback.
    """
    from tensorlab import executing  # needs Jupyter's parts, which only authors and tools need
    from tensorlab.interactive import strip_widget_views

    for path in paths:
        # record_timing=False: no execution timestamps in the stored notebooks, which would make every
        # re-run a diff in every cell (and a merge conflict between any two branches that re-ran it).
        # store_widget_state=False and strip_widget_views: the interactive explorers' widgets live only
        # in this run's kernel (their ids are random); the stored output keeps their still figure and
        # text, which nbval compares and static pages show (tensorlab/interactive/_base.py).
        execution = executing.execute(path, timeout=timeout, record_timing=False, store_widget_state=False)
        if not execution.ok:
            raise SystemExit(f"{execution.describe_error(_relative(path))}\n{execution.details}")
        strip_widget_views(execution.notebook)
        executing.write_notebook(execution.notebook, path)
        print(f"executed {_relative(path)}")


def nbval_comment(line: str) -> str | None:
    """The nbval marker a line is (``# NBVAL_SKIP`` -> "NBVAL_SKIP"), as nbval reads it, or None."""
    stripped = line.strip()
    if not stripped.startswith("#"):
        return None
    word = stripped.lstrip("#").strip()
    return word if word in NBVAL_COMMENT_TAGS else None


def nbval_comments_to_tags(notebook: nbformat.NotebookNode) -> int:
    """Replace every ``# NBVAL_...`` comment line by the cell tag nbval reads the same way; return how many."""
    moved = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        markers = [nbval_comment(line) for line in lines]
        if not any(markers):
            continue
        tags = list(cell.metadata.get("tags", []))
        for marker in filter(None, markers):
            if NBVAL_COMMENT_TAGS[marker] not in tags:
                tags.append(NBVAL_COMMENT_TAGS[marker])
            moved += 1
        cell.metadata["tags"] = tags
        cell.source = "\n".join(line for line, marker in zip(lines, markers) if not marker)
    return moved


def launch_problems(path: Path) -> list[str]:
    """What in one notebook disagrees with the configured address (badges, setup cell, links)."""
    notebook = nbformat.read(path, as_version=4)
    where = _relative(path)
    problems = []
    try:
        title = launch.title_cell(notebook).source
        target = f"{path.parent.name}/{path.name}"
        if launch.badge_lines(title) != [launch.badge_line(target)]:
            problems.append(
                f"{where}: the title cell lacks the one badge line that opens {target} from "
                f"{COURSE_REPO_URL} ({COURSE_BRANCH})"
            )
        if launch.setup_code_cell(notebook).source.strip() != SETUP_CELL.strip():
            problems.append(f"{where}: the setup cell is not tensorlab.authoring.SETUP_CELL")
    except ValueError as error:
        problems.append(f"{where}: {error}")
    for url in launch.course_links(notebook):
        if not launch.link_points_at_course(url):
            problems.append(f"{where}: {url} does not point at {COURSE_REPO_URL} ({COURSE_BRANCH})")
    return problems


def rewrite_launch_cells(paths: list[Path] | None = None) -> list[Path]:
    """Rewrite the badges and setup cell of solution notebooks; return those that changed."""
    written = []
    for path in paths or solution_paths():
        notebook = nbformat.read(path, as_version=4)
        try:
            changed = launch.set_setup_cell(notebook)
            changed = launch.set_badges(notebook, f"{path.parent.name}/{path.name}") or changed
        except ValueError as error:
            raise ValueError(f"{_relative(path)}: {error}") from None
        if changed:
            nbformat.write(notebook, path)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tensorlab.authoring", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="rewrite notebooks/ from solutions/")
    sub.add_parser("check", help="fail if a student notebook is stale")
    run = sub.add_parser("execute", help="execute solution notebooks in place")
    run.add_argument("notebooks", nargs="*", type=Path)
    badges = sub.add_parser("badges", help="rewrite launch badges and setup cells, regenerate notebooks/")
    badges.add_argument("--check", action="store_true", help="only report notebooks that disagree")
    badges.add_argument("notebooks", nargs="*", type=Path, help="solution notebooks (default: all)")
    tags = sub.add_parser("tags", help="turn # NBVAL_... comment lines into nbval's cell tags")
    tags.add_argument("notebooks", nargs="*", type=Path, help="solution notebooks (default: all)")
    args = parser.parse_args(argv)
    if args.command == "tags":
        for path in [p.resolve() for p in args.notebooks] or solution_paths():
            notebook = nbformat.read(path, as_version=4)
            moved = nbval_comments_to_tags(notebook)
            if moved:
                nbformat.write(notebook, path)
                print(f"{_relative(path)}: {moved} nbval comment(s) became cell tags")
        return 0
    if args.command == "badges":
        chosen = [p.resolve() for p in args.notebooks] or solution_paths()
        if args.check:
            students = [student_path_for(p) for p in chosen if student_path_for(p).exists()]
            problems = [problem for path in chosen + students for problem in launch_problems(path)]
            for problem in problems:
                print(f"{problem}: run `make badges`")
            return 1 if problems else 0
        for path in rewrite_launch_cells(chosen):
            print(f"rewrote the badges/setup cell of {_relative(path)}")
        for path in generate(chosen):
            print(f"wrote {_relative(path)}")
        return 0
    if args.command == "generate":
        for path in generate():
            print(f"wrote {_relative(path)}")
        return 0
    if args.command == "check":
        problems = stale_notebooks()
        for problem in problems:
            print(f"{problem}: run `make student`")
        return 1 if problems else 0
    execute([p.resolve() for p in args.notebooks] or solution_paths())
    return 0


if __name__ == "__main__":
    sys.exit(main())
