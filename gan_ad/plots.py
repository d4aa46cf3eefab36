"""Plots: one :func:`save_fig` for every figure of a run, and the image grids the notebooks show."""
import matplotlib.pyplot as plt
import numpy as np

from .files import atomic_path


def save_fig(fig, name, folder, dpi=110, close=False):
    """Save ``fig`` as ``folder/name.png`` (atomically) and return the path.

    Notebooks pass ``RUN_DIR / "figures"``; ``close=True`` frees figures made outside a notebook.
    """
    path = folder / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return path


def image_grid(images, ncols=8, titles=None, title=None, cmap="gray", vmin=-1, vmax=1):
    """A figure showing ``images`` (N, 28, 28[, 1]) in a grid, optionally with one title per image."""
    images = np.asarray(images).reshape(len(images), 28, 28)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.1, nrows * 1.1 + (0.3 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
