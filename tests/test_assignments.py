"""Course assignments (#10): the student versions leak nothing, every exercise's tests agree with its
solution, and grading a folder of submissions gives the points it should, whatever the submissions hold.

The whole grading path runs end to end for notebook 01 (fast) and 03 (it needs 01 and 02's outputs),
at the tiny parameters of gan_ad/tiny.yaml; the exercises of every notebook are checked at unit level.
"""
import ast
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from gan_ad import assignments, grading
from gan_ad.__main__ import main
from gan_ad.files import NOTEBOOK_DIR

GRADED = assignments.GRADED


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The student versions (``assign``), and otter's autograder folder of every notebook (solutions, all tests)."""
    root = tmp_path_factory.mktemp("assign")
    assert main(["assign", "--out", str(root / "release")]) == 0
    full = {nb: assignments.otter_assign(nb, root / "otter" / nb)[1].parent for nb in GRADED}
    return root / "release", full


def cells_of(notebook, source=None):
    return nbformat.read(source or NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4).cells


def blocks(notebook):
    """Map question -> (answer cell source, [test cell sources]) from otter's markers in the source notebook."""
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
    """Each exercise's tests on made-up data: all pass with the solution, none with the student version's ``...``."""
    student = {c.id: c.source for c in cells_of(notebook, release[0] / f"{notebook}.ipynb")
               if "otter_answer_cell" in c.metadata.get("tags", [])}
    for name, (answer, tests) in blocks(notebook).items():
        solved = unit_results(answer, tests)
        assert solved and all(passed for passed, _ in solved), name
        stub = next(source for source in student.values() if defined(source) == defined(answer))
        assert "..." in stub
        assert not any(passed and config["points"] for passed, config in unit_results(stub, tests)), name


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


