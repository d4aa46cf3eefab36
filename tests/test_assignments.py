"""Course assignments: the lessons and the student versions leak nothing, every exercise's tests agree with
its solution, and grading a folder of submissions gives the points it should, whatever the submissions hold.

The masters are built from the lessons and the instructor source (course/). The whole grading path runs
end to end for notebook 01 (fast) and 03 (it needs 01 and 02's outputs), at the tiny parameters of
gan_ad/tiny.yaml; the exercises of every notebook are checked at unit level, and the masters of 02, 04
and 05 run at tiny size in a copy of the shared tiny run (their tests of the run's own data). A class of
submissions that cheat, or misbehave, is graded in the sandbox beside an honest one.
"""
import ast
import re
import shutil
import socket
import threading
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from gan_ad import assignments, exercises, grading
from gan_ad.__main__ import main
from gan_ad.files import NOTEBOOK_DIR, PROJECT_ROOT

GRADED = assignments.GRADED


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The student versions (``assign``), and otter's autograder folder of every notebook (solutions, all tests)."""
    root = tmp_path_factory.mktemp("assign")
    assert main(["assign", "--out", str(root / "release")]) == 0
    full = {nb: assignments.otter_assign(nb, root / "otter" / nb)[1].parent for nb in GRADED}
    return root / "release", full


def cells_of(notebook, source=None):
    """The cells of a notebook file, or of ``notebook``'s master (built from the lesson and course/)."""
    if source is None:
        return assignments.master_notebook(notebook).cells
    return nbformat.read(source, as_version=4).cells


def lesson(notebook):
    return nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)


def blocks(notebook):
    """Map question -> (answer cell source, [test cell sources]) from otter's markers in the master notebook."""
    found, question, where = {}, None, None
    for cell in cells_of(notebook):
        text = cell.source.strip()
        if cell.cell_type == "raw":
            if text.startswith("# BEGIN QUESTION"):
                question = yaml.safe_load(text.split("\n", 1)[1])["name"]
                found[question] = ["", []]
            elif text in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                where = text.split()[-1]
            elif text.startswith("# END"):
                where = None
        elif cell.cell_type == "code" and where == "SOLUTION":
            found[question][0] = cell.source
        elif cell.cell_type == "code" and where == "TESTS":
            found[question][1].append(cell.source)
    return found


def definitions(source):
    """The ``def``s and ``exNN_answer = ...`` of an answer cell, as code (what the cell defines, without running the notebook)."""
    tree = ast.parse(source)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef)
            or (isinstance(n, ast.Assign) and re.fullmatch(r"ex\d\d_answer", getattr(n.targets[0], "id", "")))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def defined(source):
    """The names an answer cell defines."""
    return {getattr(n, "name", None) or n.targets[0].id for n in ast.parse(definitions(source)).body}


def unit_results(answer, tests):
    """Run the tests that need only the exercise's own names against ``answer``'s definitions: [(passed, config)]."""
    from gan_ad import metrics

    env = {"np": np, "pd": pd, "metrics": metrics}
    exec(definitions(answer), env)
    results = []
    for test in tests:
        config = yaml.safe_load(test.split('"""')[1].split("# END TEST CONFIG")[0].replace("# BEGIN TEST CONFIG", ""))
        function = next(n for n in ast.parse(test).body if isinstance(n, ast.FunctionDef))
        arguments = [a.arg for a in function.args.args]
        if not all(a in env for a in arguments):
            continue  # a test of this run's data: it runs in the notebook (nbval) and in the end-to-end tests below
        scope = dict(env)
        exec(ast.unparse(function), scope)
        try:
            scope[function.name](*(env[a] for a in arguments))
            results.append((True, config))
        except Exception:
            results.append((False, config))
    return results


@pytest.mark.parametrize("notebook", GRADED)
def test_each_notebook_has_three_graded_exercises_with_visible_and_hidden_tests(notebook):
    questions = blocks(notebook)
    assert len(questions) >= 3 and list(questions) == assignments.question_order(notebook)
    for name, (answer, tests) in questions.items():
        assert name.startswith(notebook[:2].join(["ex", "_"])), name
        configs = [yaml.safe_load(t.split('"""')[1].replace("# BEGIN TEST CONFIG", "")) for t in tests]
        assert any(not c.get("hidden") for c in configs) and any(c.get("hidden") for c in configs), name
        assert sum(c["points"] for c in configs) > 0 and "SOLUTION" in answer, name


