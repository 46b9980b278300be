"""Build the course website (`make site`): every solution notebook as a page, with its stored outputs.

    .venv/bin/python tools/build_site.py          # build _site/ (what `make site` runs)
    .venv/bin/python tools/build_site.py --out DIR --work DIR   # elsewhere (the tests build in a temp folder)
    .venv/bin/python tools/build_site.py --check  # exit 1, saying why, if _site/ is missing a page or
                                                  # was built from other sources than the current ones

Nothing is executed: the pages show the outputs stored in solutions/ (the ones nbval checks). The
steps:

1. A build copy of the course is written to build/site/src/ (solutions/ and notebooks/ are never
   touched). For each solution notebook, using the course's own marker parsing
   (``tensorlab.authoring.strip_cell_source``):
   - a cell with an exercise's solution keeps the solution (marker lines dropped), hidden tests
     removed, and is collapsed behind "Show solution" (myst-nb's ``hide-cell`` tag);
   - a cell with hidden tests only is shown as the student sees it (hidden tests removed);
   - the title's badge images (hosted by Colab and Binder) become plain links: Colab, Binder, and a
     download of the student copy, which is generated here from the solution
     (``tensorlab.authoring.expected_student_text``) and shipped in the site as notebooks/NN_name.ipynb;
   - links to other files of the repository point at them on GitHub.
   The landing page is the README (its glossary moved to a page of its own); a measurements page
   holds docs/measurements.md and the README's measured speed-ups.
2. Sphinx with myst-nb and the book theme (website/conf.py) turns it into HTML, warnings as errors, in
   build/site/html; MathJax is served from the site itself (sphinx-mathjax-offline).
3. That replaces _site/, with site-build.json beside the pages: which page came from which source,
   and the SHA-256 of every source, so ``--check`` (and tests/test_site.py) can tell a stale site.

The site's public address is derived from the course's one address (tensorlab/launch.py), see
``site_url``; the README links it and a test checks that they agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from tensorlab import authoring, launch

ROOT = Path(__file__).resolve().parents[1]
SITE_DIR = ROOT / "_site"
WORK_DIR = ROOT / "build" / "site"  # the build copy (src/), Sphinx's html/ and doctrees/
CONF_DIR = ROOT / "website"  # conf.py and the site's own CSS
MANIFEST = "site-build.json"
SITE_DEPS_STAMP = ".venv/.site-installed"  # the Makefile's stamp: the site's tools are installed

# Pages that are not notebooks, with the source each is made from.
LANDING, GLOSSARY, MEASUREMENTS = "index", "glossary", "measurements"
README = "README.md"
MEASUREMENTS_SOURCE = "docs/measurements.md"
GLOSSARY_HEADING = "## Glossary"  # the README section that becomes the glossary page
SPEED_HEADING = "## Speed, measured"  # the README section shown beside the measurements

SOLUTION_TAGS = ["hide-cell", "course-solution"]  # collapsed by myst-nb; the second names it for CSS/tests
SOLUTION_PROMPTS = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
STUDENT_DIR_IN_SITE = "notebooks"  # where the student copies are downloaded from, inside the site


def site_url(repo_url: str | None = None) -> str:
    """The site's address on GitHub Pages: https://OWNER.github.io/REPO/ for github.com/OWNER/REPO."""
    owner, repo = launch.github_owner_and_repo(repo_url)
    return f"https://{owner.lower()}.github.io/{repo}/"


def solution_notebooks(solutions_dir: Path = authoring.SOLUTIONS_DIR) -> list[Path]:
    """The notebooks that get a page: the same ones `make student` generates from."""
    return authoring.notebook_paths(solutions_dir)


def page_of(notebook: Path) -> str:
    """The page (relative to the site root) of a notebook: solutions/02_x.ipynb -> 02_x.html."""
    return notebook.stem + ".html"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- Markdown: links and images -------------------------------------------------------------------
