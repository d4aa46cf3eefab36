"""The lessons show the package's own code: what a notebook displays is what gan_ad runs (one source of truth)."""
import ast
import importlib
import inspect
import textwrap
from pathlib import Path

import nbformat
import pytest

from gan_ad import lessons
from gan_ad.runner import NOTEBOOK_DIR, PIPELINE

# what each lesson must show, at least: the algorithm it teaches
TAUGHT = {"02_train_gan": {"training.GAN.train_step"},
          "03_latent_inversion": {"inversion.Inverter._search", "inversion.score_terms"},
          "04_encoder": {"encoder.EncoderTraining._loss", "baselines.KNNDistance._score", "encoder.EncoderMemory.draw_and_score"}}


def shown(cell_source):
    """The dotted names passed to ``lessons.show_source`` in a cell, e.g. ``["inversion.score_terms"]``."""
    if "lessons.show_source(" not in cell_source:  # also keeps out cells of IPython syntax (%pip, !git)
        return []
    return [ast.unparse(arg) for node in ast.walk(ast.parse(cell_source)) if isinstance(node, ast.Call)
            and ast.unparse(node.func) == "lessons.show_source" for arg in node.args]


def resolve(dotted):
    module, *attributes = dotted.split(".")
    obj = importlib.import_module(f"gan_ad.{module}")
    for attribute in attributes:
        obj = getattr(obj, attribute)
    return obj


def definition(dotted):
    """The text of ``gan_ad/MODULE.py`` from the ``def`` (or ``class``, decorators included) that ``dotted``
    names to its last line, found by parsing the file: independently of ``inspect``, which show_source uses."""
    module, *names = dotted.split(".")
    path = Path(lessons.__file__).with_name(f"{module}.py")
    text = path.read_text()
    node = ast.parse(text)
    for name in names:
        node = next(n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and n.name == name)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    lines = text.splitlines()[first - 1:node.end_lineno]
    return textwrap.dedent("\n".join(lines) + "\n")


def show_cells(path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code" and shown(cell.source)]


@pytest.mark.parametrize("name", TAUGHT)
def test_each_lesson_shows_the_package_code_it_teaches(name):
    names = [dotted for cell in show_cells(NOTEBOOK_DIR / f"{name}.ipynb") for dotted in shown(cell.source)]
    assert TAUGHT[name] <= set(names), f"{name} does not show {TAUGHT[name] - set(names)}"
    for dotted in names:  # every name resolves, and its module points readers back to this lesson
        module = inspect.getmodule(resolve(dotted))
        assert f"{name}.ipynb" in module.__doc__, f"{module.__name__}'s docstring does not name {name}"


def test_show_source_displays_the_functions_source():
    from gan_ad import inversion

    code = lessons.show_source(inversion.score_terms, inversion.Inverter._search).data
    assert code == definition("inversion.score_terms") + "\n\n" + definition("inversion.Inverter._search")
    assert code.startswith("def score_terms(") and "    def _search(" not in code  # a method is shown dedented


@pytest.mark.parametrize("name", [n for n in PIPELINE if n in TAUGHT])
def test_executed_lesson_shows_what_the_package_runs(name, tiny_run):
    """In the executed notebook, each show_source cell displays the definitions it names, as the package's files hold them."""
    path = tiny_run / f"{name}.ipynb"
    cells = show_cells(path)
    assert cells, f"{path} shows no package code"
    for cell in cells:
        text = "".join(o["data"]["text/plain"] for o in cell.outputs if o.output_type == "execute_result")
        expected = "\n\n".join(definition(dotted) for dotted in shown(cell.source))
        assert text.rstrip() == expected.rstrip(), f"{path}: {cell.source}"