@pytest.mark.parametrize("notebook", GRADED)
def test_solutions_pass_and_student_stubs_fail_every_unit_test(notebook, release):
    """Each exercise's tests on made-up data: all pass with the solution, none with the lesson's or the release's ``...``."""
    student = {c.id: c.source for c in cells_of(notebook, release[0] / f"{notebook}.ipynb")
               if "otter_answer_cell" in c.metadata.get("tags", [])}
    lessons = [c.source for c in lesson(notebook).cells if assignments.CHECK.search(c.source)]
    for name, (answer, tests) in blocks(notebook).items():
        solved = unit_results(answer, tests)
        assert solved and all(passed for passed, _ in solved), name
        for stubs in (student.values(), lessons):
            stub = next(source for source in stubs if defined(source) == defined(answer))
            assert "..." in stub
            assert not any(passed and config["points"] for passed, config in unit_results(stub, tests)), name


@pytest.mark.parametrize("notebook", GRADED)
def test_lessons_hold_the_exercises_as_students_get_them(notebook):
    """No solution, no hidden test, no otter marker in notebooks/; per exercise a task and an answer cell with ``...``."""
    nb = lesson(notebook)
    text = "\n".join(c.source for c in nb.cells)
    assert not any(c.cell_type == "raw" for c in nb.cells)
    assert not re.search(r"# (BEGIN|END) (SOLUTION|TESTS|QUESTION)|# SOLUTION|TEST CONFIG|ASSIGNMENT CONFIG", text)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    names = assignments.question_order(notebook)
    assert names == list(assignments.course_exercises(notebook)) and len(names) >= 3
    answers = [i for i, c in enumerate(nb.cells) if assignments.CHECK.search(c.source)]
    assert all(nb.cells[i - 1].cell_type == "markdown" and "..." in nb.cells[i].source for i in answers)
    scaffolding = 2 * len(answers) + 1  # task and answer per exercise, and the section's introduction
    assert scaffolding / len(nb.cells) <= 0.3, f"{scaffolding} of {len(nb.cells)} cells"
    for name in names:
        assert exercises.visible_tests(name), name


def test_release_answer_cells_are_the_lessons_without_their_check_line(release):
    """otter's student version of each master gives back the lesson's answer cell: the master adds only the solution."""
    folder, _ = release
    for notebook in GRADED:
        ours = [c.source for c in lesson(notebook).cells if assignments.CHECK.search(c.source)]
        otters = [c.source for c in cells_of(notebook, folder / f"{notebook}.ipynb")
                  if "otter_answer_cell" in c.metadata.get("tags", [])]
        assert [assignments.CHECK.sub("", s).replace("\n\n\n\n", "\n\n\n").strip() for s in ours] == [
            s.strip() for s in otters], notebook


def test_check_never_raises_and_says_what_it_found(capsys):
    from gan_ad import metrics

    def ex05_auroc(is_anomaly, scores):
        ...

    namespace = {"ex05_auroc": ex05_auroc, "np": np}
    assert exercises.check("ex05_auroc", namespace) is None
    namespace["ex05_auroc"] = lambda is_anomaly, scores: 1 / 0
    assert exercises.check("ex05_auroc", namespace) is False
    namespace["ex05_auroc"] = lambda is_anomaly, scores: metrics.auroc(np.asarray(is_anomaly), np.asarray(scores))
    assert exercises.check("ex05_auroc", namespace) is True
    assert exercises.check("ex01_answer", {"ex01_answer": ...}) is None
    assert exercises.check("ex01_answer", {"ex01_answer": "e"}) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ex05_auroc: not done yet") and "not yet right: division by zero" in out[1]
    assert out[2].startswith("ex05_auroc: the visible test passes") and "one letter" in out[4]


