"""Build the course website: README as the home page, the docs/ pages as its guide, notebooks 01-06 as executed in a run.

``python book/build.py --run runs/default --out runs/book`` (``make book RUN=...``) lays out a Sphinx
source folder in ``OUT/_source`` and builds it with ``book/conf.py`` into ``OUT/html`` (open
``OUT/html/index.html``). Pages:

- ``index``: README.md;
- ``docs/NAME``: the pages of ``docs/`` (the "Guide" of the sidebar, in the order of GUIDE, then any
  other page). In these pages and the README, links to one another (``docs/results.md#speed``,
  ``notebooks.md``, ``../README.md``) and to the lessons' notebooks become links between the site's pages,
  figures (``figures/*.png``) are copied, and links to repository files that are not pages
  (``sweeps/lam.yaml``, ...) point at GitHub;
- ``notebooks/NAME``: the executed notebook of the run (``RUN/NAME.ipynb``) with its outputs, or the
  notebook of ``notebooks/`` without outputs when the run has none (06, the demo, needs a live kernel).
  Under its title: "Open in Colab" and the source on GitHub, from REPOSITORY and BRANCH in conf.py.
- ``try``: "Try it", the web app of the run (``gan_ad.export.build_site``, copied into ``html/app``)
  embedded in the page: draw a digit and the run's models judge it in the reader's browser. A run that
  cannot be exported, or a checkout without ``webapp/node_modules`` (``npm ci`` in ``webapp/``),
  gives a page that says so instead.
"""
import argparse
import posixpath
import re
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

BOOK_DIR = Path(__file__).resolve().parent
ROOT = BOOK_DIR.parent
NOTEBOOKS = ("01_data_prep", "02_train_gan", "03_latent_inversion", "04_encoder", "05_evaluation",
             "06_interactive_demo")
GUIDE = ("notebooks", "instructors", "own-data", "batch-runs", "demo", "results", "development")
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def settings():
    """REPOSITORY, BRANCH and COLAB_URL as conf.py sets them (one place for every link)."""
    conf = runpy.run_path(str(BOOK_DIR / "conf.py"))
    return {key: conf[key] for key in ("REPOSITORY", "BRANCH", "REPOSITORY_URL", "COLAB_URL")}


def colab_link(name, s):
    return f"{s['COLAB_URL']}/github/{s['REPOSITORY']}/blob/{s['BRANCH']}/notebooks/{name}.ipynb"


def source_link(path, s):
    return f"{s['REPOSITORY_URL']}/blob/{s['BRANCH']}/{path}"


def guide():
    """The names of the pages of docs/: those of GUIDE first, in its order, then any other."""
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    return [name for name in GUIDE if name in pages] + sorted(pages - set(GUIDE))


def site_pages():
    """Map each repository file that is a page of the site to its source file in the book."""
    pages = {"README.md": "index.md"}
    pages.update({f"docs/{name}.md": f"docs/{name}.md" for name in guide()})
    pages.update({f"notebooks/{name}.ipynb": f"notebooks/{name}.ipynb" for name in NOTEBOOKS})
    return pages


def relinked(page, source, s):
    """The Markdown of repository file ``page`` with its links made to work in the book laid out in ``source``.

    A link to another page (README.md, docs/*.md, a lesson's notebook) becomes a link to its page, anchor
    kept; a figure is copied beside the pages; any other repository file is linked on GitHub.
    """
    pages = site_pages()
    here = posixpath.dirname(pages[page])

    def relink(match):
        bang, text, target = match.groups()
        if re.match(r"^[a-z]+:|^#", target):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
        if path in pages:
            return f"{bang}[{text}]({posixpath.relpath(pages[path], here or '.')}{hash_}{anchor})"
        if path.startswith("figures/") and path.endswith(".png") and (ROOT / path).exists():
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, source / path)
            return f"{bang}[{text}]({posixpath.relpath(path, here or '.')})"
        return f"{bang}[{text}]({source_link(path + hash_ + anchor, s)})"

    return LINK.sub(relink, (ROOT / page).read_text())


def home_page(source, s):
    """README.md relinked (see ``relinked``); the guide and the lessons as the toctrees."""
    docs = "\n".join(f"docs/{name}" for name in guide())
    lessons = "\n".join(f"notebooks/{name}" for name in NOTEBOOKS)
    return (relinked("README.md", source, s)
            + f"\n\n```{{toctree}}\n:hidden:\n:caption: Guide\n\n{docs}\n```\n"
            + f"\n```{{toctree}}\n:hidden:\n:caption: Lessons\n\n{lessons}\n```\n"
            + "\n```{toctree}\n:hidden:\n:caption: Try it\n\ntry\n```\n")


