"""What the grader knows about the course, read from the solution notebooks.

For every solution notebook whose student copy has exercises, :func:`load_course` records:

- the exercises in order, as the generator writes them into the student copy's metadata;
- for each, the *answer expression*: the argument of ``ex.qN.check(...)`` in the **solution's**
  check cell (``dose_075``, ``to_chw``). The grader evaluates that expression in the student's
  kernel, so a student who edits their own check cell changes nothing;
- the hidden tests (between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``), which run
  only in the grader's process and are never sent to the kernel or written into feedback;
- the exercise module (``from tensorlab.exercises import ch01 as ex``) and the notebook's
  top-level imports, which give the hidden tests their ``torch``, ``np``, ``ex`` ...

Nothing here is hard-coded per notebook: a new solution notebook with an exercise module is
picked up as it is.
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nbformat

from tensorlab import authoring
from tensorlab.checking import Exercise
from tensorlab.exercises import exercises_of

META = authoring.METADATA_KEY


class CourseError(RuntimeError):
    """A solution notebook the grader cannot use (its checks or its module do not line up)."""


@dataclass
class CourseExercise:
    name: str                  # "q1"
    exercise: Exercise         # the judge's own copy, from the exercise module
    expression: str            # what the solution's check cell passes to ex.qN.check(...)
    hidden_code: str = ""      # instructor-only assertions (may be empty)
    hidden_names: list[str] = field(default_factory=list)  # names the hidden tests take from the kernel
    answer_cells: int = 1      # how many answer cells the student copy has for it
    check_cells: int = 1

    @property
    def label(self) -> str:
        return self.exercise.label


@dataclass
class CourseNotebook:
    name: str                  # "01_tensors_0d_to_nd", the stem the student copy's metadata names
    solution_path: Path
    module: ModuleType
    exercises: list[CourseExercise]
    imports: list[str]         # top-level import statements of the solution notebook
    student: nbformat.NotebookNode  # the generated student copy (for structure checks and tests)
    solution: nbformat.NotebookNode

    def exercise(self, name: str) -> CourseExercise:
        return next(e for e in self.exercises if e.name == name)

    def trusted_namespace(self) -> dict:
        """The names the hidden tests may use besides the student's: the notebook's imports,
        executed here, in the grader (they are the instructor's code, not the student's)."""
        namespace: dict = {"__name__": f"tensorlab_hidden_tests_{self.name}"}
        for statement in self.imports:
            exec(compile(statement, f"<imports of {self.name}>", "exec"), namespace)
        namespace["ex"] = self.module
        return namespace


# ---------------------------------------------------------------------------------------------

def _check_call(source: str, where: str) -> tuple[str, str]:
    """(exercise name, answer expression) of the one ``ex.qN.check(...)`` call in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise CourseError(f"{where}: the check cell does not parse ({error})") from None
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "check" and isinstance(node.func.value, ast.Attribute)
             and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "ex"]
    if len(calls) != 1 or len(calls[0].args) != 1 or calls[0].keywords:
        raise CourseError(f"{where}: a check cell must make exactly one call ex.qN.check(answer)")
    return calls[0].func.value.attr, ast.unparse(calls[0].args[0])


def _hidden_regions(source: str) -> str:
    lines, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == authoring.BEGIN_HIDDEN:
            inside = True
        elif stripped == authoring.END_HIDDEN:
            inside = False
        elif inside:
            lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip()


def free_names(code: str) -> list[str]:
    """Names ``code`` reads but never binds itself (an over-estimate is harmless)."""
    if not code:
        return []
    tree = ast.parse(code)
    loaded, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                if node.id not in loaded:
                    loaded.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return [n for n in loaded if n not in bound and not hasattr(builtins, n)]


