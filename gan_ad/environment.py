"""What decides a run's floating-point numbers: library versions, the CPU and its instruction sets, threads.

The same seed on the same machine, with the same libraries and the same number of threads, gives
the same metrics to the last digit: TensorFlow's CPU kernels are deterministic for a given thread
count. Another thread count, another CPU (its vector instructions change how oneDNN sums) or
another TensorFlow version changes the order of floating-point sums, and the numbers drift apart
by an amount the README measures (Reference results). Notebook 05 records :func:`describe` in
``metrics.json`` under ``environment`` so that two runs that differ can be told apart.
"""
import os
import platform
from importlib import metadata

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn")
# The instruction sets that oneDNN and Eigen choose kernels by (a subset of /proc/cpuinfo's flags)
INSTRUCTION_SETS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
# Thread pools a run may start: OpenMP (oneDNN), the BLAS under NumPy and scikit-learn, TensorFlow's
# intra-op and inter-op pools (TensorFlow reads the last two when it starts; checked in tests/test_sweep.py).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def cpu_count():
    """The cores this process may use (its CPU affinity, which container limits set), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def thread_environment(threads):
    """The environment variables that cap every thread pool of a process started with them at ``threads``."""
    return {variable: str(threads) for variable in THREAD_VARIABLES}


def cpu(cpuinfo="/proc/cpuinfo"):
    """``(model name, instruction sets)`` of this machine's CPU; ``platform.processor()`` and ``[]`` off Linux."""
    model, flags = "", set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), [s for s in INSTRUCTION_SETS if s in flags]


def threads(environ=os.environ):
    """The intra-op threads TensorFlow uses: ``TF_NUM_INTRAOP_THREADS`` when set, else one per usable core."""
    value = environ.get("TF_NUM_INTRAOP_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else cpu_count()


def describe():
    """A JSON-ready record of what decides the floats of a run made in this process."""
    model, instruction_sets = cpu()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions, "platform": platform.platform(),
            "cpu": model, "instruction_sets": instruction_sets, "cores": cpu_count(), "threads": threads(),
            "thread_variables": {v: os.environ[v] for v in THREAD_VARIABLES if v in os.environ}}
