"""Grading: the submitted notebooks of a course, graded with otter-grader into a grade book and feedback.

``python -m gan_ad grade SUBMISSIONS/ --out grades/`` grades ``SUBMISSIONS/STUDENT/NN_name.ipynb``
with ``otter run`` (no Docker): the tests, hidden ones included, come from the masters built from the
lessons and the instructor source (``course/`` or ``--source DIR``; ``otter assign`` again, into
``grades/.grading/``), never from a submission. Notebooks 02-05 read what the earlier ones saved,
so the lessons first run once, at the grading parameters, into a shared run folder (kept and reused
while the parameters and notebooks stay the same); each submission then runs in a copy of that
folder as it was before its notebook, which is deleted afterwards. Each submission runs in a
bubblewrap sandbox (:func:`sandbox_command`): no network, its own writable folder, the project and
Python read-only, nothing else of this machine (no other submission, no grade book, no instructor
source), and limits on memory and processes; ``sandbox=False`` (``--no-sandbox``) runs it with the
instructor's rights. Submissions go ``workers`` at a time, each in a process of its own with a time
limit per notebook and per cell, or as tasks of a Dask cluster (``cluster``). A submission that is
not a notebook, has the wrong name, another notebook's content, runs too long, crashes or exhausts
a limit gets 0 for what did not run and a sentence in the grade book and its student's feedback;
the run goes on.

The student versions and the exercises' format are :mod:`gan_ad.assignments`.
"""
import difflib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

import nbformat
import pandas as pd

from . import parallel
from .assignments import (GRADED, AssignmentError, course_source, make_release, otter_assign, question_order,
                          student_parameters)
from .environment import cpu_count, thread_environment
from .files import NOTEBOOK_DIR, PROJECT_ROOT, atomic_path, write_json
from .parallel import describe
from .runner import notebook_parameters, run_pipeline
from .sweep import SweepError, cluster_threads, connect

TIME_LIMIT = 300       # seconds one submitted notebook may run in all
CELL_TIME_LIMIT = 120  # seconds one cell may run before it is interrupted (the notebook goes on)
OUTPUT_LIMIT = 1_000_000  # bytes of output above which the feedback says that a notebook printed too much
STATUSES = ("graded", "not submitted", "not a notebook", "wrong notebook", "timed out", "failed", "unexpected file")
COLUMNS = ["student", "notebook", "exercise", "points", "max", "status", "note"]
MEMORY_LIMIT = 8       # GB of address space (RLIMIT_AS) of each process that grades a submission
PROCESS_LIMIT = 512    # processes and threads (RLIMIT_NPROC) in one submission's sandbox
NO_BWRAP = ("Grading runs each submission in a bubblewrap sandbox, but bwrap is not installed: install it "
            "(sudo apt-get install bubblewrap) or grade with --no-sandbox, which runs the students' code with your rights.")
NO_SANDBOX_WARNING = ("warning: grading without a sandbox (--no-sandbox): each submission runs with your rights, "
                      "your files and the network (docs/instructors.md, Threat model).")
SANDBOX_UID = 200_000  # grading as root: each sandbox runs as a user id of its own from here, so that its process limit holds
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUNBUFFERED",
            "TF_CPP_MIN_LOG_LEVEL", "GAN_AD_HOME", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


# --- the shared run folder, and grading one submission ---------------------------------------------------------------------

def question_points(autograder_zip):
    """Map question -> points possible, read from the tests in an autograder zip (hidden ones included)."""
    import zipfile

    from otter.test_files import ExceptionTestFile

    points = {}
    with zipfile.ZipFile(autograder_zip) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("tests/") and name.endswith(".py"):
                test = ExceptionTestFile.from_string(archive.read(name).decode(), path=name)
                points[test.name] = test.possible
    return points


def base_stamp(params):
    """What a shared run folder depends on: the grading parameters and the source notebooks."""
    digests = {nb: hashlib.sha256((NOTEBOOK_DIR / f"{nb}.ipynb").read_bytes()).hexdigest() for nb in GRADED}
    return json.loads(json.dumps({"params": params, "notebooks": digests}))


