"""Course assignments: student versions, autograding and a grade book, with otter-grader.

The graded exercises are written once, at the end of the lesson notebooks 01-05, in otter-grader's
notebook format: raw cells ``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION`` ... ``# END QUESTION``,
``# BEGIN SOLUTION`` / ``# BEGIN TESTS`` around the answer and the test cells, and ``# BEGIN SOLUTION``
/ ``# END SOLUTION`` (or ``# SOLUTION`` at the end of a line) inside the answer's code. A test cell
defines one test function and calls it, so the lesson notebooks run as they are and check their own
solutions (``make run``, nbval, papermill).

``python -m gan_ad assign --out release/`` runs ``otter assign`` on each notebook and writes the
student versions: solutions replaced by ``...``, hidden tests removed, outputs cleared, small
parameters (:data:`STUDENT_PARAMETERS`) in the parameters cell, plus the visible tests in
``release/tests/`` for ``grader.check``. It refuses to write a release in which a hidden test or a
solution line survived.

``python -m gan_ad grade SUBMISSIONS/ --out grades/`` grades ``SUBMISSIONS/STUDENT/NN_name.ipynb``
with ``otter run`` (no Docker): the tests, hidden ones included, come from the instructor's notebooks
(``otter assign`` again, into ``grades/.grading/``), never from a submission. Notebooks 02-05 read
what the earlier ones saved, so the solution notebooks first run once, at the grading parameters,
into a shared run folder (kept and reused while the parameters and notebooks stay the same); each
submission then runs in a copy of that folder as it was before its notebook, which is deleted
afterwards. Submissions go ``workers`` at a time, each in a process of its own with a time limit
per notebook and per cell, or as tasks of a Dask cluster (``cluster``). A submission that is not a
notebook, has the wrong name, another notebook's content, runs too long or crashes gets 0 for what
did not run and a sentence in the grade book and its student's feedback; the run goes on.
"""
import ast
import concurrent.futures
import difflib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from .files import NOTEBOOK_DIR, PROJECT_ROOT, atomic_path, write_json
from .runner import PIPELINE, check_parameters, notebook_parameters, pipeline_parameters, resolve_dataset, run_pipeline

GRADED = PIPELINE  # the notebooks with graded exercises, in course order
# The student versions' defaults and the grading parameters (those of tests/tiny.yaml): a whole
# submission of one notebook runs in well under a minute on a 2-core CPU. -p KEY VALUE changes them.
STUDENT_PARAMETERS = {"max_train": 512, "max_val": 128, "max_test": 200, "epochs": 2, "batch_size": 64,
                      "monitor_size": 64, "monitor_steps": 3, "steps": 5, "inversion_batch_size": 64,
                      "encoder_epochs": 2, "refine_steps": 2, "pca_components": 8, "knn_k": 3, "knn_components": 20}
STUDENT_RUN_DIR = "runs/course"  # the student versions' run folder, beside the notebooks
TIME_LIMIT = 300       # seconds one submitted notebook may run in all
CELL_TIME_LIMIT = 120  # seconds one cell may run before it is interrupted (the notebook goes on)
OUTPUT_LIMIT = 1_000_000  # bytes of output above which the feedback says that a notebook printed too much
STATUSES = ("graded", "not submitted", "not a notebook", "wrong notebook", "timed out", "failed", "unexpected file")
COLUMNS = ["student", "notebook", "exercise", "points", "max", "status", "note"]


class AssignmentError(ValueError):
    """Raised before any grading starts: bad parameters, a missing folder, a release that would leak."""


# --- the student versions -----------------------------------------------------------------------

def student_parameters(changes=None):
    """:data:`STUDENT_PARAMETERS` with ``changes``, checked against what the notebooks declare."""
    params = {**STUDENT_PARAMETERS, **(changes or {})}
    try:
        check_parameters(params, pipeline_parameters())
    except ValueError as err:
        raise AssignmentError(str(err)) from None
    return resolve_dataset(params)


