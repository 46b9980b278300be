"""Binder: environment.yml and postBuild follow repo2docker's conventions and match the pip pins.

(tests/test_environment_files.py already checks that environment.yml pins Python and the same
versions as requirements.txt; this adds what repo2docker itself relies on, and runs postBuild.)
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from tensorlab import launch

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def pip_section() -> list[str]:
    return next(d["pip"] for d in environment()["dependencies"] if isinstance(d, dict) and "pip" in d)


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[requirement.name.lower()] = str(requirement.specifier)
    return pins


def test_repo2docker_reads_the_files_at_the_root():
    """With a binder/ or .binder/ folder, repo2docker would ignore environment.yml and postBuild here."""
    assert (ROOT / "environment.yml").is_file() and (ROOT / "postBuild").is_file()
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()


def test_environment_pins_the_python_the_course_needs():
    deps = [d for d in environment()["dependencies"] if isinstance(d, str)]
    pythons = [d for d in deps if re.match(r"python\s*[=<>]", d)]
    assert pythons == ["python=3.11"], "repo2docker takes the Python version from one 'python=X.Y' line"
    makefile = (ROOT / "Makefile").read_text()
    assert "v[:2] == (3, 11)" in makefile, "make lab / make test and Binder must use the same Python"
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()


def test_pip_is_installed_by_conda_before_the_pip_section():
    deps = environment()["dependencies"]
    pip_index = next(i for i, d in enumerate(deps) if isinstance(d, dict) and "pip" in d)
    assert "pip" in deps[:pip_index], "list pip as a conda dependency, or the pip section is not installed"


def test_only_conda_forge():
    assert environment()["channels"] == ["conda-forge"]


def test_pip_section_names_no_local_file_so_binder_can_cache_the_environment():
    """repo2docker builds environment.yml before copying the repository in, unless a pip line names
    a local file (-e ., -r, -c, a path); the package itself is postBuild's job."""
    for line in pip_section():
        assert not re.match(r"(-e|--editable|-r|--requirement|-c|--constraint)\b|[./]", line.strip()), line


def test_pip_section_is_exact_pins_with_cpu_torch_and_the_requirements_versions():
    options = [line for line in pip_section() if line.startswith("-")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    env_pins = {}
    for line in pip_section():
        if line.startswith("-"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line}: pin exactly"
        env_pins[requirement.name.lower()] = spec.version
    assert env_pins["torch"] == "2.14.1+cpu" and env_pins["torchvision"] == "0.29.1+cpu"
    assert {name: f"=={version.split('+')[0]}" for name, version in env_pins.items()} == requirement_pins()


def fake_tools(folder: Path, python_exit: int = 0) -> Path:
    """``pip`` and ``python`` stand-ins that record how postBuild calls them."""
    folder.mkdir()
    for tool, code in (("pip", 0), ("python", python_exit)):
        script = folder / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $* (in $PWD)" >> "$CALLS"\nexit {code}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def run_post_build(tmp_path: Path, python_exit: int = 0) -> tuple[int, list[str]]:
    calls = tmp_path / "calls.txt"
    tools = fake_tools(tmp_path / "bin", python_exit)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls)}
    done = subprocess.run(["./postBuild"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, calls.read_text().splitlines() if calls.exists() else []


def test_post_build_is_executable_and_installs_the_package_without_touching_torch(tmp_path):
    mode = subprocess.run(["git", "ls-files", "-s", "postBuild"], cwd=ROOT, capture_output=True, text=True).stdout
    assert mode.startswith("100755"), "repo2docker runs postBuild only if git keeps it executable"
    code, calls = run_post_build(tmp_path)
    assert code == 0
    assert calls[0] == f"pip install --no-cache-dir --no-deps -e . (in {ROOT})"
    assert calls[1].startswith("python -c ") and "print_environment_report" in calls[1]
    assert len(calls) == 2


def test_post_build_fails_the_build_when_the_environment_check_fails(tmp_path):
    code, calls = run_post_build(tmp_path, python_exit=1)
    assert code != 0 and len(calls) == 2


def test_binder_badge_opens_notebook_00_in_jupyterlab():
    owner, repo = launch.github_owner_and_repo()
    assert launch.binder_url("notebooks/00_start_here.ipynb") == (
        f"https://mybinder.org/v2/gh/{owner}/{repo}/{launch.COURSE_BRANCH}"
        "?urlpath=lab/tree/notebooks/00_start_here.ipynb"
    )
    assert (ROOT / "notebooks" / "00_start_here.ipynb").is_file()
