"""Write datasets/iris.csv from the copy of the iris data that scikit-learn ships (how the file was made).

    python -m pip download --no-deps --only-binary=:all: scikit-learn -d /tmp/sk
    unzip -o /tmp/sk/scikit_learn-*.whl 'sklearn/datasets/data/iris.csv' -d /tmp/sk
    .venv/bin/python tools/make_iris_csv.py /tmp/sk/sklearn/datasets/data/iris.csv

scikit-learn's file starts with a line "150,4,setosa,versicolor,virginica" (rows, columns, class
names), then one row per flower: four measurements in cm and a class number 0, 1 or 2. This script
rewrites it with named columns and species names, keeping every measurement exactly as written, in
the same order. It is not needed to use the course: the CSV is committed, and
``tensorlab.data.iris.load_iris`` checks it against ``IRIS_SHA256``. Run it only to rebuild the file.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tensorlab.data.iris import HEADER, IRIS_FILE, SPECIES, file_digest  # noqa: E402


def convert(source: Path, target: Path) -> str:
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    n_rows, n_columns, *names = rows[0]
    if (int(n_rows), int(n_columns), tuple(names)) != (150, 4, SPECIES):
        raise SystemExit(f"{source} does not start with '150,4,setosa,versicolor,virginica'.")
    lines = [",".join(HEADER)]
    for row in rows[1:]:
        *measurements, label = row
        float_values = [float(m) for m in measurements]  # fails loudly on anything but numbers
        assert len(float_values) == 4, row
        lines.append(",".join([*measurements, SPECIES[int(label)]]))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return file_digest(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="scikit-learn's sklearn/datasets/data/iris.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "datasets" / IRIS_FILE)
    args = parser.parse_args()
    print(f"wrote {args.out}; SHA-256 {convert(args.source, args.out)}")


if __name__ == "__main__":
    main()
