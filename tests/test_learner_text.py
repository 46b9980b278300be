"""Learners never read maintainer text.

Every cell a learner sees -- the student copies in notebooks/ and the solution notebooks, less their
hidden tests -- is free of what only maintainers need: nbval's markers (solutions/ uses nbval's cell
tags instead, which learners do not read), notes about the test suite, the README's figures or the
maintainers' scripts and ``make`` targets. Those live in docs/AUTHORING.md, the README or cell
metadata. ``make lab`` is for learners and stays allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tensorlab import authoring


def maintainer_make_targets() -> list[str]:
    """The Makefile's targets, less the one learners use (``make lab``) and ``help``."""
    makefile = (authoring.REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert phony, "the Makefile should list its targets in .PHONY"
    return sorted(set(phony.group(1).split()) - {"lab", "help"})


# What counts as maintainer text, each with where it belongs instead.
MAINTAINER_TEXT: dict[str, str] = {
    r"NBVAL": "nbval marker comments: tag the cell instead (python -m tensorlab.authoring tags)",
    r"\bnbval\b|\bpytest\b|\btest suite\b|\btests/|\bconftest": "notes about the tests: docs/AUTHORING.md",
    r"README figure|export_readme_figures|docs/figures/": "README figures: the cell's metadata "
    "(tensorlab.readme_figure) and docs/AUTHORING.md",
    r"\btools/|\bscripts/run_": "the maintainers' scripts: the README or docs/AUTHORING.md",
    r"\bmake (?:"
    + "|".join(map(re.escape, maintainer_make_targets()))
    + r")\b": "maintainer make targets (only `make lab` is for learners)",
    r"AUTHORING\.md|authoring guide|tensorlab\.authoring": "the authoring guide is for maintainers",
}
PATTERNS = [(re.compile(pattern, re.IGNORECASE), why) for pattern, why in MAINTAINER_TEXT.items()]

NOTEBOOKS = authoring.solution_paths() + authoring.notebook_paths(authoring.STUDENT_DIR)


def learner_text(cell: nbformat.NotebookNode) -> str:
    """What a learner reads of a cell: markdown, or code less the hidden tests and the markers."""
    if cell.cell_type != "code":
        return cell.source
    return authoring.reference_source(cell.source)


def maintainer_notes(text: str) -> list[str]:
    """Each piece of maintainer text in ``text``, quoted, with where it belongs."""
    found = []
    for pattern, why in PATTERNS:
        for match in pattern.finditer(text):
            found.append(f"{match.group(0)!r} ({why})")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_learner_facing_cell_holds_maintainer_text(path: Path):
    notebook = nbformat.read(path, as_version=4)
    problems = [
        f"cell {index}: {note}"
        for index, cell in enumerate(notebook.cells)
        for note in maintainer_notes(learner_text(cell))
    ]
    assert not problems, f"{path.parent.name}/{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "text",
    [
        "# NBVAL_IGNORE_OUTPUT\nprint(time.time())",
        "# README figure: docs/figures/x.png (tools/export_readme_figures.py copies this output)",
        "The test suite runs this with `--device cpu`.",
        "Run `make student` after editing.",
        "python tools/run_course_on_cuda.py --device cuda",
        "nbval compares this output.",
    ],
)
def test_maintainer_text_is_recognised(text):
    assert maintainer_notes(text)


@pytest.mark.parametrize(
    "text",
    [
        "Run `make lab` to open the course.",
        "The tests you write yourself are welcome: assert what you expect.",
        "ex.q1.check(answer)  # prints one line",
        "The README's badges open this notebook in Colab.",
        "Make the batch bigger, and make a test of your own.",
    ],
)
def test_learner_text_is_left_alone(text):
    assert not maintainer_notes(text)


def test_student_copies_keep_no_nbval_tags_but_keep_raises_exception(tmp_path):
    solution = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# 99 · A title"),
            nbformat.v4.new_code_cell("import time\nprint(time.time())", metadata={"tags": ["nbval-ignore-output"]}),
            nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception", "nbval-skip"]}),
        ]
    )
    student = authoring.make_student_notebook(solution, authoring.SOLUTIONS_DIR / "99_x.ipynb")
    assert "tags" not in student.cells[2].metadata
    assert student.cells[3].metadata["tags"] == ["raises-exception"]
    assert solution.cells[1].metadata["tags"] == ["nbval-ignore-output"]  # the source is not touched


def test_nbval_comments_become_the_tags_nbval_reads_the_same_way():
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(1)"),
            nbformat.v4.new_code_cell("x = 1\n  #  NBVAL_SKIP\nprint(x)", metadata={"tags": ["keep"]}),
            nbformat.v4.new_code_cell("# NBVAL_RAISES_EXCEPTION\n1 / 0"),
            nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT is explained in the guide\nprint(2)"),
        ]
    )
    assert authoring.nbval_comments_to_tags(notebook) == 3
    assert [c.source for c in notebook.cells] == [
        "print(1)",
        "x = 1\nprint(x)",
        "1 / 0",
        "# NBVAL_IGNORE_OUTPUT is explained in the guide\nprint(2)",
    ]
    assert [c.metadata.get("tags") for c in notebook.cells] == [
        ["nbval-ignore-output"],
        ["keep", "nbval-skip"],
        ["raises-exception"],
        None,
    ]
    from nbval.plugin import find_comment_markers, find_metadata_tags  # nbval reads both the same way

    assert dict(find_metadata_tags(notebook.cells[1].metadata)) == dict(find_comment_markers("# NBVAL_SKIP"))
    assert dict(find_metadata_tags(notebook.cells[2].metadata)) == dict(
        find_comment_markers("# NBVAL_RAISES_EXCEPTION")
    )
    assert dict(find_metadata_tags(notebook.cells[0].metadata)) == dict(find_comment_markers("# NBVAL_IGNORE_OUTPUT"))
