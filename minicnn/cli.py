"""The ``minicnn`` command: train, evaluate, predict, bench (README.md has examples). A problem with a flag or a
file ends it with one line on stderr and exit status 2, as argparse does for an unknown flag, never a traceback; an
unexpected error is one line too, exit status 1 (``--debug`` shows its traceback). Ctrl-C exits 130, SIGTERM 143
and SIGHUP 129, after saving what training had."""
import argparse
import math
import signal
import subprocess
import sys
from pathlib import Path

from .cli_commands import (AUGMENTATION, EXIT_INTERRUPTED, EXIT_UNEXPECTED, EXIT_USAGE,
                           QUICKDRAW_DEFAULT_MAX_PER_CLASS, UsageError, cmd_evaluate, cmd_predict)
from .cli_train import cmd_train
from .interrupts import Terminated, raise_on_termination
from .optional import pip_install

# `minicnn train`'s defaults, chosen on 5,000 held-out training images, never on the test set (scripts/sweep.py,
# README.md). The learning rate decays linearly to 0: large early steps learn fast, small late ones settle.
DEFAULTS = dict(dataset="mnist", model="lenet", epochs=6, batch_size=32, lr=0.05, momentum=0.9,
                schedule="linear", seed=0, backend="numpy", val_size=5000, augment=True)
DATASETS = ("mnist", "fashion-mnist", "quickdraw")


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is exactly one line: 'minicnn train: error: ...'."""
    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.HelpFormatter):
    """Adds '(default: X)' to a flag's help where X is a real value."""
    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and "default" not in text and action.default not in (None, argparse.SUPPRESS)
                and not isinstance(action.default, bool)):
            text += " (default: %(default)s)"
        return text


def _flag_type(convert, kind, is_valid, requirement):
    """An argparse type: ``convert`` the text, then reject values failing ``is_valid``, in one sentence."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, received {text!r}") from None
        if not is_valid(value):
            raise argparse.ArgumentTypeError(f"{requirement}, received {value if convert is int else text}")
        return value
    return parse


_positive_int = _flag_type(int, "a whole number", lambda v: v >= 1, "must be at least 1")
_non_negative_int = _flag_type(int, "a whole number", lambda v: v >= 0, "must be 0 or more")
_positive_float = _flag_type(float, "a number", lambda v: math.isfinite(v) and v > 0, "must be a number greater than 0")
_momentum = _flag_type(float, "a number", lambda v: 0 <= v < 1, "must be in [0, 1)")


def _categories(text):
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated category names, e.g. cat,dog")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a category is repeated in {text!r}")
    return names


def build_parser():
    from . import __version__
    from .models import MODELS
    parser = _Parser(prog="minicnn", description="minicnn: a convolutional network written by hand in NumPy. "
                                                 "Train it, evaluate it, ask it about an image.")
    parser.add_argument("--version", action="version", version=f"minicnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    d = DEFAULTS
    train = sub.add_parser(
        "train", help="train a model and save it", formatter_class=_Formatter,
        description=f"Train a model with SGD and momentum, holding {d['val_size']:,} training images out for "
                    "validation; report the loss and accuracy after every epoch and the test accuracy once, at the "
                    "end; save the model with its class names and settings. With no flags (settings chosen on the "
                    f"validation images): lenet on MNIST, {d['epochs']} epochs, batch {d['batch_size']}, lr {d['lr']} "
                    f"decaying linearly to 0, momentum {d['momentum']}.")
    train.add_argument("--dataset", choices=DATASETS, default=d["dataset"],
                       help="what to learn: handwritten digits, clothes (Fashion-MNIST) or Quick, Draw! doodles")
    train.add_argument("--model", choices=sorted(MODELS), default=d["model"], help="lenet: the Quick, Draw! article's "
                       "network (2 conv 5x5); convnet: the Keras MNIST example (2 conv 3x3, dropout), about 3x slower")
    train.add_argument("--epochs", type=_positive_int, default=d["epochs"], help="passes over the training set")
    train.add_argument("--batch-size", type=_positive_int, default=d["batch_size"], help="images per SGD step")
    train.add_argument("--lr", type=_positive_float, default=d["lr"], help="SGD's (starting) learning rate")
    train.add_argument("--momentum", type=_momentum, default=d["momentum"], help="SGD momentum, in [0, 1)")
    train.add_argument("--schedule", choices=("linear", "constant"), default=d["schedule"],
                       help="learning rate over the run: 'linear' decays it from --lr to 0, 'constant' keeps --lr")
    train.add_argument("--backend", choices=("numpy", "cupy"), default=d["backend"],
                       help=f"numpy runs on the CPU; cupy on an NVIDIA GPU ({pip_install('gpu')})")
    train.add_argument("--seed", type=_non_negative_int, default=d["seed"], help="seeds weights, dropout, shuffling")
    train.add_argument("--val-size", type=_non_negative_int, default=d["val_size"], help="training images held out "
                       "to measure validation accuracy every epoch (stratified, the same for every seed); 0: none")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d["augment"],
                       help="turn and shift every training image at random, keeping its ink inside the frame: "
                            f"RandomAffine(degrees={AUGMENTATION['degrees']:g}, "
                            f"translate={AUGMENTATION['translate']}) (default: {'on' if d['augment'] else 'off'})")
    train.add_argument("--workers", type=_positive_int, help="CPU cores per batch (DataParallel); default: every "
                       "usable core where a batch is large enough to split (64+ images); 1 turns it off")
    train.add_argument("--out", help="where to save the trained model (.npz), checked before training; default: a "
                       "new name under ./runs/, runs/<dataset>-<model>.npz, then -2, -3, ... (printed at the start)")
    train.add_argument("--overwrite", action="store_true", help="replace the file --out names if it exists "
                       "(without --out: save to runs/<dataset>-<model>.npz, replacing it)")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue a stopped run exactly, with its own settings, "
                       "from the model file it saved (and its .resume.npz beside it); saves there unless --out is set")
    _data_flags(train)
    train.add_argument("--categories", type=_categories, help="quickdraw only: comma-separated categories; default: "
                       "the article's ten (cloud, sun, pants, ...) if all are in the data folder, else the ten local "
                       "ones (eyeglasses, banana, chair, ...) if those are, else the article's ten, downloaded")
    train.add_argument("--max-per-class", type=_positive_int, help="quickdraw only: use the first N drawings of each "
                       f"category (20%% of them for testing); default {QUICKDRAW_DEFAULT_MAX_PER_CLASS}")
    train.add_argument("--limit", type=_positive_int, help="use only the first N training images, validation included")
    train.add_argument("--test-limit", type=_positive_int, help="test on only the first N test images")
    progress = train.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show a progress bar per epoch (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="one line per epoch, no bar")

    evaluate = sub.add_parser(
        "evaluate", help="accuracy, per-class accuracy and confusion matrix of a saved model",
        description="Measure a saved model on a test set: overall accuracy, accuracy per class and a confusion "
                    "matrix (rows: true class, columns: predicted class).", formatter_class=_Formatter)
    evaluate.add_argument("model_file", metavar="MODEL", help="a model saved by minicnn train (.npz)")
    evaluate.add_argument("--dataset", choices=DATASETS, help="test set; default: the one the model was trained on")
    _data_flags(evaluate)
    evaluate.add_argument("--limit", type=_positive_int, help="use only the first N test images")
    evaluate.add_argument("--batch-size", type=_positive_int, default=1000, help="images per forward pass")
    evaluate.add_argument("--backend", choices=("numpy", "cupy"), default="numpy", help="numpy: CPU, cupy: NVIDIA GPU")

    predict = sub.add_parser(
        "predict", help="the top classes a saved model sees in an image file", formatter_class=_Formatter,
        description="Read an image (PNG, JPEG, ...; any size, dark-on-light or light-on-dark), turn it into an "
                    "MNIST-style 28x28 picture and print the model's most likely classes with their probabilities.")
    predict.add_argument("model_file", metavar="MODEL", help="a model saved by minicnn train (.npz)")
    predict.add_argument("image", metavar="IMAGE", help="the image file to classify")
    predict.add_argument("--top", type=_positive_int, default=3, help="how many classes to print")

    sub.add_parser("bench", add_help=False, help="minicnn against PyTorch, JAX and Keras: python -m benchmarks "
                                                 "in a checkout (flags: minicnn bench --help)")
    # --quiet, for scripts: what narrates the run goes; the result stays on stdout, errors on stderr.
    for p, what_remains in ((train, "only the test accuracy and where the model was saved"),
                            (evaluate, "only the report"), (predict, "only the classes, one per line")):
        p.add_argument("--quiet", "-q", action="store_true",
                       help=f"no progress bar and no informational lines: {what_remains}; errors still go to stderr")
    for p in (parser, train, evaluate, predict):
        # SUPPRESS: a sub-command's default would overwrite `minicnn --debug train`'s value.
        p.add_argument("--debug", action="store_true", default=False if p is parser else argparse.SUPPRESS,
                       help="show the full traceback of an unexpected error")
    return parser


def _data_flags(p):
    p.add_argument("--data-dir", help="folder holding mnist/, fashion-mnist/, quickdraw/; default: "
                                      "$MINICNN_DATA_DIR, else ~/.cache/minicnn")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data files")


def benchmarks_root():
    """The checkout minicnn runs from, if it holds benchmarks/; None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "benchmarks" / "__main__.py").is_file() else None


