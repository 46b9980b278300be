"""The environment check of notebook 00: versions, device, and what to fix, in plain words."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib import metadata

# What the course is tested with (requirements.txt pins these).
EXPECTED = {"python": (3, 11), "torch": "2.14.1", "torchvision": "0.29.1"}
COLAB_NOTE = "In Colab, keep Colab's own torch and torchvision: never reinstall them."


@dataclass
class Finding:
    item: str
    value: str
    ok: bool
    advice: str = ""

    def line(self) -> str:
        mark = "ok " if self.ok else "FIX"
        text = f"[{mark}] {self.item:<12} {self.value}"
        return text + (f"\n      -> {self.advice}" if self.advice else "")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _public(version: str) -> str:
    return version.split("+")[0]


def check_environment(in_colab: bool | None = None) -> list[Finding]:
    """Look at Python, torch, torchvision and the devices; say what to fix for each problem."""
    in_colab = "google.colab" in sys.modules if in_colab is None else in_colab
    findings: list[Finding] = []
    py = sys.version_info[:2]
    findings.append(
        Finding(
            "python",
            platform.python_version(),
            py >= EXPECTED["python"],
            ""
            if py >= EXPECTED["python"]
            else "The course needs Python 3.11 or newer: "
            "run `make lab`, which builds its own environment with Python 3.11.",
        )
    )
    torch_version, vision_version = _version("torch"), _version("torchvision")
    for name, found in (("torch", torch_version), ("torchvision", vision_version)):
        if found is None:
            findings.append(
                Finding(
                    name,
                    "not installed",
                    False,
                    f"Install the course's pinned packages: run `make lab` from the "
                    f"repository (it installs {name}=={EXPECTED[name]}).",
                )
            )
        elif _public(found) != EXPECTED[name] and not in_colab:
            findings.append(
                Finding(
                    name,
                    found,
                    True,
                    f"The course is tested with {name} {EXPECTED[name]}; this one "
                    "should work, but if something differs, use `make lab`.",
                )
            )
        else:
            findings.append(Finding(name, found, True))
    if torch_version and vision_version:
        try:
            import torch
            import torchvision.ops

            torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
            findings.append(Finding("pair", "torch and torchvision work together", True))
        except Exception as error:  # any failure here is the mismatch
            findings.append(
                Finding(
                    "pair",
                    "torch and torchvision do not match",
                    False,
                    f"They were built for different versions ({type(error).__name__}). Install them "
                    "together as a pair (requirements.txt pins one). " + (COLAB_NOTE if in_colab else ""),
                )
            )
    findings.extend(device_findings())
    return findings


def device_findings() -> list[Finding]:
    import torch

    from tensorlab.device import describe_device, mps_is_available, pick_device

    findings = []
    if torch.cuda.is_available():
        findings.append(Finding("cuda", describe_device("cuda"), True))
    else:
        built = torch.backends.cuda.is_built()
        findings.append(
            Finding(
                "cuda",
                "no CUDA GPU visible",
                True,
                "Everything runs on the CPU; notebook 06 sets the CPU against what a GPU offers. "
                + (
                    "(This torch is built for CUDA: it uses an NVIDIA GPU where there is one; in Colab, Runtime > "
                    "Change runtime type > GPU.)"
                    if built
                    else "(This torch is a CPU-only build.)"
                ),
            )
        )
    if mps_is_available():
        findings.append(Finding("mps", "Apple GPU available", True))
    findings.append(Finding("device", f"the course will use: {describe_device(pick_device())}", True))
    return findings


def print_environment_report(findings: list[Finding] | None = None) -> bool:
    """Print one line per finding; return True when nothing needs fixing."""
    findings = findings if findings is not None else check_environment()
    for finding in findings:
        print(finding.line())
    problems = [f for f in findings if not f.ok]
    print(
        "All set: nothing to fix."
        if not problems
        else f"{len(problems)} thing(s) to fix before going on: see FIX above."
    )
    return not problems
