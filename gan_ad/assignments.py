"""Course assignments: otter-grader's master notebooks, built from the lessons and a private instructor source.

Two sources, one kept apart. The lesson notebooks ``notebooks/01-05`` hold the graded exercises as a
student gets them: the task, an answer cell with ``...``, and in it ``gan_ad.exercises.check("NAME")``,
which runs the visible tests (:mod:`gan_ad.exercises`) and never stops the notebook. The solutions,
the points and the hidden tests are the instructor source, ``course/NN_name.yaml`` (or a private copy
of that folder given with ``--source DIR``): per exercise, the ``solution`` that replaces the answer's
``...``, the points of each ``visible`` test, and the ``hidden`` tests.

:func:`master_notebook` puts the two together into otter's master format (raw cells ``# ASSIGNMENT
CONFIG``, ``# BEGIN QUESTION`` ... ``# END QUESTION``, ``# BEGIN SOLUTION`` / ``# BEGIN TESTS``), in a
temporary or build folder, never in ``notebooks/``. ``python -m gan_ad assign --out release/`` runs
``otter assign`` on each master and writes the student versions: solutions replaced by ``...``, hidden
tests removed, outputs cleared, small parameters (:data:`STUDENT_PARAMETERS`) in the parameters cell,
plus the visible tests in ``release/tests/`` for ``grader.check``. It refuses to write a release in
which a hidden test or a solution line survived. Grading the submissions is :mod:`gan_ad.grading`.
"""
import ast
import hashlib
import inspect
import io
import json
import re
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import yaml

from . import exercises
from .files import NOTEBOOK_DIR, PROJECT_ROOT
from .runner import PIPELINE, check_parameters, notebook_parameters, pipeline_parameters, resolve_dataset

GRADED = PIPELINE  # the notebooks with graded exercises, in course order
# The student versions' defaults and the grading parameters: the tiny run's (gan_ad/tiny.yaml, also the
# tests'), so that a whole submission of one notebook runs in well under a minute on a 2-core CPU.
# -p KEY VALUE changes them.
TINY_FILE = Path(__file__).with_name("tiny.yaml")
STUDENT_PARAMETERS = yaml.safe_load(TINY_FILE.read_text())
STUDENT_RUN_DIR = "runs/course"  # the student versions' run folder, beside the notebooks
COURSE_DIR = PROJECT_ROOT / "course"  # the instructor source: solutions, points, hidden tests (keep it private)
CHECK = re.compile(r'^gan_ad\.exercises\.check\("(\w+)"\).*$', re.M)  # the lesson's check line of an exercise
ASSIGNMENT_CONFIG = """# ASSIGNMENT CONFIG
# otter-grader: built by gan_ad.assignments from the lesson notebook and the instructor source
name: {notebook}
init_cell: true
check_all_cell: false
export_cell: false
run_tests: false
tests:
  files: true
  ok_format: false
generate: true"""


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


def course_source(source=None):
    """The instructor source folder (``source``, default ``course/``), or :class:`AssignmentError` if it is missing."""
    folder = Path(source) if source else COURSE_DIR
    if not all((folder / f"{nb}.yaml").is_file() for nb in GRADED):
        raise AssignmentError(f"{folder} is not the course's instructor source (it needs {', '.join(nb + '.yaml' for nb in GRADED)}); "
                              "give the private copy with --source DIR.")
    return folder.resolve()


def course_exercises(notebook, source=None):
    """Map exercise -> {solution, visible, hidden} from the instructor source of ``notebook``."""
    return yaml.safe_load((course_source(source) / f"{notebook}.yaml").read_text())


def question_order(notebook):
    """The graded exercises of a lesson notebook, in the order of their check lines."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    return [name for cell in nb.cells if cell.cell_type == "code" for name in CHECK.findall(cell.source)]


def fill_in(stub, name, solution):
    """The answer cell with ``solution`` in place of its ``...`` (otter's markers around it) and without the check line."""
    lines, done = [], False
    for line in [row for row in stub.rstrip().split("\n") if not CHECK.match(row)]:
        text, indent = line.strip(), line[:len(line) - len(line.lstrip())]
        if not done and text == "..." and indent:
            lines += [indent + "# BEGIN SOLUTION", *(indent + row if row else "" for row in solution.rstrip().split("\n")),
                      indent + "# END SOLUTION"]
            done = True
        elif not done and re.fullmatch(rf"{name}\s*=\s*\.\.\.", text):
            lines.append(f"{indent}{name} = {solution.strip()}  # SOLUTION")
            done = True
        else:
            lines.append(line)
    if not done:
        raise AssignmentError(f"The answer cell of {name} has no `...` for its solution.")
    return "\n".join(lines).rstrip()


def test_cell(code, config):
    """An otter test cell: its config, the test function, and the call that runs it on the notebook's names."""
    function = next(n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef))
    header = '""" # BEGIN TEST CONFIG\n' + yaml.safe_dump(config, sort_keys=False, width=10_000) + '""" # END TEST CONFIG\n'
    return header + code.rstrip() + f"\n{function.name}({', '.join(a.arg for a in function.args.args)})"


