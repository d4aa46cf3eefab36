"""Report: the result tables of the README and ``docs/``, generated from the committed files in ``figures/``.

``python -m gan_ad readme`` (run by ``make figures``, ``make reference``, ``make fashion`` and ``make bench``)
rewrites every table of ``README.md`` and of the pages ``docs/*.md`` that stands between
``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` (a table may stand in several pages);
``tests/test_readme.py`` fails when a page and ``figures/`` disagree. So no number in those tables is
typed by hand.
"""
import re
from pathlib import Path

import pandas as pd

from . import params
from .files import DETECTOR_NOTEBOOKS, PROJECT_ROOT, read_json

FIGURES = PROJECT_ROOT / "figures"
README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
MARKER = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(.*?)(<!-- end: (?P=name) -->)", re.S)


def _rows(header, rows):
    return "\n".join([f"| {' | '.join(header)} |", "|" + "---|" * len(header)] + [f"| {' | '.join(r)} |" for r in rows]) + "\n"


def default_run(metrics):
    """The seed-0 run's test metrics of every detector at its validation threshold; the best on validation in bold.
    With how many test images each scored and its AUROC on AnoGAN's sample, for a run that records them."""
    sample = all("auroc_on_anogan_sample" in metrics["detectors"][key] for key in DETECTOR_NOTEBOOKS)  # older runs: without
    columns = [("test images", "n_images"), ("AUROC", "auroc"), ("AUROC on AnoGAN's sample", "auroc_on_anogan_sample"),
               ("AUPRC", "auprc"), ("F1", "f1"), ("precision", "precision"), ("recall", "recall"),
               ("false alarms on test", "false_alarm_rate")]
    columns = [c for c in columns if sample or c[1] not in ("n_images", "auroc_on_anogan_sample")]
    rows = []
    for key in DETECTOR_NOTEBOOKS:
        m = metrics["detectors"][key]
        cells = [m["label"], m["kind"]] + [f"{m[k]:,}" if k == "n_images" else f"{m[k]:.3f}" for _, k in columns]
        rows.append([f"**{c}**" for c in cells] if key == metrics["best_on_validation"] else cells)
    return _rows(["detector", "kind", *(name for name, _ in columns)], rows)


def per_digit(metrics):
    """Test AUROC of all normals against each anomalous class alone, one column per detector."""
    labels = {key: metrics["detectors"][key]["label"] for key in DETECTOR_NOTEBOOKS}
    table = pd.DataFrame(metrics["auroc_per_digit"])[list(DETECTOR_NOTEBOOKS)]
    return _rows(["class", *labels.values()], [[str(digit), *(f"{v:.3f}" for v in row)] for digit, row in table.iterrows()])


def reference(summary_csv, metrics):
    """Mean ± std over seeds of each detector's test AUROC, AUPRC and F1 (a ``--seeds`` run's summary.csv; one seed: no std),
    with how many test images each scored and its AUROC on AnoGAN's sample, for a summary that records them.

    Rows follow the tables' order of detectors, named by the labels and kinds of ``metrics``.
    """
    table = pd.read_csv(summary_csv, header=[0, 1], index_col=0)
    sample = "auroc_on_anogan_sample" in table.columns.get_level_values(0)  # a summary made before AnoGAN scored a sample: without
    columns = [("test images", "n_images"), ("test AUROC", "auroc"), ("AUROC on AnoGAN's sample", "auroc_on_anogan_sample"),
               ("AUPRC", "auprc"), ("F1 at the validation threshold", "f1")]
    columns = [c for c in columns if sample or c[1] not in ("n_images", "auroc_on_anogan_sample")]

    def cell(r, m):
        if m == "n_images":
            return f"{r[(m, 'mean')]:,.0f}"
        return f"{r[(m, 'mean')]:.3f}" + ("" if pd.isna(r[(m, 'std')]) else f" ± {r[(m, 'std')]:.3f}")

    rows = []
    for key in [k for k in DETECTOR_NOTEBOOKS if k in table.index]:
        r = table.loc[key]
        rows.append([metrics["detectors"][key]["label"], metrics["detectors"][key]["kind"], *(cell(r, m) for _, m in columns),
                     str(int(r[("auroc", "count")]))])
    return _rows(["detector", "kind", *(name for name, _ in columns), "seeds"], rows)


def tables(figures=FIGURES):
    """Map table name -> Markdown, from the files in ``figures``."""
    metrics = read_json(figures / "metrics.json")
    generated = {"default-run": default_run(metrics), "per-digit": per_digit(metrics),
                 "reference": reference(figures / "reference_summary.csv", metrics), "bench": (figures / "bench.md").read_text()}
    generated["parameters"] = params.table(markdown=True)  # from the declaration, not from figures/
    if (figures / "fashion_summary.csv").exists():  # make fashion
        generated["fashion-reference"] = reference(figures / "fashion_summary.csv", metrics)
    return generated


def render(text, generated):
    """``text`` with every generated block replaced by its table; raises for a marker without a table."""
    def fill(match):
        name = match.group("name")
        if name not in generated:
            raise KeyError(f"a page names a generated table {name!r}; there are {', '.join(generated)}.")
        return match.group(1) + generated[name] + match.group(4)
    return MARKER.sub(fill, text)


def update_readme(readme=README, figures=FIGURES):
    """Rewrite the generated tables of ``readme``; returns True when something changed."""
    readme = Path(readme)
    before = readme.read_text()
    after = render(before, tables(figures))
    readme.write_text(after)
    return after != before



def pages(readme=README, docs=DOCS):
    """The pages that may hold generated tables: the README and every ``docs/*.md``."""
    return [Path(readme), *sorted(Path(docs).glob("*.md"))]


def update_pages(readme=README, docs=DOCS, figures=FIGURES):
    """Rewrite the generated tables of the README and of every page of ``docs``; returns the pages that changed."""
    generated = tables(figures)
    changed = []
    for page in pages(readme, docs):
        before = page.read_text()
        after = render(before, generated)
        if after != before:
            page.write_text(after)
            changed.append(page)
    return changed