@pytest.fixture(scope="module")
def graded(release, tmp_path_factory):
    """Two gradings into one folder: many kinds of submissions of 01 and 03 (two at once), then 01's time limits."""
    folder, full = release
    root = tmp_path_factory.mktemp("grading")
    subs, out = root / "submissions", root / "grades"
    student = {nb: folder / f"{nb}.ipynb" for nb in GRADED}
    solution = {nb: full[nb] / f"{nb}.ipynb" for nb in GRADED}
    for nb in ("01_data_prep", "03_latent_inversion"):
        hand_in(subs, "full", nb, edit(solution[nb], lambda nb: None))
        hand_in(subs, "student", nb, edit(student[nb], lambda nb: None))
    hand_in(subs, "one_wrong", "01_data_prep", edit(solution["01_data_prep"], append_to(
        "def ex01_audit", "ex01_audit = lambda parts, labels, anomaly_classes: {'shared': 0, 'train_anomalies': 0, 'val_anomalies': 0}")))
    hand_in(subs, "one_wrong", "03_latent_inversion", edit(solution["03_latent_inversion"], append_to(
        "def ex03_rates", "_right = ex03_rates\nex03_rates = lambda *args: _right(*args)[::-1]  # the two rates swapped")))
    hand_in(subs, "no_tests", "01_data_prep", edit(student["01_data_prep"], drop_checks))
    hand_in(subs, "no_tests_right", "01_data_prep", edit(solution["01_data_prep"], drop_checks))
    hand_in(subs, "faked_tests", "01_data_prep", edit(student["01_data_prep"], fake_checks))
    hand_in(subs, "broken", "01_data_prep", "my answers are in the email")
    hand_in(subs, "broken", "03_latent_inversion", edit(student["02_train_gan"], lambda nb: None))
    hand_in(subs, "broken", "01_data_prep", "{}", name="01_data_prep (1).ipynb")
    book = grading.grade_folder(subs, out, workers=2, echo=False)
    first = book, {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}, pd.read_csv(out / "totals.csv")

    limits = root / "limits"
    hand_in(limits, "messy", "01_data_prep", edit(solution["01_data_prep"], lambda nb: (
        nb.cells.insert(2, nbformat.v4.new_code_cell("import gan_ad_has_no_such_module")),
        nb.cells.insert(3, nbformat.v4.new_code_cell('print("x" * 3_000_000)')),
        prepend_to("def ex01_split", "while True:  # ex01_split is never defined\n    pass")(nb))))
    hand_in(limits, "stuck", "01_data_prep", edit(solution["01_data_prep"], lambda nb: nb.cells.insert(2, nbformat.v4.new_code_cell(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(1000)"))))
    hand_in(limits, "dies", "01_data_prep", edit(solution["01_data_prep"], lambda nb: nb.cells.insert(
        2, nbformat.v4.new_code_cell("import os\nos._exit(3)"))))
    # the notebook's limit must leave "messy" room for its honest cells on a loaded machine (45 s did not once);
    # only "stuck", whose cell ignores the interrupt that the cell limit sends, waits for it
    book = grading.grade_folder(limits, out, workers=2, time_limit=120, cell_time_limit=8, echo=False)
    second = book, {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}
    return first, second, out


def points(book, student, notebook=None):
    rows = book[(book["student"] == student) & (book["exercise"] != "")]
    if notebook:
        rows = rows[rows["notebook"] == notebook]
    return rows["points"].sum(), rows["max"].sum()


def test_grade_book_of_many_submissions(graded):
    (book, feedback, totals), _, _ = graded
    assert list(book.columns[:5]) == ["student", "notebook", "exercise", "points", "max"]
    students = ["broken", "faked_tests", "full", "no_tests", "no_tests_right", "one_wrong", "student"]
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
    (book, feedback, _), _, _ = graded
    rows = book[book["student"] == "one_wrong"].set_index("exercise")
    assert rows.loc["ex01_audit", "points"] == 0 and rows.loc["ex03_rates", "points"] == 0
    assert points(book, "one_wrong", "01_data_prep") == (8 - 3, 8)
    assert points(book, "one_wrong", "03_latent_inversion") == (8 - 2, 8)
    assert "**ex01_audit**, visible test (1 point) failed" in feedback["one_wrong"]
    assert "**ex03_rates**, hidden test" in feedback["one_wrong"]
    assert "test_ex03_rates_random" not in feedback["one_wrong"]  # hidden tests are described, not shown


def test_deleted_or_faked_test_cells_give_no_points(graded):
    """Tests come from the instructor's notebooks: deleting a check cell neither costs nor earns points."""
    (book, _, _), _, _ = graded
    assert points(book, "no_tests", "01_data_prep") == (0, 8)  # no answers, no check cells: nothing
    assert points(book, "no_tests_right", "01_data_prep") == (8, 8)  # right answers, no check cells: all
    assert points(book, "faked_tests", "01_data_prep") == (0, 8)


def test_broken_submissions_are_reported(graded):
    (book, feedback, _), _, _ = graded
    rows = book[book["student"] == "broken"]
    status = dict(zip(rows["notebook"], rows["status"]))
    assert status["01_data_prep"] == "not a notebook" and status["03_latent_inversion"] == "wrong notebook"
    assert status["01_data_prep (1).ipynb"] == "unexpected file" and rows["points"].sum() == 0
    assert "holds the student version of 02_train_gan" in feedback["broken"]
    assert "did you mean 01_data_prep.ipynb?" in feedback["broken"]


def test_time_limits_output_and_crashes(graded):
    _, (book, feedback), _ = graded
    assert points(book, "messy") == (8 - 3, 40)  # the endless loop in ex01_split's cell: that exercise only
    assert "in the cell starting `while True:  # ex01_split is never defined`: stopped after the cell time limit of 8 s" \
        in feedback["messy"]
    assert "ModuleNotFoundError: No module named 'gan_ad_has_no_such_module'" in feedback["messy"]
    assert re.search(r"printed \d\.\d MB of output", feedback["messy"])
    stuck = book[(book["student"] == "stuck") & (book["notebook"] == "01_data_prep")]
    assert set(stuck["status"]) == {"timed out"} and "time limit of 120 s" in feedback["stuck"]
    dies = book[(book["student"] == "dies") & (book["notebook"] == "01_data_prep")]
    assert set(dies["status"]) == {"failed"} and dies["points"].sum() == 0
    assert "the notebook's kernel died" in feedback["dies"]


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