def otter_assign(notebook, folder):
    """Run ``otter assign`` on ``notebooks/NOTEBOOK.ipynb`` into ``folder``; return (student folder, autograder zip).

    The tests are not run against the solutions here (they run in the notebook itself, and
    :func:`prepare_base` runs the solutions at the grading parameters).
    """
    from otter.assign import main as assign

    folder = Path(folder).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assign(str(NOTEBOOK_DIR / f"{notebook}.ipynb"), str(folder), no_pdfs=True, no_run_tests=True)
    zips = sorted((folder / "autograder").glob("*.zip"))
    if not zips:
        raise AssignmentError(f"otter assign made no autograder for {notebook}; check its ASSIGNMENT CONFIG cell.")
    return folder / "student", zips[-1]


def set_parameters(cell, values):
    """Rewrite the literal values of a parameters cell's assignments (comments and order kept)."""
    lines = cell.source.split("\n")
    for i, line in enumerate(lines):
        try:
            statement = ast.parse(line).body
        except SyntaxError:
            continue
        if len(statement) == 1 and isinstance(statement[0], ast.Assign) and len(statement[0].targets) == 1:
            name, value = statement[0].targets[0], statement[0].value
            if isinstance(name, ast.Name) and name.id in values:
                start, end = value.col_offset, value.end_col_offset
                text = json.dumps(values[name.id]) if isinstance(values[name.id], str) else repr(values[name.id])
                lines[i] = line[:start] + text + line[end:]
    cell.source = "\n".join(lines)


def student_version(path, params, notebook):
    """The student notebook otter wrote at ``path``, with small parameters and reproducible cell ids."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            declared = notebook_parameters(notebook)
            set_parameters(cell, {**{k: v for k, v in params.items() if k in declared}, "run_dir": STUDENT_RUN_DIR})
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    source_ids = {c.get("id") for c in nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4).cells}
    for i, cell in enumerate(nb.cells):  # otter's own cells get random ids; make them depend on content only
        if cell.get("id") not in source_ids:
            cell["id"] = "otter-" + hashlib.sha1(f"{i}\n{cell.source}".encode()).hexdigest()[:8]
    nbformat.validate(nb)
    return nb


def solution_lines(notebook):
    """Lines of the solutions in a source notebook that appear nowhere else in its code (min. 10 characters)."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    solutions, others = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        inside = False
        for line in cell.source.split("\n"):
            text = line.strip()
            if text == "# BEGIN SOLUTION":
                inside = True
            elif text == "# END SOLUTION":
                inside = False
            elif inside:
                solutions.add(text)
            elif text.endswith("# SOLUTION"):
                solutions.add(text[:-len("# SOLUTION")].strip())
            else:
                others.add(text)
    return {line for line in solutions - others if len(line) >= 10}


def hidden_test_names(tests_dir):
    """Names of the hidden test functions in otter's test files (``@test_case(..., hidden=True)``)."""
    names = set()
    for path in Path(tests_dir).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and any(
                            k.arg == "hidden" and isinstance(k.value, ast.Constant) and k.value.value for k in decorator.keywords):
                        names.add(node.name)
    return names


def leaks(folder, notebooks, hidden):
    """What a release folder gives away: hidden test names, or solution lines in its code and tests."""
    import re

    found, solutions = [], {notebook: solution_lines(notebook) for notebook in notebooks}
    code = {p.name: ("\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"),
                     solutions.get(p.stem, set())) for p in sorted(Path(folder).glob("*.ipynb"))}
    every = set().union(*solutions.values())
    code.update({f"tests/{p.name}": (p.read_text(), every) for p in sorted(Path(folder, "tests").glob("*.py"))})
    for name, (text, lines) in code.items():
        found += [f"{name}: hidden test {test}" for test in sorted(hidden) if re.search(rf"\b{test}\b", text)]
        found += [f"{name}: solution line {line!r}" for line in sorted(lines) if line in text]
    return found


STUDENT_README = """# Graded exercises of gan-ad

Notebooks 01-05 of the course, with graded exercises at the end of each. Run them in order, in this
folder: each reads what the one before saved in `{run_dir}/`. Small parameters are preset, so a notebook
runs in about a minute on a laptop.

1. Install the course project (`pip install -e .` in its folder) and otter-grader (`pip install otter-grader`).
2. Open a notebook in Jupyter, run it from the top, and write your answers where a cell holds `...`.
3. Run the `grader.check("...")` cell under each answer: it runs the exercise's visible tests. Grading
   also runs hidden tests, so make your answer right in general, not only for the visible test.
4. Hand in the notebooks under their names (`01_data_prep.ipynb` ...), one folder per student.

Keep the `tests/` folder beside the notebooks: `grader.check` reads it. On Colab, upload it too.
"""