def lesson(name, run_dir, s):
    """The notebook page: executed in ``run_dir`` when it was, with the links under its title."""
    executed = run_dir / f"{name}.ipynb"
    nb = nbformat.read(executed if executed.exists() else ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    links = (f"[Open in Colab]({colab_link(name, s)}) · "
             f"[Source on GitHub]({source_link(f'notebooks/{name}.ipynb', s)})")
    shown = run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir
    if executed.exists():
        links += f" · as executed in `{shown}`"
    elif name == "06_interactive_demo":
        links += (" · shown without outputs: the demo needs a live Python, `make app` serves it with Voilà "
                  "(see the home page)")
    else:
        links += f" · shown without outputs: `{shown}` has no executed copy"
    nb.metadata["language_info"] = {**nb.metadata.get("language_info", {}), "name": "python",
                                    "pygments_lexer": "ipython3"}  # the setup cell's %pip and !git
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    title, _, rest = first.source.partition("\n")
    first.source = f"{title}\n\n{links}\n{rest}"
    return nb


TRY_IT = """# Try it

Draw a digit (mouse, pen or finger), upload a picture of one, or pick a real test digit: the GAN of
run `{run}`, trained on normal digits only, says whether it is NORMAL or ANOMALOUS, with its score
against the threshold, a reconstruction and the nearest normal training digits. Everything runs in
your browser (onnxruntime-web in WebAssembly); nothing is sent anywhere.
<a href="app/index.html">Open the app on its own page</a>.

<iframe src="app/index.html" title="gan-ad web app" style="width:100%;height:900px;border:1px solid #ccc"></iframe>

How it is made, and how to build it from your own run (`make webapp RUN=runs/NAME`): see the
<a href="docs/demo.html#the-web-app">demo guide</a>.
"""

NO_APP = """# Try it

This build of the website has no web app: {why}. Build it with `make webapp RUN=runs/NAME` (see the
<a href="docs/demo.html#the-web-app">demo guide</a>), or `make app` for the Voilà demo of notebook 06.
"""


def web_app(run_dir, app):
    """Build the web app of ``run_dir`` into ``app``; ``None``, or why it could not be."""
    sys.path.insert(0, str(ROOT))
    from gan_ad.export import ExportError, build_site

    try:
        build_site(run_dir, app)
    except ExportError as err:
        return str(err)
    return None


def stage(run_dir, source, why=None):
    """Lay out the Sphinx source folder of the book for ``run_dir`` (``why``: why it has no web app, if so)."""
    s = settings()
    shutil.rmtree(source, ignore_errors=True)
    (source / "notebooks").mkdir(parents=True)
    (source / "docs").mkdir()
    (source / "index.md").write_text(home_page(source, s))
    for name in guide():
        (source / "docs" / f"{name}.md").write_text(relinked(f"docs/{name}.md", source, s))
    for name in NOTEBOOKS:
        nbformat.write(lesson(name, run_dir, s), source / "notebooks" / f"{name}.ipynb")
    shown = run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir
    (source / "try.md").write_text(NO_APP.format(why=why.rstrip(".")) if why else TRY_IT.format(run=shown))


def folder_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def build(run_dir, out):
    """Stage and build the book of ``run_dir`` into ``out/html``; return the html folder."""
    run_dir, out = Path(run_dir).resolve(), Path(out).resolve()
    if not any(run_dir.glob("0*.ipynb")):
        raise SystemExit(f"error: {run_dir} holds no executed notebooks; make a run first "
                         "(make run, or python -m gan_ad run --name NAME) and give it as RUN=runs/NAME.")
    start = time.perf_counter()
    app = out / "app"
    why = web_app(run_dir, app)
    stage(run_dir, out / "_source", why)
    html = out / "html"
    shutil.rmtree(html, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(BOOK_DIR),
                    "-d", str(out / "doctrees"), str(out / "_source"), str(html)], check=True)
    if why is None:
        shutil.copytree(app, html / "app")
    else:
        print(f"The website has no web app: {why}")
    seconds = time.perf_counter() - start
    print(f"Course website of {run_dir} in {html} (open index.html): built in {seconds:.0f} s, "
          f"{folder_size(html) / 2**20:.1f} MiB")
    return html


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/default", help="run folder with the executed notebooks (default: runs/default)")
    parser.add_argument("--out", default="runs/book", help="output folder; the site goes to OUT/html (default: runs/book)")
    args = parser.parse_args(argv)
    build(args.run, args.out)


if __name__ == "__main__":
    main()
