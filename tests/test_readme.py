"""The result tables of the README and docs/ are generated from figures/: they must say what those files say."""
import pytest

from gan_ad import report


def test_every_generated_table_of_every_page_matches_the_figures():
    generated, named = report.tables(), set()
    pages = report.pages()
    assert report.README in pages and len(pages) > 1  # the README and the pages of docs/
    for page in pages:
        text = page.read_text()
        named |= {m.group("name") for m in report.MARKER.finditer(text)}
        assert text == report.render(text, generated), f"{page.name}: tables differ from figures/: run `make readme`"
    assert named == set(generated)  # every table of figures/ is shown somewhere, and no page names one that is not


def test_update_pages_rewrites_the_marked_blocks_of_the_readme_and_docs(tmp_path):
    readme, docs = tmp_path / "README.md", tmp_path / "docs"
    docs.mkdir()
    readme.write_text("<!-- generated: reference -->\nold\n<!-- end: reference -->\n")
    (docs / "results.md").write_text("<!-- generated: bench -->\nold\n<!-- end: bench -->\n")
    (docs / "plain.md").write_text("no tables\n")
    changed = report.update_pages(readme, docs)
    assert changed == [readme, docs / "results.md"]
    assert report.tables()["bench"] in (docs / "results.md").read_text()
    assert report.update_pages(readme, docs) == []


def test_render_fills_only_the_marked_blocks():
    text = "intro\n<!-- generated: a -->\nold\n<!-- end: a -->\nrest\n"
    assert report.render(text, {"a": "| new |\n"}) == "intro\n<!-- generated: a -->\n| new |\n<!-- end: a -->\nrest\n"
    with pytest.raises(KeyError, match="'a'"):
        report.render(text, {"b": ""})


def test_reference_table_has_labels_in_table_order_and_no_std_for_one_seed(tmp_path):
    summary = tmp_path / "summary.csv"
    summary.write_text(",auroc,auroc,auroc,auprc,auprc,auprc,f1,f1,f1\n,mean,std,count,mean,std,count,mean,std,count\n"
                       "detector,,,,,,,,,\npca,0.5,,1,0.4,,1,0.3,,1\nanogan,0.7,0.01,1,0.6,,1,0.2,,1\n")
    metrics = {"detectors": {"anogan": {"label": "AnoGAN (5 steps)", "kind": "GAN score"},
                             "pca": {"label": "PCA reconstruction", "kind": "baseline"}}}
    lines = report.reference(summary, metrics).splitlines()
    assert lines[2] == "| AnoGAN (5 steps) | GAN score | 0.700 ± 0.010 | 0.600 | 0.200 | 1 |"
    assert lines[3] == "| PCA reconstruction | baseline | 0.500 | 0.400 | 0.300 | 1 |"


def test_the_tables_say_how_many_test_images_each_detector_scored_and_give_its_auroc_on_anogans_sample(tmp_path):
    summary = tmp_path / "summary.csv"
    columns = ["auroc", "auroc_on_anogan_sample", "n_images", "auprc", "f1"]
    summary.write_text("," + ",".join(c for c in columns for _ in range(3)) + "\n," + "mean,std,count," * 4 + "mean,std,count\n"
                       "detector" + "," * 15 + "\npca,0.8,0.01,2,0.75,0.02,2,10000,0,2,0.4,,2,0.3,,2\n"
                       "anogan,0.7,0.01,2,0.7,0.01,2,1000,0,2,0.6,,2,0.2,,2\n")
    detectors = {"anogan": {"label": "AnoGAN (5 steps)", "kind": "GAN score"}, "pca": {"label": "PCA reconstruction", "kind": "baseline"}}
    lines = report.reference(summary, {"detectors": detectors}).splitlines()
    assert lines[0] == "| detector | kind | test images | test AUROC | AUROC on AnoGAN's sample | AUPRC | F1 at the validation threshold | seeds |"
    assert lines[2] == "| AnoGAN (5 steps) | GAN score | 1,000 | 0.700 ± 0.010 | 0.700 ± 0.010 | 0.600 | 0.200 | 2 |"
    assert lines[3] == "| PCA reconstruction | baseline | 10,000 | 0.800 ± 0.010 | 0.750 ± 0.020 | 0.400 | 0.300 | 2 |"
    run = {k: {"label": k, "kind": "GAN score", "n_images": 10000, "auroc": 0.9, "auroc_on_anogan_sample": 0.85, "auprc": 0.8, "f1": 0.7,
               "precision": 0.6, "recall": 0.5, "false_alarm_rate": 0.05} for k in report.DETECTOR_NOTEBOOKS}
    run["anogan"].update(n_images=1000, auroc_on_anogan_sample=0.9)
    lines = report.default_run({"detectors": run, "best_on_validation": "pca"}).splitlines()
    assert lines[0].startswith("| detector | kind | test images | AUROC | AUROC on AnoGAN's sample | AUPRC |")
    assert "| anogan | GAN score | 1,000 | 0.900 | 0.900 | 0.800 |" in lines[2]
    assert "| **pca** | **GAN score** | **10,000** | **0.900** | **0.850** |" in "\n".join(lines)
