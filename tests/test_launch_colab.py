"""Colab: every notebook's badges and setup cell agree with the one configured address, one command
rewrites them all, and the setup cell installs exactly what it should in Colab and nothing elsewhere.

The setup cell is executed for real, in a separate Python, with a fake ``google.colab`` module and a
recording stand-in for ``subprocess.run``: no network, no install, but every command it would run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tensorlab import authoring, launch

ROOT = Path(__file__).resolve().parents[1]
ALL_NOTEBOOKS = authoring.solution_paths() + authoring.notebook_paths(authoring.STUDENT_DIR)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_opens_itself_from_the_configured_address(path: Path):
    problems = authoring.launch_problems(path)
    assert not problems, "run `make badges`:\n" + "\n".join(problems)
    title = launch.title_cell(nbformat.read(path, as_version=4)).source
    owner, repo = launch.github_owner_and_repo()
    assert (
        f"https://colab.research.google.com/github/{owner}/{repo}/blob/{launch.COURSE_BRANCH}/"
        f"{path.parent.name}/{path.name})"
    ) in title  # student copies open notebooks/, solutions solutions/


def test_badges_are_well_formed_links():
    line = launch.badge_line("notebooks/00_start_here.ipynb", repo_url="https://github.com/a-b/c.d", branch="dev")
    assert line == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/a-b/c.d/blob/dev/notebooks/00_start_here.ipynb) "
        "[![Launch Binder](https://mybinder.org/badge_logo.svg)]"
        "(https://mybinder.org/v2/gh/a-b/c.d/dev?urlpath=lab/tree/notebooks/00_start_here.ipynb)"
    )
    for bad in ("https://gitlab.com/a/b", "https://github.com/a", "https://github.com/a/b.git", "git@github.com:a/b"):
        with pytest.raises(ValueError, match="COURSE_REPO_URL must look like"):
            launch.colab_url("x.ipynb", repo_url=bad)


def test_badges_are_inserted_once_and_replaced_in_place():
    title = "# 09 · A title\n\n**What you will learn.** Things."
    once = launch.with_badges(title, "solutions/09_x.ipynb")
    assert once.split("\n")[:4] == ["# 09 · A title", "", launch.badge_line("solutions/09_x.ipynb"), ""]
    assert launch.with_badges(once, "solutions/09_x.ipynb") == once
    moved = launch.with_badges(once, "solutions/09_x.ipynb", repo_url="https://github.com/fork/course")
    assert launch.badge_lines(moved) == [
        launch.badge_line("solutions/09_x.ipynb", repo_url="https://github.com/fork/course")
    ]
    assert moved.endswith("**What you will learn.** Things.")


def test_one_command_rewrites_every_notebook_when_the_address_changes(tmp_path):
    """Copy the course, change the address in tensorlab/launch.py, run `badges`: all follow it."""
    for folder in ("src", "solutions", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    config = tmp_path / "src" / "tensorlab" / "launch.py"
    text = config.read_text()
    assert text.count(f'COURSE_REPO_URL = "{launch.COURSE_REPO_URL}"') == 1
    config.write_text(
        text.replace(
            f'COURSE_REPO_URL = "{launch.COURSE_REPO_URL}"',
            'COURSE_REPO_URL = "https://github.com/a-fork/tensors-course"',
        ).replace(f'COURSE_BRANCH = "{launch.COURSE_BRANCH}"', 'COURSE_BRANCH = "spring"')
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "tensorlab.authoring", "badges"]
    run = subprocess.run(cli, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for path in authoring.notebook_paths(tmp_path / "solutions"):  # every one had the old address
        assert f"rewrote the badges/setup cell of solutions/{path.name}" in run.stdout
    after = subprocess.run(cli + ["--check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stdout
    solutions = authoring.notebook_paths(tmp_path / "solutions")
    copies = solutions + authoring.notebook_paths(tmp_path / "notebooks")
    assert solutions and len(copies) == 2 * len(solutions)
    for path in copies:
        notebook = nbformat.read(path, as_version=4)
        assert (
            f"colab.research.google.com/github/a-fork/tensors-course/blob/spring/{path.parent.name}/{path.name}"
            in launch.title_cell(notebook).source
        )
        setup = launch.setup_code_cell(notebook).source
        assert "--branch spring https://github.com/a-fork/tensors-course " in setup


# ---- the setup cell, run with a fake Colab ------------------------------------------------------
# The cell's shell command runs for real, with a fake `git` first on PATH that records its arguments
# and "clones" an empty course folder; pip is recorded, never run. The Colab folder is a temporary one
# (the cell's text and tensorlab.launch.COLAB_COURSE_DIR are pointed at it).
FAKE_GIT = """#!/bin/sh
echo "$@" >> "$FAKE_GIT_LOG"
for last; do :; done
mkdir -p "$last/notebooks" "$last/src"
"""

HARNESS = r"""
import importlib.util, json, os, subprocess, sys, types

