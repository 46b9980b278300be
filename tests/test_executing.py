"""tensorlab.executing, the course's one notebook executor: markers as nbval reads them, a fresh copy,
the outcome as data."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbval.plugin import find_comment_markers, find_metadata_tags

from tensorlab import executing

# nbval's own names for what it reads, and ours.
NBVAL_NAMES = {
    ("check", False): "ignore-output",
    ("check", True): "check-output",
    ("check_exception", True): "raises-exception",
    ("skip", True): "skip",
}


def cell(source: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    made = nbformat.v4.new_code_cell(source)
    if tags is not None:
        made.metadata["tags"] = tags
    return made


@pytest.mark.parametrize(
    "made",
    [
        cell("print(1)"),
        cell("# NBVAL_IGNORE_OUTPUT\nprint(time.time())"),
        cell("x = 1\n  ## NBVAL_SKIP  \n"),  # anywhere in the cell, any number of #
        cell("# NBVAL_RAISES_EXCEPTION\n1 / 0"),
        cell("# NBVAL_CHECK_OUTPUT\nprint(1)"),
        cell("# PYTEST_VALIDATE_IGNORE_OUTPUT\nprint(1)"),
        cell("print('# NBVAL_SKIP')"),  # not a comment line: no marker
        cell("print(1)", tags=["nbval-skip"]),
        cell("print(1)", tags=["nbval-ignore-output", "other"]),
        cell("1 / 0", tags=["raises-exception"]),
        cell("1 / 0", tags=["nbval-raises-exception"]),
        cell("print(1)", tags=["skip-execution"]),  # nbclient's, not nbval's
    ],
    ids=lambda c: repr(c.source[:24] + str(c.metadata.get("tags", ""))),
)
def test_markers_are_read_as_nbval_reads_them(made):
    theirs = {NBVAL_NAMES[m] for m in find_comment_markers(made.source)}
    theirs |= {NBVAL_NAMES[m] for m in find_metadata_tags(made.metadata)}
    assert executing.nbval_markers(made) == theirs


def test_the_tables_cover_every_marker_nbval_knows():
    from nbval.plugin import comment_markers, metadata_tags

    assert set(executing.NBVAL_COMMENTS) == set(comment_markers)
    assert set(executing.NBVAL_TAGS) == set(metadata_tags)


@pytest.fixture
def notebook_file(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# a notebook"),
        cell("import os\nprint(os.environ['TENSORLAB_DEVICE'], os.getcwd())"),
        cell("# NBVAL_SKIP\nraise RuntimeError('skipped, never run')"),
        cell("# NBVAL_RAISES_EXCEPTION\n1 / 0"),
        cell("{'a': 1}", tags=["keep-me"]),
        cell("raise ValueError('boom')"),
        cell("print('after the error')"),
    ]
    notebook.cells[6].outputs = [nbformat.v4.new_output("stream", text="stale\n")]
    notebook.cells[6].execution_count = 7
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_run_reports_the_first_error_and_leaves_the_file_and_later_cells_alone(notebook_file):
    before = notebook_file.read_bytes()
    result = executing.execute(notebook_file, device="cuda:7", timeout=60)
    assert notebook_file.read_bytes() == before  # the file is never written
    assert not result.ok and result.error == "ValueError: boom" and result.error_cell == 5
    assert "raise ValueError('boom')" in result.details and "\x1b[" not in result.details
    assert result.describe_error("nb.ipynb") == "nb.ipynb, cell 5: ValueError: boom"
    assert result.started == [1, 3, 4, 5]  # 2 is skipped, 6 never reached
    cells = result.notebook.cells
    assert executing.stream_text(cells[1]) == f"cuda:7 {notebook_file.parent}\n"  # device; notebook's folder
    assert cells[2].outputs == [] and cells[2].execution_count is None
    assert cells[3].outputs[0].ename == "ZeroDivisionError"  # allowed by its marker; the run went on
    assert "tags" not in cells[3].metadata  # the tag lent to nbclient is given back
    assert cells[4].metadata.tags == ["keep-me"] and executing.printed_text(cells[4]) == "{'a': 1}\n"
    assert cells[6].outputs == [] and cells[6].execution_count is None  # the stale output is gone
    assert result.cell_seconds(1) is not None and result.cell_seconds(1) >= 0
    assert result.cell_seconds(6) is None


def test_a_kernel_that_dies_and_one_that_hangs_are_reported_not_raised(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [cell("print('alive')"), cell("import os\nos._exit(3)"), cell("print('never')")]
    result = executing.execute(notebook, cwd=tmp_path, timeout=60)
    assert (result.error, result.error_cell) == ("the kernel died", 1)
    notebook.cells = [cell("import time\ntime.sleep(60)")]
    result = executing.execute(notebook, cwd=tmp_path, timeout=1)
    assert (result.error, result.error_cell) == ("timed out after 1 s", 0)
    assert notebook.cells[0].outputs == []  # what was passed in is not changed


def test_a_complete_run_is_ok_and_keeps_what_nbval_compares(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [cell("import os\nx = 6 * 7\nprint('x is', x, os.environ.get('ONLY_HERE'))\nx")]
    env = {**os.environ, "ONLY_HERE": "yes"}  # the kernel's whole environment
    result = executing.execute(notebook, cwd=tmp_path, env=env)
    assert result.ok and result.error is None and result.started == [0]
    assert executing.printed_text(result.notebook.cells[0]) == "x is 42 yes\n42\n"
    path = tmp_path / "out.ipynb"
    executing.write_notebook(result.notebook, path)
    assert json.loads(path.read_text())["cells"][0]["execution_count"] == 1
