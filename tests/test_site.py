"""The course website (`make site`, tools/build_site.py): built, complete, current, offline, in a browser.

Once per run, ``make site`` builds the site with the network blocked (tests/offline.py: the build
must fetch nothing), into the run's temporary folder (``SITE_OUT``), so that the repository is left as
it was (tests/cleanup_plugin.py). The site is then served on 127.0.0.1 under /REPO/, the path GitHub Pages gives
it, so a link that only works at the root of a host fails here too. Headless Chromium (Debian's,
driven by Playwright, as in test_browser.py) opens every page with the network cut twice over: host
names do not resolve and other hosts go to a dead proxy, and every request to a host other than
127.0.0.1 is recorded and aborted; any such request fails a test. The browser visits every page
once (``visit``); the tests below then judge what it saw. Screenshots of the landing page and of
notebook 02's page go to artifacts/.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import nbformat
import pytest
import yaml
from test_browser import CHROMIUM, CHROMIUM_FLAGS, playwright_or_skip

from tensorlab import authoring, launch
from tests import offline

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = build_site
_spec.loader.exec_module(build_site)

SITE_PREFIX = "/" + launch.github_owner_and_repo()[1] + "/"  # as on GitHub Pages: /REPO/
# Chromium's own network cut: no host name resolves, and anything not on loopback goes to a port
# where nothing listens (the discard port).
OFFLINE_FLAGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
]
SEARCH_WORD = "broadcasting"
SCREENSHOTS = {"index.html": "site_landing.png", "02_single_dose_network.html": "site_02_single_dose_network.png"}

pytestmark = pytest.mark.xdist_group(name="browser")  # one Chromium at a time, with test_browser.py


# ---- what the sources say the site must show ------------------------------------------------------
def solution_cells(notebook_path: Path) -> list[str]:
    """The code cells of a solution notebook that hold an exercise's solution (authoring's parser)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return [
        cell.source
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and authoring.strip_cell_source(cell.source, f"{notebook_path.name}, cell {index}")[1]
    ]


def hidden_test_lines(notebook_path: Path) -> list[str]:
    """Lines of code between the hidden-test markers of a solution notebook that its visible code does
    not also have (a line such as ``rtol=0, atol=1e-10)`` may well be in both)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    markers = {authoring.BEGIN_SOLUTION, authoring.END_SOLUTION, authoring.BEGIN_HIDDEN, authoring.END_HIDDEN}
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    visible = {line.strip() for source in code for line in build_site.solution_view(source, "cell").splitlines()}
    return [
        line.strip()
        for source in code
        for line in source.splitlines()
        if line.strip() and line.strip() not in visible and line.strip() not in markers
    ]


def text_of(html_text: str) -> str:
    """A page's text as a reader sees it (tags dropped, entities decoded), for "does X appear" checks."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


