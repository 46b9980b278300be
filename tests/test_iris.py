"""datasets/iris.csv and its loader: the right data, and one clear sentence for every kind of damage."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from tensorlab.data import DatasetError, datasets_dir
from tensorlab.data.iris import FEATURE_NAMES, HEADER, IRIS_FILE, IRIS_SHA256, SPECIES, IrisData, file_digest, load_iris

SHIPPED = datasets_dir() / IRIS_FILE
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def iris() -> IrisData:
    return load_iris()


@pytest.fixture
def shipped_lines() -> list[str]:
    return SHIPPED.read_text(encoding="utf-8").split("\n")  # the last element is "" (final newline)


# --- the shipped file ------------------------------------------------------------------------------


def test_shipped_file_matches_its_checksum():
    assert file_digest(SHIPPED) == IRIS_SHA256


def test_shape_dtype_and_fifty_flowers_of_each_species(iris):
    assert iris.features.shape == (150, 4) and iris.features.dtype == torch.float32
    assert iris.labels.shape == (150,) and iris.labels.dtype == torch.int64
    assert iris.labels.bincount().tolist() == [50, 50, 50]
    assert iris.labels.tolist() == [0] * 50 + [1] * 50 + [2] * 50  # the classic order
    assert iris.feature_names == FEATURE_NAMES and iris.species == SPECIES == ("setosa", "versicolor", "virginica")


def test_it_is_the_version_of_fishers_paper_not_ucis_two_wrong_rows(iris):
    # UCI's iris.names: flower 35 should be 4.9,3.1,1.5,0.2 and flower 38 4.9,3.6,1.4,0.1 (UCI has 0.1 and 3.1,1.5).
    torch.testing.assert_close(iris.features[34], torch.tensor([4.9, 3.1, 1.5, 0.2]))
    torch.testing.assert_close(iris.features[37], torch.tensor([4.9, 3.6, 1.4, 0.1]))
    setosa = iris.features[iris.labels == 0].double()  # (50, 4)
    sepal_width_mean, petal_width_mean = setosa[:, 1].mean().item(), setosa[:, 3].mean().item()
    assert round(sepal_width_mean, 3) == 3.428 and round(petal_width_mean, 3) == 0.246  # UCI: 3.418, 0.244


def test_known_summary_statistics(iris):
    features = iris.features.double()
    assert features.min(dim=0).values.tolist() == pytest.approx([4.3, 2.0, 1.0, 0.1])
    assert features.max(dim=0).values.tolist() == pytest.approx([7.9, 4.4, 6.9, 2.5])
    assert features.mean(dim=0).tolist() == pytest.approx([5.843333, 3.057333, 3.758, 1.199333], abs=1e-6)


def test_columns_picks_measurements_by_name_in_the_order_asked(iris):
    chosen = iris.columns("petal_width_cm", "sepal_width_cm")
    assert chosen.shape == (150, 2)
    assert torch.equal(chosen, iris.features[:, [3, 1]])
    with pytest.raises(KeyError, match="no column 'petal_area'"):
        iris.columns("petal_area")


def test_float64_on_request():
    assert load_iris(dtype=torch.float64).features.dtype == torch.float64


def test_windows_line_endings_are_accepted(tmp_path):
    copy = tmp_path / IRIS_FILE
    copy.write_bytes(SHIPPED.read_bytes().replace(b"\n", b"\r\n"))
    assert torch.equal(load_iris(copy).features, load_iris().features)


def test_the_tool_that_made_the_file_rebuilds_it_byte_for_byte(tmp_path, iris, shipped_lines):
    # Write the data back in scikit-learn's layout, then convert it with tools/make_iris_csv.py.
    sklearn_layout = ["150,4,setosa,versicolor,virginica"] + [
        ",".join(line.split(",")[:4] + [str(SPECIES.index(line.split(",")[4]))]) for line in shipped_lines[1:-1]
    ]
    source = tmp_path / "sklearn_iris.csv"
    source.write_text("\n".join(sklearn_layout) + "\n")
    spec = importlib.util.spec_from_file_location("make_iris_csv", ROOT / "tools" / "make_iris_csv.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    target = tmp_path / IRIS_FILE
    assert tool.convert(source, target) == IRIS_SHA256
    assert target.read_bytes() == SHIPPED.read_bytes()


# --- damaged copies: one sentence naming the file and the problem ----------------------------------


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / IRIS_FILE
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _error_for(path: Path) -> str:
    with pytest.raises(DatasetError) as caught:
        load_iris(path)
    message = str(caught.value)
    assert str(path) in message, message  # names the file
    assert "\n" not in message and message.endswith("."), message  # one sentence
    return message


def _joined(lines: list[str]) -> str:
    return "\n".join(lines)


def test_missing_file(tmp_path):
    assert "is missing" in _error_for(tmp_path / IRIS_FILE)


def test_empty_file(tmp_path):
    assert "is empty" in _error_for(_write(tmp_path, ""))


def test_not_utf8(tmp_path):
    assert "is not UTF-8 text" in _error_for(_write(tmp_path, b"\xff\xfe" + SHIPPED.read_bytes()))


@pytest.mark.parametrize(
    "header",
    [
        "sepal_length,sepal_width,petal_length,petal_width,species",  # the units left out
        ",".join(reversed(HEADER)),
        "5.1,3.5,1.4,0.2,setosa",  # no header at all
    ],
)
def test_wrong_header(tmp_path, shipped_lines, header):
    message = _error_for(_write(tmp_path, _joined([header] + shipped_lines[1:])))
    assert "has the wrong header" in message and ",".join(HEADER) in message


def test_truncated_in_the_middle_of_a_line(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    message = _error_for(_write(tmp_path, text[: len(text) // 2]))
    assert "is truncated: it ends in the middle of line 78" in message


def test_truncated_at_the_end_of_a_line(tmp_path, shipped_lines):
    message = _error_for(_write(tmp_path, _joined(shipped_lines[:121] + [""])))
    assert "is truncated: it holds 120 flowers after the header, expected 150" in message


def test_last_line_cut_inside_the_species_name(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8").rstrip("\n")
    message = _error_for(_write(tmp_path, text[:-4]))  # "...,virgi"
    assert "is truncated: it ends in the middle of line 151" in message


@pytest.mark.parametrize(
    "line_number, bad, words",
    [
        (10, "4.4,2.9,abc,0.2,setosa", "a bad number 'abc' in column petal_length_cm"),
        (60, "5.2,,3.9,1.4,versicolor", "a bad number '' in column sepal_width_cm"),
        (2, "5.l,3.5,1.4,0.2,setosa", "a bad number '5.l' in column sepal_length_cm"),
        (120, "6.0,2.2,5.0,-1.5,virginica", "a bad number '-1.5' in column petal_width_cm"),
        (121, "6.9,3.2,5.7,nan,virginica", "a bad number 'nan' in column petal_width_cm"),
        (40, "5.1,3.4,1.5,0.2,Iris-setosa", "an unknown species 'Iris-setosa'"),
        (75, "6.4,2.9,4.3,1.3", "4 values instead of 5"),
        (76, "6.6;3.0;4.4;1.4;versicolor", "1 value instead of 5"),
        (77, "", "nothing"),
    ],
)
def test_bad_line_is_named_with_its_number(tmp_path, shipped_lines, line_number, bad, words):
    lines = list(shipped_lines)
    lines[line_number - 1] = bad
    message = _error_for(_write(tmp_path, _joined(lines)))
    assert f"has {words}" in message and message.endswith(f"on line {line_number}."), message


def test_an_extra_flower(tmp_path, shipped_lines):
    lines = shipped_lines[:-1] + [shipped_lines[-2], ""]  # the last flower twice
    assert "has 151 flowers after the header, expected 150" in _error_for(_write(tmp_path, _joined(lines)))


def test_wrong_class_counts(tmp_path, shipped_lines):
    lines = list(shipped_lines)
    lines[100] = lines[100].replace("versicolor", "virginica")  # line 101, the last versicolor
    message = _error_for(_write(tmp_path, _joined(lines)))
    assert "has the wrong class counts: setosa 50, versicolor 49, virginica 51 (expected 50 of each)" in message


@pytest.mark.parametrize(
    "old, new",
    [
        ("\n5.1,3.5,1.4,0.2,setosa", "\n5.1,3.5,1.4,0.3,setosa"),  # one value changed, still a valid row
        ("\n4.9,3.6,1.4,0.1,setosa", "\n4.9,3.1,1.5,0.1,setosa"),  # UCI's version of flower 38
        ("\n5.1,3.5,1.4,0.2,setosa", "\n5.10,3.5,1.4,0.2,setosa"),  # same number, different text
    ],
)
def test_any_other_change_is_caught_by_the_checksum(tmp_path, old, new):
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    message = _error_for(_write(tmp_path, text.replace(old, new, 1)))
    assert "has the wrong checksum" in message and IRIS_SHA256[:12] in message