cell = open(sys.argv[1], encoding="utf-8").read()
scenarios, course, git_log = json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
import tensorlab.launch
cell = cell.replace(tensorlab.launch.COLAB_COURSE_DIR, course)
tensorlab.launch.COLAB_COURSE_DIR = course
real_run, real_find_spec, real_chdir = subprocess.run, importlib.util.find_spec, os.chdir
results = {}
for name, scenario in scenarios.items():
    commands, chdirs = [], []
    open(git_log, "w").close()
    if scenario["cloned"]:
        os.makedirs(course + "/notebooks", exist_ok=True)
    elif os.path.isdir(course):
        import shutil
        shutil.rmtree(course)
    for module in ("google", "google.colab", "google.colab.output"):
        sys.modules.pop(module, None)
    widget_manager = []  # calls of google.colab.output.enable_custom_widget_manager
    if scenario["colab"]:
        sys.modules["google"] = types.ModuleType("google")
        sys.modules["google.colab"] = colab = types.ModuleType("google.colab")
        sys.modules["google.colab.output"] = colab.output = types.ModuleType("google.colab.output")
        colab.output.enable_custom_widget_manager = lambda: widget_manager.append("enabled")
    os.environ.update(scenario.get("env", {}))
    pythonpath_before = os.environ.get("PYTHONPATH", "")

    def run(argv, **kw):
        if kw.get("shell"):  # the cell's clone command: run it, with the fake git
            commands.append(argv)
            return real_run(argv, **kw)
        commands.append([str(a) for a in argv])  # pip: recorded only
        return subprocess.CompletedProcess(argv, 0)

    subprocess.run = run
    importlib.util.find_spec = lambda n, *a: None if n in scenario["missing"] else real_find_spec(n, *a)
    os.chdir = chdirs.append
    path_before = list(sys.path)
    namespace = {"__name__": "__main__"}
    exec(compile(cell, "<setup cell>", "exec"), namespace)
    results[name] = {"commands": commands, "chdirs": chdirs, "git": open(git_log).read().splitlines(),
                     "device": str(namespace["device"]), "torch": namespace["torch"].__name__,
                     "new_path": [p for p in sys.path if p not in path_before], "widget_manager": widget_manager,
                     "pythonpath": os.environ.get("PYTHONPATH", ""), "pythonpath_before": pythonpath_before}
    sys.path[:] = path_before
    os.environ["PYTHONPATH"] = pythonpath_before
    subprocess.run, importlib.util.find_spec, os.chdir = real_run, real_find_spec, real_chdir
