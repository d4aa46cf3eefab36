import matplotlib
import numpy as np

from gan_ad import plots

matplotlib.use("Agg")


def test_save_fig_writes_one_png(tmp_path):
    fig = plots.image_grid(np.zeros((5, 28, 28, 1)), ncols=3, titles=list("abcde"), title="t")
    assert len(fig.axes) == 6  # 2 rows of 3; the sixth stays empty
    path = plots.save_fig(fig, "grid", tmp_path / "figures", close=True)
    assert path == tmp_path / "figures" / "grid.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]
