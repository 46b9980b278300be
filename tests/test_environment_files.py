"""requirements.txt, constraints.txt and environment.yml pin the same things; pyproject.toml declares them."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

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


# --- pyproject.toml declares what the package imports ----------------------------------------------


def declared() -> dict[str, set[str]]:
    """pyproject.toml's dependency names: {"core": {...}, "notebooks": {...}, ...} (self-references left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"], **project.get("optional-dependencies", {})}
    return {
        group: {canonical(Requirement(r).name) for r in reqs if Requirement(r).name != project["name"]}
        for group, reqs in groups.items()
    }


def third_party_imports(paths) -> dict[str, set[str]]:
    """{top-level module: files importing it} for the absolute imports that are not the standard
    library, the course package or a module of the repository's own."""
    local = {p.stem for p in ROOT.glob("*/*.py")} | {p.stem for p in ROOT.glob("*.py")} | {"tests"}
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "tensorlab" and top not in local:
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


@functools.cache
def _module_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # slow: reads every installed package once


def distributions_of(module: str) -> set[str]:
    return {canonical(d) for d in _module_distributions().get(module, [])}


def installed_closure(names: set[str]) -> set[str]:
    """The names and everything they require, as installed here (extras and other platforms aside)."""
    seen, todo = set(), list(names)
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


# Modules that only the host provides, never installed by pip: google.colab exists only inside Colab
# (tensorlab.launch imports it there, guarded).
PROVIDED_BY_HOST = {"google"}


def test_every_import_of_the_package_is_declared_in_pyproject():
    groups = declared()
    everything = set().union(*groups.values())
    imports = third_party_imports((ROOT / "src" / "tensorlab").rglob("*.py"))
    assert {"torch", "nbclient"} <= set(imports), "the import scan found nothing: it checks nothing"
    undeclared = {
        module: sorted(files)
        for module, files in imports.items()
        if not distributions_of(module) & everything and module not in PROVIDED_BY_HOST
    }
    assert not undeclared, f"imported by the package but not declared in pyproject.toml: {undeclared}"


def test_what_learners_run_needs_only_the_core_dependencies():
    """Notebooks import the package's learner-facing modules; those may use the core alone."""
    core = declared()["core"]
    learner_modules = [
        p
        for p in (ROOT / "src" / "tensorlab").rglob("*.py")
        if not p.relative_to(ROOT / "src" / "tensorlab")
        .parts[0]
        .startswith(("grading", "authoring", "executing", "launch", "study_time", "nbgrader_export"))
    ]
    imports = third_party_imports(learner_modules)
    outside = {module: sorted(files) for module, files in imports.items() if not distributions_of(module) & core}
    assert not outside, f"learner-facing modules import what the core dependencies lack: {outside}"


def test_declared_names_are_locked_and_every_pin_is_declared():
    everything = set().union(*declared().values())
    locked = pins((ROOT / "constraints.txt").read_text().splitlines())
    site = pins((ROOT / "requirements-site.txt").read_text().splitlines())  # the [site] extra's own lock
    assert declared()["site"] <= set(site), "the [site] extra names what requirements-site.txt does not pin"
    locked |= site
    assert not everything - set(locked), f"declared in pyproject.toml but not locked: {everything - set(locked)}"
    assert (
        not set(requirements()) - everything
    ), f"pinned in requirements.txt but declared nowhere in pyproject.toml: {set(requirements()) - everything}"


def test_tests_and_tools_import_only_what_the_dev_extra_installs():
    dev = installed_closure({"tensorlab"} | set().union(*declared().values()))
    files = [*(ROOT / "tests").glob("*.py"), *(ROOT / "tools").glob("*.py"), ROOT / "conftest.py"]
    imports = third_party_imports(files)
    assert {"pytest", "nbformat"} <= set(imports), "the import scan found nothing: it checks nothing"
    missing = {module: sorted(where) for module, where in imports.items() if not distributions_of(module) & dev}
    assert not missing, f"tests/ or tools/ import what tensorlab[dev] does not install: {missing}"