print(json.dumps(results))
"""

SCENARIOS = {
    "colab, first run": {"colab": True, "cloned": False, "missing": ["av"]},
    "colab, run again": {"colab": True, "cloned": True, "missing": []},
    "colab, course there, PyAV not": {"colab": True, "cloned": True, "missing": ["av"]},
    "own machine": {"colab": False, "cloned": False, "missing": []},
    "binder": {
        "colab": False,
        "cloned": False,
        "missing": [],
        "env": {"BINDER_LAUNCH_HOST": "https://mybinder.org/", "BINDER_REPO_URL": launch.COURSE_REPO_URL},
    },
}


# The fake-Colab runs happen once, in one pytest-xdist worker, for all the tests that read them.
COLAB_GROUP = pytest.mark.xdist_group(name="colab-setup-cell")


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("content") / "tensors-for-neural-networks")


@pytest.fixture(scope="module")
def setup_runs(tmp_path_factory, course_dir):
    folder = tmp_path_factory.mktemp("setup")
    cell = folder / "setup_cell.py"
    cell.write_text(authoring.SETUP_CELL, encoding="utf-8")
    fake_bin = folder / "bin"
    fake_bin.mkdir()
    (fake_bin / "git").write_text(FAKE_GIT)
    (fake_bin / "git").chmod(0o755)
    git_log = folder / "git.log"
    env = {
        **os.environ,
        "TENSORLAB_DEVICE": "cpu",
        "FAKE_GIT_LOG": str(git_log),
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
    }
    run = subprocess.run(
        [sys.executable, "-c", HARNESS, str(cell), json.dumps(SCENARIOS), course_dir, str(git_log)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *args]


def test_the_setup_cell_is_a_few_readable_lines():
    lines = authoring.SETUP_CELL.strip().splitlines()
    assert len(lines) <= 8, authoring.SETUP_CELL
    assert lines[0].startswith("# Setup")
    assert "device = setup()" in lines[-1] and "import torch" in lines
    assert "!" not in authoring.SETUP_CELL.replace("!=", "")  # plain Python: tools/run_course_on_cuda.py execs it


@COLAB_GROUP
def test_in_a_fresh_colab_the_cell_clones_and_adds_only_pyav(setup_runs, course_dir):
    run = setup_runs["colab, first run"]
    assert run["git"] == [
        f"clone --quiet --depth 1 --branch {launch.COURSE_BRANCH} {launch.COURSE_REPO_URL} {course_dir}"
    ]
    assert run["commands"][1:] == [pip("av==18.1.0")]
    assert run["chdirs"] == [f"{course_dir}/notebooks"] and run["new_path"] == [f"{course_dir}/src"]
    # torchrun's workers (notebook 07) are new processes: they find the package through PYTHONPATH
    assert run["pythonpath"].split(os.pathsep)[0] == f"{course_dir}/src"
    assert run["device"] == "cpu" and run["torch"] == "torch"  # the rest of the cell ran: device chosen, torch there


@COLAB_GROUP
def test_in_colab_the_cell_turns_on_the_widget_manager_the_explorers_need(setup_runs):
    # Colab draws ipywidgets 8 (and third-party widgets) only with its custom widget manager; the
    # learner is told nothing to do, so every Colab run of the cell must turn it on, once.
    for name in ("colab, first run", "colab, run again", "colab, course there, PyAV not"):
        assert setup_runs[name]["widget_manager"] == ["enabled"], name
    # and the setup cell says so, for the learner who reads it
    assert "widgets" in authoring.SETUP_CELL.splitlines()[2]


@COLAB_GROUP
def test_in_colab_the_cell_never_touches_torch_or_torchvision(setup_runs):
    for name in ("colab, first run", "colab, course there, PyAV not"):
        for command in setup_runs[name]["commands"]:
            if isinstance(command, list) and "pip" in command:
                assert "--no-deps" in command, f"{name}: {command} could pull torch in as a dependency"
            words = command if isinstance(command, list) else command.split()
            assert not any(re.match(r"torch(vision)?\b", arg) for arg in words), f"{name}: {command}"


@COLAB_GROUP
def test_in_colab_a_second_run_clones_nothing_and_only_missing_packages_are_installed(setup_runs, course_dir):
    again = setup_runs["colab, run again"]
    assert again["git"] == [] and [c for c in again["commands"] if isinstance(c, list)] == []
    assert again["chdirs"] == [f"{course_dir}/notebooks"]
    partly = setup_runs["colab, course there, PyAV not"]
    assert partly["git"] == [] and [c for c in partly["commands"] if isinstance(c, list)] == [pip("av==18.1.0")]


@COLAB_GROUP
@pytest.mark.parametrize("where", ["own machine", "binder"])
def test_on_your_own_machine_and_in_binder_the_cell_runs_no_command(setup_runs, where):
    run = setup_runs[where]
    assert run["commands"] == [] and run["git"] == [] and run["chdirs"] == [] and run["new_path"] == []
    assert run["pythonpath"] == run["pythonpath_before"]
    assert run["device"] == "cpu"


def test_setup_seeds_and_returns_the_device(monkeypatch):
    monkeypatch.setenv("TENSORLAB_DEVICE", "cpu")
    import matplotlib
    import torch

    with matplotlib.rc_context():  # setup() sets the course's plot style: keep it out of other tests
        assert launch.setup(seed=3).type == "cpu"
        first = torch.rand(2)
        launch.setup(seed=3)
        assert torch.equal(first, torch.rand(2))


def test_colab_extras_are_pinned_as_in_requirements():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower()] = version
    assert launch.COLAB_EXTRAS, "the setup cell should install what Colab lacks (PyAV)"
    for module, pin in launch.COLAB_EXTRAS:
        name, version = pin.split("==")
        assert pins.get(name.lower()) == version, f"{pin} differs from requirements.txt"
        assert name.lower() not in ("torch", "torchvision")


def test_readme_launch_badges_point_at_the_configured_address():
    """The README's badges open notebook 00 from the same address (the README is edited by hand)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = launch.COURSE_LINK.findall(readme)
    stale = [url for url in links if not launch.link_points_at_course(url)]
    assert not stale, f"README.md links to another copy of the course: {stale}"
    assert launch.binder_badge("notebooks/00_start_here.ipynb") in readme, (
        "README.md should carry the Binder badge: " + launch.binder_badge("notebooks/00_start_here.ipynb")
    )
    assert launch.colab_badge("notebooks/00_start_here.ipynb") in readme, (
        "README.md should carry the Colab badge: " + launch.colab_badge("notebooks/00_start_here.ipynb")
    )
