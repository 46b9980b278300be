"""Notebook 01's two teaching pictures say what the text beside them says (issue 14: a figure must never
show something other than its caption): the index picture shades exactly what an index takes, and the
matrix-product picture shades row i of A, column j of B and the one element [i, j] of A @ B they make."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from tensorlab.plotting import show_matmul_shapes, show_taken


def _shaded(ax: plt.Axes) -> torch.Tensor:
    """The cells an axes draws in the highlight colour, as a boolean (rows, columns) tensor."""
    image = ax.get_images()[0]
    return torch.as_tensor(image.get_array()).bool()


@pytest.mark.parametrize(
    "index",
    [
        (1,),
        (slice(None), 2),
        (slice(1, 3), slice(2, 5)),
        (-1, slice(-2, None)),
        (slice(None, None, 2), slice(1, None, 2)),
    ],
)
def test_show_taken_shades_exactly_the_elements_an_index_takes(index):
    grid = torch.arange(24).reshape(4, 6)
    taken = torch.zeros(4, 6, dtype=torch.bool)
    taken[index] = True
    fig, ax = plt.subplots()
    try:
        show_taken(grid, taken, ax)
        assert torch.equal(_shaded(ax), taken)
        numbers = [int(text.get_text()) for text in ax.texts]
        assert numbers == grid.flatten().tolist()  # every number written in its own cell, row after row
        bold = [text.get_text() for text in ax.texts if text.get_fontweight() == "bold"]
        assert bold == [str(v) for v in grid[index].flatten().tolist()]
    finally:
        plt.close(fig)


def test_show_taken_refuses_a_mask_of_another_shape():
    with pytest.raises(ValueError, match="boolean mask of its shape"):
        show_taken(torch.arange(6).reshape(2, 3), torch.ones(3, 2, dtype=torch.bool))


@pytest.mark.parametrize(("m", "k", "n", "row", "col"), [(4, 3, 2, 1, 1), (2, 5, 3, 0, 2), (3, 1, 4, 2, 3)])
def test_show_matmul_shapes_draws_the_rule_and_the_row_times_column(m, k, n, row, col):
    fig = show_matmul_shapes(m, k, n, row=row, col=col)
    try:
        left, right, result = fig.axes
        assert tuple(_shaded(left).shape) == (m, k) and tuple(_shaded(right).shape) == (
            k,
            n,
        )
        assert tuple(_shaded(result).shape) == (m, n)
        expected_left = torch.zeros(m, k, dtype=torch.bool)
        expected_left[row] = True
        expected_right = torch.zeros(k, n, dtype=torch.bool)
        expected_right[:, col] = True
        expected_result = torch.zeros(m, n, dtype=torch.bool)
        expected_result[row, col] = True
        assert torch.equal(_shaded(left), expected_left)
        assert torch.equal(_shaded(right), expected_right)
        assert torch.equal(_shaded(result), expected_result)
        assert [ax.get_title() for ax in fig.axes] == [
            f"A: ({m}, {k})",
            f"B: ({k}, {n})",
            f"A @ B: ({m}, {n})",
        ]
        assert fig._suptitle.get_text().startswith(f"({m}, {k}) @ ({k}, {n}) -> ({m}, {n})")
    finally:
        plt.close(fig)
