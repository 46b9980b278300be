"""Sphinx configuration of the course website (`make site`, see tools/build_site.py).

The sources Sphinx reads are the build copy that tools/build_site.py writes to build/site/src/ (the
solution notebooks with their stored outputs, the landing, glossary and measurements pages); this
folder only holds this file and the site's CSS.

Everything the site loads is served from the site itself, so it works offline and on GitHub Pages
under /REPO/ alike: the theme's fonts and icons ship with the theme, MathJax with
sphinx-mathjax-offline, the search index is Sphinx's own searchindex.js, no extension reaches the
network at build time (no intersphinx, no linkcheck) and nothing is executed. tests/test_site.py
serves the built site on 127.0.0.1 and fails on any request to another host.
"""

from __future__ import annotations

from tensorlab.launch import COURSE_BRANCH, COURSE_REPO_URL

project = "Tensors for Neural Networks"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
html_title = "Tensors for Neural Networks"

extensions = [
    "myst_nb",  # .ipynb and .md pages, notebooks with their stored outputs
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static/ instead of loaded from a CDN
]

# ---- notebooks ------------------------------------------------------------------------------------
nb_execution_mode = "off"  # the pages show the outputs stored in solutions/, checked by nbval
nb_ipywidgets_js = {}  # never add require.js / the widget manager from a CDN
nb_merge_streams = True  # one block per cell for what it printed, as in Jupyter
myst_enable_extensions = ["dollarmath", "amsmath"]  # $...$ and $$...$$ in the notebooks' text
myst_heading_anchors = 3

# ---- math: served from _static/mathjax/ (sphinx-mathjax-offline copies it there) -----------------
mathjax_path = "mathjax/tex-chtml.js"

# ---- HTML -----------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_copy_source = False  # no _sources/: the build copy is already what the pages show
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": COURSE_REPO_URL,
    "repository_branch": COURSE_BRANCH,
    "use_repository_button": True,
    "use_download_button": False,  # it would offer the build copy; each page links the student copy
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
}
# Light unless the reader switches: the stored figures are drawn on white. (Without a default, the
# theme logs "Got invalid theme mode" to the console on a first visit.)
html_context = {"default_mode": "light"}
exclude_patterns = ["_assets/**"]  # images copied from the repository, not pages