# Inline links and images; a badge is an image inside a link. Targets with a scheme or a bare
# fragment are left alone; fenced code is never rewritten.
# One pattern, so that a badge is matched whole before its inner image or outer link could be.
_LINK_PATTERN = re.compile(
    r"\[!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]+)\)\]\((?P<href>[^)\s]+)\)"  # [![alt](src)](href)
    r"|(?P<bang>!?)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)"
)  # ![text](target), [text](target)
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_HAS_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class SiteError(RuntimeError):
    """A source the site cannot be built from (a missing section, a link out of the repository)."""


class LinkRewriter:
    """Rewrites the relative links of one Markdown source so that they work on the site.

    ``pages`` maps repository paths (solutions/02_x.ipynb, notebooks/02_x.ipynb, README.md) to the
    site's source documents (02_x.ipynb, index.md); a link to another file of the repository goes
    to GitHub; a local image is copied into the build (``assets``) and an image hosted elsewhere
    becomes a link to it, so that no page loads anything from another host.
    """

    def __init__(self, pages: dict[str, str], src_dir: Path, root: Path = ROOT):
        self.pages, self.src_dir, self.root = pages, src_dir, root

    def github_url(self, path: str) -> str:
        kind = "tree" if (self.root / path).is_dir() else "blob"
        return f"{launch.COURSE_REPO_URL}/{kind}/{launch.COURSE_BRANCH}/{path}"

    def _repo_path(self, target: str, source_dir: str, where: str) -> str:
        path = posixpath.normpath(posixpath.join(source_dir, target))
        if path.startswith("../") or path == "..":
            raise SiteError(f"{where}: the link {target!r} leads out of the repository")
        return path

    def _image(self, target: str, source_dir: str, where: str) -> str:
        path = self._repo_path(target, source_dir, where)
        if not (self.root / path).is_file():
            raise SiteError(f"{where}: the image {target!r} ({path}) does not exist")
        copy = self.src_dir / "_assets" / path
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / path, copy)
        return f"_assets/{path}"

    def _link(self, target: str, source_dir: str, where: str) -> str:
        path, hash_, fragment = target.partition("#")
        if not path:
            return target
        repo_path = self._repo_path(path, source_dir, where)
        if repo_path in self.pages:
            return self.pages[repo_path] + hash_ + fragment
        if not (self.root / repo_path).exists():
            raise SiteError(f"{where}: the link {target!r} ({repo_path}) leads nowhere")
        return self.github_url(repo_path) + hash_ + fragment

    def rewrite(self, text: str, source_dir: str, where: str) -> str:
        """``text`` with its links fixed; ``source_dir`` is the source's folder in the repository."""
        pieces, last = [], 0
        for fence in _FENCE.finditer(text):
            pieces.append(self._rewrite_prose(text[last : fence.start()], source_dir, where))
            pieces.append(fence.group(0))
            last = fence.end()
        pieces.append(self._rewrite_prose(text[last:], source_dir, where))
        return "".join(pieces)

    def _rewrite_prose(self, text: str, source_dir: str, where: str) -> str:
        def image(target: str, alt: str, title: str = "") -> str:
            if _HAS_SCHEME.match(target):  # an image from another host would be loaded from there
                return f"[{alt or target}]({target})"
            return f"![{alt}]({self._image(target, source_dir, where)}{title})"

        def link(target: str) -> str:
            if _HAS_SCHEME.match(target) or target.startswith("#"):
                return target
            return self._link(target, source_dir, where)

        def replace(match: re.Match) -> str:
            if match["src"] is not None:  # a badge: an image inside a link
                if _HAS_SCHEME.match(match["src"]):  # hosted elsewhere: keep the link, drop the image
                    return f"[{match['alt']}]({link(match['href'])})"
                return f"[{image(match['src'], match['alt'])}]({link(match['href'])})"
            if match["bang"]:
                return image(match["target"], match["text"], match["title"] or "")
            return f"[{match['text']}]({link(match['target'])}{match['title'] or ''})"

        return _LINK_PATTERN.sub(replace, text)