@pytest.mark.parametrize("notebook", ["02_train_gan", "04_encoder", "05_evaluation"])
def test_masters_run_their_solutions_and_every_test_at_tiny_size(notebook, tiny_run, tmp_path):
    """The master (solutions and all tests, each test cell raising when it fails) runs in a copy of the tiny run.

    01 and 03 run end to end through grading below (the solution submissions get every point).
    """
    import papermill as pm

    from gan_ad.runner import notebook_parameters

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("*.ipynb"))
    master = tmp_path / f"{notebook}.ipynb"
    nbformat.write(assignments.master_notebook(notebook), master)
    declared = notebook_parameters(notebook)
    params = {k: v for k, v in assignments.STUDENT_PARAMETERS.items() if k in declared}
    pm.execute_notebook(str(master), str(tmp_path / "out.ipynb"), parameters={**params, "run_dir": str(run_dir)},
                        kernel_name="python3", cwd=str(NOTEBOOK_DIR), progress_bar=False)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    ran = [c for c in executed.cells if c.cell_type == "code" and c.source.startswith('""" # BEGIN TEST CONFIG')]
    assert len(ran) == sum(len(tests) for _, tests in blocks(notebook).values()) and all(c.execution_count for c in ran)


def secrets(source=None):
    """Every solution line and every hidden test (its name and its lines) of the instructor source, less what is public:
    the lines of the lessons and of the package (an exercise may rebuild a function the package has)."""
    public = "\n".join([*(path.read_text() for path in sorted((PROJECT_ROOT / "gan_ad").glob("*.py"))),
                         *(cell.source for notebook in GRADED for cell in lesson(notebook).cells)])
    found = {}
    for notebook in GRADED:
        found.update({f"solution line {line!r}": line for line in assignments.solution_lines(notebook, source)
                      if line not in public})
        for name, lines in assignments.hidden_tests(notebook, source).items():
            found[f"hidden test {name}"] = re.compile(rf"\b{name}\b")
            found.update({f"line of {name}: {line!r}": line for line in lines if line not in public})
    return found


def strings(path):
    """Every string in a JSON file (a notebook's sources and outputs, unescaped), or a text file's text."""
    import json

    def walk(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (list, dict)):
            for item in (value.values() if isinstance(value, dict) else value):
                yield from walk(item)

    text = Path(path).read_text()
    return "".join(walk(json.loads(text))) + "\n" + text if path.suffix == ".ipynb" else text


def leaked(texts, found):
    return [f"{where}: {what}" for where, text in texts.items() for what, secret in found.items()
            if (secret.search(text) if isinstance(secret, re.Pattern) else secret in text)]


def test_no_secret_in_lessons_website_or_release(release, tiny_run):
    """grep for each solution line and hidden test of course/ in notebooks/, the notebooks the website renders
    (the executed lessons of a run: book/build.py) and the release of ``assign``: none is there."""
    found = secrets()
    assert len(found) > 100 and sum(k.startswith("hidden test") for k in found) >= 2 * len(GRADED)
    texts = {str(p.relative_to(PROJECT_ROOT)): strings(p) for p in sorted(NOTEBOOK_DIR.glob("*.ipynb"))}
    texts.update({f"website: {p.name}": strings(p) for p in sorted(Path(tiny_run).glob("0*.ipynb"))})
    texts.update({f"release: {p.relative_to(release[0])}": strings(p) for p in sorted(release[0].rglob("*")) if p.is_file()})
    assert len([k for k in texts if k.startswith("website")]) == len(GRADED)
    assert leaked(texts, found) == []
    # and the check sees a leak where there is one: the instructor's autograder holds them all
    full = release[1]["01_data_prep"]
    assert leaked({"autograder": "\n".join(p.read_text() for p in (full / "tests").glob("*.py"))}, found)