@contextmanager
def file_lock(path):
    """Hold an exclusive ``flock`` on ``path`` (waits for another holder)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def base_ready(folder, params, notebooks=()):
    """Whether ``folder`` was made with ``params`` and these source notebooks, and holds the snapshots of ``notebooks``."""
    try:
        same = json.loads((Path(folder) / "stamp.json").read_text()) == base_stamp(params)
    except (OSError, ValueError):
        return False
    return same and all((Path(folder) / f"before_{nb}").is_dir() for nb in notebooks)


def prepare_base(folder, params, notebooks=GRADED, echo=False):
    """Run the lesson notebooks at ``params`` into ``folder``, as far as ``notebooks`` need; return the folder.

    ``folder/before_NOTEBOOK`` is the run folder as that notebook finds it (empty for 01), without
    the executed notebooks (the exercises write nothing there, so the lessons' unanswered ones do
    not change it); ``folder/run`` goes on from where the last
    call stopped, so grading 01 alone trains nothing and 05 later reuses the rest. A folder made
    with other parameters or notebooks is made anew. A lesson that fails at these parameters
    raises :class:`AssignmentError`.
    """
    folder = Path(folder)
    if base_ready(folder, params, notebooks):
        return folder
    with file_lock(folder.with_name(f".{folder.name}.lock")):
        if not base_ready(folder, params):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            write_json(folder / "stamp.json", base_stamp(params))
        run_dir, last = folder / "run", max(GRADED.index(nb) for nb in notebooks)
        for i, notebook in enumerate(GRADED[:last + 1]):
            snapshot = folder / f"before_{notebook}"
            if not snapshot.exists():  # made right after its predecessor ran: run_dir is as the notebook finds it
                tmp = folder / f".tmp-before_{notebook}"
                shutil.rmtree(tmp, ignore_errors=True)
                if run_dir.exists():
                    shutil.copytree(run_dir, tmp, ignore=shutil.ignore_patterns("*.ipynb"))
                else:
                    tmp.mkdir()
                os.replace(tmp, snapshot)
            if i == last or (folder / f"before_{GRADED[i + 1]}").exists():
                continue
            if echo:
                print(f"  solution {notebook} ...", flush=True)
            try:
                run_pipeline("run", params, runs_dir=folder, echo=False, notebooks=(notebook,))
            except Exception as err:
                raise AssignmentError(f"The lesson notebook {notebook} fails at the grading parameters "
                                      f"({describe(err)}); its executed copy is {run_dir / (notebook + '.ipynb')}.") from None
    return folder


def kill_tree(process):
    """Kill a process we started and everything it started (the notebook kernel among them)."""
    import psutil

    if process.poll() is not None:  # ended and reaped: its process id may belong to someone else by now
        return
    try:
        parent = psutil.Process(process.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass


def child_env(threads=None):
    """The environment of a process we start: this ``gan_ad`` importable, and ``threads`` per thread pool if given."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    if threads:
        env.update(thread_environment(threads))
    return env


def prepare_base_quietly(folder, params, notebooks, log):
    """:func:`prepare_base` in a process of its own whose output (the kernels' chatter) goes to ``log``."""
    if base_ready(folder, params, notebooks):
        return Path(folder)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        done = subprocess.run([sys.executable, "-m", "gan_ad.grading", "prepare-base", str(folder), json.dumps(params),
                               json.dumps(list(notebooks))],
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env())
    if done.returncode != 0:
        lines = Path(log).read_text(errors="replace").strip().splitlines()
        reason = next((line for line in reversed(lines) if line.startswith("error: ")), f"exit code {done.returncode}")
        raise AssignmentError(f"Preparing the shared run folder failed: {reason.removeprefix('error: ')} (log: {log})")
    return Path(folder)