def markdown_sections(text: str, level: str = "## ") -> list[tuple[str, str]]:
    """Split Markdown into (heading line, body) at headings of one level; the first heading is ''."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
        if not in_fence and line.startswith(level):
            sections.append((line, []))
        else:
            sections[-1][1].append(line)
    return [(heading, "\n".join(body).strip("\n")) for heading, body in sections]


def section(text: str, heading_prefix: str, source: str) -> tuple[str, str]:
    """The (heading, body) of the first ``## `` section whose heading starts with ``heading_prefix``."""
    for heading, body in markdown_sections(text):
        if heading.startswith(heading_prefix):
            return heading, body
    raise SiteError(
        f"{source} has no section starting with {heading_prefix!r}; the site needs it " "(tools/build_site.py)"
    )


# ---- notebooks ------------------------------------------------------------------------------------
def launch_bar(student_path: str) -> str:
    """Plain links (no images from other hosts) to open the student copy in Colab or Binder, or download it."""
    return (
        '<p class="course-launch">'
        f'<a class="course-launch-colab" href="{launch.colab_url(student_path)}">Open in Colab</a> · '
        f'<a class="course-launch-binder" href="{launch.binder_url(student_path)}">Launch Binder</a> · '
        f'<a class="course-launch-download" href="{student_path}" download>Download the student notebook</a>'
        "</p>"
    )


def with_launch_bar(title_source: str, student_path: str) -> str:
    """The title cell with its badge line(s) replaced by the launch bar, right under the heading."""
    badges = set(launch.badge_lines(title_source))
    heading, *rest = [line for line in title_source.split("\n") if line not in badges]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join([heading, "", launch_bar(student_path), ""] + rest)


def solution_view(source: str, where: str) -> str:
    """An answer cell as the site shows it: the solution without its marker lines, no hidden tests."""
    markers = {authoring.BEGIN_SOLUTION, authoring.END_SOLUTION}
    without_markers = "\n".join(line for line in source.splitlines() if line.strip() not in markers)
    shown, _, _ = authoring.strip_cell_source(without_markers, where)
    return shown


