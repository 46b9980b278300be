"""Fisher's iris flowers, the data of the two-input, three-output network (notebook 03).

150 flowers, 50 of each species (setosa, versicolor, virginica), four measurements in cm. The file
``datasets/iris.csv`` ships with the course (where it comes from, its licence and which of the two
published versions it is: ``datasets/README.md``). :func:`load_iris` reads it and checks it on the
way: the header, every number, the number of rows, 50 flowers of each species and finally the SHA-256
checksum of the whole file. Whatever is wrong, it raises :class:`~tensorlab.data.DatasetError` with one
sentence naming the file and the problem, never a traceback from deep inside a parser.

Example::

    iris = load_iris()
    X = iris.columns("petal_width_cm", "sepal_width_cm")   # (150, 2) float32, in cm
    y = iris.labels                                          # (150,) int64: 0, 1, 2
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from tensorlab.data import DatasetError, datasets_dir

IRIS_FILE = "iris.csv"
FEATURE_NAMES = ("sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm")
HEADER = (*FEATURE_NAMES, "species")
SPECIES = ("setosa", "versicolor", "virginica")  # label 0, 1, 2
FLOWERS_PER_SPECIES = 50
# SHA-256 of datasets/iris.csv with its line endings read as "\n" (so a Windows checkout that turned
# them into "\r\n" still passes). Rebuilding the file with tools/make_iris_csv.py prints it.
IRIS_SHA256 = "b6b8efc86732bc48c9fbddba53e2c191fd4f263c0ee98e2b1b7d3543e8d2121d"


@dataclass(frozen=True)
class IrisData:
    """The iris table as tensors: ``features`` (150, 4) in cm and ``labels`` (150,) int64 in 0..2."""

    features: torch.Tensor
    labels: torch.Tensor
    feature_names: tuple[str, ...] = FEATURE_NAMES
    species: tuple[str, ...] = SPECIES

    def columns(self, *names: str) -> torch.Tensor:
        """The measurements called ``names``, in that order: a (150, len(names)) tensor."""
        unknown = [name for name in names if name not in self.feature_names]
        if unknown:
            raise KeyError(f"no column {unknown[0]!r}; the columns are {', '.join(self.feature_names)}")
        return self.features[:, [self.feature_names.index(name) for name in names]]  # (150, k)


def file_digest(path: Path) -> str:
    """SHA-256 of a text file, its line endings normalised to "\\n"."""
    return hashlib.sha256(Path(path).read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def load_iris(path: Path | str | None = None, dtype: torch.dtype = torch.float32) -> IrisData:
    """Read ``datasets/iris.csv`` (or ``path``) after checking it; see the module docstring."""
    path = Path(path) if path is not None else datasets_dir() / IRIS_FILE
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing; it ships with the course (git checkout -- datasets/{IRIS_FILE} restores it)."
        )
    raw = path.read_bytes().replace(b"\r\n", b"\n")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not UTF-8 text (byte {error.start} cannot be read).") from None
    if not text.strip():
        raise DatasetError(f"{path} is empty.")
    ends_with_newline = text.endswith("\n")
    lines = text.split("\n")
    if ends_with_newline:
        lines.pop()  # the empty string after the final newline

    expected_header = ",".join(HEADER)
    if lines[0] != expected_header:
        raise DatasetError(
            f"{path} has the wrong header: expected '{expected_header}', found " f"'{_shorten(lines[0])}'."
        )

    features, labels = [], []
    for number, line in enumerate(lines[1:], start=2):  # line 1 is the header
        cut_short = number == len(lines) and not ends_with_newline
        try:
            row, label = _parse_row(line)
        except _BadLine as problem:
            if cut_short:
                raise DatasetError(
                    f"{path} is truncated: it ends in the middle of line {number} " f"('{_shorten(line)}')."
                ) from None
            raise DatasetError(f"{path} has {problem} on line {number}.") from None
        features.append(row)
        labels.append(label)

    expected_rows = FLOWERS_PER_SPECIES * len(SPECIES)
    if len(labels) < expected_rows:
        raise DatasetError(
            f"{path} is truncated: it holds {len(labels)} flowers after the header, " f"expected {expected_rows}."
        )
    if len(labels) > expected_rows:
        raise DatasetError(f"{path} has {len(labels)} flowers after the header, expected {expected_rows}.")

    counts = [labels.count(label) for label in range(len(SPECIES))]
    if counts != [FLOWERS_PER_SPECIES] * len(SPECIES):
        found = ", ".join(f"{name} {count}" for name, count in zip(SPECIES, counts))
        raise DatasetError(f"{path} has the wrong class counts: {found} (expected {FLOWERS_PER_SPECIES} of each).")

    digest = hashlib.sha256(raw).hexdigest()
    if digest != IRIS_SHA256:
        raise DatasetError(
            f"{path} has the wrong checksum: its SHA-256 starts {digest[:12]}, expected "
            f"{IRIS_SHA256[:12]}, so some value was changed (git checkout -- datasets/{IRIS_FILE} "
            "restores the shipped file)."
        )

    return IrisData(
        features=torch.tensor(features, dtype=dtype),  # (150, 4)
        labels=torch.tensor(labels, dtype=torch.int64),  # (150,)
    )


class _BadLine(Exception):
    """What is wrong with one line, as the middle of a sentence ("a bad number 'x' in ...")."""


def _parse_row(line: str) -> tuple[list[float], int]:
    fields = line.split(",")
    if len(fields) != len(HEADER):
        if not line.strip():
            raise _BadLine("nothing")
        raise _BadLine(f"{len(fields)} value{'' if len(fields) == 1 else 's'} instead of {len(HEADER)}")
    values = []
    for name, field in zip(FEATURE_NAMES, fields):
        try:
            value = float(field)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise _BadLine(f"a bad number '{_shorten(field)}' in column {name} (expected a length in cm)")
        values.append(value)
    species = fields[-1]
    if species not in SPECIES:
        raise _BadLine(f"an unknown species '{_shorten(species)}' (expected one of {', '.join(SPECIES)})")
    return values, SPECIES.index(species)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