def check_sandbox():
    """Refuse (:class:`AssignmentError`) when bubblewrap is missing or cannot make a sandbox on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise AssignmentError(NO_BWRAP)
    done = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise AssignmentError(f"bwrap cannot make a sandbox here ({done.stderr.strip()[:200]}); allow user namespaces, "
                              "or grade as root, or grade with --no-sandbox.")


UID_LOCK, UID_NEXT = threading.Lock(), [0]


def sandbox_uid():
    """A user id of its own for the next sandbox when grading as root (the process limit counts per user), else None."""
    if os.geteuid() != 0:
        return None
    with UID_LOCK:
        UID_NEXT[0] += 1
        return SANDBOX_UID + (os.getpid() % 1000) * 1000 + UID_NEXT[0] % 1000


def sandbox_command(work, command, hidden=()):
    """``command`` run by bubblewrap: no network, ``work`` writable, Python and the project read-only, nothing else.

    The sandbox sees the system's /usr, /etc and libraries, this Python (its prefix and base prefix),
    the project and the folders on PYTHONPATH, all read-only, a /tmp of its own and ``work``; any of
    ``hidden`` (the submissions, the grade book, the instructor source) that lies in what it sees is
    covered by an empty folder. Its processes have their own process ids, and die with the grading.
    As root, bwrap needs no user namespace; the grading process inside then drops to a user id of its own.
    """
    work = Path(work).resolve()
    shown = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent.parent,
                                           PROJECT_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
             if Path(p).exists()}
    shown = sorted(p for p in shown if not any(q != p and q in p.parents for q in shown))  # outermost folders only
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--hostname", "grading"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"):
        args += ["--ro-bind-try", system, system]
    def parents(folder, made):  # the folders above: readable by the sandbox's user (bwrap would make them 0700)
        return [arg for parent in reversed(Path(folder).parents[:-1]) if parent not in made and not made.add(parent)
                and not any(parent == s or s in parent.parents for s in shown) for arg in ("--perms", "0755", "--dir", str(parent))]

    made = set()
    for folder in shown:
        args += [*parents(folder, made), "--ro-bind", str(folder), str(folder)]
    for folder in sorted({Path(h).resolve() for h in hidden}):
        if folder.is_dir() and any(folder == s or s in folder.parents for s in shown):
            args += ["--tmpfs", str(folder)]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    args += [*parents(work, {Path("/tmp")}), "--bind", str(work), str(work), "--chdir", str(work)]
    return args + ["--", *command]


def sandbox_env(env, work):
    """The environment inside a sandbox: ``env`` without the instructor's own variables, HOME in ``work``."""
    home = Path(work) / "home"
    kept = {k: v for k, v in env.items() if k in KEPT_ENV}
    return {**kept, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "MPLCONFIGDIR": str(home / "mpl"),
            "TMPDIR": "/tmp"}


LIVE = set()  # grading processes running now, to stop them when the grading is stopped
LIVE_LOCK = threading.Lock()


def grade_job(job):
    """Grade one submitted notebook; return its outcome, never raise for a bad submission.

    ``job`` holds ``student``, ``notebook``, ``submission`` (the file's bytes), ``autograder`` (the
    autograder zip's bytes), ``params``, ``base`` (a shared run folder made by :func:`prepare_base`;
    a Dask worker that cannot see it makes its own once), ``time_limit``, ``cell_time_limit`` and
    ``threads`` (per process; a dict maps Dask worker addresses to threads). The outcome has
    ``status`` (see :data:`STATUSES`), ``note``, ``questions`` (name -> score and test results),
    ``errors`` (the cells that raised), ``output_bytes`` and ``seconds``. A top-level function, so
    that Dask workers can unpickle it.
    """
    start = time.perf_counter()
    outcome = {"student": job["student"], "notebook": job["notebook"], "status": "graded", "note": "",
               "questions": {}, "errors": [], "output_bytes": 0, "seconds": None}
    try:
        outcome.update(_grade(job))
    except Exception as err:  # a bug or a broken machine: record it and go on
        outcome.update(status="failed", note=f"grading failed: {describe(err)}")
    outcome["seconds"] = time.perf_counter() - start
    return outcome


