"""The graded exercises as the lesson notebooks hold them: their visible tests, and the check a student runs.

Each answer cell of notebooks 01-05 ends its definitions with ``gan_ad.exercises.check("ex01_split")``:
it runs that exercise's visible tests (the functions below named ``test_ex01_split`` or
``test_ex01_split_*``) on the notebook's own variables and prints one line: passed, not yet right
(with the test's message), or not done yet while the answer is still ``...``. It never raises, so an
unanswered exercise does not stop ``make run``, papermill or nbval.

The solutions, the points and the hidden tests are not here: they are the course's instructor source
(``course/``, or a private copy given with ``--source``), from which ``python -m gan_ad assign`` builds
otter-grader's master notebooks and the student release (:mod:`gan_ad.assignments`). A test function
takes as arguments the names it checks (otter's exception-based format) and imports what it needs.
"""
import inspect
import sys


def visible_tests(exercise):
    """The visible test functions of ``exercise``, in the order they are defined here."""
    return [f for name, f in globals().items() if inspect.isfunction(f) and f.__module__ == __name__
            and (name == f"test_{exercise}" or name.startswith(f"test_{exercise}_"))]


def unanswered(value):
    """Whether an answer is still the student version's ``...``: the value itself, or a function that does nothing."""
    import dis

    if value is Ellipsis:
        return True
    if not inspect.isfunction(value):
        return False
    steps = [(i.opname, i.argval) for i in dis.get_instructions(value) if i.opname not in ("RESUME", "NOP", "CACHE")]
    return steps in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])  # a body of ``...``


def check(exercise, namespace=None):
    """Run the visible tests of ``exercise`` on ``namespace`` (default: the caller's globals); print the outcome, return it.

    Returns True (passed), False (a test failed) or None (not done yet); never raises.
    """
    namespace = sys._getframe(1).f_globals if namespace is None else namespace
    tests = visible_tests(exercise)
    if not tests:
        print(f"{exercise}: this exercise has no visible test here.")
        return None
    if exercise not in namespace or unanswered(namespace[exercise]):
        print(f"{exercise}: not done yet (write your answer where the cell holds `...`).")
        return None
    for test in tests:
        names = list(inspect.signature(test).parameters)
        missing = [name for name in names if name not in namespace]
        if missing:
            print(f"{exercise}: run the cells above first ({', '.join(missing)} not defined).")
            return False
        try:
            test(*(namespace[name] for name in names))
        except Exception as err:  # the student's answer may raise anything
            message = str(err).strip() or type(err).__name__
            print(f"{exercise}: not yet right: {message}")
            return False
    print(f"{exercise}: the visible test passes (grading runs hidden tests as well).")
    return True


# --- the visible tests, by notebook -----------------------------------------------------------------------------------

def test_ex01_split_sizes(ex01_split):
    import numpy as np
    toy = np.arange(100) % 10
    parts = ex01_split(toy, [0, 1, 2, 3, 4], 0.2, 0)
    assert isinstance(parts, dict) and {"train", "val"} <= set(parts), "return a dict with the keys 'train' and 'val'"
    assert len(parts["train"]) == 40, f"50 normals minus 10 held out leave 40 for training, not {len(parts['train'])}"
    assert len(parts["val"]) == 20, f"validation holds 10 held-out normals and 10 anomalies, not {len(parts['val'])}"
    assert np.isin(toy[np.asarray(parts["train"])], [0, 1, 2, 3, 4]).all(), "training must hold normal digits only"


def test_ex01_audit_toy(ex01_audit):
    counts = ex01_audit({"train": [0, 1, 2], "val": [2, 3, 4]}, [0, 0, 7, 1, 8, 9], [7, 8, 9])
    assert isinstance(counts, dict), "return a dict"
    assert counts == {"shared": 1, "train_anomalies": 1, "val_anomalies": 2}, f"expected shared 1, train_anomalies 1, val_anomalies 2, got {counts}"


def test_ex01_answer_letter(ex01_answer):
    assert isinstance(ex01_answer, str) and ex01_answer.strip().lower() in {"a", "b", "c", "d"}, "set ex01_answer to one letter: a, b, c or d"


def test_ex02_d_loss_values(ex02_d_loss):
    import numpy as np
    undecided = ex02_d_loss(np.zeros(8), np.zeros(8))
    assert abs(undecided - 2 * np.log(2)) < 1e-6, f"a discriminator that always says 0.5 has loss 2 log 2 = 1.386, not {undecided}"
    assert ex02_d_loss(np.full(4, 10.0), np.full(4, -10.0)) < 1e-3, "a discriminator that is sure and right has a loss near 0"


