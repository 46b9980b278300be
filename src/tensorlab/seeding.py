"""Seed every random source in one call, so printed numbers repeat run after run (notebook 00)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU).

    Returns a fresh ``torch.Generator`` seeded the same way, for code that wants its own stream
    (a ``DataLoader``'s shuffling, a data generator) so that it does not depend on what ran before.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