def _top_level_imports(solution: nbformat.NotebookNode) -> list[str]:
    statements = []
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        source, _, _ = authoring.strip_cell_source(cell.source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                statements.append(ast.unparse(node))
    return statements


def _exercise_module(imports: list[str], where: str) -> ModuleType:
    for statement in imports:
        node = ast.parse(statement).body[0]
        if isinstance(node, ast.ImportFrom) and node.module == "tensorlab.exercises":
            for alias in node.names:
                if alias.asname == "ex":
                    return importlib.import_module(f"tensorlab.exercises.{alias.name}")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname == "ex" and alias.name.startswith("tensorlab.exercises."):
                    return importlib.import_module(alias.name)
    raise CourseError(f"{where}: no `from tensorlab.exercises import chNN as ex` at the top level")


def load_notebook(solution_path: Path) -> CourseNotebook | None:
    """The grading view of one solution notebook, or None if it has no exercises."""
    solution = nbformat.read(solution_path, as_version=4)
    student = authoring.make_student_notebook(solution, solution_path)
    names = student.metadata[META]["exercises"]
    if not names:
        return None
    where = solution_path.name
    imports = _top_level_imports(solution)
    module = _exercise_module(imports, where)
    defined = exercises_of(module)
    if list(defined) != names:
        raise CourseError(f"{where} checks {names}, but {module.__name__} defines {list(defined)}")
    if len(student.cells) != len(solution.cells) + 1:  # the generator adds one banner cell
        raise CourseError(f"{where}: the student copy does not line up with the solution")
    exercises: dict[str, CourseExercise] = {}
    answer_counts: dict[str, int] = {}
    for position, student_cell in enumerate(student.cells[1:]):
        tag = student_cell.metadata.get(META, {})
        if tag.get("role") == "answer":
            answer_counts[tag["exercise"]] = answer_counts.get(tag["exercise"], 0) + 1
        if tag.get("role") != "check":
            continue
        solution_cell = solution.cells[position]
        name, expression = _check_call(student_cell.source, f"{where}, cell {position}")
        if name in exercises:
            raise CourseError(f"{where}: {name} is checked twice")
        hidden = _hidden_regions(solution_cell.source)
        try:
            hidden_names = free_names(hidden)
        except SyntaxError as error:
            raise CourseError(f"{where}: the hidden tests of {name} do not parse ({error})") from None
        exercises[name] = CourseExercise(name=name, exercise=defined[name], expression=expression,
                                         hidden_code=hidden, hidden_names=hidden_names)
    for name, exercise in exercises.items():
        exercise.answer_cells = answer_counts.get(name, 0)
    trusted = set()
    for statement in imports:
        for alias in ast.parse(statement).body[0].names:
            trusted.add((alias.asname or alias.name).split(".")[0])
    for exercise in exercises.values():
        exercise.hidden_names = [n for n in exercise.hidden_names if n not in trusted and n != "ex"]
    return CourseNotebook(name=solution_path.stem, solution_path=solution_path, module=module,
                          exercises=[exercises[n] for n in names], imports=imports,
                          student=student, solution=solution)


def load_course(solutions_dir: Path | None = None) -> dict[str, CourseNotebook]:
    """Every solution notebook with exercises, by name (``01_tensors_0d_to_nd`` ...)."""
    directory = Path(solutions_dir) if solutions_dir else authoring.SOLUTIONS_DIR
    paths = sorted(directory.glob("[0-9][0-9]_*.ipynb"))
    course = {}
    for path in paths:
        notebook = load_notebook(path)
        if notebook is not None:
            course[notebook.name] = notebook
    return course


# ---------------------------------------------------------------------------------------------
# Ready-made submissions (for the self-test, the tests and the benchmark)
# ---------------------------------------------------------------------------------------------

def strip_markers(source: str) -> str:
    """A solution cell as a student who solved it would have it: solution kept, hidden tests
    and marker lines removed."""
    out, hidden = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == authoring.BEGIN_HIDDEN:
            hidden = True
        elif stripped == authoring.END_HIDDEN:
            hidden = False
        elif stripped in (authoring.BEGIN_SOLUTION, authoring.END_SOLUTION) or hidden:
            continue
        else:
            out.append(line)
    return "\n".join(out).rstrip()


def solved_student_notebook(notebook: CourseNotebook) -> nbformat.NotebookNode:
    """The student copy with every answer cell filled in from the solution: a perfect submission."""
    filled = copy.deepcopy(notebook.student)
    for position, cell in enumerate(filled.cells[1:]):
        if cell.metadata.get(META, {}).get("role") == "answer":
            cell.source = strip_markers(notebook.solution.cells[position].source)
    return filled


def answer_cell_indices(notebook: nbformat.NotebookNode, exercise: str, role: str = "answer") -> list[int]:
    """Indices of the cells tagged as ``role`` ("answer" or "check") of ``exercise``."""
    return [i for i, cell in enumerate(notebook.cells)
            if cell.metadata.get(META, {}).get("exercise") == exercise
            and cell.metadata.get(META, {}).get("role") == role]
