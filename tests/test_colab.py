"""Colab's view of a notebook: a Python without gan_ad, the notebook alone in the working directory.

The setup cell (four lines) must install the package from ``GAN_AD_REPO`` (here a git repository made
from this working tree, served as ``file://``, instead of GitHub) with ``%pip``, and ``gan_ad.colab.setup()``
must clone the course, install the clone and run inside it. The Python is a fresh virtual environment
that sees this one's packages (a ``.pth`` file; its editable ``gan_ad`` is not among them) so that
nothing is downloaded: pip runs with ``PIP_NO_INDEX``; the same ``.pth`` file imports a stand-in
``google.colab``, which is how the setup cell knows it runs in Colab. MNIST travels in the test
repository's ``data/``, where Colab would download it.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from gan_ad.files import DATA_DIR, NOTEBOOK_DIR, PROJECT_ROOT

pytestmark = pytest.mark.slow  # a new virtual environment and a notebook run

NOTEBOOK = "01_data_prep"
TINY = {"max_train": 256, "max_val": 64, "max_test": 64}


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """A git repository holding this working tree as it is now (tracked and new files) and MNIST."""
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    if not (DATA_DIR / "mnist.npz").exists():
        pytest.skip(f"needs {DATA_DIR / 'mnist.npz'} (offline: no download)")
    repo = tmp_path_factory.mktemp("origin") / "gan-ad"
    files = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=PROJECT_ROOT).split("\0")
    for name in filter(None, files):
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, repo / name)
    shutil.copy2(DATA_DIR / "mnist.npz", repo / "data" / "mnist.npz")
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("add", "-f", "data/mnist.npz", cwd=repo)
    git("commit", "-q", "-m", "snapshot", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    """A virtual environment without gan_ad that sees this environment's packages."""
    venv = tmp_path_factory.mktemp("venv") / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    exe = venv / "bin" / "python"
    site = subprocess.run([str(exe), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "outer-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    Path(site, "google-colab-stand-in.pth").write_text(
        'import sys, types; sys.modules.setdefault("google.colab", types.ModuleType("google.colab"))\n')
    return exe


def colab_env(repository):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GAN_AD_HOME", "VIRTUAL_ENV")}
    # PIP_NO_BUILD_ISOLATION=false means "no build isolation" (pip's double negative): setuptools is here already
    return {**env, "GAN_AD_REPO": repository.as_uri(), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "false"}


def run_notebook(python, content, env, out):
    params = [arg for key, value in TINY.items() for arg in ("-p", key, str(value))]
    return subprocess.run([str(python), "-m", "papermill", "-k", "python3", "--cwd", str(content), "--no-progress-bar",
                           str(content / f"{NOTEBOOK}.ipynb"), str(out), *params],
                          env=env, capture_output=True, text=True, timeout=300)


def stream_text(path):
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")


def test_setup_cell_is_short_and_calls_the_package():
    for path in sorted(NOTEBOOK_DIR.glob("0*.ipynb")):
        cell = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert len(cell.source.splitlines()) <= 4 and "gan_ad.colab.setup()" in cell.source, path.name
        assert "!git" not in cell.source and "os.chdir" not in cell.source, path.name  # that is setup()'s work


def test_notebook_installs_the_course_and_runs_without_it(repository, python, tmp_path):
    check = subprocess.run([str(python), "-c", "import gan_ad"], env=colab_env(repository), cwd=tmp_path,
                           capture_output=True, text=True)
    assert check.returncode != 0 and "No module named 'gan_ad'" in check.stderr  # as in Colab
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy2(NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", content)

    first = run_notebook(python, content, colab_env(repository), tmp_path / "first.ipynb")
    assert first.returncode == 0, first.stderr[-3000:]
    clone = content / "gan-ad"
    assert (clone / "pyproject.toml").exists() and (clone / "runs" / "default" / "split.npz").exists()
    assert "Run folder: " + str(clone / "runs" / "default") in stream_text(tmp_path / "first.ipynb")
    where = subprocess.run([str(python), "-c", "import gan_ad; print(gan_ad.__file__)"], env=colab_env(repository),
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert where.strip() == str(clone / "gan_ad" / "__init__.py")  # installed, editable, from the clone

    # a restarted runtime: gan_ad imports, so nothing is installed again, and the run folder is the same
    (clone / "runs" / "default" / "split.npz").unlink()
    again = run_notebook(python, content, colab_env(repository), tmp_path / "again.ipynb")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (clone / "runs" / "default" / "split.npz").exists()
