"""How long a notebook takes a learner, estimated from what is in it (for the title's **Time.** line).

Every notebook's title cell says "**Time.** About N minutes". That number is computed here, from the
solution notebook, never guessed:

- **Words** (markdown cells, without link addresses, image links and the launch badges; plus the text
  of the notebook's open-ended discussions, which a learner reads after thinking) at
  ``READING_WPM`` = 175 words a minute. Source: M. Brysbaert, "How many words do we read per minute? A
  review and meta-analysis of reading rate", *Journal of Memory and Language* 109 (2019) 104047,
  https://doi.org/10.1016/j.jml.2019.104047: adults read English non-fiction silently at 238 words a
  minute on average, most of them between 175 and 300. This text is technical and read to learn, so
  the estimate takes the slow end of that range.
- **Code** a learner reads and runs: ``SECONDS_PER_CODE_LINE`` = 6 s a non-blank line (comments
  included: they are read too) and ``SECONDS_PER_CODE_CELL`` = 15 s a cell (run it, read what it
  prints), plus ``SECONDS_PER_FIGURE`` = 20 s for each figure a cell draws. These three are the course's
  own assumptions (a line of code holds about ten words and symbols, read at about a hundred a minute),
  not a published rate: we know of no study of code-reading speed that gives one.
- **Exercises**: ``MINUTES_PER_EXERCISE`` = 3 for a value to compute or a tensor to build,
  ``MINUTES_PER_FUNCTION_EXERCISE`` = 5 for a function to write (an answer inside a function body);
  ``MINUTES_PER_DISCUSSION`` = 2 of thinking (and trying) per open-ended question, before its text is
  read. Also assumptions. An exercise's answer and check cells, and a cell that only calls
  ``ex.discuss(N)``, are counted here and not again as code; hidden tests are never shown to learners
  and are not counted at all.

The title states the total rounded to ``ROUND_TO`` (5) minutes, and must be within ``TOLERANCE`` of the
unrounded estimate: 20 % of it, and never less than 5 minutes (``tests/test_study_time.py``).

    python -m tensorlab.study_time            # each notebook: estimate, title, agrees?
    python -m tensorlab.study_time --write    # rewrite the titles that disagree, regenerate notebooks/
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tensorlab import authoring, launch

READING_WPM = 175  # words a minute: the slow end of Brysbaert (2019)'s non-fiction range
SECONDS_PER_CODE_LINE = 6.0  # reading one non-blank line of code (assumption)
SECONDS_PER_CODE_CELL = 15.0  # running a cell and reading its output (assumption)
SECONDS_PER_FIGURE = 20.0  # looking at a figure a cell draws (assumption)
MINUTES_PER_EXERCISE = 3.0  # computing a value / building a tensor (assumption)
MINUTES_PER_FUNCTION_EXERCISE = 5.0  # writing a function (assumption)
MINUTES_PER_DISCUSSION = 2.0  # thinking about an open-ended question (assumption)
ROUND_TO = 5  # the title states whole multiples of 5 minutes
TOLERANCE = (0.20, 5.0)  # |title - estimate| <= max(20 % of the estimate, 5 minutes)

# "**Time.** About 45 minutes" in the title cell; the number is what is compared and rewritten.
TIME_LINE = re.compile(r"(\*\*Time\.\*\*\s+About\s+)(\d+)(\s+minutes)")
_WORD = re.compile(r"[A-Za-z0-9\u00C0-\u024F]+(?:['’.-][A-Za-z0-9\u00C0-\u024F]+)*|[\u4e00-\u9fff]")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")  # [text](address): the address is not read
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")  # an image: not read as words
_HTML_TAG = re.compile(r"<[^>]+>")
_DISCUSS_CALL = re.compile(r"ex\.discuss\(\d+\)")


@dataclass(frozen=True)
class Estimate:
    """One notebook's estimated study time, with what it is made of (minutes unless named otherwise)."""

    notebook: str
    words: int
    code_cells: int
    code_lines: int
    figures: int
    exercises: int
    function_exercises: int
    discussions: int

    @property
    def reading_minutes(self) -> float:
        return self.words / READING_WPM

    @property
    def code_minutes(self) -> float:
        return (
            self.code_lines * SECONDS_PER_CODE_LINE
            + self.code_cells * SECONDS_PER_CODE_CELL
            + self.figures * SECONDS_PER_FIGURE
        ) / 60

    @property
    def exercise_minutes(self) -> float:
        return (
            (self.exercises - self.function_exercises) * MINUTES_PER_EXERCISE
            + self.function_exercises * MINUTES_PER_FUNCTION_EXERCISE
            + self.discussions * MINUTES_PER_DISCUSSION
        )

    @property
    def minutes(self) -> float:
        return self.reading_minutes + self.code_minutes + self.exercise_minutes

    @property
    def rounded(self) -> int:
        """What the title should say: the estimate to the nearest ROUND_TO minutes (at least ROUND_TO)."""
        return max(ROUND_TO, ROUND_TO * round(self.minutes / ROUND_TO))

    def allows(self, stated: int) -> bool:
        """Is a title's ``stated`` number of minutes within the tolerance of this estimate?"""
        share, floor = TOLERANCE
        return abs(stated - self.minutes) <= max(share * self.minutes, floor)

    def summary(self) -> str:
        return (
            f"{self.words:,} words {self.reading_minutes:.0f} min + {self.code_lines} code lines in "
            f"{self.code_cells} cells, {self.figures} figures {self.code_minutes:.0f} min + "
            f"{self.exercises} exercises ({self.function_exercises} functions), {self.discussions} "
            f"discussions {self.exercise_minutes:.0f} min = {self.minutes:.1f} min"
        )


