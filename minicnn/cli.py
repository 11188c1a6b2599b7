"""The ``minicnn`` command: train, evaluate, predict, bench.

    minicnn train                       # lenet on MNIST, the settings below: >= 99% test accuracy
    minicnn train --dataset fashion-mnist --model convnet --epochs 8 --out fashion.npz
    minicnn evaluate mnist-lenet.npz    # accuracy, per-class accuracy, confusion matrix
    minicnn predict mnist-lenet.npz digit.png
    minicnn bench --quick               # python -m benchmarks, from a checkout

Every problem with a flag or a file ends the command with one line on stderr and
exit status 2, as argparse does for an unknown flag; never with a traceback.
"""
import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The defaults of `minicnn train`, chosen by experiment to reach 99% test accuracy on
# MNIST in few epochs (scripts/sweep.py; its measurements are in
# scripts/results/sweep.txt, the default run's in scripts/results/targets.txt).
# The learning rate decays linearly to 0 over the run: the large early steps learn fast,
# the small late ones settle into a minimum. Two epochs reach 99.0% for most seeds but
# not all (5 of 6); three epochs leave a margin (99.12-99.23% over 3 seeds).
DEFAULTS = dict(dataset="mnist", model="lenet", epochs=3, batch_size=32, lr=0.05, momentum=0.9,
                schedule="linear", seed=0, backend="numpy")
DATASETS = ("mnist", "fashion-mnist", "quickdraw")
QUICKDRAW_DEFAULT_MAX_PER_CLASS = 10000

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 1, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is exactly one line: 'minicnn train: error: ...'."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.HelpFormatter):
    """Adds '(default: X)' to a flag's help where X is a real value."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and "default" not in text
                and action.default not in (None, argparse.SUPPRESS)
                and not isinstance(action.default, bool)):
            text += " (default: %(default)s)"
        return text


class UsageError(Exception):
    """A bad flag value or a missing/unreadable file: reported in one line, exit 2."""


# -- flag types: each rejects a bad value with one sentence ---------------------------------

def _flag_type(convert, kind, is_valid, requirement):
    """An argparse type: ``convert`` the text, then reject values failing ``is_valid``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, received {text!r}") from None
        if not is_valid(value):
            shown = value if convert is int else text
            raise argparse.ArgumentTypeError(f"{requirement}, received {shown}")
        return value
    return parse


_positive_int = _flag_type(int, "a whole number", lambda v: v >= 1, "must be at least 1")
_non_negative_int = _flag_type(int, "a whole number", lambda v: v >= 0, "must be 0 or more")
_positive_float = _flag_type(float, "a number", lambda v: math.isfinite(v) and v > 0,
                             "must be a number greater than 0")
_momentum = _flag_type(float, "a number", lambda v: 0 <= v < 1, "must be in [0, 1)")


def _categories(text):
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated category names, e.g. cat,dog")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a category is repeated in {text!r}")
    return names


