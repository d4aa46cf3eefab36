"""Colab: the notebooks' setup cell, which makes a fresh Colab runtime look like a clone set up with ``make``.

The first cell of each notebook installs this package where it is missing and Colab runs the notebook
(``%pip install git+REPOSITORY``), then calls :func:`setup`, which does nothing outside Colab. In Colab
it clones the course (``GAN_AD_REPO``, default :data:`REPOSITORY`) into ``gan-ad/`` beside the notebook,
installs that clone in editable mode (so that a restarted runtime imports it) and works in
``gan-ad/notebooks/``: ``run_dir = "../runs/default"`` and ``data/`` lie in the clone as they do here.
"""
import os
import subprocess
import sys
from pathlib import Path

from . import quiet

REPOSITORY = "https://github.com/OWNER/gan-ad"  # the course's repository (book/conf.py's REPOSITORY_URL)


def setup(folder="gan-ad", repository=None):
    """Keep TensorFlow's C++ start-up log out of the notebook (:func:`gan_ad.quiet.tensorflow`, before TensorFlow
    loads); in Colab, also clone the course into ``folder`` (once), install it, and work in its ``notebooks/``.

    Returns the clone; outside Colab (``google.colab`` not imported) None, and nothing else happens.
    """
    quiet.tensorflow()
    if "google.colab" not in sys.modules:
        return None
    here = Path.cwd().resolve()
    if here.name == "notebooks" and (here.parent / "pyproject.toml").exists():  # the cell ran before in this runtime
        clone = here.parent
    else:
        clone = (here / folder).resolve()
        if not (clone / "pyproject.toml").exists():
            subprocess.run(["git", "clone", "--quiet", "--depth", "1", repository or os.environ.get("GAN_AD_REPO", REPOSITORY),
                            str(clone)], check=True)
    package = Path(sys.modules["gan_ad"].__path__[0]).resolve()
    if package != clone / "gan_ad":  # installed from git, not from the clone: the clone's, editable, from now on
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(clone)], check=True)
        sys.modules["gan_ad"].__path__[:] = [str(clone / "gan_ad")]  # pip removed the copy it was imported from
    os.chdir(clone / "notebooks")
    return clone