def test_assign_and_grade_take_a_private_source(tmp_path, capsys):
    private = tmp_path / "private"
    shutil.copytree(PROJECT_ROOT / "course", private)
    course = yaml.safe_load((private / "01_data_prep.yaml").read_text())
    course["ex01_answer"]["hidden"][0]["test"] = course["ex01_answer"]["hidden"][0]["test"].replace(
        "def test_ex01_answer(", "def test_ex01_answer_private(").replace("test_ex01_answer(ex01_answer)", "")
    (private / "01_data_prep.yaml").write_text(yaml.safe_dump(course, sort_keys=False))
    nb = assignments.master_notebook("01_data_prep", private)
    assert "def test_ex01_answer_private(" in "\n".join(c.source for c in nb.cells)
    assert "test_ex01_answer_private" in secrets(private).get("hidden test test_ex01_answer_private").pattern
    assert main(["assign", "--out", str(tmp_path / "r"), "--source", str(tmp_path / "nowhere")]) == 2
    assert "is not the course's instructor source" in capsys.readouterr().err


def test_release_has_no_solution_and_no_hidden_test(release):
    folder, full = release
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{nb}.ipynb" for nb in GRADED] + ["README.md", "tests"])
    hidden = set().union(*(assignments.hidden_test_names(full[nb] / "tests") for nb in GRADED))
    assert len(hidden) >= 2 * len(GRADED)
    for notebook in GRADED:
        nb = nbformat.read(folder / f"{notebook}.ipynb", as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert all(line not in code for line in assignments.solution_lines(notebook))
        assert "# BEGIN SOLUTION" not in code and "# SOLUTION" not in code and "BEGIN TEST" not in code
        assert not any(re.search(rf"\b{name}\b", code) for name in hidden)
        assert not any(c.cell_type == "raw" for c in nb.cells)  # otter's markers are gone
        assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")
        assert nb.metadata.kernelspec.name == "python3" and nb.metadata.otter.assignment_name == notebook
        assert len({c.id for c in nb.cells}) == len(nb.cells)
        (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        values = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(parameters.source).body}
        assert values["run_dir"] == assignments.STUDENT_RUN_DIR
        assert all(values[k] == v for k, v in assignments.STUDENT_PARAMETERS.items() if k in values)
        assert [f'grader.check("{q}")' for q in assignments.question_order(notebook)] == \
            [c.source for c in nb.cells if c.source.startswith("grader.check")]
    for test_file in (folder / "tests").glob("*.py"):
        text = test_file.read_text()
        assert "hidden=True" not in text and not any(re.search(rf"\b{name}\b", text) for name in hidden)
    assert assignments.leaks(folder, GRADED, hidden) == []


def test_release_refuses_to_leak(release, tmp_path):
    folder, full = release
    copy = tmp_path / "release"
    import shutil

    shutil.copytree(folder, copy)
    nb = nbformat.read(copy / "01_data_prep.ipynb", as_version=4)
    line = sorted(assignments.solution_lines("01_data_prep"))[0]
    nb.cells.append(nbformat.v4.new_code_cell(line))
    nbformat.write(nb, copy / "01_data_prep.ipynb")
    shutil.copy(full["01_data_prep"] / "tests" / "ex01_answer.py", copy / "tests" / "ex01_answer.py")
    found = assignments.leaks(copy, GRADED, assignments.hidden_test_names(full["01_data_prep"] / "tests"))
    assert any("solution line" in f for f in found) and any("hidden test test_ex01_answer" in f for f in found)


def test_student_parameters_take_changes_and_refuse_unknown_names():
    assert assignments.student_parameters({"epochs": 3}) == {**assignments.STUDENT_PARAMETERS, "epochs": 3}
    with pytest.raises(assignments.AssignmentError, match="Unknown parameter"):
        assignments.student_parameters({"epochz": 3})


def test_set_parameters_keeps_comments():
    cell = nbformat.v4.new_code_cell('run_dir = "../runs/default"  # where\nsteps = 100   # Adam steps\nlam = 0.1')
    assignments.set_parameters(cell, {"run_dir": "runs/course", "steps": 5})
    assert cell.source == 'run_dir = "runs/course"  # where\nsteps = 5   # Adam steps\nlam = 0.1'


def test_find_submissions_layout(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "01_data_prep.ipynb").write_text("{}")
    (tmp_path / "ann" / "03_latent_inversion (1).ipynb").write_text("{}")
    (tmp_path / "ann" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "ann" / ".ipynb_checkpoints" / "01_data_prep-checkpoint.ipynb").write_text("{}")
    (tmp_path / "ann" / "old").mkdir()
    (tmp_path / "ann" / "old" / "02_train_gan.ipynb").write_text("{}")
    (tmp_path / "readme.txt").write_text("loose")
    jobs, strays = grading.find_submissions(tmp_path)
    assert [(s, nb) for s, nb, _ in jobs] == [("ann", "01_data_prep")]
    assert [(s, f) for s, f, _ in strays] == [("ann", "03_latent_inversion (1).ipynb"), ("ann", "old/02_train_gan.ipynb"),
                                              ("", "readme.txt")]
    assert "did you mean 03_latent_inversion.ipynb?" in strays[0][2]
    with pytest.raises(assignments.AssignmentError, match="not a folder of submissions"):
        grading.find_submissions(tmp_path / "missing")


def test_refused_command_lines(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert main(["grade", str(tmp_path / "subs"), "--workers", "0"]) == 2
    assert main(["grade", str(tmp_path / "subs"), "--workers", "2", "--cluster", "tcp://127.0.0.1:1"]) == 2
    assert main(["grade", str(tmp_path / "missing")]) == 2
    assert main(["assign", "--out", str(tmp_path / "r"), "-p", "epochz", "1"]) == 2
    err = capsys.readouterr().err
    assert "at least 1" in err and "not both" in err and "not a folder" in err and "Unknown parameter(s) epochz" in err


# --- grading end to end -----------------------------------------------------------------------------

def edit(path, change):
    nb = nbformat.read(path, as_version=4)
    change(nb)
    return nb


def append_to(prefix, text):
    """A change that appends ``text`` to the code cell whose source starts with ``prefix``."""
    def change(nb):
        cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(prefix))
        cell.source += "\n" + text
    return change


def prepend_to(prefix, text):
    """A change that puts ``text`` before the code cell whose source starts with ``prefix``, in the same cell."""
    def change(nb):
        cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(prefix))
        cell.source = text + "\n" + cell.source
    return change