def build_parser():
    from .models import MODELS

    parser = _Parser(prog="minicnn", description="minicnn: a convolutional network written by "
                     "hand in NumPy. Train it, evaluate it, ask it about an image.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    d = DEFAULTS
    train = sub.add_parser(
        "train", help="train a model and save it",
        description="Train a model with SGD and momentum, report the test accuracy after every "
                    "epoch, and save the model with its class names. With no flags: lenet on "
                    f"MNIST, {d['epochs']} epochs, batch {d['batch_size']}, lr {d['lr']} decaying "
                    f"linearly to 0, momentum {d['momentum']}, which reaches 99% test accuracy.",
        formatter_class=_Formatter)
    train.add_argument("--dataset", choices=DATASETS, default=d["dataset"],
                       help="what to learn: handwritten digits, clothes (Fashion-MNIST) or "
                            "Quick, Draw! doodles")
    train.add_argument("--model", choices=sorted(MODELS), default=d["model"],
                       help="lenet: the Quick, Draw! article's network (2 conv 5x5); convnet: "
                            "the Keras MNIST example (2 conv 3x3, dropout), about 3x slower")
    train.add_argument("--epochs", type=_positive_int, default=d["epochs"],
                       help="passes over the training set")
    train.add_argument("--batch-size", type=_positive_int, default=d["batch_size"],
                       help="images per optimisation step")
    train.add_argument("--lr", type=_positive_float, default=d["lr"],
                       help="learning rate of SGD (the starting value with --schedule linear)")
    train.add_argument("--momentum", type=_momentum, default=d["momentum"],
                       help="SGD momentum, in [0, 1)")
    train.add_argument("--schedule", choices=("linear", "constant"), default=d["schedule"],
                       help="learning rate over the run: 'linear' decays it from --lr to 0, "
                            "'constant' keeps --lr")
    train.add_argument("--backend", choices=("numpy", "cupy"), default=d["backend"],
                       help="numpy runs on the CPU; cupy on an NVIDIA GPU (pip install "
                            "\"minicnn[gpu]\")")
    train.add_argument("--seed", type=_non_negative_int, default=d["seed"],
                       help="seeds the initial weights, dropout and the shuffling")
    train.add_argument("--workers", type=_positive_int, default=None,
                       help="CPU cores per batch (DataParallel); default: every usable core "
                            "where a batch is large enough to split (64+ images); 1 turns it off")
    train.add_argument("--out", default=None,
                       help="where to save the trained model (.npz); default: "
                            "runs/<dataset>-<model>.npz under the current folder")
    _data_flags(train)
    train.add_argument("--categories", type=_categories, default=None,
                       help="quickdraw only: comma-separated categories; default: the article's "
                            "ten (cloud, sun, pants, ...) when they are all in the data folder, "
                            "else the ten local ones (eyeglasses, banana, chair, ...) when those "
                            "are, else the article's ten, downloaded")
    train.add_argument("--max-per-class", type=_positive_int, default=None,
                       help="quickdraw only: use the first N drawings of each category (20%% of "
                            f"them for testing); default {QUICKDRAW_DEFAULT_MAX_PER_CLASS}")
    train.add_argument("--limit", type=_positive_int, default=None,
                       help="train on only the first N training images (for a quick try)")
    train.add_argument("--test-limit", type=_positive_int, default=None,
                       help="test on only the first N test images")
    _progress_flags(train)

    evaluate = sub.add_parser(
        "evaluate", help="accuracy, per-class accuracy and confusion matrix of a saved model",
        description="Measure a saved model on a test set: overall accuracy, accuracy per class "
                    "and a confusion matrix (rows: true class, columns: predicted class).",
        formatter_class=_Formatter)
    evaluate.add_argument("model_file", metavar="MODEL", help="a model saved by minicnn train (.npz)")
    evaluate.add_argument("--dataset", choices=DATASETS, default=None,
                          help="test set to use; default: the one the model was trained on")
    _data_flags(evaluate)
    evaluate.add_argument("--limit", type=_positive_int, default=None,
                          help="use only the first N test images")
    evaluate.add_argument("--batch-size", type=_positive_int, default=1000,
                          help="images per forward pass")
    evaluate.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                          help="numpy (CPU) or cupy (NVIDIA GPU)")

    predict = sub.add_parser(
        "predict", help="the top classes a saved model sees in an image file",
        description="Read an image (PNG, JPEG, ...; any size, dark-on-light or light-on-dark), "
                    "turn it into an MNIST-style 28x28 picture and print the model's most "
                    "likely classes with their probabilities.",
        formatter_class=_Formatter)
    predict.add_argument("model_file", metavar="MODEL", help="a model saved by minicnn train (.npz)")
    predict.add_argument("image", metavar="IMAGE", help="the image file to classify")
    predict.add_argument("--top", type=_positive_int, default=3, help="how many classes to print")

    sub.add_parser("bench", add_help=False,
                   help="minicnn against PyTorch, JAX and Keras: python -m benchmarks in a checkout "
                        "(flags: minicnn bench --help)")
    return parser


def _data_flags(p):
    p.add_argument("--data-dir", default=None,
                   help="folder holding mnist/, fashion-mnist/, quickdraw/; default: "
                        "$MINICNN_DATA_DIR, else ~/.cache/minicnn")
    p.add_argument("--no-download", action="store_true",
                   help="fail instead of downloading missing data files")


