"""solutions/ -> notebooks/: generate the student notebooks from the solution notebooks.

The solution notebook is the one source of each notebook. Its code cells mark answers and
instructor-only checks with nbgrader's markers, so nbgrader users can take them as they are::

    dose = torch.tensor(0.5)               # a line outside the markers stays as it is
    ### BEGIN SOLUTION
    scalar = torch.tensor(0.5)             # becomes:  scalar = ...  # YOUR CODE HERE
    ### END SOLUTION
    ### BEGIN HIDDEN TESTS
    assert ex.q1.evaluate(scalar).passed   # removed from the student copy
    ### END HIDDEN TESTS

A solution region at the top level of a cell becomes one ``name = ...  # YOUR CODE HERE`` line for
every name it assigns, so the untouched notebook still runs and the check says "not attempted yet".
A region inside a function body becomes ``raise NotImplementedError(...)``, which the checks also
read as "not attempted yet". Outputs are cleared; a first cell and the notebook metadata say that the
file is generated and from which solution.

Commands (``python -m tensorlab.authoring ...``; ``make student`` runs ``generate``):

    generate            rewrite notebooks/ from solutions/
    check               exit 1 (and name the files) if a committed student notebook is stale
    execute [NB ...]    run solution notebooks in place, storing their outputs for nbval
    badges [--check] [NB ...]
                        rewrite the launch badges and setup cell of solution notebooks (all, or the
                        ones named) from the repository address in tensorlab/launch.py, then
                        regenerate their student copies (``make badges``); with --check, only list
                        what disagrees and exit 1 if anything does
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tensorlab import launch
from tensorlab.launch import COURSE_BRANCH, COURSE_REPO_URL, SETUP_CELL

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PLACEHOLDER_COMMENT = "# YOUR CODE HERE"
METADATA_KEY = "tensorlab"
# A check cell calls ``ex.<name>.check(...)``; that names the exercise its answer cells belong to.
CHECK_CALL = re.compile(r"\bex\.(\w+)\.check\(")

# Every notebook's first code cell is exactly SETUP_CELL (a test checks it). It cannot import the
# package, because in Colab the package is not installed until this cell has run. It and the launch
# badges are built from the one repository address in tensorlab/launch.py; after changing that
# address, `make badges` rewrites both in every notebook.
# (COURSE_REPO_URL, COURSE_BRANCH and SETUP_CELL are imported from there above, and re-exported.)

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS_DIR = REPO_ROOT / "solutions"
STUDENT_DIR = REPO_ROOT / "notebooks"


class MarkerError(ValueError):
    """A solution notebook whose markers do not pair up."""


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


def _placeholder(region: list[str], indent: str) -> list[str]:
    if indent:  # inside a function body: calling it says "not attempted yet" to the check
        return [f'{indent}raise NotImplementedError("{PLACEHOLDER_COMMENT[2:].lower()}")  {PLACEHOLDER_COMMENT}']
    names = _assigned_names("\n".join(region))
    if not names:
        return [PLACEHOLDER_COMMENT]
    return [f"{name} = ...  {PLACEHOLDER_COMMENT}" for name in names]


@dataclass(frozen=True)
class CellParts:
    """One solution cell read once, marker by marker, in the three forms the course needs."""

    student: str  # what the student copy shows: solutions become placeholders, hidden tests go
    solved: str  # what a student who solved it would have: the solutions kept, no markers
    hidden: str  # the hidden tests alone, dedented (the grader runs them)
    had_solution: bool
    had_hidden: bool


def split_cell_source(source: str, where: str = "cell") -> CellParts:
    """Read the solution and hidden-test markers of one code cell (the one parser of the markers)."""
    out: list[str] = []
    solved: list[str] = []
    hidden: list[str] = []
    region: list[str] | None = None
    region_indent = ""
    in_hidden = False
    had_solution = had_hidden = False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if region is not None or in_hidden:
                raise MarkerError(f"{where}, line {number}: {BEGIN_SOLUTION} inside another region")
            region, region_indent, had_solution = [], line[: len(line) - len(line.lstrip())], True
        elif stripped == END_SOLUTION:
            if region is None:
                raise MarkerError(f"{where}, line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            out.extend(_placeholder(region, region_indent))
            region = None
        elif stripped == BEGIN_HIDDEN:
            if region is not None or in_hidden:
                raise MarkerError(f"{where}, line {number}: {BEGIN_HIDDEN} inside another region")
            in_hidden = had_hidden = True
        elif stripped == END_HIDDEN:
            if not in_hidden:
                raise MarkerError(f"{where}, line {number}: {END_HIDDEN} without {BEGIN_HIDDEN}")
            in_hidden = False
        elif in_hidden:
            hidden.append(line)
        else:
            solved.append(line)
            if region is not None:
                region.append(line)
            else:
                out.append(line)
    if region is not None:
        raise MarkerError(f"{where}: {BEGIN_SOLUTION} is never closed by {END_SOLUTION}")
    if in_hidden:
        raise MarkerError(f"{where}: {BEGIN_HIDDEN} is never closed by {END_HIDDEN}")
    while out and not out[-1].strip():
        out.pop()
    return CellParts(
        "\n".join(out), "\n".join(solved).rstrip(), textwrap.dedent("\n".join(hidden)).strip(), had_solution, had_hidden
    )


def strip_cell_source(source: str, where: str = "cell") -> tuple[str, bool, bool]:
    """Return (student source, had a solution region, had hidden tests) for one code cell."""
    parts = split_cell_source(source, where)
    return parts.student, parts.had_solution, parts.had_hidden


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
            cell.source = split_cell_source(solution.cells[position].source).solved
    return filled


def exercise_module_name(solution_path: Path) -> str:
    """Notebook NN's exercises live in ``tensorlab.exercises.chNN`` (tests/test_exercises.py checks it)."""
    return f"tensorlab.exercises.ch{Path(solution_path).name[:2]}"