def cmd_bench(argv):
    """``python -m benchmarks`` with the same flags, run in the checkout by this interpreter."""
    root = benchmarks_root()
    if root is None:
        print("minicnn bench: error: the benchmarks are not part of the installed package: clone minicnn's "
              "repository and run `python -m benchmarks` in it", file=sys.stderr)
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
    if args.command == "train":      # each flag's value when not typed: --resume refuses typed ones
        args.defaults = vars(parser.parse_args(["train"]))   # that contradict the run it continues
    try:
        # SIGTERM and SIGHUP raise Terminated, as Ctrl-C raises KeyboardInterrupt: `finally` blocks clean up
        # (a download's .part) and training saves what it has.
        with raise_on_termination(resend=False):
            return COMMANDS[args.command](args)
    except (UsageError, FileNotFoundError, ValueError, OSError, ImportError) as e:
        # A bad flag or file, a failed download, a missing optional library: one sentence for the user, as is.
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, Terminated) as e:
        name = "Ctrl-C" if isinstance(e, KeyboardInterrupt) else str(e)
        print(f"\n{prog}: interrupted ({name})", file=sys.stderr)
        return getattr(e, "exit_status", EXIT_INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - a bug, ours or a library's: one line, not a traceback
        if args.debug:
            raise
        print(f"{prog}: unexpected error: {type(e).__name__}: {' '.join(str(e).split())} "
              f"(run it again with --debug to see the traceback)", file=sys.stderr)
        return EXIT_UNEXPECTED


def run():
    """Exit with ``main()``'s status, even if a second Ctrl-C lands after main has finished (not death by SIGINT)."""
    try:
        status = main()
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Python resets handlers, not SIG_IGN, at exit
    sys.exit(status)


if __name__ == "__main__":
    run()

