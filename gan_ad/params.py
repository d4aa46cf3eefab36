"""Every parameter of the pipeline, declared once: its notebooks, kind, allowed values, default and meaning.

The notebooks' ``parameters`` cells hold the same names and defaults as literals (papermill replaces
that cell; ``tests/test_params.py`` keeps the two from drifting apart). From :data:`PARAMETERS` come
``python -m gan_ad params`` (:func:`table`), the runner's check before any notebook starts
(:func:`check_values`) and the check in the cell after each notebook's parameters cell
(:func:`check`), so that a notebook run by hand in Jupyter refuses a bad value too. A refusal is one
:class:`ParameterError` sentence naming the parameter, what it got and what it takes.

Rules that need the data (``normal_digits`` among the dataset's classes, enough images for one
batch) stay in the notebooks that load it. The command line's ``-p KEY VALUE`` and ``-f FILE`` are read
here too (:func:`from_command_line`), once for every command that takes them.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ParameterError(ValueError):
    """Raised for a parameter that no notebook declares, or a value that it does not take."""


@dataclass(frozen=True)
class Parameter:
    """One parameter. ``kind``: ``int``, ``float``, ``bool``, ``str``, ``choice``, ``ints`` (a list of whole
    numbers), ``classes`` (a list of class indices or names); ``low``/``high`` bound numbers (``open_low``,
    ``open_high``: the bound itself is not allowed); ``nullable``: ``None`` is allowed too."""

    name: str
    kind: str
    default: object
    meaning: str
    notebooks: tuple
    low: float = None
    high: float = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple = ()
    nullable: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def takes(self):
        """What this parameter takes, as the end of a sentence: ``a whole number of at least 1``."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "str":
            text = "a non-empty text"
        elif self.kind == "classes":
            text = "a non-empty list of class indices or names, such as [0, 1, 2]"
        else:
            noun = {"int": "a whole number", "float": "a number", "ints": "a non-empty list of whole numbers"}[self.kind]
            text = noun + self._range()
        return text + (", or None" if self.nullable else "")

    def _range(self):
        if self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f" in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f" {'above' if self.open_low else 'of at least'} {_number(self.low)}"
        if self.high is not None:
            return f" {'below' if self.open_high else 'of at most'} {_number(self.high)}"
        return ""

    def check(self, value):
        """``value`` in its plain form (``'1e-3'`` -> 0.001 for a number), or raise :class:`ParameterError`."""
        if value is None and self.nullable:
            return None
        ok, plain = self._convert(value)
        if not ok:
            raise ParameterError(f"{self.name} must be {self.takes()}; got {value!r}.")
        return plain

    def _convert(self, value):
        kind = self.kind
        if kind == "bool":
            return isinstance(value, bool), value
        if kind == "str":
            return isinstance(value, str) and bool(value.strip()), value
        if kind == "choice":
            return isinstance(value, str) and value in self.choices, value
        if kind == "classes":
            good = (isinstance(value, (list, tuple)) and len(value) > 0
                    and all(isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in value))
            return good, list(value) if good else value
        if kind == "ints":
            if not isinstance(value, (list, tuple)) or not value:
                return False, value
            plain = [self._number(v, int) for v in value]
            return all(p is not None for p in plain), plain
        plain = self._number(value, int if kind == "int" else float)
        return plain is not None, plain

    def _number(self, value, kind):
        """``value`` as a number of ``kind`` within the bounds, or ``None``."""
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and kind is float:  # YAML reads 1e-3 as text
            try:
                value = float(value)
            except ValueError:
                return None
        if kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                return None
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return None
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            return None
        return value


def _number(x):
    return f"{x:g}" if isinstance(x, float) else str(x)


ALL = ("01_data_prep", "02_train_gan", "03_latent_inversion", "04_encoder", "05_evaluation", "06_interactive_demo")
N01, N02, N03, N04, N05 = ALL[:5]
PIPELINE = ALL[:5]  # the notebooks a run executes, in order (06, the demo, reads a finished run)

