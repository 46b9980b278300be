"""Launch anywhere: the course's one repository address, its Colab and Binder links, the setup cell.

Every notebook opens the same way on a learner's machine (``make lab``), in Binder and in Colab. All
the links that point at the course come from the two settings below, so a fork or a move is one
edit followed by one command::

    COURSE_REPO_URL = "https://github.com/OWNER/REPO"   # where the course is published (GitHub)
    COURSE_BRANCH = "main"                              # the branch the links and Colab's clone use

    make badges        # = python -m tensorlab.authoring badges

``make badges`` rewrites, in every solution notebook, the launch badges under the title and the setup
cell (which clones the repository in Colab), then regenerates notebooks/ from solutions/. The setup
cell is a few lines: in Colab it clones the course and puts its package on the path; then it calls
:func:`setup`, which does the rest (in Colab: PyAV, never torch, and Colab's widget manager; everywhere:
device, seeds, plot style). Student notebooks link to ``notebooks/NN_name.ipynb``, solution notebooks to
``solutions/NN_name.ipynb``.
``tests/test_launch_colab.py`` fails, naming the file, when any notebook disagrees with the address.

Apart from :func:`setup` and :func:`prepare_colab`, which the notebooks run, this module is pure (no
file is read or written, torch is not imported) so that ``tensorlab.authoring`` can build
``SETUP_CELL`` and the student copies from it.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import nbformat

if TYPE_CHECKING:  # only for the annotation of setup(): importing torch here would make this module slow
    import torch

# ---- the one place to change when the course moves ---------------------------------------------
COURSE_REPO_URL = "https://github.com/tensors-course/tensors-for-neural-networks"
COURSE_BRANCH = "main"
# -------------------------------------------------------------------------------------------------

# Where the setup cell clones the course inside a Colab machine.
COLAB_COURSE_DIR = "/content/tensors-for-neural-networks"
# What the notebooks need that Colab does not ship, as (module to look for, pip requirement). The pins
# are requirements.txt's (a test checks). Never torch or torchvision: Colab's own pair stays.
COLAB_EXTRAS: tuple[tuple[str, str], ...] = (
    ("av", "av==18.1.0"),  # PyAV: reading and writing the video of notebook 05
)

COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE_IMAGE = "https://mybinder.org/badge_logo.svg"
# A line under a notebook's title is a badge line when it shows either badge image.
_BADGE_LINE = re.compile(re.escape(COLAB_BADGE_IMAGE) + "|" + re.escape(BINDER_BADGE_IMAGE))

SETUP_CELL_FIRST_LINE = "# Setup: the same cell works on your machine, in Binder and in Colab."
# The cell must bootstrap the package itself: in Colab, tensorlab is not there until the course is
# cloned. So the cell clones (once) and puts the clone's src/ on the path; everything else is
# ``setup()`` below, which is tested with a fake Colab (tests/test_launch_colab.py). No IPython syntax
# (``!git``): tools/run_course_on_cuda.py runs the cells as plain Python.
_SETUP_TEMPLATE = (
    SETUP_CELL_FIRST_LINE
    + """
import subprocess, sys
if "google.colab" in sys.modules:  # Colab: fetch the course once (Colab's torch stays; setup() adds PyAV, turns widgets on)
    subprocess.run("test -d {course_dir} || git clone --quiet --depth 1 --branch {branch} {repo} {course_dir}", shell=True, check=True)
    sys.path.insert(0, "{course_dir}/src")
import torch
from tensorlab.launch import setup
device = setup()  # the device to compute on: cuda, then mps, then cpu; also seeds and sets the plot style
"""  # noqa: E501 (the cell's text, as the notebooks hold it)
)


def in_colab() -> bool:
    return "google.colab" in sys.modules


def setup(seed: int = 0) -> "torch.device":
    """What every notebook's setup cell does once the package can be imported; returns the device.

    In Colab it first calls :func:`prepare_colab`. Everywhere it picks the device (``pick_device``:
    cuda, then mps, then cpu, or ``TENSORLAB_DEVICE``), seeds every random source
    (``seed_everything(seed)``) and sets the course's plot style. It prints nothing.
    """
    if in_colab():
        prepare_colab()
    from tensorlab.device import pick_device
    from tensorlab.plotting import use_course_style
    from tensorlab.seeding import seed_everything

    device = pick_device()
    seed_everything(seed)
    use_course_style()
    return device


def prepare_colab(course_dir: str | None = None) -> list[list[str]]:
    """In Colab, after the setup cell has cloned the course to ``course_dir``: what the course needs there.

    - Processes the notebooks start (``torchrun``'s workers in notebook 07) import tensorlab too: the
      clone's ``src/`` goes on ``PYTHONPATH``, and onto this kernel's ``sys.path`` if it is not there.
    - What Colab lacks (``COLAB_EXTRAS``: PyAV), pinned and installed with ``pip --no-deps``, so that
      Colab's own torch and torchvision are never replaced. Nothing is installed twice.
    - The explorers (``tensorlab.interactive``) are ipywidgets: Colab's custom widget manager is turned
      on (``google.colab.output.enable_custom_widget_manager()``), which Colab needs to draw ipywidgets 8
      and which draws its own ipywidgets 7 too, so the learner has nothing to do.
    - The working directory becomes the course's ``notebooks/``, as on a learner's machine, so that
      paths such as ``../datasets`` work.

    Returns the pip commands it ran (for the tests).
    """
    import importlib
    import importlib.util
    import os
    import subprocess

    course_dir = course_dir or COLAB_COURSE_DIR
    src = f"{course_dir}/src"
    if src not in sys.path:
        sys.path.insert(0, src)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if src not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([src] + paths)
    commands = []
    missing = [pin for module, pin in COLAB_EXTRAS if importlib.util.find_spec(module) is None]
    if missing:
        commands.append([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *missing])
        subprocess.run(commands[-1], check=True)
        importlib.invalidate_caches()
    from google.colab import output

    output.enable_custom_widget_manager()
    os.chdir(f"{course_dir}/notebooks")
    return commands


def github_owner_and_repo(repo_url: str | None = None) -> tuple[str, str]:
    """``("owner", "repo")`` of a ``https://github.com/owner/repo`` address (Colab and Binder need both)."""
    repo_url = repo_url or COURSE_REPO_URL
    parsed = urlparse(repo_url)
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.scheme != "https" or parsed.netloc != "github.com" or len(parts) != 2 or repo_url.endswith(".git"):
        raise ValueError(
            f"COURSE_REPO_URL must look like https://github.com/OWNER/REPO, not {repo_url!r}: "
            "Colab opens notebooks from GitHub only"
        )
    return parts[0], parts[1]


def colab_url(path: str, repo_url: str | None = None, branch: str | None = None) -> str:
    """Colab's address for the notebook at ``path`` (relative to the repository root)."""
    owner, repo = github_owner_and_repo(repo_url)
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch or COURSE_BRANCH}/{path}"


