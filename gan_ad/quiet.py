"""TensorFlow without its C++ start-up log: call :func:`tensorflow` before TensorFlow is first imported.

While it loads, TensorFlow 2.21 writes a few lines straight to the process's standard error
(file descriptor 2), before it reads ``TF_CPP_MIN_LOG_LEVEL``, so no environment variable silences them::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795823346.017030   21967 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1795823346.017376   21967 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...

In a notebook they land in the output of the setup cell and look like errors. ``import gan_ad`` changes
nothing in the process; the command line (``python -m gan_ad``) and the notebooks' setup cells call
:func:`tensorflow`, which sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is set (TensorFlow stays quiet after
it has started) and calls :func:`install`: the first ``import tensorflow`` of the process (by ``gan_ad``,
by Keras or by a notebook) then runs with descriptor 2 pointed at a temporary file. Afterwards the start-up lines are
dropped (:func:`is_startup_noise`) and any other line is written to standard error as usual, so a real
problem still shows. ``GAN_AD_TF_LOG=1`` turns the filter off.
"""
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from contextlib import contextmanager

# absl's line prefix: level letter, date, time, thread id, file:line]
ABSL_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
NOISE = (
    "All log messages before absl::InitializeLog() is called",  # absl, before TensorFlow sets up its logging
    "oneDNN custom operations are on",                           # port.cc (I)
    "Could not find cuda drivers",                               # cudart_stub.cc (I), on a machine without a GPU
    "cpu_feature_guard",                                         # "This TensorFlow binary is optimized ..." (I)
    "To enable the following instructions",                      # its second line
    "Unable to register cu",                                     # cuDNN/cuFFT/cuBLAS factories, on Colab's GPUs (E)
    "has already been registered",                               # ditto
    "computation placer already registered",                     # ditto
    "TF-TRT Warning",                                            # TensorRT not installed (W)
)


def is_startup_noise(line):
    """True for a line of TensorFlow's start-up log: absl's ``I``/``W`` lines and the known messages."""
    return any(text in line for text in NOISE) or bool(ABSL_LINE.match(line)) and line[0] in "IW"


@contextmanager
def filtered_stderr():
    """Point file descriptor 2 at a temporary file for the block; then pass on what is not start-up noise."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_startup_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's ``__init__`` under :func:`filtered_stderr`; everything else as the real loader."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader
        with filtered_stderr():
            self.loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as Python would, and hands it to :class:`_QuietLoader`; then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def tensorflow():
    """Keep TensorFlow's start-up log out of this process's standard error: ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is
    set, and :func:`install`. Call it before the first ``import tensorflow`` (of Keras, or of a ``gan_ad`` module
    that needs it); afterwards it changes nothing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    install()


def install():
    """Filter the start-up log of the first ``import tensorflow`` of this process (nothing if it is loaded)."""
    if "tensorflow" in sys.modules or os.environ.get("GAN_AD_TF_LOG") == "1":
        return
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def uninstall():
    """Remove the import hook of :func:`install`."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _QuietFinder)]