_DECLARED = [
    Parameter("run_dir", "str", "../runs/default", "folder of this run; every notebook reads and writes there (the runner sets it from --name)", ALL),
    Parameter("dataset", "str", "mnist", '"mnist", "fashion_mnist", or the path of an .npz file or an image folder', (N01,)),
    Parameter("normal_digits", "classes", [0, 1, 2, 3, 4], "the classes the GAN learns as normal: indices, or names", (N01,)),
    Parameter("anomaly_digits", "classes", None, "the anomalous classes; None: every other class", (N01,), nullable=True),
    Parameter("val_fraction", "float", 0.1, "share of the normal training images held out for validation", (N01,), 0, 1, True, True),
    Parameter("max_val", "int", 0, "cap on validation images (0: all held-out normals and as many anomalies)", (N01,), 0),
    Parameter("max_train", "int", 0, "cap on training images (0: all)", (N01,), 0),
    Parameter("max_test", "int", 0, "cap on test images (0: all)", (N01,), 0),
    Parameter("seed", "int", 0, "seeds the split, the weights, the batch order and the searches", (N01, N02, N03, N04), 0),
    Parameter("bad_files", "choice", "refuse", 'image folders: "refuse" a file that is not a readable image, or "skip" it', (N01,),
              choices=("refuse", "skip")),
    Parameter("latent_dim", "int", 64, "size of the latent code z", (N02,), 1),
    Parameter("width", "int", 64, "filters of the first conv layer (the second has twice as many)", (N02,), 1),
    Parameter("batch_size", "int", 16, "training images per step of the GAN", (N02,), 1),
    Parameter("epochs", "int", 3, "passes over the training digits", (N02,), 1),
    Parameter("learning_rate", "float", 0.0002, "Adam step size of the GAN", (N02,), 0, 1, True),
    Parameter("gan_loss", "choice", "bce", '"bce" (non-saturating DCGAN loss), "hinge" (SN-GAN\'s hinge loss) or "wgan-gp" '
              '(Wasserstein GAN with gradient penalty, f-AnoGAN\'s)', (N02,), choices=("bce", "hinge", "wgan-gp")),
    Parameter("spectral_norm", "bool", False, "spectral normalisation of every discriminator layer with weights", (N02,)),
    Parameter("ema_decay", "float", 0.0, "0: off; else a moving average of the generator's weights with this decay", (N02,), 0, 1,
              open_high=True),
    Parameter("rotation_weight", "float", 0.0, "0: off; else the weight of a self-supervised task on the discriminator: "
              "say by how many quarter turns a digit was rotated (SS-GAN)", (N02,), 0),
    Parameter("contrastive_weight", "float", 2.0, "the weight of a contrastive task on the discriminator (0: off): "
              "tell two slightly moved and scaled views of a digit from the other digits' (ContraD, SimCLR)", (N02,), 0),
    Parameter("monitor_size", "int", 512, "validation images of AnoGAN's quick score after every epoch (half normal, half anomalous)", (N02,), 2),
    Parameter("monitor_steps", "int", 0, "inversion steps of AnoGAN's quick score of those images (0: not scored; "
              "select_epoch \"anogan\" needs it)", (N02,), 0),
    Parameter("select_epoch", "choice", "features", 'keep the epoch with the best validation AUROC of "features" or "anogan", or the "last"',
              (N02,), choices=("features", "anogan", "last")),
    Parameter("distribute", "choice", "auto", 'tf.distribute: "auto" (several GPUs: mirrored), "mirrored" or "default"', (N02, N04),
              choices=("auto", "mirrored", "default")),
    Parameter("steps", "int", 100, "AnoGAN's Adam steps per image", (N03,), 1),
    Parameter("z_learning_rate", "float", 0.05, "Adam step size on z", (N03,), 0, open_low=True),
    Parameter("lam", "float", 0.1, "weight of the feature-matching term (0: pixels only, 1: features only)", (N03,), 0, 1),
    Parameter("inversion_batch_size", "int", 500, "images inverted together", (N03,), 1),
    Parameter("anogan_images", "int", 1000, "validation (03) and test (05) images AnoGAN's search scores: a sample with "
              "each class in its share (0: all); the other detectors score all, and are also reported on it", (N03, N05), 0),
    Parameter("false_alarm_rate", "float", 0.05, "share of validation normals allowed above the threshold", (N03,), 0, 1, True, True),
    Parameter("encoder_epochs", "int", 3, "at most this many passes of the encoder over the training digits", (N04,), 1),
    Parameter("patience", "int", 3, "stop the encoder after this many epochs without a lower validation loss", (N04,), 1),
    Parameter("encoder_learning_rate", "float", 0.001, "Adam step size for the encoder (its first, with the cosine schedule)", (N04,), 0, 1, True),
    Parameter("encoder_schedule", "choice", "cosine", '"constant" step size, or "cosine": from encoder_learning_rate down to 0 '
              'over encoder_epochs', (N04,), choices=("constant", "cosine")),
    Parameter("refine_steps", "int", 10, "search steps started from the encoder's z", (N04,), 1),
    Parameter("feature_k", "ints", [1, 5, 10], "kNN in discriminator features: numbers of neighbours tried on validation", (N04,), 1),
    Parameter("feature_components", "ints", [16, 32, 64], "... and PCA dimensions tried on validation", (N04,), 1),
    Parameter("memory_k", "ints", [1, 5, 10, 20], "encoder + memory: numbers of nearest normal codes tried on validation", (N04,), 1),
    Parameter("gallery_size", "int", 8, "images per row in the galleries", (N05,), 1),
    Parameter("pca_components", "int", 32, "baseline 1: PCA reconstruction error with this many components", (N05,), 1),
    Parameter("knn_k", "int", 5, "baseline 2: mean distance to the k nearest training digits ...", (N05,), 1),
    Parameter("knn_components", "int", 50, "... measured in this many PCA dimensions", (N05,), 1),
    Parameter("ae_epochs", "int", 0, "baseline 3: autoencoder epochs; 0 trains it as many epochs as the GAN", (N05,), 0),
]
PARAMETERS = {p.name: p for p in _DECLARED}