# ---- building and serving -------------------------------------------------------------------------
@dataclass
class BuiltSite:
    dir: Path  # the site, built in this run's temporary folder (the run leaves the repository as it was)
    seconds: float
    network_log: Path  # the network guard's log of the build
    output: str


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, artifacts_dir) -> BuiltSite:
    """`make site`, as the Pages workflow runs it, with the network blocked."""
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError:
        pytest.skip("the site's tools are not installed: run `make site-deps` (make test and make site do)")
    up_to_date = (
        subprocess.run(["make", "--no-print-directory", "-q", build_site.SITE_DEPS_STAMP], cwd=ROOT).returncode == 0
    )
    if not up_to_date:  # make site would run pip, which the blocked network would stop half-way
        pytest.skip(
            f"{build_site.SITE_DEPS_STAMP} is older than requirements-site.txt or the course's "
            ".venv, so `make site` would install packages first: run `make site-deps` (make test does)"
        )
    workdir = tmp_path_factory.mktemp("site-build")
    env = offline.blocked_env(workdir / "offline")
    start = time.perf_counter()
    result = subprocess.run(
        ["make", "--no-print-directory", "site", f"SITE_OUT={workdir / '_site'}", f"SITE_WORK={workdir / 'work'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0, f"make site failed:\n{result.stdout}\n{result.stderr}"
    (artifacts_dir / "site_build.txt").write_text(
        f"make site took {seconds:.1f} s (the build copy and Sphinx; imports included)\n{result.stdout}"
    )
    return BuiltSite(workdir / "_site", seconds, Path(env[offline.LOG_VAR]), result.stdout + result.stderr)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def served_site(built_site, tmp_path_factory):
    """The site at http://127.0.0.1:PORT/REPO/, the layout of GitHub Pages; yields that base address."""
    root = tmp_path_factory.mktemp("site-root")
    (root / SITE_PREFIX.strip("/")).symlink_to(built_site.dir, target_is_directory=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{SITE_PREFIX}"
    finally:
        server.shutdown()
        server.server_close()


def http_get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, "", b""


# ---- one visit of every page in Chromium ----------------------------------------------------------
@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # requests that failed or answered >= 400
    links: list[str] = field(default_factory=list)  # absolute addresses of every <a href>
    images: list[dict] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    math_containers: int = 0
    solutions: list[dict] = field(default_factory=list)
    launch: dict[str, str] = field(default_factory=dict)


@dataclass
class Visit:
    base: str
    pages: dict[str, PageVisit]
    external: list[str]  # every request to another host, from any page (must stay empty)
    probe_blocked: list[str]  # what the recorder caught when a page was made to ask another host
    search_results: list[str]  # links of the results for SEARCH_WORD
    search_via_box: str  # the address the search box led to
    search_visit: PageVisit  # errors and failed requests while searching
    solution_opens: bool  # clicking "Show solution" showed the code
    screenshots: list[Path]


PAGE_SCRIPT = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  images: [...document.querySelectorAll('img')].map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  math: document.querySelectorAll('mjx-container').length,
  solutions: [...document.querySelectorAll('.cell.tag_course-solution')].map(cell => {
    const details = cell.querySelector('details');
    const summary = details && details.querySelector('summary');
    const code = cell.querySelector('.cell_input');
    return {details: !!details, open: details ? details.open : null,
            summary: summary ? summary.innerText.trim() : '',
            code_shown: code ? code.checkVisibility() : null, text: cell.textContent};
  }),
  launch: Object.fromEntries([...document.querySelectorAll('p.course-launch a')].map(a => [a.className, a.href])),
})"""
# After the load event (scripts, styles, images): MathJax typesets and then loads its fonts.
WAIT_FOR_MATH_AND_FONTS = """() => (window.MathJax && MathJax.startup && MathJax.startup.promise
                   ? MathJax.startup.promise : Promise.resolve()).then(() => document.fonts.ready).then(() => true)"""
# Generous: on the shared 2-core machine the other test worker and other jobs compete for the CPU.
TIMEOUT_MS = 180_000


@pytest.fixture(scope="session")
def visit(built_site, served_site, artifacts_dir) -> Visit:
    sync_playwright = playwright_or_skip()
    base = served_site
    page_names = sorted(p.name for p in built_site.dir.glob("*.html"))
    external: list[str] = []
    pages: dict[str, PageVisit] = {}

    def guard(route):  # the recorder: only this server may be asked for anything
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort("blockedbyclient")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS + OFFLINE_FLAGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, service_workers="block")
            context.route("**/*", guard)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            current: list[PageVisit] = []
            in_flight: set[str] = set()
            page.on("console", lambda m: m.type == "error" and current[-1].console_errors.append(m.text))
            page.on("pageerror", lambda e: current[-1].page_errors.append(str(e)))
            page.on("request", lambda r: in_flight.add(r.url))
            page.on("requestfinished", lambda r: in_flight.discard(r.url))
            page.on(
                "requestfailed",
                lambda r: (in_flight.discard(r.url), current[-1].failed.append(f"{r.url} ({r.failure})")),
            )
            page.on("response", lambda r: r.status >= 400 and current[-1].failed.append(f"{r.url} ({r.status})"))

            def settle() -> None:
                """Wait until the page has asked for everything it will and nothing is still loading
                (Playwright's own "networkidle" gives no clue when it times out; this names what hangs)."""
                page.evaluate(WAIT_FOR_MATH_AND_FONTS)
                deadline = time.monotonic() + TIMEOUT_MS / 1000
                while in_flight and time.monotonic() < deadline:
                    page.wait_for_timeout(100)
                if in_flight:
                    current[-1].failed.extend(
                        f"{url} (still loading after {TIMEOUT_MS // 1000} s)" for url in in_flight
                    )
                    in_flight.clear()

            screenshots = []
            for name in page_names:
                record = PageVisit()
                current.append(record)
                page.goto(base + name, wait_until="load")
                settle()
                seen = page.evaluate(PAGE_SCRIPT)
                record.links, record.images, record.ids = seen["links"], seen["images"], set(seen["ids"])
                record.math_containers, record.solutions, record.launch = (
                    seen["math"],
                    seen["solutions"],
                    seen["launch"],
                )
                pages[name] = record
                if name in SCREENSHOTS:
                    path = artifacts_dir / SCREENSHOTS[name]
                    page.screenshot(path=str(path))
                    screenshots.append(path)

            # Notebook 02's first exercise: the solution stays folded until its summary is clicked.
            current.append(PageVisit())
            page.goto(base + "02_single_dose_network.html", wait_until="load")
            cell = page.locator(".cell.tag_course-solution").first
            cell.scroll_into_view_if_needed()
            path = artifacts_dir / "site_02_exercise_collapsed.png"
            page.screenshot(path=str(path))
            screenshots.append(path)
            cell.locator("summary").click()
            solution_opens = cell.locator(".cell_input").is_visible()

            # Search as a reader does: the search button, the word, Enter; then the results page.
            search_visit = PageVisit()
            current.append(search_visit)
            page.goto(base + "index.html", wait_until="load")
            page.locator("button.search-button-field").first.click()
            box = page.locator("#pst-search-dialog input[name='q']")
            box.fill(SEARCH_WORD)
            box.press("Enter")
            page.wait_for_url(re.compile(r"search\.html\?q="))
            search_via_box = page.url
            page.locator("#search-results p.search-summary", has_text="Search finished").wait_for()
            settle()
            search_results = page.locator("#search-results ul.search li a").evaluate_all("as => as.map(a => a.href)")

            # The recorder itself: a page that asks another host must be caught (else it proves nothing).
            current.append(PageVisit())  # the probe's own (expected) failure is not the site's
            before = len(external)
            page.goto(base + "index.html", wait_until="load")
            page.evaluate("""() => new Promise(done => { const img = new Image();
                img.onload = img.onerror = () => done(); img.src = 'https://cdn.jsdelivr.net/probe.png'; })""")
            probe = external[before:]
            del external[before:]  # the probe's own request is not the site's
            context.close()
        finally:
            browser.close()
    return Visit(
        base, pages, external, probe, search_results, search_via_box, search_visit, solution_opens, screenshots
    )


# ---- the build --------------------------------------------------------------------------------------
def test_make_site_builds_offline(built_site):
    log = built_site.network_log
    guarded = [e for e in offline.read_log(log) if e["event"] == "installed" and "build_site.py" in " ".join(e["argv"])]
    assert guarded, "the site was not built with the network guard installed"
    assert not offline.refusals(log), "the site's build tried the network:\n" + offline.describe(offline.refusals(log))
    assert f"built {built_site.dir}/" in built_site.output
    assert (ROOT / "_site") != built_site.dir


def test_every_notebook_has_a_page_and_the_site_is_current(built_site):
    assert build_site.site_problems(built_site.dir) == []
    for notebook in build_site.solution_notebooks():
        assert (built_site.dir / build_site.page_of(notebook)).is_file(), f"no page for {notebook.name}"


def _copy_of_site_and_sources(built: BuiltSite, tmp_path: Path) -> tuple[Path, Path]:
    site, root = tmp_path / "_site", tmp_path / "repo"
    site.mkdir()
    for page in built.dir.glob("*.html"):
        shutil.copy(page, site)
    shutil.copy(built.dir / build_site.MANIFEST, site)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    (root / "docs").mkdir()
    shutil.copy(ROOT / build_site.README, root)
    shutil.copy(ROOT / build_site.MEASUREMENTS_SOURCE, root / "docs")
    assert build_site.site_problems(site, root) == []  # the copy starts out current
    return site, root


def test_a_missing_page_is_reported(built_site, tmp_path):
    site, root = _copy_of_site_and_sources(built_site, tmp_path)
    (site / "02_single_dose_network.html").unlink()
    assert any("02_single_dose_network.html" in p and "missing" in p for p in build_site.site_problems(site, root))


def test_a_notebook_without_a_page_is_reported(built_site, tmp_path):
    site, root = _copy_of_site_and_sources(built_site, tmp_path)
    shutil.copy(root / "solutions" / "02_single_dose_network.ipynb", root / "solutions" / "08_new_notebook.ipynb")
    problems = build_site.site_problems(site, root)
    assert any("solutions/08_new_notebook.ipynb has no page" in p for p in problems), problems


def test_a_site_older_than_its_solutions_is_reported(built_site, tmp_path):
    site, root = _copy_of_site_and_sources(built_site, tmp_path)
    notebook = root / "solutions" / "02_single_dose_network.ipynb"
    notebook.write_text(notebook.read_text(encoding="utf-8").replace("single", "single ", 1), encoding="utf-8")
    problems = build_site.site_problems(site, root)
    assert any("solutions/02_single_dose_network.ipynb has changed" in p and "older" in p for p in problems), problems


def test_hidden_tests_and_markers_never_appear(built_site):
    texts = {
        path.relative_to(built_site.dir).as_posix(): path.read_text(encoding="utf-8", errors="replace")
        for path in built_site.dir.rglob("*")
        if path.is_file() and path.suffix in {".html", ".js", ".json", ".ipynb", ".txt"} and "_static" not in path.parts
    }
    for path, text in texts.items():
        for marker in (authoring.BEGIN_HIDDEN, authoring.BEGIN_SOLUTION, authoring.END_SOLUTION):
            assert marker not in text, f"{path} contains {marker!r}"
    hidden = [line for notebook in build_site.solution_notebooks() for line in hidden_test_lines(notebook)]
    assert hidden, "no hidden tests found in solutions/: this test would check nothing"
    # Whole lines, as the code blocks show them: a hidden line may be a substring of a visible one.
    pages = {
        name: {line.strip() for line in text_of(text).splitlines()}
        for name, text in texts.items()
        if name.endswith(".html")
    }
    for line in hidden:
        found = [name for name, lines in pages.items() if line in lines]
        assert not found, f"the hidden test line {line!r} appears on {found}"


def test_the_downloadable_student_copies_are_the_generated_ones(built_site):
    for notebook in build_site.solution_notebooks():
        copy = built_site.dir / build_site.STUDENT_DIR_IN_SITE / notebook.name
        assert copy.is_file(), f"no student copy of {notebook.name} in the site"
        assert copy.read_text(encoding="utf-8") == authoring.expected_student_text(notebook)


def test_the_readme_links_the_site_at_its_derived_address():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    address = build_site.site_url()
    assert (
        address
        == "https://"
        + launch.github_owner_and_repo()[0].lower()
        + ".github.io/"
        + launch.github_owner_and_repo()[1]
        + "/"
    )
    assert f"]({address})" in readme, f"the README does not link the site at {address}"
    others = set(re.findall(r"https://[\w.-]+\.github\.io/[^\s)>\]]*", readme)) - {address}
    assert not others, f"the README names another site address: {others}"


def test_the_pages_workflow_builds_with_make_site_and_publishes_site():
    workflows = list((ROOT / ".github" / "workflows").glob("*.yml"))
    pages = [w for w in workflows if "deploy-pages" in w.read_text()]
    assert len(pages) == 1, f"expected one GitHub Pages workflow, found {[w.name for w in pages]}"
    workflow = yaml.safe_load(pages[0].read_text())
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    runs = [step["run"].strip() for step in steps if "run" in step]
    assert runs == ["make site"], f"the build step must be exactly `make site` (the tests run it), not {runs}"
    uploads = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-pages-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "_site"
    setup = [step for step in steps if str(step.get("uses", "")).startswith("actions/setup-python")]
    assert setup and str(setup[0]["with"]["python-version"]) == "3.11"


def test_site_requirements_are_pinned_and_agree_with_the_course_lock():
    from test_environment_files import pins

    site = pins((ROOT / "requirements-site.txt").read_text().splitlines())
    locked = pins((ROOT / "constraints.txt").read_text().splitlines())
    assert {"sphinx", "myst-nb", "sphinx-book-theme", "sphinx-mathjax-offline"} <= set(site)
    clashes = {
        name: (version, locked[name]) for name, version in site.items() if name in locked and locked[name] != version
    }
    assert not clashes, f"requirements-site.txt and constraints.txt pin these differently: {clashes}"


# ---- the build copy, on small examples ---------------------------------------------------------------
def test_an_answer_cell_shows_its_solution_without_markers_or_hidden_tests():
    source = "\n".join(
        [
            "x = 1  # context",
            authoring.BEGIN_SOLUTION,
            "answer = x + 1",
            authoring.END_SOLUTION,
            authoring.BEGIN_HIDDEN,
            "assert answer == 2",
            authoring.END_HIDDEN,
        ]
    )
    assert build_site.solution_view(source, "example") == "x = 1  # context\nanswer = x + 1"


def test_links_badges_and_images_are_rewritten_for_the_site(tmp_path):
    pages = {"solutions/02_x.ipynb": "02_x.ipynb", "notebooks/02_x.ipynb": "02_x.ipynb", "README.md": "index.md"}
    rewriter = build_site.LinkRewriter(pages, tmp_path)
    text = (
        "[![Open In Colab](https://colab.example/badge.svg)](https://colab.example/nb)\n"
        "See [02](notebooks/02_x.ipynb#part), [the guide](docs/AUTHORING.md), [home](README.md),\n"
        "![a figure](docs/figures/iris_decision_regions.png) and ![remote](https://cdn.example/x.png).\n"
        "[![local badge](docs/figures/xo_feature_maps.png)](README.md)\n"
        "```\n[not a link](docs/AUTHORING.md)\n```"
    )
    out = rewriter.rewrite(text, "", "example")
    assert "[Open In Colab](https://colab.example/nb)" in out and "badge.svg" not in out
    assert "[02](02_x.ipynb#part)" in out and "[home](index.md)" in out
    assert f"[the guide]({launch.COURSE_REPO_URL}/blob/{launch.COURSE_BRANCH}/docs/AUTHORING.md)" in out
    assert "![a figure](_assets/docs/figures/iris_decision_regions.png)" in out
    assert (tmp_path / "_assets/docs/figures/iris_decision_regions.png").is_file()
    assert "[remote](https://cdn.example/x.png)" in out and "![remote]" not in out
    assert "[![local badge](_assets/docs/figures/xo_feature_maps.png)](index.md)" in out
    assert "[not a link](docs/AUTHORING.md)" in out  # code is left as it is
    with pytest.raises(build_site.SiteError, match="leads nowhere"):
        rewriter.rewrite("[gone](docs/no_such_file.md)", "", "example")


# ---- in the browser -----------------------------------------------------------------------------------
def test_every_page_loads_without_errors(visit):
    assert {"index.html", "glossary.html", "measurements.html", "search.html"} <= set(visit.pages)
    for notebook in build_site.solution_notebooks():
        assert build_site.page_of(notebook) in visit.pages
    problems = {
        name: (v.console_errors, v.page_errors, v.failed)
        for name, v in visit.pages.items()
        if v.console_errors or v.page_errors or v.failed
    }
    assert not problems, f"pages with console errors, script errors or failed requests: {problems}"


def test_the_site_loads_nothing_from_another_host(visit):
    assert visit.probe_blocked == [
        "https://cdn.jsdelivr.net/probe.png"
    ], "the request recorder did not catch a request to another host, so it proves nothing"
    assert visit.external == [], f"the site asked other hosts for: {sorted(set(visit.external))}"


def test_every_internal_link_and_image_resolves(visit):
    checked: dict[str, tuple[int, str]] = {}
    broken = []
    for name, page in visit.pages.items():
        for link in page.links:
            if urlparse(link).hostname != "127.0.0.1":
                assert urlparse(link).scheme in ("https", "mailto"), f"{name}: odd link {link}"
                continue
            address, fragment = urldefrag(link)
            assert address.startswith(visit.base), f"{name}: {link} leaves the site's folder {SITE_PREFIX}"
            if address not in checked:
                status, kind, _ = http_get(address)
                checked[address] = (status, kind)
            if checked[address][0] != 200:
                broken.append(f"{name}: {link} -> {checked[address][0]}")
            elif fragment and address.endswith(".html"):
                target = visit.pages.get(address[len(visit.base) :] or "index.html")
                if target is not None and fragment not in target.ids:
                    broken.append(f"{name}: {link}: no #{fragment} on that page")
        for image in page.images:
            status, kind, body = http_get(image["src"])
            if status != 200 or not kind.startswith("image/") or not body or not image["ok"]:
                broken.append(f"{name}: image {image['src']} ({status}, {kind}, shown: {image['ok']})")
    assert not broken, "\n".join(broken)
    assert len(checked) > 20, "suspiciously few internal links were found"


def test_math_is_typeset_by_the_sites_own_mathjax(built_site, visit):
    notebook_02 = visit.pages["02_single_dose_network.html"]
    raw = (built_site.dir / "02_single_dose_network.html").read_text(encoding="utf-8")
    n_math = raw.count('class="math notranslate nohighlight"')
    assert n_math > 0, "notebook 02's page has no math: the check below would prove nothing"
    assert notebook_02.math_containers >= n_math, "MathJax did not typeset every formula of notebook 02"
    assert 'src="_static/mathjax/tex-chtml.js"' in raw


def test_solution_blocks_are_collapsed(visit):
    for notebook in build_site.solution_notebooks():
        expected = solution_cells(notebook)
        shown = visit.pages[build_site.page_of(notebook)].solutions
        assert len(shown) == len(expected), f"{notebook.name}: {len(expected)} solution cells, {len(shown)} on the page"
        for block, source in zip(shown, expected):
            assert (
                block["details"] and block["open"] is False and block["code_shown"] is False
            ), f"{notebook.name}: a solution is not collapsed: {block['summary']!r}"
            assert block["summary"] == "Show solution"
            solution_line = next(
                line.strip()
                for line in build_site.solution_view(source, "cell").splitlines()
                if line.strip() and not line.strip().startswith("#")
            )
            assert solution_line in block["text"], f"{notebook.name}: {solution_line!r} is not in its block"
    assert visit.solution_opens, "clicking 'Show solution' did not show the solution"


def test_each_notebook_page_has_launch_links_and_a_download(visit):
    for notebook in build_site.solution_notebooks():
        student = f"{build_site.STUDENT_DIR_IN_SITE}/{notebook.name}"
        links = visit.pages[build_site.page_of(notebook)].launch
        assert links.get("course-launch-colab") == launch.colab_url(student)
        assert links.get("course-launch-binder") == launch.binder_url(student)
        status, _, body = http_get(links.get("course-launch-download", ""))
        assert status == 200 and body.decode("utf-8") == authoring.expected_student_text(notebook)


def test_search_finds_broadcasting(visit):
    assert "search.html?q=" + SEARCH_WORD in visit.search_via_box
    errors = visit.search_visit
    assert not (errors.console_errors or errors.page_errors or errors.failed), errors
    pages = {urlparse(link).path.rsplit("/", 1)[-1] for link in visit.search_results}
    assert "01_tensors_0d_to_nd.html" in pages, f"searching {SEARCH_WORD!r} found {sorted(pages)}"


def test_glossary_and_measurements_pages(built_site):
    glossary = text_of((built_site.dir / "glossary.html").read_text(encoding="utf-8"))
    assert "张量" in glossary and "backpropagation" in glossary
    measurements = text_of((built_site.dir / "measurements.html").read_text(encoding="utf-8"))
    measured = re.findall(r"\d\d_\w+\.ipynb", (ROOT / build_site.MEASUREMENTS_SOURCE).read_text(encoding="utf-8"))
    assert measured and all(name in measurements for name in measured)
    assert "kernel peak memory (MiB)" in measurements


def test_screenshots_were_saved(visit):
    for path in visit.screenshots:
        assert path.is_file() and path.stat().st_size > 10_000, f"{path} is missing or empty"
    assert {p.name for p in visit.screenshots} >= set(SCREENSHOTS.values())
