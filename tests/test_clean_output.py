"""The executed notebooks of the tiny run hold no line of TensorFlow's C++ log (see gan_ad/quiet.py)."""
import nbformat
import pytest

from gan_ad.runner import PIPELINE

# absl's line prefix (I0000 00:00:...), its pre-initialisation notice, and the start-up messages
PATTERNS = ("I0000 ", "W0000 ", "E0000 ", "absl::InitializeLog", "cuda drivers", "oneDNN", "cpu_feature_guard",
            "remapper failed", "[IPKernelApp]")


@pytest.mark.parametrize("name", PIPELINE)
def test_no_tensorflow_log_in_executed_notebook(name, tiny_run):
    path = tiny_run / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("papermill", {}).get("exception") is None, f"{path} did not run to the end"
    found = [(index, line) for index, cell in enumerate(nb.cells) for output in cell.get("outputs", [])
             if output.output_type == "stream" for line in output.text.splitlines()
             if any(pattern in line for pattern in PATTERNS)]
    assert not found, f"{path}: {found[:5]}"