# Values each allowed but not together: (names, test of the values, the sentence when the test fails); checked with
# the defaults filling in what was not given, so that -p select_epoch anogan alone is refused too.
_TOGETHER = [
    (("select_epoch", "monitor_steps"), lambda v: not (v["select_epoch"] == "anogan" and v["monitor_steps"] == 0),
     'select_epoch "anogan" keeps the epoch by AnoGAN\'s quick score, which monitor_steps 0 turns off: '
     "give monitor_steps a number of steps such as 30, or choose another select_epoch."),
]


def notebook_names(notebook):
    """The names ``notebook``'s parameters cell declares, in the order of :data:`PARAMETERS`."""
    if notebook not in ALL:
        raise ParameterError(f"There is no notebook {notebook!r}; the notebooks are {', '.join(ALL)}.")
    return [p.name for p in _DECLARED if notebook in p.notebooks]


def check_values(values):
    """``values`` (name -> value) with each value checked and in its plain form; the first bad one raises
    :class:`ParameterError`. Names that no notebook declares are refused too (``run_dir`` is allowed here), and values
    that are each allowed but not together (such as ``select_epoch`` ``"anogan"`` with ``monitor_steps`` 0)."""
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ParameterError(f"Unknown parameter(s) {', '.join(unknown)}. "
                             f"Valid parameters: {', '.join(sorted(set(PARAMETERS) - {'run_dir'}))}.")
    checked = {name: PARAMETERS[name].check(value) for name, value in values.items()}
    with_defaults = {name: p.default for name, p in PARAMETERS.items()} | checked
    for names, fine, sentence in _TOGETHER:
        if any(name in checked for name in names) and not fine(with_defaults):
            raise ParameterError(sentence)
    return checked


def check(notebook, namespace):
    """Check the parameters of ``notebook`` as they stand in ``namespace`` (a notebook's ``globals()``).

    The one line after every parameters cell: a notebook run by hand refuses what the runner refuses.
    Returns the checked values.
    """
    names = notebook_names(notebook)
    missing = [name for name in names if name not in namespace]
    if missing:
        raise ParameterError(f"{notebook} needs the parameter(s) {', '.join(missing)}; run its parameters cell first.")
    return check_values({name: namespace[name] for name in names})


def table(markdown=False):
    """The parameter table: name, notebooks, default, what it takes and its meaning; as Markdown with ``markdown``."""
    rows = [(p.name, ", ".join(nb[:2] for nb in p.notebooks) if p.notebooks != ALL else "all", repr(p.default), p.takes(), p.meaning)
            for p in _DECLARED]
    header = ("parameter", "notebooks", "default", "takes", "meaning")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([f"`{r[0]}`", r[1], f"`{r[2]}`", r[3], r[4]]) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    lines = []
    for notebook in ALL:  # as each parameters cell declares them
        declared = [PARAMETERS[name] for name in notebook_names(notebook)]
        width = max(len(f"{p.name} = {p.default!r}") for p in declared)
        lines.append(notebook)
        lines += [f"  {f'{p.name} = {p.default!r}':<{width}}  {p.meaning} ({p.takes()})" for p in declared]
    return "\n".join(lines) + "\n"


def parse_value(text):
    """Read a command-line value as YAML: ``5`` -> 5, ``0.1`` -> 0.1, ``[0, 1]`` -> [0, 1], ``abc`` -> 'abc'."""
    return yaml.safe_load(text)


def read_yaml_mapping(path, what="a parameters file"):
    """The mapping a YAML file holds (empty for an empty file), or :class:`ParameterError` in one sentence."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParameterError(f"{path} does not exist; give {what} that does.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ParameterError(f"{path} cannot be read as YAML ({' '.join(str(err).split())}).") from None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ParameterError(f"{path} must be {what} holding a YAML mapping (KEY: VALUE lines); got a {type(spec).__name__}.")
    return spec


def from_command_line(parameters_file=None, pairs=()):
    """The parameters of ``-f FILE`` (a YAML mapping, see :func:`read_yaml_mapping`) and ``-p KEY VALUE`` pairs
    (each value read by :func:`parse_value`); ``-p`` wins over the file."""
    found = read_yaml_mapping(parameters_file) if parameters_file else {}
    found.update({key: parse_value(value) for key, value in pairs})
    return found