def count_words(markdown: str) -> int:
    """Words a learner reads in a markdown text (link addresses, images and HTML tags left out)."""
    text = _IMAGE.sub(" ", markdown)
    text = _LINK_TARGET.sub("]", text)
    text = _HTML_TAG.sub(" ", text)
    return len(_WORD.findall(text))


def _figures(cell: nbformat.NotebookNode) -> int:
    return sum(1 for output in cell.get("outputs", []) if "image/png" in output.get("data", {}))


def _discussion_texts(notebook_name: str) -> list[str]:
    """The open-ended discussions of a notebook's exercise module (none if it has no module)."""
    try:
        module = importlib.import_module(authoring.exercise_module_name(Path(notebook_name)))
    except ModuleNotFoundError:
        return []
    discuss = getattr(module, "discuss", None)
    return [f"{d.question}\n\n{d.text}" for d in getattr(discuss, "discussions", ())]


def estimate(path: Path) -> Estimate:
    """The study time of one solution notebook, from its words, code, figures, exercises and discussions."""
    notebook = nbformat.read(path, as_version=4)
    title = launch.title_cell(notebook)
    roles, exercises = authoring.exercise_roles(notebook, path.name)
    words = code_cells = code_lines = figures = functions = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            source = (
                "\n".join(line for line in cell.source.splitlines() if not launch._BADGE_LINE.search(line))
                if cell is title
                else cell.source
            )
            words += count_words(source)
            continue
        if cell.cell_type != "code":
            continue
        segments = authoring.parse_cell_source(cell.source, f"{path.name}, cell {index}")
        shown = [line for s in segments if s.kind == "code" for line in s.lines if line.strip()]
        if any(s.kind == "solution" and s.indent for s in segments):
            functions += 1  # an answer written inside a function body: a function to write
        figures += _figures(cell)
        if index in roles or _DISCUSS_CALL.fullmatch("\n".join(shown).strip()):
            continue  # an exercise's answer or check cell, a discussion: counted in the exercise minutes
        if shown:
            code_cells += 1
            code_lines += len(shown)
    discussions = _discussion_texts(path.name)
    words += sum(count_words(text) for text in discussions)
    return Estimate(
        notebook=path.stem,
        words=words,
        code_cells=code_cells,
        code_lines=code_lines,
        figures=figures,
        exercises=len(exercises),
        function_exercises=min(functions, len(exercises)),
        discussions=len(discussions),
    )


def stated_minutes(path: Path) -> int | None:
    """The minutes a notebook's title states ("**Time.** About N minutes"), or None if it states none."""
    title = launch.title_cell(nbformat.read(path, as_version=4)).source
    found = TIME_LINE.search(title)
    return int(found.group(2)) if found else None


def write_title(path: Path, minutes: int) -> bool:
    """Set the title's "About N minutes" to ``minutes``; return whether the file changed."""
    notebook = nbformat.read(path, as_version=4)
    title = launch.title_cell(notebook)
    if not TIME_LINE.search(title.source):
        raise ValueError(f"{path.name}: the title cell has no '**Time.** About N minutes' line")
    new = TIME_LINE.sub(lambda m: f"{m.group(1)}{minutes}{m.group(3)}", title.source, count=1)
    if new == title.source:
        return False
    title.source = new
    nbformat.write(notebook, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tensorlab.study_time", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="rewrite each disagreeing title to the rounded estimate, then regenerate notebooks/",
    )
    parser.add_argument("notebooks", nargs="*", type=Path, help="solution notebooks (default: all)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or authoring.solution_paths()
    disagree = []
    for path in paths:
        found = estimate(path)
        stated = stated_minutes(path)
        verdict = "agrees" if stated is not None and found.allows(stated) else "DISAGREES"
        print(
            f"{path.name:<36} title {stated!s:>4} min | estimate {found.rounded:>3} min "
            f"({found.summary()}) | {verdict}"
        )
        if verdict != "agrees":
            disagree.append((path, found.rounded))
    if args.write:
        changed = [path for path, minutes in disagree if write_title(path, minutes)]
        for path in changed:
            print(f"rewrote the title of {path.name}")
        if changed:
            authoring.generate(changed)
        return 0
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
