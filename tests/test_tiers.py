"""The tiers of ``make test`` (docs/development.md, Tests): the slow tier runs on two pytest-xdist workers with
``--dist loadgroup``, and ``tests/conftest.py`` keeps the tests that share a fixture of their file on one worker, so
that such a fixture (the ``graded`` class of submissions, minutes of grading) is made once, not once per worker."""
import os
import shutil
import subprocess
import sys

import pytest

from gan_ad.environment import THREAD_VARIABLES
from gan_ad.files import PROJECT_ROOT

SHARED = '''
import os, pytest

@pytest.fixture(scope="module")
def made():
    with open(os.environ["MADE_LOG"], "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")

@pytest.mark.parametrize("i", range(6))
def test_shares(made, i):
    pass

@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    pass
'''


@pytest.mark.slow  # three pytest processes
def test_a_files_shared_fixture_is_made_once_on_two_workers(tmp_path):
    folder = tmp_path / "tests"
    folder.mkdir()
    shutil.copy(PROJECT_ROOT / "tests" / "conftest.py", folder / "conftest.py")
    (folder / "test_shared.py").write_text(SHARED)
    log = tmp_path / "made.log"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
                           str(folder)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "MADE_LOG": str(log)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 passed" in done.stdout
    assert len(log.read_text().split()) == 1, log.read_text()  # one worker made it, once


def test_the_slow_tier_gives_each_worker_half_the_cores_in_every_thread_pool():
    """``make test`` sets every variable of :data:`gan_ad.environment.THREAD_VARIABLES` for the slow tier's workers."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if line.startswith("HALF_THE_CORES :="))
    assert dict(pair.split("=") for pair in line.split(":=")[1].split()) == {v: "$(HALF)" for v in THREAD_VARIABLES}
    slow = next(line for line in makefile.splitlines() if "-m slow -n 2" in line)
    assert slow.split()[0] == "$(HALF_THE_CORES)"