def _progress_flags(p):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show a progress bar per epoch (default: when stderr is a terminal)")
    group.add_argument("--no-progress", dest="progress", action="store_false",
                       help="no progress bar, only one line per epoch")


# -- data -------------------------------------------------------------------------------

def _class_names(dataset, classes=None):
    from . import data
    if dataset == "mnist":
        return list(data.MNIST_CLASSES)
    if dataset == "fashion-mnist":
        return list(data.FASHION_MNIST_CLASSES)
    return list(classes)


def _default_quickdraw_categories(data_dir):
    """(categories, why): the article's ten if present, else the local ten if present."""
    from . import data
    folder = data.data_root(data_dir) / "quickdraw"

    def present(names):
        return all((folder / f"{c}.npy").is_file() for c in names)

    if present(data.QUICKDRAW_ARTICLE_CATEGORIES):
        return list(data.QUICKDRAW_ARTICLE_CATEGORIES), f"the article's ten, found in {folder}"
    if present(data.QUICKDRAW_LOCAL_CATEGORIES):
        return list(data.QUICKDRAW_LOCAL_CATEGORIES), (
            f"the article's ten are not all in {folder}; using the ten local ones")
    return list(data.QUICKDRAW_ARTICLE_CATEGORIES), "the article's ten, to be downloaded"


def _load(dataset, data_dir, download, categories=None, max_per_class=None):
    """(x_train, y_train, x_test, y_test, class names) for one of DATASETS."""
    from . import data
    kw = dict(root=data_dir, download=download)
    if dataset == "quickdraw":
        return data.load_quickdraw(categories=categories, max_per_class=max_per_class, **kw)
    loader = data.load_mnist if dataset == "mnist" else data.load_fashion_mnist
    return (*loader(**kw), _class_names(dataset))


def _set_backend(name):
    import minicnn
    try:
        minicnn.set_backend(name)
    except RuntimeError as e:
        raise UsageError(str(e)) from None


# -- commands -------------------------------------------------------------------------------

