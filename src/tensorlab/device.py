"""Pick the compute device once, the same way in every notebook (introduced in notebook 00).

Order of preference: CUDA, then Apple's MPS, then the CPU. The environment variable
``TENSORLAB_DEVICE`` overrides the choice (``cpu``, ``cuda``, ``cuda:1``, ``mps``); the script that
runs the whole course on a GPU uses it, and so can a learner who wants to compare devices.
"""

from __future__ import annotations

import os

import torch

DEVICE_ENV_VAR = "TENSORLAB_DEVICE"


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the best available device, or the one asked for by ``prefer`` / $TENSORLAB_DEVICE.

    Asking for a device that is not available raises a RuntimeError that says so in words, rather
    than failing later with a CUDA error deep inside a model.
    """
    wanted = prefer or os.environ.get(DEVICE_ENV_VAR, "").strip()
    if wanted:
        device = torch.device(wanted)
        if not device_is_available(device):
            raise RuntimeError(
                f"Device '{wanted}' was requested (argument or ${DEVICE_ENV_VAR}) but is not "
                f"available on this machine; available: {', '.join(available_devices())}."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps_is_available():
        return torch.device("mps")
    return torch.device("cpu")


def mps_is_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_is_available(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        index = device.index or 0
        return torch.cuda.is_available() and index < torch.cuda.device_count()
    if device.type == "mps":
        return mps_is_available()
    return False


def available_devices() -> list[str]:
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if mps_is_available():
        names.append("mps")
    return names


def describe_device(device: torch.device | str) -> str:
    """One line for a learner: the device type and, for a GPU, its name and memory."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return "cpu"


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` to finish (a no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
