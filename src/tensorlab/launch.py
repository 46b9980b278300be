"""Launch anywhere: the course's one repository address, its Colab and Binder links, the setup cell.

Every notebook opens the same way on a learner's machine (``make lab``), in Binder and in Colab. All
the links that point at the course come from the two settings below, so a fork or a move is one
edit followed by one command::

    COURSE_REPO_URL = "https://github.com/OWNER/REPO"   # where the course is published (GitHub)
    COURSE_BRANCH = "main"                              # the branch the links and Colab's clone use

    make badges        # = python -m tensorlab.authoring badges

``make badges`` rewrites, in every solution notebook, the launch badges under the title and the setup
cell (which clones the repository in Colab), then regenerates notebooks/ from solutions/. Student
notebooks link to ``notebooks/NN_name.ipynb``, solution notebooks to ``solutions/NN_name.ipynb``.
``tests/test_launch_colab.py`` fails, naming the file, when any notebook disagrees with the address.

This module is pure (no file is read or written here) so that ``tensorlab.authoring`` can build
``SETUP_CELL`` and the student copies from it.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import nbformat

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

SETUP_CELL_FIRST_LINE = "# Setup: the same cell works on your own machine, in Binder and in Colab."
_SETUP_TEMPLATE = (
    SETUP_CELL_FIRST_LINE
    + """
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # fetch the course package and data; Colab's own torch and torchvision stay
    import importlib.util
    import os
    import subprocess

    REPO = "{repo}"
    BRANCH = "{branch}"
    COURSE_DIR = "{course_dir}"
    if not os.path.isdir(COURSE_DIR):
        clone = ["git", "clone", "--quiet", "--depth", "1", "--branch", BRANCH, REPO, COURSE_DIR]
        subprocess.run(clone, check=True)
    # --no-deps: install the course, never a torch or torchvision of its own choosing.
    pip_install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    if importlib.util.find_spec("tensorlab") is None:
        subprocess.run(pip_install + ["-e", COURSE_DIR], check=True)
        sys.path.insert(0, COURSE_DIR + "/src")  # this kernel started before the install
    needed = {extras}  # what Colab lacks: module -> pinned package
    missing = [pin for module, pin in needed.items() if importlib.util.find_spec(module) is None]
    if missing:
        subprocess.run(pip_install + missing, check=True)
    importlib.invalidate_caches()
    os.chdir(COURSE_DIR + "/notebooks")

import torch

from tensorlab import pick_device, seed_everything
from tensorlab.plotting import use_course_style

device = pick_device()  # cuda, then mps, then cpu
seed_everything(0)
use_course_style()
"""
)


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
    extras = "{" + ", ".join(f'"{module}": "{pin}"' for module, pin in COLAB_EXTRAS) + "}"
    return _SETUP_TEMPLATE.format(
        repo=repo_url or COURSE_REPO_URL, branch=branch or COURSE_BRANCH, course_dir=COLAB_COURSE_DIR, extras=extras
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