def site_notebook(path: Path, data: bytes, rewriter: LinkRewriter) -> tuple[nbformat.NotebookNode, int]:
    """The build copy of one solution notebook, and how many solution cells it collapses."""
    notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    name = f"solutions/{path.name}"
    title = launch.title_cell(notebook)
    title.source = with_launch_bar(title.source, f"{STUDENT_DIR_IN_SITE}/{path.name}")
    n_solutions = 0
    for index, cell in enumerate(notebook.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "markdown":
            cell.source = rewriter.rewrite(cell.source, "solutions", where)
        elif cell.cell_type == "code":
            student, had_solution, had_hidden = authoring.strip_cell_source(cell.source, where)
            if had_solution:
                cell.source = solution_view(cell.source, where)
                tags = cell.metadata.setdefault("tags", [])
                tags.extend(tag for tag in SOLUTION_TAGS if tag not in tags)
                cell.metadata["mystnb"] = {**cell.metadata.get("mystnb", {}), **SOLUTION_PROMPTS}
                n_solutions += 1
            elif had_hidden:
                cell.source = student
    return notebook, n_solutions


# ---- the pages that are not notebooks -------------------------------------------------------------
def toctree(caption: str, documents: list[str]) -> str:
    return "\n".join(["```{toctree}", ":hidden:", f":caption: {caption}", "", *documents, "```"])


def landing_page(readme: str, notebooks: list[Path], rewriter: LinkRewriter) -> str:
    """The README, its glossary replaced by a link to the glossary page, and the site's contents."""
    section(readme, GLOSSARY_HEADING, README)  # say so clearly if the README has lost it
    parts = []
    for heading, body in markdown_sections(rewriter.rewrite(readme, "", README)):
        if heading.startswith(GLOSSARY_HEADING):
            body = (
                "The course's terms, with the Chinese terms of the source lecture next to them, are "
                f"on the [glossary page]({GLOSSARY}.md)."
            )
        parts.append(f"{heading}\n\n{body}" if heading else body)
    return (
        "\n\n".join(
            parts + [toctree("Notebooks", [p.stem for p in notebooks]), toctree("Reference", [GLOSSARY, MEASUREMENTS])]
        )
        + "\n"
    )


def glossary_page(readme: str, rewriter: LinkRewriter) -> str:
    heading, body = section(readme, GLOSSARY_HEADING, README)
    return rewriter.rewrite(f"# {heading[3:]}\n\n{body}\n", "", README)


def measurements_page(measurements: str, readme: str, rewriter: LinkRewriter) -> str:
    speed_heading, speed_body = section(readme, SPEED_HEADING, README)
    text = "\n\n".join(
        [
            "# Speed and memory, measured",
            "## Run time and memory of every notebook",
            measurements.strip(),
            f"(Written by `make measure`, from `{MEASUREMENTS_SOURCE}`.)",
            speed_heading,
            speed_body,
            "",
        ]
    )
    text = rewriter.rewrite(text, "", MEASUREMENTS_SOURCE)
    return text


# ---- the build ------------------------------------------------------------------------------------
def prepare_sources(src_dir: Path, student_dir: Path, root: Path = ROOT) -> dict:
    """Write the build copy into ``src_dir`` and the student copies into ``student_dir``; return the
    manifest (pages and source hashes)."""
    for folder in (src_dir, student_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    notebooks = solution_notebooks(root / "solutions")
    if not notebooks:
        raise SiteError("solutions/ has no notebooks (NN_name.ipynb): nothing to build a site from")
    pages = {README: f"{LANDING}.md", MEASUREMENTS_SOURCE: f"{MEASUREMENTS}.md"}
    for path in notebooks:
        pages[f"solutions/{path.name}"] = pages[f"notebooks/{path.name}"] = path.name
    rewriter = LinkRewriter(pages, src_dir, root)
    sources: dict[str, str] = {}

    def read(relative: str) -> bytes:
        data = (root / relative).read_bytes()
        sources[relative] = sha256(data)
        return data

    manifest_pages = {}
    for path in notebooks:
        relative = f"solutions/{path.name}"
        data = read(relative)
        notebook, n_solutions = site_notebook(path, data, rewriter)
        nbformat.write(notebook, src_dir / path.name)
        # The student copy, generated the way `make student` does, from these very bytes.
        student = authoring.make_student_notebook(nbformat.reads(data.decode("utf-8"), as_version=4), path)
        (student_dir / path.name).write_text(authoring.render(student), encoding="utf-8")
        manifest_pages[relative] = {
            "page": page_of(path),
            "solutions": n_solutions,
            "student_copy": f"{STUDENT_DIR_IN_SITE}/{path.name}",
        }
    readme = read(README).decode("utf-8")
    (src_dir / f"{LANDING}.md").write_text(landing_page(readme, notebooks, rewriter), encoding="utf-8")
    (src_dir / f"{GLOSSARY}.md").write_text(glossary_page(readme, rewriter), encoding="utf-8")
    measurements = read(MEASUREMENTS_SOURCE).decode("utf-8")
    (src_dir / f"{MEASUREMENTS}.md").write_text(measurements_page(measurements, readme, rewriter), encoding="utf-8")
    manifest_pages[README] = {"page": f"{LANDING}.html"}
    manifest_pages[f"{README}#glossary"] = {"page": f"{GLOSSARY}.html"}
    manifest_pages[MEASUREMENTS_SOURCE] = {"page": f"{MEASUREMENTS}.html"}
    return {"site_url": site_url(), "pages": manifest_pages, "sources": sources}


def run_sphinx(src_dir: Path, out_dir: Path, doctrees: Path) -> None:
    from sphinx.cmd.build import build_main

    if out_dir.exists():
        shutil.rmtree(out_dir)
    # -W --keep-going: any warning (a broken reference, an unknown page) fails the build, after
    # reporting all of them; -E: no state from an earlier build.
    status = build_main(
        [
            "-b",
            "html",
            "-E",
            "-W",
            "--keep-going",
            "-q",
            "-c",
            str(CONF_DIR),
            "-d",
            str(doctrees),
            str(src_dir),
            str(out_dir),
        ]
    )
    if status:
        raise SiteError(f"sphinx-build failed (exit status {status}); its messages are above")


def build(site_dir: Path = SITE_DIR, work_dir: Path = WORK_DIR) -> dict:
    start = time.perf_counter()
    students = work_dir / "students"
    manifest = prepare_sources(work_dir / "src", students)
    html = work_dir / "html"
    run_sphinx(work_dir / "src", html, work_dir / "doctrees")
    shutil.copytree(students, html / STUDENT_DIR_IN_SITE)  # what each page's download link serves
    manifest["built_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (html / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if site_dir.exists():
        shutil.rmtree(site_dir)
    shutil.move(str(html), str(site_dir))
    # The build copy holds every solution in full: keep it only while a build is being debugged (a
    # failed build leaves it), so that nothing but _site/ stays behind.
    shutil.rmtree(work_dir)
    if work_dir == WORK_DIR and not any(WORK_DIR.parent.iterdir()):
        WORK_DIR.parent.rmdir()  # build/, if make site made it
    manifest["seconds"] = round(time.perf_counter() - start, 1)
    return manifest


# ---- is the site there, complete and current? ----------------------------------------------------
def site_problems(site_dir: Path = SITE_DIR, root: Path = ROOT) -> list[str]:
    """Why ``site_dir`` is not the site of the sources in ``root`` now (an empty list if it is)."""
    record = site_dir / MANIFEST
    if not record.is_file():
        return [f"{site_dir} has no {MANIFEST}: it was not built by `make site` (run it)"]
    manifest = json.loads(record.read_text(encoding="utf-8"))
    problems = []
    for path in solution_notebooks(root / "solutions"):
        if f"solutions/{path.name}" not in manifest["pages"]:
            problems.append(f"solutions/{path.name} has no page: the site was built before it existed")
    for relative, entry in manifest["pages"].items():
        if not (site_dir / entry["page"]).is_file():
            problems.append(f"the page {entry['page']} (from {relative}) is missing")
    for relative, digest in manifest["sources"].items():
        source = root / relative
        if not source.is_file():
            problems.append(f"{relative} no longer exists, but the site still has its page")
        elif sha256(source.read_bytes()) != digest:
            problems.append(
                f"{relative} has changed since the site was built "
                f"({manifest.get('built_at', 'at an unknown time')}): the site is older"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the site is complete and current")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="where the site goes (default: _site)")
    parser.add_argument(
        "--work",
        type=Path,
        default=WORK_DIR,
        help="scratch folder for the build copy, removed after a good build (default: build/site)",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.check:
        problems = site_problems(out)
        for problem in problems:
            print(problem)
        print(f"{out} is stale or incomplete: run `make site`" if problems else f"{out} is current")
        return 1 if problems else 0
    try:
        manifest = build(out, args.work.resolve())
    except (SiteError, authoring.MarkerError) as error:
        print(f"make site: {error}", file=sys.stderr)
        return 1
    n_notebooks = sum(1 for key in manifest["pages"] if key.startswith("solutions/"))
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(
        f"built {shown}/ in {manifest['seconds']} s: {n_notebooks} notebooks, "
        f"landing page, glossary, measurements (published at {manifest['site_url']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
