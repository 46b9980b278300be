"""requirements.txt, constraints.txt and environment.yml pin the same things."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines) -> dict[str, str]:
    found = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {raw!r}"
        name, version = match.groups()
        found[canonical(name)] = version.split("+")[0]  # +cpu / +cu130 are builds of one version
    return found


def requirements() -> dict[str, str]:
    return pins((ROOT / "requirements.txt").read_text().splitlines())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_every_requirement_is_pinned_exactly():
    reqs = requirements()
    assert reqs["torch"] == "2.14.1" and reqs["torchvision"] == "0.29.1"  # a matching pair
    for name in ("jupyterlab", "matplotlib", "nbval", "pytest"):
        assert name in reqs


def test_environment_yml_pins_python_and_matches_requirements():
    env = environment()
    deps = env["dependencies"]
    assert "python=3.11" in deps, "environment.yml must pin Python"
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pins(pip_section) == requirements()


def test_environment_yml_uses_cpu_only_torch_for_binder():
    pip_section = next(d["pip"] for d in environment()["dependencies"] if isinstance(d, dict))
    assert any("download.pytorch.org/whl/cpu" in line for line in pip_section)
    assert "torch==2.14.1+cpu" in pip_section and "torchvision==0.29.1+cpu" in pip_section


def test_constraints_lock_every_requirement_at_the_same_version():
    locked = pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, version in requirements().items():
        assert locked.get(name) == version, f"constraints.txt locks {name}=={locked.get(name)}"


def test_pyproject_names_only_pinned_packages():
    """The package's dependencies and extras (e.g. ipywidgets for the explorers) are pinned above."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        named += extra
    reqs = requirements()
    for requirement in named:
        name = canonical(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0])
        assert name in reqs, f"pyproject.toml names {requirement!r}, which requirements.txt does not pin"
    assert "ipywidgets" in reqs and any(r.startswith("ipywidgets") for r in named)
