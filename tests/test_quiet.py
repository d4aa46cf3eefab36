"""TensorFlow's C++ start-up log stays out of the output; other lines on stderr still show."""
import os
import subprocess
import sys

import pytest

from gan_ad import quiet
from gan_ad.files import PROJECT_ROOT

STARTUP_LOG = ("absl::InitializeLog", "oneDNN custom operations", "cuda drivers", "cpu_feature_guard", "I0000 ")


def python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**environ, **env},
                          check=True, timeout=180)


@pytest.mark.slow  # TensorFlow started in a new process
def test_quiet_tensorflow_first_silences_tensorflow_startup():
    done = python("import gan_ad; gan_ad.quiet.tensorflow(); import keras, tensorflow as tf; print(int(tf.constant(1) + 1))")
    assert done.stdout == "2\n"
    assert not any(text in done.stderr for text in STARTUP_LOG), done.stderr


def test_filter_keeps_other_lines():
    code = ("import os, sys; from gan_ad import quiet\n"
            "with quiet.filtered_stderr():\n"
            "    os.write(2, b'I0000 00:00:1795823346.017030   21967 port.cc:153] oneDNN custom operations are on.\\n')\n"
            "    os.write(2, b'a real problem\\n')\n")
    assert python(code).stderr == "a real problem\n"


def test_noise_patterns():
    assert quiet.is_startup_noise("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    assert quiet.is_startup_noise("W0000 00:00:1795823346.017030   21967 some.cc:12] anything at start-up\n")
    assert not quiet.is_startup_noise("E0000 00:00:1795823346.017030   21967 some.cc:12] a real error\n")
    assert not quiet.is_startup_noise("Traceback (most recent call last):\n")


FAKE_TENSORFLOW = "import os\nos.write(2, b'I0000 00:00:1795823346.017030   21967 port.cc:153] oneDNN custom operations are on.\\n')\n"


def test_import_gan_ad_changes_nothing_and_quieting_is_a_call(tmp_path):
    """``import gan_ad`` leaves file descriptor 2, the import system and the environment as they were; the start-up
    log of a (fake) TensorFlow still reaches stderr, until ``gan_ad.quiet.tensorflow()`` is called first."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    check = ("import os, sys\n"
             "before = os.fstat(2), list(sys.meta_path)\n"
             "import gan_ad\n"
             "assert (os.fstat(2), list(sys.meta_path)) == before and 'TF_CPP_MIN_LOG_LEVEL' not in os.environ\n"
             "{call}import tensorflow\n")
    path = os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)])
    plain = python(check.format(call=""), PYTHONPATH=path)
    assert "oneDNN custom operations" in plain.stderr
    quieted = python(check.format(call="gan_ad.quiet.tensorflow()\nassert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '3'\n"), PYTHONPATH=path)
    assert quieted.stderr == ""
