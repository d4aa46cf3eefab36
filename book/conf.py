"""Sphinx configuration of the course website (``make book``; book/build.py lays out its source).

The site is Sphinx with myst-nb (notebooks as pages, never executed here: they come executed from a
run) and sphinx-book-theme: what Jupyter Book 1 is made of, used directly so that no older Sphinx is
pinned, and all of it builds and reads offline, MathJax included (copied from sphinx-mathjax-offline).
"""
import os
import shutil
from importlib.metadata import files as package_files
from pathlib import Path

# The GitHub repository (OWNER/NAME) and branch that the Colab and source links of every page point at.
# Placeholder until the project has a home on GitHub; the Pages workflow passes the real ones.
REPOSITORY = os.environ.get("GAN_AD_BOOK_REPOSITORY") or "OWNER/gan-ad"
BRANCH = os.environ.get("GAN_AD_BOOK_BRANCH") or "main"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
COLAB_URL = "https://colab.research.google.com"

project = "gan-ad"
author = "the gan-ad authors"
copyright = "the gan-ad authors"
html_title = "gan-ad: anomaly detection with a GAN"

extensions = ["myst_nb", "sphinx.ext.githubpages"]  # githubpages: .nojekyll, so that Pages serves _static
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]

nb_execution_mode = "off"  # the notebooks come executed from a run (06 comes as it is in notebooks/)
nb_merge_streams = True  # Keras' progress bar: one block per cell, not one per write
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # links to sections of the README and docs/ pages (docs/results.md#speed)

html_theme = "sphinx_book_theme"
html_theme_options = {
    "repository_url": REPOSITORY_URL,
    "repository_branch": BRANCH,
    "path_to_docs": "",  # the pages of notebooks/NAME.ipynb lie at notebooks/NAME.ipynb, as in the repository
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {"colab_url": COLAB_URL},
    "show_toc_level": 2,
}
html_sidebars = {"**": ["navbar-logo.html", "sbt-sidebar-nav.html"]}  # one search box (the header's), not two
html_copy_source = True  # the download button's executed .ipynb

# MathJax from this machine, not from a CDN: the site reads offline
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui")


def mathjax_dir():
    """The MathJax 3 folder that the sphinx-mathjax-offline package ships."""
    init = next(f for f in package_files("sphinx-mathjax-offline") if f.name == "__init__.py")
    return Path(init.locate()).parent / "static" / "mathjax"


def copy_mathjax(app, exception):
    """After a build: copy the parts of MathJax that tex-chtml.js loads into _static/mathjax."""
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_dir(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app):
    app.connect("build-finished", copy_mathjax)