def cmd_train(args):
    import minicnn
    from .models import MODELS
    from .train import _tqdm, evaluate, fit, linear_decay

    if args.dataset != "quickdraw" and (args.categories or args.max_per_class):
        raise UsageError("--categories and --max-per-class only apply to --dataset quickdraw")
    _set_backend(args.backend)

    categories, max_per_class = None, None
    if args.dataset == "quickdraw":
        max_per_class = args.max_per_class or QUICKDRAW_DEFAULT_MAX_PER_CLASS
        if args.categories:
            categories, why = args.categories, "from --categories"
        else:
            categories, why = _default_quickdraw_categories(args.data_dir)
        print(f"Quick, Draw! categories ({why}): {', '.join(categories)}")
    x_train, y_train, x_test, y_test, classes = _load(args.dataset, args.data_dir,
                                                      not args.no_download, categories,
                                                      max_per_class)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if args.test_limit:
        x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    if len(x_test) == 0:
        raise UsageError(f"the {args.dataset} test set is empty with these settings")

    minicnn.manual_seed(args.seed)
    model = MODELS[args.model](num_classes=len(classes))
    input_shape = [1, int(x_train.shape[1]), int(x_train.shape[2])]
    optimizer = minicnn.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    schedule = linear_decay(args.lr) if args.schedule == "linear" else None
    out = Path(args.out or Path("runs") / f"{args.dataset}-{args.model}.npz")
    lr_text = f"lr {args.lr:g}" + (" decaying linearly to 0" if schedule else " (constant)")
    print(f"training {args.model} on {args.dataset}: {len(x_train):,} training images, "
          f"{len(x_test):,} test images, {len(classes)} classes")
    print(f"{args.epochs} epochs, batch {args.batch_size}, SGD {lr_text}, momentum "
          f"{args.momentum:g}, seed {args.seed}, {args.backend} backend", flush=True)
    if args.backend == "numpy":
        from .allocator import keep_freed_memory
        keep_freed_memory()              # this process only trains: let it keep freed memory

    def report(epoch, h):
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {h.train_loss[-1]:.4f}, train "
              f"accuracy {100 * h.train_acc[-1]:.2f}%, test loss {h.val_loss[-1]:.4f}, test "
              f"accuracy {100 * h.val_acc[-1]:.2f}%, {h.seconds[-1]:.1f} s "
              f"({h.images_per_second[-1]:.0f} images/s)", flush=True)

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    progress = progress and _tqdm() is not None      # else fit's own lines would repeat report's
    start = time.perf_counter()
    history = fit(model, minicnn.NLLLoss(), optimizer, x_train, y_train, epochs=args.epochs,
                  batch_size=args.batch_size, validation=(x_test, y_test), seed=args.seed,
                  progress=progress, callbacks=[report], lr_schedule=schedule,
                  workers=args.workers)
    wall = time.perf_counter() - start

    if history.steps == 0 or (history.stopped and "loss became" in history.stopped):
        print(f"minicnn train: training stopped: {history.stopped}; no model saved",
              file=sys.stderr)
        return EXIT_DIVERGED
    if history.stopped:
        print(f"training stopped early: {history.stopped}; saving the weights so far")
    if history.val_acc and not history.stopped:
        test_acc = history.val_acc[-1]
    else:
        _, test_acc, _ = evaluate(model, x_test, y_test)
    print(f"final test accuracy: {100 * test_acc:.2f}% after {history.epochs} epochs "
          f"({history.steps} steps) in {wall:.1f} s")
    meta = dict(classes=[str(c) for c in classes], dataset=args.dataset, model=args.model,
                input_shape=input_shape, epochs=history.epochs, batch_size=args.batch_size,
                lr=args.lr, momentum=args.momentum, schedule=args.schedule, seed=args.seed,
                train_images=int(len(x_train)), test_accuracy=float(test_acc), trained=True)
    if args.dataset == "quickdraw":
        meta["max_per_class"] = max_per_class
    model.save(out, metadata=meta)
    print(f"saved the model to {out}")
    return EXIT_INTERRUPTED if history.stopped else 0


def _load_model(path):
    import minicnn
    try:
        return minicnn.Sequential.load(path)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None


def cmd_evaluate(args):
    from .train import evaluate

    _set_backend(args.backend)
    model = _load_model(args.model_file)
    meta = model.metadata
    dataset = args.dataset or meta.get("dataset") or "mnist"
    if meta.get("dataset") and dataset != meta["dataset"]:
        print(f"note: the model was trained on {meta['dataset']}, evaluating on {dataset}")
    categories = max_per_class = None
    if dataset == "quickdraw":
        if meta.get("dataset") != "quickdraw" or not meta.get("classes"):
            raise UsageError(f"{args.model_file} does not record Quick, Draw! categories "
                             f"(it was trained on {meta.get('dataset', 'unknown data')})")
        categories = meta["classes"]
        max_per_class = meta.get("max_per_class", QUICKDRAW_DEFAULT_MAX_PER_CLASS)
    _, _, x_test, y_test, classes = _load(dataset, args.data_dir, not args.no_download,
                                          categories, max_per_class)
    if args.limit:
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    k = _num_outputs(model, x_test.shape[1:])
    if k != len(classes):
        raise UsageError(f"{args.model_file} has {k} outputs but {dataset} has {len(classes)} "
                         f"classes")

    loss, accuracy, predictions = evaluate(model, x_test, y_test, batch_size=args.batch_size)
    y = np.asarray(y_test, dtype=np.int64)
    confusion = np.bincount(y * k + predictions, minlength=k * k).reshape(k, k)  # (true, predicted)
    print(f"{args.model_file} on the {dataset} test set ({len(y):,} images): accuracy "
          f"{100 * accuracy:.2f}%, loss {loss:.4f}")
    print()
    print(format_per_class(classes, confusion))
    print()
    print(format_confusion(classes, confusion))
    return 0


