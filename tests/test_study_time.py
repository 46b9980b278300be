"""Every notebook's title states a study time that its content supports (tensorlab.study_time).

The estimate counts the notebook's words at a stated reading pace (175 words a minute, the slow end of
Brysbaert's 2019 meta-analysis for non-fiction), its code (lines to read, cells to run, figures to look
at) and its exercises and open-ended questions. A title must be within 20 % of the estimate (never less
than 5 minutes). No notebook is exempt: when a title disagrees, `python -m tensorlab.study_time --write`
sets it to the estimate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from tensorlab import authoring, study_time


@pytest.mark.parametrize("path", authoring.solution_paths(), ids=lambda p: p.stem)
def test_title_states_a_study_time_consistent_with_the_content(path: Path):
    stated = study_time.stated_minutes(path)
    assert stated is not None, f"{path.name}: the title cell has no '**Time.** About N minutes' line"
    found = study_time.estimate(path)
    assert found.allows(stated), (
        f"{path.name}: the title says about {stated} minutes, but its content needs about {found.minutes:.0f} "
        f"({found.summary()}); run `python -m tensorlab.study_time --write {path.relative_to(authoring.REPO_ROOT)}` "
        f"to state {found.rounded} minutes"
    )


def test_the_reading_pace_and_its_source_are_stated():
    doc = study_time.__doc__
    assert "Brysbaert" in doc and "10.1016/j.jml.2019.104047" in doc and "175" in doc
    assert study_time.READING_WPM == 175


def test_words_are_counted_without_link_addresses_images_or_tags():
    assert study_time.count_words("A [tensor](https://example.org/a/very/long/path) is <b>here</b>.") == 4
    assert study_time.count_words("![a picture](x.png) Two words") == 2
    assert study_time.count_words("`x @ W.T` and (m, k)") >= 4
    assert study_time.count_words("张量 tensor") == 3  # a Chinese character counts as a word


def _notebook(tmp_path: Path, cells: list) -> Path:
    path = tmp_path / "99_made_up.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_the_estimate_adds_words_code_figures_and_exercises(tmp_path):
    words = " ".join(["word"] * 350)  # two minutes at 175 words a minute
    path = _notebook(
        tmp_path,
        [
            nbformat.v4.new_markdown_cell("# 99 · Made up\n\n**Time.** About 10 minutes."),
            nbformat.v4.new_markdown_cell(words),
            nbformat.v4.new_code_cell("x = 1\n\ny = 2\n# a comment is read too"),
            nbformat.v4.new_code_cell("def f(a):\n    ### BEGIN SOLUTION\n    return a + 1\n    ### END SOLUTION"),
            nbformat.v4.new_code_cell("ex.q1.check(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS"),
            nbformat.v4.new_code_cell("### BEGIN SOLUTION\nz = 3\n### END SOLUTION"),
            nbformat.v4.new_code_cell("ex.q2.check(z)"),
        ],
    )
    found = study_time.estimate(path)
    assert found.words == 350 + 7  # the title cell's words too
    assert (found.code_cells, found.code_lines) == (1, 3)  # exercise cells count as exercises, not code
    assert (found.exercises, found.function_exercises, found.discussions) == (2, 1, 0)
    expected = (
        357 / 175
        + (3 * study_time.SECONDS_PER_CODE_LINE + study_time.SECONDS_PER_CODE_CELL) / 60
        + study_time.MINUTES_PER_EXERCISE
        + study_time.MINUTES_PER_FUNCTION_EXERCISE
    )
    assert found.minutes == pytest.approx(expected)
    assert found.rounded == 10 and found.allows(10) and found.allows(15) and not found.allows(20)


def test_the_tolerance_is_a_fifth_but_never_under_five_minutes(tmp_path):
    long = study_time.Estimate(
        "x", words=175 * 100, code_cells=0, code_lines=0, figures=0, exercises=0, function_exercises=0, discussions=0
    )
    assert long.minutes == 100 and long.rounded == 100
    assert long.allows(80) and long.allows(120) and not long.allows(75) and not long.allows(125)
    short = study_time.Estimate(
        "y", words=175 * 6, code_cells=0, code_lines=0, figures=0, exercises=0, function_exercises=0, discussions=0
    )
    assert short.allows(10) and short.allows(1) and not short.allows(12)


def test_write_sets_the_title_and_keeps_the_rest(tmp_path):
    source = authoring.solution_paths()[1]
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    before = nbformat.read(copy, as_version=4)
    assert study_time.write_title(copy, 5)
    after = nbformat.read(copy, as_version=4)
    assert study_time.stated_minutes(copy) == 5
    assert [c.source for c in after.cells[1:]] == [c.source for c in before.cells[1:]]
    assert after.cells[0].source.replace("About 5 minutes", "") == before.cells[0].source.replace(
        f"About {study_time.stated_minutes(source)} minutes", ""
    )
    assert not study_time.write_title(copy, 5)  # nothing to change