def make_release(out, changes=None, notebooks=GRADED):
    """Write the student versions of ``notebooks`` and their visible tests into ``out``; return the files written.

    Refuses (:class:`AssignmentError`) when a hidden test or a solution line would reach the students.
    """
    params = student_parameters(changes)
    out = Path(out)
    if out.resolve() in (PROJECT_ROOT.resolve(), NOTEBOOK_DIR.resolve()):
        raise AssignmentError(f"{out} holds the course's own notebooks; give the release a folder of its own.")
    with tempfile.TemporaryDirectory(prefix="gan-ad-release-") as tmp:
        staging, hidden = Path(tmp) / "release", set()
        (staging / "tests").mkdir(parents=True)
        for notebook in notebooks:
            student, autograder = otter_assign(notebook, Path(tmp) / notebook)
            nbformat.write(student_version(student / f"{notebook}.ipynb", params, notebook), staging / f"{notebook}.ipynb")
            for test in sorted((student / "tests").glob("*.py")):
                shutil.copy(test, staging / "tests" / test.name)
            hidden |= hidden_test_names(autograder.parent / "tests")
        (staging / "README.md").write_text(STUDENT_README.format(run_dir=STUDENT_RUN_DIR))
        found = leaks(staging, notebooks, hidden)
        if found:
            raise AssignmentError("The student versions would give away:\n  " + "\n  ".join(found))
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out / "tests", ignore_errors=True)
        written = []
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = out / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
                written.append(target)
    return written


# --- grading one submission ---------------------------------------------------------------------

def question_order(notebook):
    """The graded questions of a source notebook, in the order they appear."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    names = []
    for cell in nb.cells:
        lines = cell.source.strip().split("\n")
        if cell.cell_type == "raw" and lines[0].strip() == "# BEGIN QUESTION":
            names.append(yaml.safe_load("\n".join(lines[1:]))["name"])
    return names


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
    """Run the solution notebooks at ``params`` into ``folder``, as far as ``notebooks`` need; return the folder.

    ``folder/before_NOTEBOOK`` is the run folder as that notebook finds it (empty for 01), without
    the executed notebooks (they hold the solutions); ``folder/run`` goes on from where the last
    call stopped, so grading 01 alone trains nothing and 05 later reuses the rest. A folder made
    with other parameters or notebooks is made anew. A solution that fails at these parameters
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
                raise AssignmentError(f"The solution notebook {notebook} fails at the grading parameters "
                                      f"({describe(err)}); its executed copy is {run_dir / (notebook + '.ipynb')}.") from None
    return folder


def describe(err):
    """One line for an exception: papermill's notebook error, or the exception itself."""
    if hasattr(err, "ename") and hasattr(err, "evalue"):
        return f"{err.ename}: {err.evalue}".strip()
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


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
        from .sweep import THREAD_VARIABLES

        env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    return env


