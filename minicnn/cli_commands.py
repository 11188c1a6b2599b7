"""The ``minicnn`` commands train, evaluate and predict, run by ``minicnn.cli`` with its flags.
A problem the user can fix (a flag value, a file) is a UsageError: one line, exit status 2."""
import itertools
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_UNEXPECTED = 2, 1, 130, 1
QUICKDRAW_DEFAULT_MAX_PER_CLASS = 10000
# The training images held out for validation are the same whatever --seed says, so runs with
# different seeds or settings are compared on the same images.
SPLIT_SEED = 0
# What --augment does (RandomAffine's arguments), chosen on validation (scripts/results/sweep.txt).
AUGMENTATION = dict(degrees=10.0, translate=(0.1, 0.1))


class UsageError(Exception):
    """A bad flag value or a missing/unreadable file: reported in one line, exit 2."""


# -- data -------------------------------------------------------------------------------

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
    if dataset == "mnist":
        return (*data.load_mnist(**kw), list(data.MNIST_CLASSES))
    return (*data.load_fashion_mnist(**kw), list(data.FASHION_MNIST_CLASSES))


def _set_backend(name):
    import minicnn
    try:
        minicnn.set_backend(name)
    except RuntimeError as e:
        raise UsageError(str(e)) from None


# -- commands -------------------------------------------------------------------------------

# The settings that define a run: saved with it, and taken from it by --resume.
RUN_SETTINGS = ("dataset", "model", "epochs", "batch_size", "lr", "momentum", "schedule", "seed",
                "val_size", "augment", "limit", "test_limit", "categories", "max_per_class")


def _resume_settings(args):
    """Read the resume file beside --resume's model file and put the run's settings into
    ``args``; return (run, History state, optimizer state). A flag that contradicts the run
    (given, not its default, and different) is refused: the run continues as it began."""
    from . import resume
    from .cli import build_parser
    if not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume}: the file does not exist")
    state_file = resume.resume_path(args.resume)
    if not os.path.exists(state_file):
        raise UsageError(f"--resume {args.resume}: there is no resume file {state_file} beside it "
                         "(a run that finished removes it: there is nothing left to continue)")
    run, history, optimizer_state = resume.read(state_file)
    defaults = vars(build_parser().parse_args(["train"]))
    for name in RUN_SETTINGS:
        if name not in run:
            raise UsageError(f"{state_file} does not record the setting {name}")
        given = getattr(args, name)
        if given != defaults[name] and given != run[name]:
            raise UsageError(f"--{name.replace('_', '-')} {given} contradicts the run being resumed "
                             f"({run[name]}): --resume continues a run with its own settings")
        setattr(args, name, run[name])
    return run, history, optimizer_state


def _output_path(args):
    """(path, may replace an existing file): where this run saves. --out if given; the resumed
    run's own file; else a new name, so no earlier run is ever replaced unasked."""
    from .resume import resume_path
    if args.out:
        same = args.resume and os.path.realpath(args.out) == os.path.realpath(args.resume)
        return Path(args.out), bool(args.overwrite or same)
    if args.resume:
        return Path(args.resume), True
    base = Path("runs") / f"{args.dataset}-{args.model}"
    if args.overwrite:                                  # the one fixed name, replaced
        return Path(f"{base}.npz"), True
    # runs/mnist-lenet.npz, then runs/mnist-lenet-2.npz, -3, ...: the first name free with its
    # resume file (an interrupted run's state is not replaced either).
    for n in itertools.count(1):
        path = Path(f"{base}.npz" if n == 1 else f"{base}-{n}.npz")
        if not os.path.lexists(path) and not os.path.lexists(resume_path(path)):
            return path, False


