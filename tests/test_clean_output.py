"""The executed notebooks of the tiny run hold no line of TensorFlow's C++ log (see gan_ad/quiet.py)."""
import nbformat
import pytest

from gan_ad.files import RUNS_DIR
from gan_ad.runner import PIPELINE

pytestmark = pytest.mark.after_run

RUN = RUNS_DIR / "nbval"
# absl's line prefix (I0000 00:00:...), its pre-initialisation notice, and the start-up messages
PATTERNS = ("I0000 ", "W0000 ", "E0000 ", "absl::InitializeLog", "cuda drivers", "oneDNN", "cpu_feature_guard",
            "remapper failed", "[IPKernelApp]")


@pytest.mark.parametrize("name", PIPELINE)
def test_no_tensorflow_log_in_executed_notebook(name):
    path = RUN / f"{name}.ipynb"
    if not path.exists():
        pytest.skip(f"{path} does not exist: make test executes the tiny run first "
                    "(python -m gan_ad run --name nbval -f tests/tiny.yaml)")
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("papermill", {}).get("exception") is None, f"{path} did not run to the end"
    found = [(index, line) for index, cell in enumerate(nb.cells) for output in cell.get("outputs", [])
             if output.output_type == "stream" for line in output.text.splitlines()
             if any(pattern in line for pattern in PATTERNS)]
    assert not found, f"{path}: {found[:5]}"
