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
def test_import_gan_ad_first_silences_tensorflow_startup():
    done = python("import gan_ad, keras, tensorflow as tf; print(int(tf.constant(1) + 1))")
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