def _data_fingerprint(*arrays):
    """A CRC-32 of the arrays' bytes: a resumed run must see exactly the data it began with."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).view(np.uint8).ravel(), crc)
    return crc


class _RunFiles:
    """Saves a run (its resume file, then its model file) and remembers what is on disk, so
    every way out of ``minicnn train`` can say truthfully what was saved and what was not."""

    def __init__(self, out, overwrite, model, optimizer, run, meta):
        self.out, self.overwrite = out, overwrite
        self.model, self.optimizer, self.run, self.meta = model, optimizer, run, meta
        self.saved = None                    # what ``out`` holds, in words; None: nothing yet

    def save(self, history, test_accuracy=None, resumable=True):
        from .interrupts import deferred_signals
        # Signals wait until both files are written and ``saved`` says so: a Ctrl-C that
        # arrives mid-save is then reported truthfully.
        with deferred_signals():
            self._save(history, test_accuracy, resumable)

    def _save(self, history, test_accuracy, resumable):
        from . import checkpoint, resume
        complete = history.position is not None and history.position["epoch"] == self.run["epochs"]
        meta = dict(self.meta, epochs=history.epochs, steps=history.steps, complete=complete,
                    val_accuracy=history.val_acc[-1] if history.val_acc else None,
                    test_accuracy=test_accuracy)
        if resumable:
            resume.save(resume.resume_path(self.out), self.run, history, self.optimizer)
        checkpoint.save(self.model, self.out, metadata=meta, overwrite=self.overwrite)
        if not resumable and os.path.exists(resume.resume_path(self.out)):
            os.remove(resume.resume_path(self.out))   # finished and scored: nothing to continue
        self.overwrite = True                # from now on the file is this run's own
        where = f"epoch {history.epochs}" if history.position["step"] == 0 else (
            f"step {history.position['step']} of epoch {history.position['epoch'] + 1}")
        self.saved = f"{self.out} holds the weights after {history.steps:,} steps ({where})"

    def said(self):
        """What is on disk, in one clause."""
        if self.saved is None:
            return "nothing was saved"
        return f"{self.saved}; continue with: minicnn train --resume {self.out}"


def _exit_status(stopped):
    """130 for Ctrl-C, 128 + the number for SIGTERM (143) or SIGHUP (129), as a shell reports."""
    import signal
    for name in ("SIGTERM", "SIGHUP"):
        if f"({name})" in stopped and hasattr(signal, name):
            return 128 + getattr(signal, name)
    return EXIT_INTERRUPTED


def cmd_train(args):
    import minicnn
    from .data import RandomAffine, train_val_split
    from .interrupts import Terminated
    from .models import MODELS
    from .optional import optional
    from .output_files import check_output
    from .resume import resume_path
    from .train import fit, linear_decay

    resumed = _resume_settings(args) if args.resume else None
    if args.dataset != "quickdraw" and (args.categories or args.max_per_class):
        raise UsageError("--categories and --max-per-class only apply to --dataset quickdraw")
    # The output is checked first: a path that cannot be written fails now, not after training.
    out, overwrite = _output_path(args)
    flag = "--out" if args.out else ""
    check_output(out, overwrite, flag=flag)
    check_output(resume_path(out), overwrite, flag=flag)
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
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]           # [:None] keeps all
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    if len(x_test) == 0:
        raise UsageError(f"the {args.dataset} test set is empty with these settings")
    if args.val_size >= len(x_train):
        raise UsageError(f"--val-size {args.val_size:,} leaves no training images: the training "
                         f"set has {len(x_train):,} (use at most {len(x_train) - 1:,}, or 0)")
    run = {name: getattr(args, name) for name in RUN_SETTINGS}
    run["categories"], run["data"] = categories, _data_fingerprint(x_train, y_train)
    x_train, y_train, x_val, y_val = train_val_split(x_train, y_train, args.val_size, SPLIT_SEED)

    minicnn.manual_seed(args.seed)
    model = MODELS[args.model](num_classes=len(classes))
    input_shape = [1, int(x_train.shape[1]), int(x_train.shape[2])]
    optimizer = minicnn.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    history_state = None
    if resumed:
        history_state = _continue(args, resumed, run, model, optimizer, len(x_train))
    # The disk must hold the model, its resume file and a temporary copy: checked before training.
    check_output(out, True, size=3 * sum(p.data.nbytes for p in model.parameters()), flag=flag)
    schedule = linear_decay(args.lr) if args.schedule == "linear" else None
    augment = RandomAffine(**AUGMENTATION) if args.augment else None
    lr_text = f"lr {args.lr:g}" + (" decaying linearly to 0" if schedule else " (constant)")
    held_out = (f"{len(x_val):,} validation images (held out of the training set, split seed "
                f"{SPLIT_SEED})" if len(x_val) else "no validation set (--val-size 0)")
    print(f"training {args.model} on {args.dataset}: {len(x_train):,} training images, "
          f"{held_out}, {len(x_test):,} test images, {len(classes)} classes")
    print(f"{args.epochs} epochs, batch {args.batch_size}, SGD {lr_text}, momentum "
          f"{args.momentum:g}, augmentation: {augment or 'none'}, seed {args.seed}, "
          f"{args.backend} backend", flush=True)
    print(f"the model will be saved to {out}" + (" (replacing that file)" if overwrite and
                                                 os.path.exists(out) else ""), flush=True)

    meta = dict(classes=[str(c) for c in classes], dataset=args.dataset, model=args.model,
                input_shape=input_shape, batch_size=args.batch_size, lr=args.lr,
                momentum=args.momentum, schedule=args.schedule, seed=args.seed,
                augment=AUGMENTATION if augment else None, train_images=int(len(x_train)),
                val_size=int(len(x_val)), split_seed=SPLIT_SEED, trained=True)
    if args.dataset == "quickdraw":
        meta["max_per_class"] = max_per_class
    files = _RunFiles(out, overwrite, model, optimizer, run, meta)

    def after_epoch(epoch, history):
        print(history.epoch_line(args.epochs), flush=True)
        files.save(history)           # each epoch's end is on disk: a crash loses one epoch at most

    stepper = model                      # minicnn train uses every core: DataParallel, the same numbers
    if args.backend == "numpy" and args.workers != 1:
        stepper = minicnn.DataParallel(model, args.workers)
        print(stepper.describe(args.batch_size) + " (--workers 1 turns this off)", flush=True)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    progress = progress and optional("tqdm.auto") is not None  # else fit's own lines would repeat ours
    try:
        start = time.perf_counter()
        history = fit(stepper, minicnn.NLLLoss(), optimizer, x_train, y_train, epochs=args.epochs,
                      batch_size=args.batch_size, validation=(x_val, y_val) if len(x_val) else None,
                      seed=args.seed, progress=progress, lr_schedule=schedule,
                      callbacks=[after_epoch], augment=augment, resume=history_state)
        wall = time.perf_counter() - start
        return _finish(history, files, wall, model, x_test, y_test)
    except (KeyboardInterrupt, Terminated) as e:
        # A signal outside fit's steps: while saving (saves finish first) or scoring the test set.
        name = "Ctrl-C" if isinstance(e, KeyboardInterrupt) else str(e)
        print(f"minicnn train: interrupted ({name}); {files.said()}", file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(e, KeyboardInterrupt) else e.exit_status


def _continue(args, resumed, run, model, optimizer, n_train):
    """Put the resumed run's weights and optimizer state into ``model`` and ``optimizer``;
    return the History state ``fit`` continues from."""
    from .sequential import Sequential
    saved_run, history_state, optimizer_state = resumed
    if saved_run.get("data") != run["data"]:
        raise UsageError(f"--resume {args.resume}: the training data differ from the run's "
                         "(another data folder or a changed file): it cannot continue exactly")
    saved = Sequential.load(args.resume)
    if saved.metadata.get("steps") != saved_run["steps"]:
        raise UsageError(f"--resume {args.resume}: the model file ({saved.metadata.get('steps')} "
                         f"steps) and its resume file ({saved_run['steps']} steps) are from "
                         "different moments (a save was cut short); resume is not possible")
    try:
        model.load_state_dict(saved.state_dict())
        optimizer.load_state_dict(optimizer_state)
    except ValueError as e:
        raise UsageError(f"--resume {args.resume}: {e}") from None
    order = history_state["position"]["order"]
    if order is not None and not np.array_equal(np.sort(order), np.arange(n_train)):
        raise UsageError(f"--resume {args.resume}: the saved order of the epoch's images is not "
                         f"an order of the {n_train:,} training images")
    position = history_state["position"]
    print(f"resuming {args.resume} after {saved_run['steps']:,} steps (epoch "
          f"{position['epoch'] + 1}, step {position['step'] + 1}), with its settings", flush=True)
    return history_state


def _finish(history, files, wall, model, x_test, y_test):
    """Save what training left, then score the test set if the run is complete; the exit status."""
    from .train import evaluate
    stopped = history.stopped or ""
    if history.position is None or "KeyboardInterrupt" in stopped:
        # A second Ctrl-C cut a step short: the weights may be half-updated, so they are not
        # saved; what an earlier epoch saved is still there.
        print(f"minicnn train: stopped at once ({stopped}): the steps since the last save are "
              f"lost; {files.said()}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if "loss became" in stopped or history.steps == 0:
        kept = f"; {files.saved} (before the loss diverged)" if files.saved else ""
        print(f"minicnn train: training stopped: {stopped}; these weights are not saved{kept}",
              file=sys.stderr)
        return EXIT_DIVERGED
    files.save(history)                       # the moment training ends, before the test set
    if stopped:
        print(f"training stopped early: {stopped}")
        print(f"saved the model to {files.out}: {files.said()}")
        print("the test set was not scored: the run is not finished")
        return _exit_status(stopped)
    print(f"trained {history.epochs} epochs ({history.steps:,} steps) in {wall:.1f} s "
          f"({sum(history.seconds):.1f} s in training passes)")
    print(f"saved the model to {files.out}", flush=True)
    # The test set chose nothing: it is scored here, once, and by `minicnn evaluate`.
    _, test_acc, _ = evaluate(model, x_test, y_test)
    print(f"test accuracy, measured once after training: {100 * test_acc:.2f}% "
          f"({len(x_test):,} test images)")
    files.save(history, test_accuracy=float(test_acc), resumable=False)
    return 0


def cmd_evaluate(args):
    from .sequential import Sequential
    from .train import evaluate
    from .viz.confusion import confusion_matrix

    _set_backend(args.backend)
    model = Sequential.load(args.model_file)          # a missing or bad file: main reports it
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
    x_test, y_test = x_test[:args.limit], y_test[:args.limit]               # [:None] keeps all
    k = _num_outputs(model, x_test.shape[1:])
    if k != len(classes):
        raise UsageError(f"{args.model_file} has {k} outputs but {dataset} has {len(classes)} "
                         f"classes")

    loss, accuracy, predictions = evaluate(model, x_test, y_test, batch_size=args.batch_size)
    confusion = confusion_matrix(y_test, predictions, k)                   # (true, predicted)
    print(f"{args.model_file} on the {dataset} test set ({len(y_test):,} images): accuracy "
          f"{100 * accuracy:.2f}%, loss {loss:.4f}")
    print("", format_per_class(classes, confusion), "", format_confusion(classes, confusion), sep="\n")
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
    from .drawing import preprocess_drawing
    from .drawing.preprocess import open_image
    from .optional import require
    from .sequential import Sequential
    from .train import predict_proba

    model = Sequential.load(args.model_file)
    if not os.path.isfile(args.image):
        raise UsageError(f"image file {args.image} does not exist")
    require("PIL.Image", "minicnn predict", 'pip install "minicnn[viz]"', "Pillow")
    try:
        with open_image(args.image) as img:                    # refuses an image too large
            picture = preprocess_drawing(img)                  # (1, 28, 28) or None
    except OSError as e:                                       # PIL's UnidentifiedImageError is one
        raise UsageError(f"cannot read {args.image} as an image ({e})") from None
    except ValueError as e:
        raise UsageError(f"{e}" if str(args.image) in str(e) else f"{args.image}: {e}") from None
    if picture is None:
        raise UsageError(f"{args.image} is blank: there is no drawing in it to classify")

    shape = model.metadata.get("input_shape")
    if shape and tuple(shape) != picture.shape:
        raise UsageError(f"{args.model_file} expects images of shape {tuple(shape)}, but the "
                         f"image was prepared as {picture.shape}")
    probs = predict_proba(model, picture[None])[0]             # (K,)
    classes = model.metadata.get("classes") or []
    if len(classes) != len(probs):
        classes = [str(i) for i in range(len(probs))]
    top = np.argsort(-probs)[:args.top]
    print(f"{args.image}, as {args.model_file} sees it:")
    for rank, i in enumerate(top, 1):
        print(f"{rank}. {classes[i]:<12} {100 * probs[i]:6.2f}%")
    return 0
