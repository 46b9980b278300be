"""Write the README's "Speed, measured" numbers from notebook 06's stored outputs.

    .venv/bin/python tools/export_readme_numbers.py           # rewrite the block in README.md
    .venv/bin/python tools/export_readme_numbers.py --check   # exit 1 if README.md disagrees with the notebook

The README quotes what notebook 06 printed when `make execute-solutions` last ran it, never a number typed
by hand. The cells it reads say so in their metadata, where learners do not read it:
``"tensorlab": {"readme_numbers": "dot" | "matmul" | "training" | "reference"}``. This script runs nothing:
it parses those cells' stored text (each of them prints when and where it was measured first) and
rewrites the block between the two ``speed-numbers`` comments in README.md. The figure beside it is the
"reference" cell's stored picture (tools/export_readme_figures.py). tests/test_readme_figures.py runs the
check, so after re-executing notebook 06, run this script (and export_readme_figures.py) too.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tensorlab import executing
from tensorlab import hardware as hw

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "06_tensors_are_for_speed.ipynb"
BEGIN = "<!-- speed-numbers: begin (written by tools/export_readme_numbers.py from notebook 06's stored outputs) -->"
END = "<!-- speed-numbers: end -->"
FIGURE = "docs/figures/cpu_matmul_flops.png"


class NotFound(ValueError):
    """The notebook's stored outputs do not hold what the README quotes (not executed, or a format changed)."""


def stored_text(root: Path = ROOT) -> dict[str, str]:
    """{readme_numbers key: the text the cell printed}, from the stored outputs of notebook 06."""
    notebook = executing.read_notebook(root / "solutions" / NOTEBOOK)
    found = {}
    for cell in notebook.cells:
        key = cell.get("metadata", {}).get("tensorlab", {}).get("readme_numbers")
        if key:
            found[key] = executing.stream_text(cell, "stdout")
    return found


def _search(pattern: str, text: str, what: str) -> re.Match:
    found = re.search(pattern, text, re.MULTILINE)
    if not found:
        raise NotFound(
            f"notebook 06's stored output has no {what} (pattern {pattern!r}); "
            "run `make execute-solutions NOTEBOOKS=solutions/06_tensors_are_for_speed.ipynb`"
        )
    return found


@dataclass(frozen=True)
class SpeedNumbers:
    """Everything the README quotes, as the notebook printed it."""

    dot_conditions: str
    dot_speedup: str
    matmul_speedup: str
    training_conditions: str
    training: dict[str, tuple[str, str, str]]  # network -> (one at a time, batched, speed-up), on the CPU
    reference_conditions: str
    reference_rows: dict[str, list[dict]]
    reference_peaks: dict[str, str]
    reference_verdicts: list[str]


def read_numbers(root: Path = ROOT) -> SpeedNumbers:
    text = stored_text(root)
    for key in ("dot", "matmul", "training", "reference"):
        if key not in text:
            raise NotFound(f"no cell of notebook 06 has the metadata readme_numbers = {key!r} with stored output")
    conditions = r"^(measured .*)$"
    training = {}
    for row in re.finditer(
        r"^cpu: (?P<name>.+?)\s+[\d,]+\s+(?P<one>[\d.]+ ms)\s+(?P<batched>[\d.]+ ms)\s+" r"(?P<speedup>[\d,]+x)$",
        text["training"],
        re.MULTILINE,
    ):
        training[row["name"]] = (row["one"], row["batched"], row["speedup"])
    if not training:
        raise NotFound("notebook 06's stored training table has no CPU rows")
    verdicts = [line for line in text["reference"].splitlines() if line.startswith(("At n = ", "PyTorch uses one"))]
    return SpeedNumbers(
        dot_conditions=_search(conditions, text["dot"], "conditions line for the dot product")[1],
        dot_speedup=_search(r"one core each: ([\d,]+x)$", text["dot"], "dot-product speed-up")[1],
        matmul_speedup=_search(r"^speed-up:\s+([\d,]+x)", text["matmul"], "matrix-product speed-up")[1],
        training_conditions=_search(conditions, text["training"], "conditions line for training")[1],
        training=training,
        reference_conditions=_search(conditions, text["reference"], "conditions line of the reference sweep")[1],
        reference_rows=hw.parse_sweep_table(text["reference"]),
        reference_peaks=dict(re.findall(r"^estimated peak, (.+?): (.+)$", text["reference"], re.MULTILINE)),
        reference_verdicts=verdicts,
    )


def block(numbers: SpeedNumbers) -> str:
    """The README's block, in words, from the notebook's numbers."""
    rows = numbers.reference_rows
    labels = list(rows)
    if "float32, 1 thread" not in rows or len(labels) < 2:
        raise NotFound("notebook 06's stored reference table lacks its float32 rows")
    one = {r["n"]: r for r in rows["float32, 1 thread"]}
    every_label = labels[-1]
    every = {r["n"]: r for r in rows[every_label]}
    largest = max(one)
    training = "; ".join(
        f"{name}: {one_at_a_time} against {batched}, {speedup}"
        for name, (one_at_a_time, batched, speedup) in numbers.training.items()
    )
    lines = [
        BEGIN,
        f"**On a quiet machine.** The course keeps one sweep of matrix products, recorded with "
        f"`tools/record_cpu_speed.py` and drawn by notebook 06 beside the learner's own: "
        f"{numbers.reference_conditions}. There, one thread reached {one[largest]['rate']} at n = {largest}, "
        f"{one[largest]['percent']:g} % of its estimated {numbers.reference_peaks.get('float32, 1 thread', 'peak')}, "
        f"and {every_label.split(', ')[1]} reached {every[largest]['rate']}, {every[largest]['percent']:g} % of "
        f"{numbers.reference_peaks.get(every_label, 'theirs')}. " + " ".join(numbers.reference_verdicts),
        "",
        f"![Matrix-product FLOP/s on the CPU against its estimated peak, the recorded reference sweep]({FIGURE})",
        "",
        f"**In the notebook's own stored run** ({numbers.dot_conditions}), one tensor operation beat the "
        f"equivalent Python loop by {numbers.dot_speedup} for a dot product and {numbers.matmul_speedup} for a "
        "128 × 128 matrix product, in CPU time of one thread each (the notebook asserts at least 10× and 100×, "
        "and that the results are equal). One epoch of training on the X/O data, one image at a time against "
        f"batches of 32, with the same resulting network ({numbers.training_conditions}), in CPU time: "
        f"{training}. CPU time leaves out the moments other programs had the processor, but a busy machine "
        "still slows memory and caches, so an idle one gives somewhat different ratios.",
        END,
    ]
    return "\n".join(lines)


def replace_block(readme: str, new_block: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise NotFound(f"README.md has no block between {BEGIN!r} and {END!r}")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + new_block + readme[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if README.md is stale")
    args = parser.parse_args()
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    try:
        updated = replace_block(readme, block(read_numbers()))
    except NotFound as error:
        print(error, file=sys.stderr)
        return 1
    if args.check:
        if updated != readme:
            print(
                "README.md's speed numbers differ from notebook 06's stored outputs: run "
                "`.venv/bin/python tools/export_readme_numbers.py`",
                file=sys.stderr,
            )
            return 1
        print("README.md's speed numbers are notebook 06's")
        return 0
    if updated != readme:
        readme_path.write_text(updated, encoding="utf-8")
        print("rewrote the speed numbers in README.md")
    else:
        print("README.md's speed numbers were already notebook 06's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
