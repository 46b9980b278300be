"""What the grader knows about the course, read from the solution notebooks, never from a submission:
for each notebook with exercises, the exercises in order, each one's *answer expression* (the argument
of ``ex.qN.check(...)`` in the solution's check cell: the grader asks the kernel for its value, so a
student who edits the check cell changes nothing), its hidden tests (run only in the grader) and the
names they take from the kernel, the exercise module, and the notebook's imports.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nbformat

from tensorlab import authoring
from tensorlab.checking import Exercise, one_line
from tensorlab.exercises import exercises_of


class CourseError(RuntimeError):
    """A solution notebook the grader cannot use (its checks or its module do not line up)."""


@dataclass
class CourseExercise:
    name: str  # "q1"
    exercise: Exercise  # the grader's own copy, from the exercise module
    expression: str  # what the solution's check cell passes to ex.qN.check(...)
    hidden_code: str = ""  # instructor-only assertions (may be empty)
    hidden_names: list[str] = field(default_factory=list)  # what the hidden tests take from the kernel
    answer_cells: int = 1  # how many answer cells the student copy has for it

    @property
    def label(self) -> str:
        return self.exercise.label


@dataclass
class CourseNotebook:
    name: str  # "01_tensors_0d_to_nd", as the student copy's metadata names it
    module: ModuleType
    exercises: list[CourseExercise]
    imports: list[str]  # top-level import statements of the solution notebook
    student: nbformat.NotebookNode  # the generated student copy
    solution: nbformat.NotebookNode

    def exercise(self, name: str) -> CourseExercise:
        return next(e for e in self.exercises if e.name == name)

    def hidden_test_namespace(self) -> dict:
        """The names hidden tests may use besides the student's: the notebook's imports, executed
        here in the grader (they are the instructor's code, not the student's)."""
        namespace: dict = {"__name__": f"tensorlab_hidden_tests_{self.name}"}
        for statement in self.imports:
            exec(compile(statement, f"<imports of {self.name}>", "exec"), namespace)
        namespace["ex"] = self.module
        return namespace


def load_course(solutions: Path | None = None) -> tuple[dict[str, CourseNotebook], dict[str, str]]:
    """(course, broken): the gradable notebooks by name, and why each unusable solution is unusable."""
    course, broken = {}, {}
    for path in authoring.solution_paths(solutions):
        try:
            notebook = load_notebook(path)
        except Exception as error:  # one bad solution notebook must not stop the others
            broken[path.stem] = f"{type(error).__name__}: {one_line(error)}"
            continue
        if notebook is not None:
            course[notebook.name] = notebook
    return course, broken


def load_notebook(solution_path: Path) -> CourseNotebook | None:
    """The grading view of one solution notebook, or None if it has no exercises."""
    solution = nbformat.read(solution_path, as_version=4)
    student = authoring.make_student_notebook(solution, solution_path)
    names = student.metadata[authoring.METADATA_KEY]["exercises"]
    if not names:
        return None
    where = solution_path.name
    module = importlib.import_module(authoring.exercise_module_name(solution_path))
    defined = exercises_of(module)
    if list(defined) != names:
        raise CourseError(f"{where} checks {names}, but {module.__name__} defines {list(defined)}")
    if len(student.cells) != len(solution.cells) + 1:  # the generator adds one banner cell
        raise CourseError(f"{where}: the student copy does not line up with the solution")
    course_nb = CourseNotebook(solution_path.stem, module, [], _top_level_imports(solution), student, solution)
    imported = set(course_nb.hidden_test_namespace())  # what the hidden tests need not take from the kernel
    exercises: dict[str, CourseExercise] = {}
    for position, student_cell in enumerate(student.cells[1:]):
        exercise_name, role = authoring.exercise_tag(student_cell)
        if role != "check":
            continue
        name, expression = _check_call(student_cell.source, f"{where}, cell {position}")
        if name in exercises:
            raise CourseError(f"{where}: {name} is checked twice")
        hidden = authoring.hidden_tests(solution.cells[position].source, where)
        try:
            hidden_names = [n for n in free_names(hidden) if n not in imported]
        except SyntaxError as error:
            raise CourseError(f"{where}: the hidden tests of {name} do not parse ({error})") from None
        answer_cells = len(authoring.tagged_cells(student, name))
        exercises[name] = CourseExercise(name, defined[name], expression, hidden, hidden_names, answer_cells)
    course_nb.exercises = [exercises[n] for n in names]
    return course_nb


def free_names(code: str) -> list[str]:
    """Names ``code`` reads but never binds itself (an over-estimate is harmless)."""
    if not code:
        return []
    loaded, bound = [], set()
    for node in ast.walk(ast.parse(code)):
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


def _check_call(source: str, where: str) -> tuple[str, str]:
    """(exercise name, answer expression) of the one ``ex.qN.check(...)`` call in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise CourseError(f"{where}: the check cell does not parse ({error})") from None
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "check"
        and isinstance(node.func.value, ast.Attribute)
        and isinstance(node.func.value.value, ast.Name)
        and node.func.value.value.id == "ex"
    ]
    if len(calls) != 1 or len(calls[0].args) != 1 or calls[0].keywords:
        raise CourseError(f"{where}: a check cell must make exactly one call ex.qN.check(answer)")
    return calls[0].func.value.attr, ast.unparse(calls[0].args[0])


def _top_level_imports(solution: nbformat.NotebookNode) -> list[str]:
    statements = []
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(authoring.visible_code(cell.source))
        except SyntaxError:
            continue
        statements += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return statements