def master_notebook(notebook, source=None):
    """otter's master notebook of ``notebook``: the lesson with the solutions and every test of the instructor source."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    course, cells, first = course_exercises(notebook, source), [], True

    def raw(text, kind="raw"):  # a cell of the master only, with an id that depends on its place and content
        new = nbformat.v4.new_raw_cell if kind == "raw" else nbformat.v4.new_code_cell
        return new(text, id="course-" + hashlib.sha1(f"{len(cells)}\n{text}".encode()).hexdigest()[:8])

    for i, cell in enumerate(nb.cells):
        names = CHECK.findall(cell.source) if cell.cell_type == "code" else []
        if not names:
            cells.append(cell)
            continue
        (name,) = names
        if name not in course:
            raise AssignmentError(f"{notebook} has the exercise {name}, which the instructor source does not have.")
        task = cells.pop() if cells and cells[-1].cell_type == "markdown" else None
        if first:
            cells.append(raw(ASSIGNMENT_CONFIG.format(notebook=notebook)))
            first = False
        cells.append(raw(f"# BEGIN QUESTION\nname: {name}"))
        cells += [task] if task is not None else []
        answer = nbformat.v4.new_code_cell(fill_in(cell.source, name, course[name]["solution"]), id=cell.id)
        cells += [raw("# BEGIN SOLUTION"), answer, raw("# END SOLUTION"), raw("# BEGIN TESTS")]
        visible = {f.__name__: f for f in exercises.visible_tests(name)}
        if set(visible) != set(course[name].get("visible", {})):
            raise AssignmentError(f"The visible tests of {name} are {sorted(visible)} in gan_ad/exercises.py but "
                                  f"{sorted(course[name].get('visible', {}))} in the instructor source.")
        for test, points in course[name]["visible"].items():
            cells.append(raw(test_cell(inspect.getsource(visible[test]), {"points": points}), "code"))
        for hidden in course[name].get("hidden", []):
            config = {"points": hidden["points"], "hidden": True,
                      **({"failure_message": hidden["failure_message"]} if hidden.get("failure_message") else {})}
            cells.append(raw(test_cell(hidden["test"], config), "code"))
        cells += [raw("# END TESTS"), raw("# END QUESTION")]
    missing = set(course) - {c for cell in cells if cell.cell_type == "raw" for c in re.findall(r"^name: (\w+)$", cell.source, re.M)}
    if missing:
        raise AssignmentError(f"The instructor source has {', '.join(sorted(missing))}, which {notebook} has no answer cell for.")
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def otter_assign(notebook, folder, source=None):
    """Build ``notebook``'s master beside ``folder`` and run ``otter assign`` on it into ``folder``; return (student folder, autograder zip).

    The master is ``folder.master/NOTEBOOK.ipynb``. The tests are not run against the solutions here
    (the course's tests run the masters at tiny size, and :func:`gan_ad.grading.prepare_base` runs the lessons).
    """
    from otter.assign import main as assign

    folder = Path(folder).resolve()
    master = folder.with_name(folder.name + ".master") / f"{notebook}.ipynb"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(master.parent, ignore_errors=True)
    master.parent.mkdir(parents=True)
    nbformat.write(master_notebook(notebook, source), master)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assign(str(master), str(folder), no_pdfs=True, no_run_tests=True)
    zips = sorted((folder / "autograder").glob("*.zip"))
    if not zips:
        raise AssignmentError(f"otter assign made no autograder for {notebook}; check its ASSIGNMENT CONFIG.")
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
    """The student notebook otter wrote at ``path`` (beside its master), with small parameters and reproducible cell ids."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            declared = notebook_parameters(notebook)
            set_parameters(cell, {**{k: v for k, v in params.items() if k in declared}, "run_dir": STUDENT_RUN_DIR})
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    source_ids = {c.get("id") for c in nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4).cells}  # the lesson's
    for i, cell in enumerate(nb.cells):  # otter's own cells get random ids; make them depend on content only
        if cell.get("id") not in source_ids:
            cell["id"] = "otter-" + hashlib.sha1(f"{i}\n{cell.source}".encode()).hexdigest()[:8]
    nbformat.validate(nb)
    return nb


def solution_lines(notebook, source=None):
    """Lines of the instructor source's solutions for ``notebook`` that the lesson does not hold (min. 10 characters)."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    lesson = "\n".join(cell.source for cell in nb.cells)  # a task may give a line away
    solutions = {line.strip() for exercise in course_exercises(notebook, source).values()
                 for line in exercise["solution"].split("\n")}
    return {line for line in solutions if len(line) >= 10 and line not in lesson}


def hidden_tests(notebook, source=None):
    """Map hidden test name -> its lines (min. 10 characters, the ``def`` line left out) in the instructor source."""
    tests = {}
    for exercise in course_exercises(notebook, source).values():
        for hidden in exercise.get("hidden", []):
            lines = hidden["test"].strip().split("\n")
            name = re.match(r"def (\w+)\(", lines[0]).group(1)
            tests[name] = {line.strip() for line in lines[1:] if len(line.strip()) >= 10}
    return tests


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


def leaks(folder, notebooks, hidden, source=None):
    """What a release folder gives away: hidden test names, or solution lines in its code and tests."""
    found, solutions = [], {notebook: solution_lines(notebook, source) for notebook in notebooks}
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


def make_release(out, changes=None, notebooks=GRADED, source=None):
    """Write the student versions of ``notebooks`` and their visible tests into ``out``; return the files written.

    ``source`` is the instructor source (default ``course/``): the masters are built from it and the lessons.

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
            student, autograder = otter_assign(notebook, Path(tmp) / notebook, source)
            nbformat.write(student_version(student / f"{notebook}.ipynb", params, notebook), staging / f"{notebook}.ipynb")
            for test in sorted((student / "tests").glob("*.py")):
                shutil.copy(test, staging / "tests" / test.name)
            hidden |= hidden_test_names(autograder.parent / "tests")
        (staging / "README.md").write_text(STUDENT_README.format(run_dir=STUDENT_RUN_DIR))
        found = leaks(staging, notebooks, hidden, source)
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
