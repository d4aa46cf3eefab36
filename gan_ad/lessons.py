"""Lessons: show the package's own code in a notebook, so that the lesson and the package never disagree.

The notebooks explain an algorithm and then show the very function that ``gan_ad`` runs (the GAN's
``train_step`` in notebook 02, the inversion loop in 03, the encoder's loss and the feature kNN in
04), in the spirit of d2l's one source of truth.
"""
import inspect
import textwrap

from IPython.display import Code


def show_source(*functions):
    """The source of ``functions`` (methods, functions or classes), highlighted, for a notebook to display."""
    return Code("\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in functions), language="python")