def format_per_class(classes, confusion):
    """One line per class: its accuracy (recall) and how many test images it has."""
    labels = _row_labels(classes)
    width = max(len(label) for label in labels + ["class"])
    lines = [f"{'class':<{width}} {'accuracy':>9} {'images':>7}"]
    for i, label in enumerate(labels):
        total = confusion[i].sum()
        acc = f"{100 * confusion[i, i] / total:.2f}%" if total else "-"
        lines.append(f"{label:<{width}} {acc:>9} {total:>7,}")
    return "\n".join(lines)


def format_confusion(classes, confusion):
    """The confusion matrix as text: row = true class, column = predicted class."""
    k = len(classes)
    cell = max(4, len(f"{confusion.max():,}") + 1)
    labels = _row_labels(classes)
    width = max(len(label) for label in labels)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * width + "".join(f"{j:>{cell}}" for j in range(k))]
    for i, label in enumerate(labels):
        lines.append(f"{label:<{width}}" + "".join(f"{confusion[i, j]:>{cell},}" for j in range(k)))
    return "\n".join(lines)


def _row_labels(classes):
    """'3' for MNIST's class 3, ' 3 Dress' where the name says more than the index."""
    return [f"{i:>2}" if str(name) == str(i) else f"{i:>2} {name}" for i, name in enumerate(classes)]


def _num_outputs(model, image_shape):
    shape = (1, *image_shape) if len(image_shape) == 2 else tuple(image_shape)
    try:
        return int(model.summary_rows(shape)[-1][1][-1])
    except ValueError as e:
        raise UsageError(f"the model cannot take images of shape {tuple(shape)}: {e}") from None


def cmd_predict(args):
    from .train import predict_proba

    model = _load_model(args.model_file)
    if not os.path.isfile(args.image):
        raise UsageError(f"image file {args.image} does not exist")
    try:
        from PIL import Image, UnidentifiedImageError
        from .drawing import preprocess_drawing
    except ImportError:
        raise UsageError('minicnn predict needs Pillow: pip install "minicnn[viz]"') from None
    try:
        with Image.open(args.image) as img:
            img.load()
            picture = preprocess_drawing(img)                  # (1, 28, 28) or None
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"cannot read {args.image} as an image ({e})") from None
    except ValueError as e:
        raise UsageError(f"{args.image}: {e}") from None
    if picture is None:
        raise UsageError(f"{args.image} is blank: there is no drawing in it to classify")

    shape = model.metadata.get("input_shape")
    if shape and tuple(shape) != picture.shape:
        raise UsageError(f"{args.model_file} expects images of shape {tuple(shape)}, but the "
                         f"image was prepared as {picture.shape}")
    probs = predict_proba(model, picture[None])[0]             # (K,)
    classes = model.metadata.get("classes") or [str(i) for i in range(len(probs))]
    if len(classes) != len(probs):
        classes = [str(i) for i in range(len(probs))]
    top = np.argsort(-probs)[:args.top]
    print(f"{args.image}, as {args.model_file} sees it:")
    for rank, i in enumerate(top, 1):
        print(f"{rank}. {classes[i]:<12} {100 * probs[i]:6.2f}%")
    return 0


def benchmarks_root():
    """The checkout minicnn runs from, if it holds benchmarks/; None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "benchmarks" / "__main__.py").is_file() else None


def cmd_bench(argv):
    """``python -m benchmarks`` with the same flags, run in the checkout by this interpreter."""
    root = benchmarks_root()
    if root is None:
        print("minicnn bench: error: the benchmarks are not part of the installed package: clone "
              "minicnn's repository and run `python -m benchmarks` in it", file=sys.stderr)
        return EXIT_USAGE
    try:
        return subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=root).returncode
    except KeyboardInterrupt:                          # the benchmark got the Ctrl-C too and stops
        return EXIT_INTERRUPTED


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}


def main(argv=None):
    """Run the command line; return the exit status (0 = success, 2 = bad flag or file)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":                    # bench parses its own flags
        return cmd_bench(argv[1:]) or 0
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:                            # --help (0) or a bad flag (2)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    prog = f"minicnn {args.command}"
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, ValueError, OSError) as e:
        # Missing data files, a failed download, a corrupt file: what the loaders say is one
        # sentence meant for the user, so it is passed on as is.
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(error):
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())

