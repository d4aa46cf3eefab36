"""Course assignments: the student versions of the graded exercises, made with otter-grader.

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
solution line survived. Grading the submissions is :mod:`gan_ad.grading`.
"""
import ast
import hashlib
import io
import json
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import yaml

from .files import NOTEBOOK_DIR, PROJECT_ROOT
from .runner import PIPELINE, check_parameters, notebook_parameters, pipeline_parameters, resolve_dataset

GRADED = PIPELINE  # the notebooks with graded exercises, in course order
# The student versions' defaults and the grading parameters: the tiny run's (gan_ad/tiny.yaml, also the
# tests'), so that a whole submission of one notebook runs in well under a minute on a 2-core CPU.
# -p KEY VALUE changes them.
TINY_FILE = Path(__file__).with_name("tiny.yaml")
STUDENT_PARAMETERS = yaml.safe_load(TINY_FILE.read_text())
STUDENT_RUN_DIR = "runs/course"  # the student versions' run folder, beside the notebooks


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
    :func:`gan_ad.grading.prepare_base` runs the solutions at the grading parameters).
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


def question_order(notebook):
    """The graded questions of a source notebook, in the order they appear."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    names = []
    for cell in nb.cells:
        lines = cell.source.strip().split("\n")
        if cell.cell_type == "raw" and lines[0].strip() == "# BEGIN QUESTION":
            names.append(yaml.safe_load("\n".join(lines[1:]))["name"])
    return names