def prepare_base_quietly(folder, params, notebooks, log):
    """:func:`prepare_base` in a process of its own whose output (the kernels' chatter) goes to ``log``."""
    if base_ready(folder, params, notebooks):
        return Path(folder)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        done = subprocess.run([sys.executable, "-m", "gan_ad.assignments", "prepare-base", str(folder), json.dumps(params),
                               json.dumps(list(notebooks))],
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env())
    if done.returncode != 0:
        lines = Path(log).read_text(errors="replace").strip().splitlines()
        reason = next((line for line in reversed(lines) if line.startswith("error: ")), f"exit code {done.returncode}")
        raise AssignmentError(f"Preparing the shared run folder failed: {reason.removeprefix('error: ')} (log: {log})")
    return Path(folder)


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

        from .sweep import cpu_count

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
        command = [sys.executable, "-m", "gan_ad.assignments", "run-otter", str(submission), str(autograder), str(result),
                   str(job["cell_time_limit"])]
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
            finally:
                with LIVE_LOCK:
                    LIVE.discard(process)
        if not result.exists():
            tail = (work / "log.txt").read_bytes()[-600:].decode(errors="replace").strip().splitlines()
            last = tail[-1] if tail else "no output"
            if "DeadKernelError" in last:
                last = "the notebook's kernel died (a cell ended the Python process, or it ran out of memory)"
            return {"status": "failed", "note": note + f"Grading stopped: {last}; nothing was graded."}
        graded = json.loads(result.read_text())
    if graded.get("catastrophic"):
        return {"status": "failed", "note": note + f"The notebook could not be graded: {graded['catastrophic']}",
                "errors": graded["errors"], "output_bytes": graded["output_bytes"]}
    if graded["output_bytes"] > OUTPUT_LIMIT:
        note += f"The notebook printed {graded['output_bytes'] / 1e6:.1f} MB of output. "
    return {"note": note.strip(), "questions": graded["questions"], "errors": graded["errors"],
            "output_bytes": graded["output_bytes"]}


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
                 cell_time_limit=CELL_TIME_LIMIT, echo=True):
    """Grade every submission in ``submissions`` into ``out``: ``gradebook.csv``, ``totals.csv``, ``feedback/STUDENT.md``.

    Returns the grade book (one row per student, notebook and exercise, plus one per file that was
    not graded). ``workers`` submissions go at once on this machine (default: its cores), each in a
    process of its own; ``cluster`` (a Dask scheduler's address) makes each submission a task there.
    """
    from .sweep import SweepError, cluster_threads, connect, cpu_count

    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise AssignmentError(f"--workers needs a whole number of at least 1, got {workers!r}.")
    if cluster and workers is not None:
        raise AssignmentError("Give --workers or --cluster, not both: the cluster's workers decide how many run at once.")
    for name, value in (("--time-limit", time_limit), ("--cell-time-limit", cell_time_limit)):
        if not value or value <= 0:
            raise AssignmentError(f"{name} needs a positive number of seconds, got {value!r}.")
    params = student_parameters(changes)
    found, strays = find_submissions(submissions)
    out = Path(out)
    grading = out / ".grading"
    say = print if echo else (lambda *a, **k: None)
    students = len({s for s, _, _ in found} | {s for s, _, _ in strays if s})
    say(f"{count(len(found), 'notebook')} of {count(students, 'student')} in {submissions}; "
        f"{count(len(strays), 'other file')} not graded.", flush=True)
    autograders, points, order = {}, {}, {}
    for notebook in GRADED:
        _, archive = otter_assign(notebook, grading / "autograder" / notebook)
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
                 "cell_time_limit": cell_time_limit, "threads": threads} for student, notebook, path in found]
        outcomes = []
        for done, outcome in enumerate(run_jobs(jobs, workers, client), 1):
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
    """Yield each job's outcome as it finishes: on this machine (``workers`` threads, a process each) or on Dask."""
    if client is not None:
        from distributed import as_completed

        futures = {client.submit(grade_job, job, key=f"gan-ad grade {job['student']} {job['notebook']} {uuid.uuid4().hex[:8]}",
                                 pure=False): job for job in jobs}
        try:
            for future in as_completed(futures, loop=client.loop):
                try:
                    yield future.result()
                except Exception as err:  # the task could not finish: its worker died, say
                    job = futures[future]
                    yield {"student": job["student"], "notebook": job["notebook"], "status": "failed",
                           "note": f"grading failed on the cluster: {describe(err)}", "questions": {}, "errors": [],
                           "output_bytes": 0, "seconds": 0.0}
        finally:
            client.cancel(list(futures))
        return
    pool = concurrent.futures.ThreadPoolExecutor(max(1, min(workers, len(jobs) or 1)))
    futures = [pool.submit(grade_job, job) for job in jobs]
    try:
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
    finally:  # stopped (Ctrl-C): start nothing more and stop what runs
        for future in futures:
            future.cancel()
        with LIVE_LOCK:
            for process in list(LIVE):
                kill_tree(process)
        pool.shutdown()


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


if __name__ == "__main__":  # the processes that grade_job and prepare_base_quietly start
    if sys.argv[1:2] == ["run-otter"]:
        run_otter(*sys.argv[2:5], float(sys.argv[5]))
    elif sys.argv[1:2] == ["prepare-base"]:
        try:
            prepare_base(sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), echo=True)
        except AssignmentError as err:
            print(f"error: {err}", flush=True)
            sys.exit(2)