def test_ex02_g_loss_values(ex02_g_loss):
    import numpy as np
    assert abs(ex02_g_loss(np.zeros(5)) - np.log(2)) < 1e-6, "D undecided (logit 0): the loss is log 2 = 0.693"
    caught = ex02_g_loss(np.full(3, -10.0))
    assert abs(caught - 10.0) < 1e-3, f"fakes that D spots with logit -10 cost about 10, not {caught}"


def test_ex02_pick_epoch_simple(ex02_pick_epoch):
    import pandas as pd
    toy = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_auroc": [0.6, 0.8, 0.7, 0.75]})
    picked = ex02_pick_epoch(toy, "val_auroc")
    assert picked == 2 and isinstance(picked, int), f"epoch 2 has the best AUROC (0.8), got {picked!r}"


def test_ex03_score_toy(ex03_score):
    import numpy as np
    x, g = np.zeros((2, 28, 28, 1)), np.zeros((2, 28, 28, 1))
    g[0] = 1.0  # image 0 is missed by 1 everywhere, image 1 matched exactly
    fx, fg = np.zeros((2, 3)), np.array([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    scores = np.asarray(ex03_score(x, g, fx, fg, 0.5))
    assert scores.shape == (2,), f"one score per image: expected shape (2,), got {scores.shape}"
    assert np.allclose(scores, [1.5, 0.0]), f"expected [0.5 * 1 + 0.5 * 2, 0] = [1.5, 0], got {scores}"


def test_ex03_threshold_toy(ex03_threshold):
    import numpy as np
    scores = np.arange(1, 101, dtype=float)
    threshold = ex03_threshold(scores, 0.05)
    assert threshold is not None and abs(threshold - 95.05) < 1e-9, f"the 0.95 quantile of 1..100 is 95.05, got {threshold}"
    assert np.mean(scores > threshold) <= 0.05


def test_ex03_rates_toy(ex03_rates):
    import numpy as np
    rates = ex03_rates(np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8]), np.array([0, 0, 0, 0, 1, 1]), 0.5)
    assert rates is not None and np.allclose(rates, (0.25, 0.5)), f"1 of 4 normals and 1 of 2 anomalies lie above 0.5: expected (0.25, 0.5), got {rates}"


def test_ex04_knn_toy(ex04_knn):
    import numpy as np
    scores = ex04_knn(np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [2.0]]), 2)
    assert scores is not None and np.allclose(scores, [0.5, 1.0]), f"distances 0, 1 (mean 0.5) and 1, 1 (mean 1.0) expected, got {scores}"


def test_ex04_best_toy(ex04_best):
    picked = ex04_best({(1, 16): 0.8, (5, 16): 0.9, (1, 32): 0.85})
    assert picked == (5, 16), f"(5, 16) has the best validation AUROC, got {picked!r}"


def test_ex04_answer_letter(ex04_answer):
    assert isinstance(ex04_answer, str) and ex04_answer.strip().lower() in {"a", "b", "c", "d"}, "set ex04_answer to one letter: a, b, c or d"


def test_ex05_auroc_extremes(ex05_auroc):
    import numpy as np
    labels = np.array([0, 0, 0, 1, 1])
    assert ex05_auroc(labels, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) == 1.0, "anomalies all above the normals: AUROC 1"
    assert ex05_auroc(labels, np.array([0.8, 0.9, 0.7, 0.1, 0.2])) == 0.0, "anomalies all below the normals: AUROC 0"
    assert ex05_auroc(labels, np.ones(5)) == 0.5, "all scores tied: AUROC 0.5"


def test_ex05_per_digit_toy(ex05_per_digit):
    import numpy as np
    table = ex05_per_digit(np.array([0.1, 0.2, 0.9, 0.3, 0.15]), np.array([0, 1, 7, 9, 9]), np.array([0, 0, 1, 1, 1]))
    assert isinstance(table, dict) and set(table) == {7, 9}, f"one entry per anomalous digit (7 and 9), got {table!r}"
    assert abs(table[7] - 1.0) < 1e-9 and abs(table[9] - 0.75) < 1e-9, f"expected {{7: 1.0, 9: 0.75}}, got {table}"


def test_ex05_answer_letter(ex05_answer):
    assert isinstance(ex05_answer, str) and ex05_answer.strip().lower() in {"a", "b", "c", "d"}, "set ex05_answer to one letter: a, b, c or d"