def drop_checks(nb):
    nb.cells = [c for c in nb.cells if not c.source.startswith("grader.check")]


def fake_checks(nb):
    for cell in nb.cells:
        if cell.source.startswith("grader.check"):
            cell.source = 'print("All tests passed!")\ngrader = None'


def hand_in(folder, student, notebook, nb_or_text, name=None):
    path = folder / student / (name or f"{notebook}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        nbformat.write(nb_or_text, path)


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts (a submission must not reach it)."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port, self.accepted = self.socket.getsockname()[1], 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()


def cheats(subs, out, listener):
    """The cells of submissions that try to reach what the sandbox hides, or to exhaust the machine (name -> cell)."""
    other = subs / "honest" / "01_data_prep.ipynb"
    return {
        "reads_other": f"print(open({str(other)!r}).read()[:2000])",
        "writes_grades": f"import os\nos.makedirs({str(out)!r}, exist_ok=True)\n"
                         f"open({str(out / 'forged.csv')!r}, 'w').write('writes_grades,01_data_prep,ex01_split,3,3')",
        "network": f"import socket\nsocket.create_connection(('127.0.0.1', {listener.port}), timeout=5).sendall(b'hidden tests')",
        "reads_source": f"print(open({str(PROJECT_ROOT / 'course' / '01_data_prep.yaml')!r}).read())",
        # 200 GB of address space, 1 GB at a time, left unwritten: the limit is reached within a second however
        # slowly the machine hands out pages (filling them took 6 s a GB on one machine, past the cell time limit)
        "memory_hog": "import numpy as np\nhog = [np.empty(2 ** 27) for _ in range(200)]",
        "fork_bomb": "import os\nwhile True:  # each child becomes a sleep that holds its process slot\n"
                     "    if os.fork() == 0:\n        os.execv('/bin/sleep', ['sleep', '600'])",
    }


@pytest.fixture(scope="module")
def graded(release, tmp_path_factory):
    """Two gradings into one folder: kinds of submissions of 01 and 03 (two at once); then a class of 01's that misbehave."""
    folder, full = release
    root = tmp_path_factory.mktemp("grading")
    subs, out = root / "submissions", root / "grades"
    student = {nb: folder / f"{nb}.ipynb" for nb in GRADED}
    solution = {nb: full[nb] / f"{nb}.ipynb" for nb in GRADED}
    for nb in ("01_data_prep", "03_latent_inversion"):
        hand_in(subs, "full", nb, edit(solution[nb], lambda nb: None))
        hand_in(subs, "student", nb, edit(student[nb], lambda nb: None))
    hand_in(subs, "one_wrong", "01_data_prep", edit(solution["01_data_prep"], lambda nb: (drop_checks(nb), append_to(
        "def ex01_audit", "ex01_audit = lambda parts, labels, anomaly_classes: {'shared': 0, 'train_anomalies': 0, 'val_anomalies': 0}")(nb))))
    hand_in(subs, "one_wrong", "03_latent_inversion", edit(solution["03_latent_inversion"], append_to(
        "def ex03_rates", "_right = ex03_rates\nex03_rates = lambda *args: _right(*args)[::-1]  # the two rates swapped")))
    hand_in(subs, "faked_tests", "01_data_prep", edit(student["01_data_prep"], fake_checks))
    hand_in(subs, "broken", "01_data_prep", "my answers are in the email")
    hand_in(subs, "broken", "03_latent_inversion", edit(student["02_train_gan"], lambda nb: None))
    hand_in(subs, "broken", "01_data_prep", "{}", name="01_data_prep (1).ipynb")
    book = grading.grade_folder(subs, out, workers=2, echo=False)
    first = book, {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}, pd.read_csv(out / "totals.csv")

    # a class of 01's: one honest, two that run too long or crash, six that cheat or exhaust the machine
    limits, listener = root / "limits", Listener()
    hand_in(limits, "honest", "01_data_prep", edit(solution["01_data_prep"], lambda nb: None))
    hand_in(limits, "messy", "01_data_prep", edit(solution["01_data_prep"], lambda nb: (
        nb.cells.insert(2, nbformat.v4.new_code_cell("import gan_ad_has_no_such_module")),
        nb.cells.insert(3, nbformat.v4.new_code_cell('print("x" * 3_000_000)')),
        prepend_to("def ex01_split", "while True:  # ex01_split is never defined\n    pass")(nb))))
    hand_in(limits, "dies", "01_data_prep", edit(solution["01_data_prep"], lambda nb: nb.cells.insert(
        2, nbformat.v4.new_code_cell("import os\nos._exit(3)"))))
    for name, cell in cheats(limits, out, listener).items():
        hand_in(limits, name, "01_data_prep", edit(solution["01_data_prep"], lambda nb: nb.cells.insert(
            3, nbformat.v4.new_code_cell(cell))))
    # the limits must leave "messy" room for its honest cells on a loaded machine beside the memory hog (45 s did
    # not once, nor did a cell limit of 8 s)
    book = grading.grade_folder(limits, out, workers=2, time_limit=120, cell_time_limit=30, echo=False,
                                memory_limit=6, process_limit=256)
    listener.socket.close()
    # and one whose cell ignores the interrupt of the cell time limit: stopped at the notebook's time limit, which it
    # would use up whatever its value; graded by itself with a short one, so as not to hold a worker for two minutes
    asleep = root / "asleep"
    hand_in(asleep, "asleep", "01_data_prep", edit(solution["01_data_prep"], lambda nb: nb.cells.insert(2, nbformat.v4.new_code_cell(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(1000)"))))
    book = pd.concat([book, grading.grade_folder(asleep, out, time_limit=20, cell_time_limit=5, echo=False)])
    second = book, {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}
    return first, second, out, {"listener": listener}


def points(book, student, notebook=None):
    rows = book[(book["student"] == student) & (book["exercise"] != "")]
    if notebook:
        rows = rows[rows["notebook"] == notebook]
    return rows["points"].sum(), rows["max"].sum()


def test_grade_book_of_many_submissions(graded):
    (book, feedback, totals), _, _, _ = graded
    assert list(book.columns[:5]) == ["student", "notebook", "exercise", "points", "max"]
    students = ["broken", "faked_tests", "full", "one_wrong", "student"]
    assert sorted(set(book["student"])) == students and sorted(feedback) == students
    per_student = sum(len(assignments.question_order(nb)) for nb in GRADED)
    assert (book[book["exercise"] != ""].groupby("student").size() == per_student).all()  # every exercise, submitted or not
    maximum = {nb: points(book, "full", nb)[1] for nb in GRADED}
    assert maximum["01_data_prep"] == 8 and maximum["03_latent_inversion"] == 8
    assert points(book, "full", "01_data_prep") == (8, 8) and points(book, "full", "03_latent_inversion") == (8, 8)
    assert points(book, "student") == (0, sum(maximum.values()))
    assert "Errors while the notebook ran" not in feedback["student"]  # the unchanged student versions run cleanly
    assert list(totals.set_index("student").loc["full", ["01_data_prep", "03_latent_inversion", "total"]]) == [8, 8, 16]
    assert "Total: 16 of 40 points" in feedback["full"]
    base = graded[2] / ".grading" / "base"  # the shared run folder goes only as far as 03 needs: 02's GAN, no encoder
    assert sorted(p.name for p in base.glob("before_*")) == ["before_01_data_prep", "before_02_train_gan",
                                                            "before_03_latent_inversion"]
    not_submitted = book[(book["student"] == "full") & (book["notebook"] == "02_train_gan")]
    assert set(not_submitted["status"]) == {"not submitted"} and not_submitted["points"].sum() == 0


def test_one_wrong_exercise_loses_exactly_its_points(graded):
    """one_wrong's 01 also has no check cells: the right answers still count, the wrong one loses its points."""
    (book, feedback, _), _, _, _ = graded
    rows = book[book["student"] == "one_wrong"].set_index("exercise")
    assert rows.loc["ex01_audit", "points"] == 0 and rows.loc["ex03_rates", "points"] == 0
    assert points(book, "one_wrong", "01_data_prep") == (8 - 3, 8)
    assert points(book, "one_wrong", "03_latent_inversion") == (8 - 2, 8)
    assert "**ex01_audit**, visible test (1 point) failed" in feedback["one_wrong"]
    assert "**ex03_rates**, hidden test" in feedback["one_wrong"]
    assert "test_ex03_rates_random" not in feedback["one_wrong"]  # hidden tests are described, not shown


def test_faked_test_cells_give_no_points(graded):
    """Tests come from the instructor's masters: a check cell replaced by a fake neither costs nor earns points."""
    (book, _, _), _, _, _ = graded
    assert points(book, "faked_tests", "01_data_prep") == (0, 8)


def test_broken_submissions_are_reported(graded):
    (book, feedback, _), _, _, _ = graded
    rows = book[book["student"] == "broken"]
    status = dict(zip(rows["notebook"], rows["status"]))
    assert status["01_data_prep"] == "not a notebook" and status["03_latent_inversion"] == "wrong notebook"
    assert status["01_data_prep (1).ipynb"] == "unexpected file" and rows["points"].sum() == 0
    assert "holds the student version of 02_train_gan" in feedback["broken"]
    assert "did you mean 01_data_prep.ipynb?" in feedback["broken"]


def test_time_limits_output_and_crashes(graded):
    _, (book, feedback), _, _ = graded
    assert points(book, "messy") == (8 - 3, 40)  # the endless loop in ex01_split's cell: that exercise only
    assert "in the cell starting `while True:  # ex01_split is never defined`: stopped after the cell time limit of 30 s" \
        in feedback["messy"]
    assert "ModuleNotFoundError: No module named 'gan_ad_has_no_such_module'" in feedback["messy"]
    assert re.search(r"printed \d\.\d MB of output", feedback["messy"])
    asleep = book[(book["student"] == "asleep") & (book["notebook"] == "01_data_prep")]
    assert set(asleep["status"]) == {"timed out"} and "time limit of 20 s" in feedback["asleep"]
    dies = book[(book["student"] == "dies") & (book["notebook"] == "01_data_prep")]
    assert set(dies["status"]) == {"failed"} and dies["points"].sum() == 0
    assert "the notebook's kernel died" in feedback["dies"]


def test_sandbox_stops_cheats_and_keeps_the_class_apart(graded):
    """Each cheat fails inside the sandbox with a sentence in the grade book; every submission scores as the honest one."""
    _, (book, feedback), out, seen = graded
    honest = points(book, "honest", "01_data_prep")
    assert honest == (8, 8)
    bomb = book[(book["student"] == "fork_bomb") & (book["notebook"] == "01_data_prep")]
    assert set(bomb["status"]) == {"failed"} and "limit of 256 allows" in feedback["fork_bomb"]  # otter's threads too
    for student in ("messy", "reads_other", "writes_grades", "network", "reads_source", "memory_hog"):
        rows = book[(book["student"] == student) & (book["notebook"] == "01_data_prep")]
        assert set(rows["status"]) == {"graded"} and rows["note"].str.len().gt(0).all(), student
        if student != "messy":
            assert points(book, student, "01_data_prep") == honest, student  # graded as it would be alone
    errors = {student: feedback[student].split("Errors while the notebook ran:")[1] for student in feedback
              if "Errors while the notebook ran:" in feedback[student]}
    assert "FileNotFoundError" in errors["reads_other"] and "FileNotFoundError" in errors["reads_source"]
    assert not (out / "forged.csv").exists()  # it wrote into the sandbox's own /tmp, which is gone
    assert "ConnectionRefusedError" in errors["network"] or "unreachable" in errors["network"]
    assert seen["listener"].accepted == 0
    assert "MemoryError" in errors["memory_hog"] and "memory limit of 6 GB" in feedback["memory_hog"]
    assert "ex01_split:" not in feedback["reads_other"] and "hidden" not in errors["reads_source"]
    for student in ("reads_other", "network", "reads_source", "memory_hog"):
        assert "raised an error" in book[book["student"] == student]["note"].iloc[0], student


def test_grading_needs_bubblewrap_or_no_sandbox(tmp_path, monkeypatch, capsys):
    (tmp_path / "subs").mkdir()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(assignments.AssignmentError, match=r"sudo apt-get install bubblewrap\) or grade with --no-sandbox"):
        grading.grade_folder(tmp_path / "subs", tmp_path / "out", echo=False)
    grading.grade_folder(tmp_path / "subs", tmp_path / "out", echo=False, sandbox=False)
    assert capsys.readouterr().err.count("warning: grading without a sandbox") == 1


def test_sandbox_command_hides_what_it_must(tmp_path):
    work = tmp_path / "work"
    command = grading.sandbox_command(work, ["python"], [PROJECT_ROOT / "course", tmp_path / "subs"])
    assert command[:2] == ["bwrap", "--die-with-parent"] and "--unshare-net" in command and "--unshare-pid" in command
    pairs = list(zip(command, command[1:]))
    assert ("--ro-bind", str(PROJECT_ROOT)) in pairs and ("--tmpfs", str(PROJECT_ROOT / "course")) in pairs
    assert ("--bind", str(work.resolve())) in pairs and ("--tmpfs", "/tmp") in pairs
    assert not any(a == "--bind" and b != str(work.resolve()) for a, b in pairs)  # nothing else writable
    assert command[-2:] == ["--", "python"]
    env = grading.sandbox_env({"PATH": "/usr/bin", "AWS_SECRET_ACCESS_KEY": "x", "OMP_NUM_THREADS": "1"}, work)
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["OMP_NUM_THREADS"] == "1" and env["HOME"].startswith(str(work))


def test_grading_on_a_dask_cluster(graded, release, tmp_path):
    """The same grading as tasks of a Dask cluster (a LocalCluster here), which reuses the shared run folder it can see."""
    from distributed import LocalCluster

    folder, full = release
    out = graded[2]  # holds the shared run folder of the gradings above
    hand_in(tmp_path, "full", "01_data_prep", edit(full["01_data_prep"] / "01_data_prep.ipynb", lambda nb: None))
    hand_in(tmp_path, "student", "01_data_prep", edit(folder / "01_data_prep.ipynb", lambda nb: None))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        book = grading.grade_folder(tmp_path, out, cluster=cluster.scheduler_address, echo=False)
    assert points(book, "full", "01_data_prep") == (8, 8) and points(book, "student", "01_data_prep") == (0, 8)
    assert set(pd.read_csv(out / "gradebook.csv")["student"]) == {"full", "student"}