def _grade(job):
    notebook = job["notebook"]
    try:
        nb = nbformat.reads(job["submission"].decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as err:
        return {"status": "not a notebook",
                "note": f"{notebook}.ipynb is not a Jupyter notebook ({describe(err)[:200]}); nothing was graded."}
    got = nb.metadata.get("otter", {}).get("assignment_name")
    if got and got != notebook:
        return {"status": "wrong notebook",
                "note": f"{notebook}.ipynb holds the student version of {got}, not of {notebook}; nothing was graded."}
    note = "" if got else "The notebook has no otter metadata (not started from the student version?); graded anyway. "
    nb.metadata.setdefault("otter", {})["assignment_name"] = notebook
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    base = Path(job["base"]) if job.get("base") else None
    if base is None or not base_ready(base, job["params"], [notebook]):  # a Dask worker without the instructor's disk
        base = prepare_base(Path(tempfile.gettempdir()) / "gan-ad-grading" /
                            hashlib.sha256(json.dumps(base_stamp(job["params"])).encode()).hexdigest()[:16],
                            job["params"], [notebook])
    threads = job.get("threads")
    if isinstance(threads, dict):
        from distributed import get_worker


        worker = get_worker()
        threads = threads.get(worker.address) or max(1, cpu_count() // worker.state.nthreads)
    with tempfile.TemporaryDirectory(prefix="gan-ad-grade-") as work:
        work = Path(work)
        run_dir = work / "run"
        shutil.copytree(base / f"before_{notebook}", run_dir)
        import papermill.parameterize

        declared = notebook_parameters(notebook)
        values = {**{k: v for k, v in job["params"].items() if k in declared}, "run_dir": str(run_dir)}
        nb.metadata["papermill"] = nbformat.NotebookNode({})  # what papermill's loader would add
        for cell in nb.cells:
            cell.metadata.setdefault("tags", [])
        nb = papermill.parameterize.parameterize_notebook(nb, values, kernel_name="python3", language="python")
        submission, autograder, result = work / "submission" / f"{notebook}.ipynb", work / "autograder.zip", work / "result.json"
        submission.parent.mkdir()
        nbformat.write(nb, submission)
        autograder.write_bytes(job["autograder"])
        env = child_env(threads)
        sandbox, uid = job.get("sandbox", True), None
        command = [sys.executable, "-m", "gan_ad.grading", "run-otter", str(submission), str(autograder), str(result),
                   str(job["cell_time_limit"]), str(int(job.get("memory_limit", MEMORY_LIMIT) * 2 ** 30))]
        if sandbox:
            uid = sandbox_uid()
            command += [str(job.get("process_limit", PROCESS_LIMIT)), str(-1 if uid is None else uid)]
            (work / "home").mkdir()
            if uid is not None:  # the sandbox's own user writes only in its folder
                for path in [work, *work.rglob("*")]:
                    os.chown(path, uid, uid, follow_symlinks=False)
            command, env = sandbox_command(work, command, job.get("hidden", ())), sandbox_env(env, work)
        with open(work / "log.txt", "wb") as log:
            process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            with LIVE_LOCK:
                LIVE.add(process)
            try:
                process.wait(timeout=job["time_limit"])
            except subprocess.TimeoutExpired:
                kill_tree(process)
                process.wait()
                return {"status": "timed out",
                        "note": note + f"The notebook ran longer than the time limit of {job['time_limit']:g} s and was "
                                       "stopped; nothing was graded."}
            except BaseException:  # stopped (Ctrl-C) while grading in this thread: the notebook stops too
                kill_tree(process)
                raise
            finally:
                with LIVE_LOCK:
                    LIVE.discard(process)
        if not result.exists():
            tail = (work / "log.txt").read_bytes()[-600:].decode(errors="replace").strip().splitlines()
            last = tail[-1] if tail else "no output"
            if "DeadKernelError" in last:
                last = "the notebook's kernel died (a cell ended the Python process, or it ran out of memory)"
            elif sandbox and any(sign in last for sign in ("Invalid Signature", "can't start new thread",
                                                           "Resource temporarily unavailable")):
                last = (f"the notebook started as many processes and threads as the limit of "
                        f"{job.get('process_limit', PROCESS_LIMIT)} allows, and otter could not go on ({last[:80]})")
            return {"status": "failed", "note": note + f"Grading stopped: {last}; nothing was graded."}
        graded = json.loads(result.read_text())
    note += limits_note(graded["errors"], job)
    if graded.get("catastrophic"):
        return {"status": "failed", "note": note + f"The notebook could not be graded: {graded['catastrophic']}",
                "errors": graded["errors"], "output_bytes": graded["output_bytes"]}
    if graded["output_bytes"] > OUTPUT_LIMIT:
        note += f"The notebook printed {graded['output_bytes'] / 1e6:.1f} MB of output. "
    return {"note": note.strip(), "questions": graded["questions"], "errors": graded["errors"],
            "output_bytes": graded["output_bytes"]}


def limits_note(errors, job):
    """A sentence for the feedback when a cell ran into the memory or the process limit, else ''."""
    text = " ".join(e["error"] for e in errors)
    note = ""
    if "MemoryError" in text:
        note += f"A cell ran out of the memory limit of {job.get('memory_limit', MEMORY_LIMIT):g} GB (MemoryError). "
    if "Resource temporarily unavailable" in text or "BlockingIOError" in text:
        note += (f"A cell reached the limit of {job.get('process_limit', PROCESS_LIMIT)} processes and threads "
                 "(it could not start more). ")
    return note


def set_limits(memory, processes=0, uid=-1):
    """The grading process's own limits, inherited by its kernel: address space, processes; then, as root, another user."""
    import resource

    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def run_otter(submission, autograder, result_path, cell_time_limit):
    """``otter run`` on one notebook, with a time limit per cell; write its results as JSON (the grading process)."""
    import otter.execute
    from otter.api import grade_submission
    from traitlets.config import Config

    def config():  # otter builds its executor's configuration here; a cell that runs too long is interrupted
        c = Config()
        c.ExecutePreprocessor.timeout = int(cell_time_limit)
        c.ExecutePreprocessor.interrupt_on_timeout = True
        c.ExecutePreprocessor.error_on_timeout = {
            "ename": "CellTimeLimit", "evalue": f"the cell ran longer than {cell_time_limit:g} s and was interrupted",
            "traceback": []}
        return c

    otter.execute.Config = config
    results = grade_submission(submission, autograder, quiet=True)
    executed = results.notebook
    questions = {}
    for name, test_file in results.results.items():
        questions[name] = {"score": test_file.score, "possible": test_file.possible, "tests": [
            {"name": r.test_case.name, "hidden": r.test_case.hidden, "points": r.test_case.points, "passed": r.passed,
             "message": "" if r.test_case.hidden else (r.message or "").strip(),
             "failure_message": r.test_case.failure_message or ""} for r in test_file.test_case_results]}
    errors, size = [], 0
    for cell in (executed.cells if executed is not None else []):
        for output in cell.get("outputs", []):
            size += len(json.dumps(output))
            if output.get("output_type") == "error":
                first = next((line for line in cell.source.split("\n") if line.strip() and not line.startswith("#")), "")
                error = f"{output.get('ename')}: {output.get('evalue', '')}"
                if output.get("ename") in ("KeyboardInterrupt", "CellTimeLimit"):  # nobody presses Ctrl-C in a grading run
                    error = f"stopped after the cell time limit of {cell_time_limit:g} s (an endless loop?)"
                errors.append({"cell": first[:80], "error": error[:300]})
    catastrophic = results.catastrophic_error
    Path(result_path).write_text(json.dumps({
        "questions": questions, "errors": errors, "output_bytes": size,
        "catastrophic": describe(catastrophic) if catastrophic else ""}))


# --- grading a folder ---------------------------------------------------------------------------

def find_submissions(folder):
    """Split ``folder`` into ``(jobs, strays)``: (student, notebook, path) to grade, and (student, file, note) not graded.

    The layout is ``folder/STUDENT/NN_name.ipynb``; hidden files and ``.ipynb_checkpoints`` are ignored.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AssignmentError(f"{folder} is not a folder of submissions (SUBMISSIONS/STUDENT/01_data_prep.ipynb ...).")
    names = [f"{nb}.ipynb" for nb in GRADED]
    jobs, strays = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            strays.append(("", entry.name, "a file directly in the submissions folder; each student's notebooks "
                                                   "go in a folder of their own (SUBMISSIONS/STUDENT/01_data_prep.ipynb)"))
            continue
        for path in sorted(entry.rglob("*")):
            parts = path.relative_to(entry).parts
            if not path.is_file() or any(p.startswith(".") for p in parts):
                continue
            if len(parts) == 1 and path.name in names:
                jobs.append((entry.name, path.stem, path))
                continue
            close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            strays.append((entry.name, "/".join(parts), "not graded: expected one of " + ", ".join(names)
                           + " directly in the student's folder" + hint))
    return jobs, strays


def grade_folder(submissions, out, changes=None, workers=None, cluster=None, time_limit=TIME_LIMIT,
                 cell_time_limit=CELL_TIME_LIMIT, echo=True, source=None, sandbox=True, memory_limit=MEMORY_LIMIT,
                 process_limit=PROCESS_LIMIT):
    """Grade every submission in ``submissions`` into ``out``: ``gradebook.csv``, ``totals.csv``, ``feedback/STUDENT.md``.

    Returns the grade book (one row per student, notebook and exercise, plus one per file that was
    not graded). ``workers`` submissions go at once on this machine (default: its cores), each in a
    process of its own; ``cluster`` (a Dask scheduler's address) makes each submission a task there.
    ``source`` is the instructor source (default ``course/``). Each submission runs in a sandbox
    (:func:`sandbox_command`) unless ``sandbox`` is False, with ``memory_limit`` GB and ``process_limit``.
    """
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise AssignmentError(f"--workers needs a whole number of at least 1, got {workers!r}.")
    if cluster and workers is not None:
        raise AssignmentError("Give --workers or --cluster, not both: the cluster's workers decide how many run at once.")
    for name, value in (("--time-limit", time_limit), ("--cell-time-limit", cell_time_limit),
                        ("--memory-limit", memory_limit), ("--process-limit", process_limit)):
        if not value or value <= 0:
            raise AssignmentError(f"{name} needs a positive number of seconds, got {value!r}.")
    params = student_parameters(changes)
    source = course_source(source)
    found, strays = find_submissions(submissions)
    if sandbox:
        check_sandbox()
    else:
        print(NO_SANDBOX_WARNING, file=sys.stderr, flush=True)
    out = Path(out)
    grading = out / ".grading"
    say = print if echo else (lambda *a, **k: None)
    students = len({s for s, _, _ in found} | {s for s, _, _ in strays if s})
    say(f"{count(len(found), 'notebook')} of {count(students, 'student')} in {submissions}; "
        f"{count(len(strays), 'other file')} not graded.", flush=True)
    autograders, points, order = {}, {}, {}
    for notebook in GRADED:
        _, archive = otter_assign(notebook, grading / "autograder" / notebook, source)
        autograders[notebook], points[notebook], order[notebook] = archive.read_bytes(), question_points(archive), question_order(notebook)
    client = None
    if cluster:
        try:
            client = connect(cluster)
            threads = cluster_threads(client)
        except SweepError as err:
            if client is not None:
                client.close()
            raise AssignmentError(str(err)) from None
    else:
        workers = workers or cpu_count()
        threads = max(1, cpu_count() // max(1, min(workers, len(found) or 1)))
    try:
        base, needed = grading / "base", sorted({nb for _, nb, _ in found}, key=GRADED.index)
        if found and client is None and not base_ready(base, params, needed):
            say(f"Running the solution notebooks at the grading parameters into {base} (kept for the next grading) ...",
                flush=True)
            prepare_base_quietly(base, params, needed, grading / "base.log")
        # a Dask worker uses this folder when it sees it (same machine, shared disk), else makes its own once
        base = str(base.resolve()) if base_ready(base, params) else None
        jobs = [{"student": student, "notebook": notebook, "submission": path.read_bytes(),
                 "autograder": autograders[notebook], "params": params, "base": base, "time_limit": time_limit,
                 "cell_time_limit": cell_time_limit, "threads": threads, "sandbox": sandbox, "memory_limit": memory_limit,
                 "process_limit": process_limit, "hidden": [str(Path(submissions).resolve()), str(out.resolve()), str(source)]}
                for student, notebook, path in found]
        outcomes = []
        with closing(run_jobs(jobs, workers, client)) as finished:  # closed on any exit: the gradings stop
            for done, (_, outcome) in enumerate(finished, 1):
                outcomes.append(outcome)
                got = sum(q["score"] for q in outcome["questions"].values())
                say(f"[{done}/{len(jobs)}] {outcome['student']} {outcome['notebook']}: "
                    + (f"{got:g}/{sum(points[outcome['notebook']].values()):g} points" if outcome["status"] == "graded"
                       else outcome["status"]) + f" in {outcome['seconds']:.0f} s", flush=True)
    finally:
        if client is not None:
            client.close()
    book = gradebook(outcomes, strays, points, order)
    write_results(out, book, outcomes, order)
    return book


def run_jobs(jobs, workers, client):
    """Yield ``(job, outcome)`` as each job finishes (:func:`gan_ad.parallel.run`): on this machine (``workers`` at once,
    each grading in processes of its own) or as tasks of a Dask cluster; stopped, it kills the processes it started."""
    def failed(job, error, seconds):  # the job could not finish: its Dask worker died, say
        return {"student": job["student"], "notebook": job["notebook"], "status": "failed",
                "note": f"grading failed{' on the cluster' if client is not None else ''}: {error}", "questions": {},
                "errors": [], "output_bytes": 0, "seconds": seconds or 0.0}

    return parallel.run(grade_job, [(job, (job,)) for job in jobs], workers, client, failed=failed, on_stop=kill_live,
                        key=lambda job, args: f"gan-ad grade {job['student']} {job['notebook']}")


def kill_live():
    """Kill the grading processes running now, and what they started."""
    with LIVE_LOCK:
        for process in list(LIVE):
            kill_tree(process)


def gradebook(outcomes, strays, points, order):
    """The grade book: a row per student, notebook and exercise (0 points where nothing was graded), and per stray file."""
    by_key = {(o["student"], o["notebook"]): o for o in outcomes}
    students = sorted({o["student"] for o in outcomes} | {s for s, _, _ in strays if s})
    rows = []
    for student in students:
        for notebook in GRADED:
            outcome = by_key.get((student, notebook))
            for exercise in order[notebook]:
                row = {"student": student, "notebook": notebook, "exercise": exercise, "points": 0.0,
                       "max": float(points[notebook].get(exercise, 0))}
                if outcome is None:
                    row.update(status="not submitted", note=f"{notebook}.ipynb was not handed in.")
                elif outcome["status"] != "graded":
                    row.update(status=outcome["status"], note=outcome["note"])
                else:
                    question = outcome["questions"].get(exercise)
                    if question is None:
                        row.update(status="graded", note="The tests did not run (see the errors in the feedback).")
                    else:
                        passed = sum(t["passed"] for t in question["tests"])
                        row.update(points=float(question["score"]), status="graded",
                                   note=f"{passed} of {len(question['tests'])} tests passed")
                    errors = len(outcome["errors"])
                    row["note"] = "; ".join(filter(None, [row["note"], outcome["note"],
                                                          f"{errors} cell(s) raised an error (see feedback)" if errors else ""]))
                rows.append(row)
        rows += [{"student": student, "notebook": name, "exercise": "", "points": 0.0, "max": 0.0,
                  "status": "unexpected file", "note": note} for s, name, note in strays if s == student]
    rows += [{"student": "", "notebook": name, "exercise": "", "points": 0.0, "max": 0.0, "status": "unexpected file",
              "note": note} for s, name, note in strays if not s]
    return pd.DataFrame(rows, columns=COLUMNS)


def write_results(out, book, outcomes, order):
    """``gradebook.csv``, ``totals.csv`` (points per student and notebook) and one Markdown feedback file per student."""
    out = Path(out)
    with atomic_path(out / "gradebook.csv") as tmp:
        book.to_csv(tmp, index=False)
    graded = book[book["exercise"] != ""]
    totals = graded.pivot_table(index="student", columns="notebook", values="points", aggfunc="sum", fill_value=0.0)
    totals["total"] = totals.sum(axis=1)
    totals["max"] = graded.groupby("student")["max"].sum()
    with atomic_path(out / "totals.csv") as tmp:
        totals.to_csv(tmp)
    by_key = {(o["student"], o["notebook"]): o for o in outcomes}
    feedback = out / "feedback"
    feedback.mkdir(parents=True, exist_ok=True)
    for student, rows in book[book["student"] != ""].groupby("student", sort=True):
        with atomic_path(feedback / f"{student}.md") as tmp:
            tmp.write_text(feedback_text(student, rows, by_key, order))


def count(number, word):
    """``1 point``, ``2.5 points``."""
    return f"{number:g} {word}" + ("" if number == 1 else "s")


def points(value):
    """``1 point``, ``2.5 points``."""
    return count(value, "point")


def feedback_text(student, rows, by_key, order):
    """One student's feedback in Markdown: points per exercise, what failed, and what went wrong while running."""
    graded = rows[rows["exercise"] != ""]
    lines = [f"# Feedback for {student}", "",
             f"**Total: {graded['points'].sum():g} of {graded['max'].sum():g} points.**", ""]
    for notebook in GRADED:
        part = graded[graded["notebook"] == notebook]
        outcome = by_key.get((student, notebook))
        lines += [f"## {notebook}: {part['points'].sum():g} of {part['max'].sum():g} points", ""]
        statuses = set(part["status"])
        if statuses - {"graded"}:
            lines += [part["note"].iloc[0], ""]
        elif outcome and outcome["note"]:
            lines += [outcome["note"], ""]
        lines += ["| exercise | points | of |", "|---|---|---|"]
        lines += [f"| {r.exercise} | {r.points:g} | {r.max:g} |" for r in part.itertuples()]
        lines.append("")
        if outcome and outcome["status"] == "graded":
            for exercise in order[notebook]:
                question = outcome["questions"].get(exercise)
                if question is None:
                    continue
                for test in question["tests"]:
                    if test["passed"]:
                        continue
                    if test["hidden"]:
                        lines.append(f"- **{exercise}**, hidden test ({points(test['points'])}) failed"
                                     + (f": {test['failure_message']}" if test["failure_message"] else "."))
                    else:
                        message = "\n".join("  " + line for line in test["message"].splitlines()[-6:])
                        lines.append(f"- **{exercise}**, visible test ({points(test['points'])}) failed:\n\n  ```\n{message}\n  ```")
            if outcome["errors"]:
                lines += ["", "Errors while the notebook ran:", ""]
                lines += [f"- in the cell starting `{e['cell']}`: {e['error']}" for e in outcome["errors"][:10]]
                if len(outcome["errors"]) > 10:
                    lines.append(f"- and {len(outcome['errors']) - 10} more")
            lines.append("")
    strays = rows[rows["status"] == "unexpected file"]
    if len(strays):
        lines += ["## Files that were not graded", ""]
        lines += [f"- `{r.notebook}`: {r.note}" for r in strays.itertuples()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --- what the sandbox costs ----------------------------------------------------------------------

def make_class(folder, students=4, source=None):
    """A folder of ``students`` x 5 submissions: every other student hands in the solutions, the others the student versions."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="gan-ad-class-") as tmp:
        make_release(Path(tmp) / "release", source=source)
        for notebook in GRADED:
            _, archive = otter_assign(notebook, Path(tmp) / "otter" / notebook, source)
            solution = archive.parent / f"{notebook}.ipynb"
            for i in range(students):
                (folder / f"student{i + 1:02d}").mkdir(parents=True, exist_ok=True)
                shutil.copy(solution if i % 2 == 0 else Path(tmp) / "release" / f"{notebook}.ipynb",
                            folder / f"student{i + 1:02d}" / f"{notebook}.ipynb")
    return folder


def time_sandbox(out, students=4, workers=2, source=None):
    """Grade the same class with and without the sandbox (the shared run folder made first, untimed); return the seconds.

    ``python -m gan_ad.grading time-sandbox OUT [STUDENTS [WORKERS]]``: 4 students x 5 notebooks, 2 workers by default.
    """
    out = Path(out)
    subs = make_class(out / "submissions", students, source)
    params = student_parameters()
    prepare_base_quietly(out / "grades" / ".grading" / "base", params, GRADED, out / "base.log")
    seconds, books = {}, {}
    for name, sandbox in (("sandbox", True), ("no sandbox", False)):
        start = time.perf_counter()
        books[name] = grade_folder(subs, out / "grades", workers=workers, echo=False, source=source, sandbox=sandbox)
        seconds[name] = time.perf_counter() - start
        print(f"{count(len(list(subs.glob('*/*.ipynb'))), 'submission')}, {workers} workers, {name}: {seconds[name]:.0f} s",
              flush=True)
    same = books["sandbox"]["points"].tolist() == books["no sandbox"]["points"].tolist()
    print(f"sandbox / no sandbox: {seconds['sandbox'] / seconds['no sandbox']:.2f}; same points: {same}", flush=True)
    return seconds


if __name__ == "__main__":  # the processes that grade_job and prepare_base_quietly start
    if sys.argv[1:2] == ["run-otter"]:  # SUBMISSION AUTOGRADER RESULT CELL_LIMIT MEMORY [PROCESSES UID]
        set_limits(*(int(a) for a in sys.argv[6:9]))
        run_otter(*sys.argv[2:5], float(sys.argv[5]))
    elif sys.argv[1:2] == ["time-sandbox"]:
        time_sandbox(sys.argv[2], *(int(a) for a in sys.argv[3:5]))
    elif sys.argv[1:2] == ["prepare-base"]:
        try:
            prepare_base(sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), echo=True)
        except AssignmentError as err:
            print(f"error: {err}", flush=True)
            sys.exit(2)