def binder_url(path: str | None = None, repo_url: str | None = None, branch: str | None = None) -> str:
    """mybinder.org's address that builds the repository and opens ``path`` in JupyterLab."""
    owner, repo = github_owner_and_repo(repo_url)
    return f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch or COURSE_BRANCH}" + (
        f"?urlpath=lab/tree/{path}" if path else "?urlpath=lab"
    )


def colab_badge(path: str, **where: str) -> str:
    return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(path, **where)})"


def binder_badge(path: str | None = None, **where: str) -> str:
    return f"[![Launch Binder]({BINDER_BADGE_IMAGE})]({binder_url(path, **where)})"


def badge_line(path: str, **where: str) -> str:
    """The line under a notebook's title: open this very file in Colab or in Binder."""
    return colab_badge(path, **where) + " " + binder_badge(path, **where)


def setup_cell(repo_url: str | None = None, branch: str | None = None) -> str:
    """The setup cell every notebook starts with (``tensorlab.authoring.SETUP_CELL``)."""
    github_owner_and_repo(repo_url)  # refuse an address Colab could not clone from
    return _SETUP_TEMPLATE.format(
        repo=repo_url or COURSE_REPO_URL, branch=branch or COURSE_BRANCH, course_dir=COLAB_COURSE_DIR
    )


SETUP_CELL = setup_cell()


def title_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook's title: its first markdown cell that starts with ``# ``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell
    raise ValueError("the notebook has no title cell (a markdown cell starting with '# ')")


def with_badges(title_source: str, path: str, **where: str) -> str:
    """``title_source`` with exactly one badge line, for ``path``, right under its heading."""
    heading, *rest = title_source.split("\n")
    rest = [line for line in rest if not _BADGE_LINE.search(line)]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join([heading, "", badge_line(path, **where)] + ([""] + rest if rest else []))


def badge_lines(title_source: str) -> list[str]:
    return [line for line in title_source.split("\n") if _BADGE_LINE.search(line)]


def set_badges(notebook: nbformat.NotebookNode, path: str, **where: str) -> bool:
    """Put the badge line for ``path`` under the notebook's title; return whether anything changed."""
    cell = title_cell(notebook)
    new = with_badges(cell.source, path, **where)
    changed = new != cell.source
    cell.source = new
    return changed


def setup_code_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook's first code cell, which must be a setup cell (it starts with the setup comment)."""
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if not code or not code[0].source.startswith(SETUP_CELL_FIRST_LINE.split(":")[0]):
        raise ValueError(
            "the first code cell is not the course setup cell (it should start with "
            f"{SETUP_CELL_FIRST_LINE!r}); put tensorlab.authoring.SETUP_CELL there"
        )
    return code[0]


def set_setup_cell(notebook: nbformat.NotebookNode, text: str = SETUP_CELL) -> bool:
    """Make the first code cell the current setup cell; return whether anything changed."""
    cell = setup_code_cell(notebook)
    new = text.rstrip("\n")
    changed = cell.source != new
    cell.source = new
    return changed


# Links that point at some copy of the course: they must all point at the configured one.
COURSE_LINK = re.compile(r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/[^)\s\"'<>]+")


def course_links(notebook: nbformat.NotebookNode) -> list[str]:
    """Every Colab or Binder address written anywhere in the notebook's markdown and code."""
    return [m.group(0) for cell in notebook.cells for m in COURSE_LINK.finditer(cell.source)]


def link_points_at_course(url: str, repo_url: str | None = None, branch: str | None = None) -> bool:
    owner, repo = github_owner_and_repo(repo_url)
    branch = branch or COURSE_BRANCH
    return url.startswith(
        (
            f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/",
            f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch}?",
        )
    )
