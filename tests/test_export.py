"""The web app's export (gan_ad/export.py): what it refuses, what it writes, and that it scores as the run does."""
import hashlib
import json

import numpy as np
import pytest

from gan_ad import export
from gan_ad.__main__ import main
from gan_ad.detectors import best_on_validation
from gan_ad.runs import Run


def test_an_unfinished_run_is_refused_with_one_sentence(tmp_path, capsys):
    run = tmp_path / "half"
    run.mkdir()
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cannot be exported: it is unfinished" in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".tmp-*"))


def test_detectors_a_browser_cannot_compute_are_refused():
    class Search:
        validation = {"auroc": 0.9}

    with pytest.raises(export.ExportError, match="can be computed in a browser"):
        export.choose_judge({"anogan": Search(), "encoder_refined": Search()})
    with pytest.raises(export.ExportError, match="cannot judge with 'anogan'"):
        export.choose_judge({"anogan": Search()}, "anogan")


@pytest.mark.parametrize("key", export.EXPORTABLE)
def test_the_export_scores_as_the_run_within_tolerance(tiny_run, tmp_path, key):
    out = tmp_path / "export"
    manifest = export.export(tiny_run, out, key)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert not list(tmp_path.glob(".tmp-*"))  # written under a temporary name, renamed when complete
    for name, record in manifest["files"].items():
        data = (out / name).read_bytes()
        assert len(data) == record["bytes"] and hashlib.sha256(data).hexdigest() == record["sha256"], name
    run = Run(tiny_run)
    x = run.split("test")[0]
    detector = run.detector(key)
    expected, got = detector.score(x), export.score_exported(out, x)
    difference = np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-12))
    print(f"{key}: largest relative difference {difference:.1e} on {len(x)} test images")
    assert difference < export.TOLERANCE
    np.testing.assert_array_equal(got > detector.threshold, expected > detector.threshold)
    with open(out / "knn_codes.f32" if key.endswith("knn") else out / "memory_codes.f32", "r+b") as f:
        f.write(b"\0\0\0\1")
    with pytest.raises(export.ExportError, match="does not match its checksum"):
        export.Exported(out)


def test_the_default_judge_is_the_best_exportable_on_validation(tiny_run, tmp_path):
    detectors = Run(tiny_run).detectors()
    manifest = export.export(tiny_run, tmp_path / "export")
    exportable = {k: d for k, d in detectors.items() if k in export.EXPORTABLE}
    assert manifest["judge"]["key"] == best_on_validation(exportable)
    assert manifest["judge"]["best_on_validation"] == best_on_validation(detectors)
    assert len(manifest["split"]) == 16 and manifest["classes"][0] == "0"