def student_path_for(solution_path: Path) -> Path:
    return STUDENT_DIR / solution_path.name


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def make_student_notebook(solution: nbformat.NotebookNode, solution_path: Path) -> nbformat.NotebookNode:
    """Build the student copy of one solution notebook (pure: the input is not modified)."""
    source_name = _relative(solution_path)
    student = copy.deepcopy(solution)
    cells = []
    pending_answers: list[nbformat.NotebookNode] = []
    exercises: list[str] = []
    for index, cell in enumerate(student.cells):
        cell.metadata.pop(METADATA_KEY, None)
        if cell.cell_type == "code":
            where = f"{source_name}, cell {index}"
            cell.source, had_solution, _ = strip_cell_source(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
            checks = CHECK_CALL.findall(cell.source)
            if had_solution:
                pending_answers.append(cell)
            if checks:
                name = checks[0]
                cell.metadata[METADATA_KEY] = {"exercise": name, "role": "check"}
                for answer_cell in pending_answers:
                    answer_cell.metadata[METADATA_KEY] = {"exercise": name, "role": "answer"}
                pending_answers = []
                if name not in exercises:
                    exercises.append(name)
        cells.append(cell)
    if pending_answers:
        raise MarkerError(f"{source_name}: a solution region is not followed by a check cell (ex.<name>.check(...))")
    banner = nbformat.v4.new_markdown_cell(
        f"*Student copy, generated from `{source_name}` by `make student`. "
        "To change it, edit that solution notebook and regenerate; edits here are overwritten.*"
    )
    banner.metadata[METADATA_KEY] = {"role": "generated-banner"}
    banner.pop("id", None)
    student.cells = [banner] + cells
    if any(c.cell_type == "markdown" and c.source.startswith("# ") for c in cells):
        launch.set_badges(student, f"{STUDENT_DIR.name}/{solution_path.name}")  # open the student copy
    student.metadata[METADATA_KEY] = {
        "notebook": solution_path.stem,
        "generated_from": source_name,
        "generator": "python -m tensorlab.authoring generate",
        "exercises": exercises,
    }
    # Stable cell ids: derived from position, so regenerating gives byte-identical files.
    for number, cell in enumerate(student.cells):
        cell["id"] = f"cell-{number:03d}"
    return student


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def solution_paths(directory: Path | None = None) -> list[Path]:
    """The solution notebooks (NN_name.ipynb) of the course, or of another folder laid out like it."""
    return sorted(Path(directory or SOLUTIONS_DIR).glob("[0-9][0-9]_*.ipynb"))


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
    """Run each solution notebook in a fresh kernel, in its folder, and store the outputs."""
    from nbclient import NotebookClient

    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(
            notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        nbformat.write(notebook, path)
        print(f"executed {_relative(path)}")


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
    args = parser.parse_args(argv)
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
