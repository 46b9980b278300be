"""Notebook 00, "Start here": no exercises to check, only its two open-ended questions (``ex.discuss(N)``)."""

from __future__ import annotations

# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions").
from tensorlab.checking import Discussion, Discussions

discuss = Discussions(
    Discussion(
        "You and a friend both run torch.manual_seed(0) and then torch.rand(3). Do you see the same numbers?",
        "On the CPU, with the same PyTorch release: yes. The seed fixes where PyTorch's random number "
        "generator starts, and from there the sequence is pure arithmetic, the same on every machine that "
        "runs that release.\n\n"
        "Not necessarily otherwise. A GPU has generators of its own, and torch.rand(3, device='cuda') gives "
        "other numbers than the CPU for the same seed. PyTorch does not promise the same numbers across "
        "releases either (its notes on reproducibility say so). And the seed fixes a sequence, not each "
        "number: if your friend's code draws one random number more before yours (a dropout layer, a "
        "shuffled batch), every later number shifts.\n\n"
        "Even with the same random numbers, results can differ in the last digits: a sum computed by two "
        "threads, or by a GPU kernel, adds in another order, and floating-point addition depends on the "
        "order. That is why the course prints rounded numbers.",
    ),
    Discussion(
        "What can a PyTorch tensor do that a Python list of lists of numbers cannot?",
        "A list holds any Python objects, each a separate box in memory; a tensor holds numbers of one dtype "
        "side by side in one block, and knows its shape. That is what makes arithmetic on a whole tensor "
        "run as one fast loop in compiled code instead of millions of Python steps (notebook 06 measures "
        "it), and what lets the same block live on a GPU, the lecture's point about hardware acceleration.\n\n"
        "NumPy's ndarray already has the first two. What the lecture adds for tensors, and PyTorch "
        "delivers, is the rest: the same code runs on a GPU with .to(device), and a tensor can record the "
        "operations that made it, so autograd computes the derivatives that training needs (notebook 02).",
    ),
)
