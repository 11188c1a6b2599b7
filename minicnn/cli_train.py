"""``minicnn train``: train a model, saving it (runs/x.npz, and runs/x.resume.npz while the run can be continued)
at every epoch's end, when training ends and when a signal stops it; ``--resume`` continues a stopped run exactly.
No existing file is replaced unless the user asks (--overwrite, --resume). See docs/reliability.md."""
import itertools
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from . import checkpoint, resume
from .cli_commands import (AUGMENTATION, EXIT_DIVERGED, EXIT_INTERRUPTED, QUICKDRAW_DEFAULT_MAX_PER_CLASS, SPLIT_SEED,
                           UsageError, _default_quickdraw_categories, _load, _narrator, _set_backend)
from .interrupts import STOP_SIGNALS, Terminated, deferred_signals, signal_name
from .output_files import check_output
from .sequential import Sequential

# The settings that define a run: saved with it, and taken from it by --resume.
RUN_SETTINGS = ("dataset", "model", "epochs", "batch_size", "lr", "momentum", "schedule", "seed",
                "val_size", "augment", "limit", "test_limit", "categories", "max_per_class")


def _resume_settings(args):
    """Put the settings of the run --resume continues into ``args``, refusing a typed flag that contradicts them;
    return (run, History state, optimizer state) from its resume file."""
    if not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume}: the file does not exist")
    state_file = resume.resume_path(args.resume)
    if not os.path.exists(state_file):
        raise UsageError(f"--resume {args.resume}: there is no resume file {state_file} beside it "
                         "(a run that finished removes it: there is nothing left to continue)")
    run, history, optimizer_state = resume.read(state_file)
    for name in RUN_SETTINGS:
        if name not in run:
            raise UsageError(f"{state_file} does not record the setting {name}")
        given = getattr(args, name)
        if given != getattr(args, "defaults", {}).get(name, given) and given != run[name]:   # set by cli.main
            raise UsageError(f"--{name.replace('_', '-')} {given} contradicts the run being resumed "
                             f"({run[name]}): --resume continues a run with its own settings")
        setattr(args, name, run[name])
    return run, history, optimizer_state


def _output_path(args):
    """(path, may replace an existing file): --out, else the resumed run's file, else a new one unless --overwrite."""
    if args.out:
        same = args.resume and os.path.realpath(args.out) == os.path.realpath(args.resume)
        return Path(args.out), bool(args.overwrite or same)
    if args.resume:
        return Path(args.resume), True
    base = Path("runs") / f"{args.dataset}-{args.model}"
    if args.overwrite:                                  # the one fixed name, replaced
        return Path(f"{base}.npz"), True
    # runs/mnist-lenet.npz, then -2, -3, ...: the first name free with its resume file (an interrupted run's too).
    for n in itertools.count(1):
        path = Path(f"{base}.npz" if n == 1 else f"{base}-{n}.npz")
        if not os.path.lexists(path) and not os.path.lexists(resume.resume_path(path)):
            return path, False


def _data_fingerprint(*arrays):
    """A CRC-32 of the arrays' bytes: a resumed run must see exactly the data it began with."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).view(np.uint8).ravel(), crc)
    return crc


class _RunFiles:
    """Saves a run (its resume file, then its model file) and remembers what is on disk, for every exit to report."""

    def __init__(self, out, overwrite, model, optimizer, run, meta):
        self.out, self.overwrite = out, overwrite
        self.model, self.optimizer, self.run, self.meta = model, optimizer, run, meta
        self.saved, self.steps = None, None  # what ``out`` holds, in words, and after how many steps; None: nothing
        self.resumable = False               # whether its resume file is beside it

    def save(self, history, test_accuracy=None, resumable=True):
        complete = history.position["epoch"] == self.run["epochs"]
        meta = dict(self.meta, epochs=history.epochs, steps=history.steps, complete=complete,
                    val_accuracy=history.val_acc[-1] if history.val_acc else None, test_accuracy=test_accuracy)
        state_file = resume.resume_path(self.out)
        # Signals wait until both files are written and ``saved`` says so: a Ctrl-C mid-save is reported truthfully.
        with deferred_signals():
            if resumable:
                resume.save(state_file, self.run, history, self.optimizer)
            checkpoint.save(self.model, self.out, metadata=meta, overwrite=self.overwrite)
            if not resumable and os.path.exists(state_file):
                os.remove(state_file)                  # finished and scored: nothing to continue
            self.overwrite, self.resumable, self.steps = True, resumable, history.steps  # the file is this run's own
            where = f"epoch {history.epochs}" if history.position["step"] == 0 else (
                f"step {history.position['step']} of epoch {history.position['epoch'] + 1}")
            self.saved = f"the weights after {history.steps:,} steps ({where})"

    def said(self):
        """What is on disk, in one clause."""
        if self.saved is None:
            return "nothing was saved"
        if not self.resumable:
            return f"{self.out} holds {self.saved}, the run finished and scored"
        return f"{self.out} holds {self.saved}; continue with: minicnn train --resume {self.out}"


def cmd_train(args):
    import minicnn
    from .data import RandomAffine, train_val_split
    from .models import MODELS
    from .optional import optional
    from .train import fit, linear_decay
    resumed = _resume_settings(args) if args.resume else None
    if args.dataset != "quickdraw" and (args.categories or args.max_per_class):
        raise UsageError("--categories and --max-per-class only apply to --dataset quickdraw")
    # The output is checked first: a path that cannot be written fails now, not after training.
    out, overwrite = _output_path(args)
    flag = "--out" if args.out else ""
    check_output(out, overwrite, flag=flag)
    check_output(resume.resume_path(out), overwrite, flag=flag)
    _set_backend(args.backend)
    say = _narrator(args)                # print, or nothing under --quiet

    categories, max_per_class = None, None
    if args.dataset == "quickdraw":
        max_per_class = args.max_per_class or QUICKDRAW_DEFAULT_MAX_PER_CLASS
        categories, why = ((args.categories, "from --categories") if args.categories
                           else _default_quickdraw_categories(args.data_dir))
        say(f"Quick, Draw! categories ({why}): {', '.join(categories)}")
    x_train, y_train, x_test, y_test, classes = _load(args.dataset, args.data_dir, not args.no_download,
                                                      categories, max_per_class)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]           # [:None] keeps all
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    if len(x_test) == 0:
        raise UsageError(f"the {args.dataset} test set is empty with these settings")
    if args.val_size >= len(x_train):
        raise UsageError(f"--val-size {args.val_size:,} leaves no training images: the training set has "
                         f"{len(x_train):,} (use at most {len(x_train) - 1:,}, or 0)")
    run = {name: getattr(args, name) for name in RUN_SETTINGS}
    run["categories"], run["data"] = categories, _data_fingerprint(x_train, y_train)
    x_train, y_train, x_val, y_val = train_val_split(x_train, y_train, args.val_size, SPLIT_SEED)

    minicnn.manual_seed(args.seed)
    model = MODELS[args.model](num_classes=len(classes))
    optimizer = minicnn.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    history_state = _continue(args, resumed, run, model, optimizer, say) if resumed else None
    # The disk must hold the model, its resume file and a temporary copy: checked before training.
    check_output(out, True, size=3 * sum(p.data.nbytes for p in model.parameters()), flag=flag)
    schedule = linear_decay(args.lr) if args.schedule == "linear" else None
    augment = RandomAffine(**AUGMENTATION) if args.augment else None
    lr_text = f"lr {args.lr:g}" + (" decaying linearly to 0" if schedule else " (constant)")
    held_out = (f"{len(x_val):,} validation images (held out of the training set, split seed {SPLIT_SEED})"
                if len(x_val) else "no validation set (--val-size 0)")
    say(f"training {args.model} on {args.dataset}: {len(x_train):,} training images, {held_out}, "
        f"{len(x_test):,} test images, {len(classes)} classes")
    say(f"{args.epochs} epochs, batch {args.batch_size}, SGD {lr_text}, momentum {args.momentum:g}, "
        f"augmentation: {augment or 'none'}, seed {args.seed}, {args.backend} backend", flush=True)
    replacing = " (replacing that file)" if overwrite and os.path.exists(out) else ""
    say(f"the model will be saved to {out}{replacing}", flush=True)

    meta = dict(classes=[str(c) for c in classes], dataset=args.dataset, model=args.model,
                input_shape=[1, int(x_train.shape[1]), int(x_train.shape[2])], batch_size=args.batch_size,
                lr=args.lr, momentum=args.momentum, schedule=args.schedule, seed=args.seed,
                augment=AUGMENTATION if augment else None, train_images=int(len(x_train)),
                val_size=int(len(x_val)), split_seed=SPLIT_SEED, trained=True)
    if args.dataset == "quickdraw":
        meta["max_per_class"] = max_per_class
    files = _RunFiles(out, overwrite, model, optimizer, run, meta)

    def after_epoch(epoch, history):
        say(history.epoch_line(args.epochs), flush=True)
        files.save(history)           # each epoch's end is on disk: a crash loses one epoch at most

    stepper = model                      # minicnn train uses every core: DataParallel, the same numbers
    if args.backend == "numpy" and args.workers != 1:
        stepper = minicnn.DataParallel(model, args.workers)
        say(stepper.describe(args.batch_size) + " (--workers 1 turns this off)", flush=True)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    progress = progress and optional("tqdm.auto") is not None  # else fit's own lines would repeat ours
    try:
        start = time.perf_counter()
        # fit names the step where the loss became NaN; NumPy's overflow warnings would only add noise to that.
        with np.errstate(over="ignore", invalid="ignore"):
            history = fit(stepper, minicnn.NLLLoss(), optimizer, x_train, y_train, epochs=args.epochs,
                          batch_size=args.batch_size, validation=(x_val, y_val) if len(x_val) else None,
                          seed=args.seed, progress=progress and not args.quiet, lr_schedule=schedule,
                          callbacks=[after_epoch], augment=augment, resume=history_state)
        return _finish(history, files, time.perf_counter() - start, model, x_test, y_test, say)
    except (KeyboardInterrupt, Terminated) as e:
        # A signal outside fit's steps: while saving (saves finish first) or scoring the test set.
        name = "Ctrl-C" if isinstance(e, KeyboardInterrupt) else str(e)
        print(f"minicnn train: interrupted ({name}); {files.said()}", file=sys.stderr)
        return getattr(e, "exit_status", EXIT_INTERRUPTED)


def _continue(args, resumed, run, model, optimizer, say):
    """Load the resumed run's weights and SGD state into ``model`` and ``optimizer``; return fit's History state."""
    saved_run, history_state, optimizer_state = resumed
    if saved_run.get("data") != run["data"]:
        raise UsageError(f"--resume {args.resume}: the training data differ from the run's (another data folder "
                         "or a changed file): it cannot continue exactly")
    saved = Sequential.load(args.resume)
    if saved.metadata.get("steps") != saved_run["steps"]:
        raise UsageError(f"--resume {args.resume}: the model file ({saved.metadata.get('steps')} steps) and its "
                         f"resume file ({saved_run['steps']} steps) are from different moments (a save was cut "
                         "short); resume is not possible")
    try:
        model.load_state_dict(saved.state_dict())
        optimizer.load_state_dict(optimizer_state)
    except ValueError as e:
        raise UsageError(f"--resume {args.resume}: {e}") from None
    position = history_state["position"]                # fit checks it against the training set
    say(f"resuming {args.resume} after {saved_run['steps']:,} steps (epoch {position['epoch'] + 1}, "
        f"step {position['step'] + 1}), with its settings", flush=True)
    return history_state


def _finish(history, files, wall, model, x_test, y_test, say):
    """Save what training left, then score the test set if the run is complete; the exit status."""
    from .train import evaluate
    stopped = history.stopped or ""
    if "loss became" in stopped:               # first: a NaN at the very first step leaves no position either
        kept = f"; {files.out} keeps {files.saved}, before it diverged" if files.saved else ""
        print(f"minicnn train: training stopped: {stopped}; these weights are not saved{kept}", file=sys.stderr)
        return EXIT_DIVERGED
    if history.position is None or "KeyboardInterrupt" in stopped:
        # A second Ctrl-C cut a step short: the weights may be half-updated, so they are not saved.
        print(f"minicnn train: stopped at once ({stopped}): the steps since the last save are lost; "
              f"{files.said()}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if files.steps != history.steps:          # the moment training ends, before the test set (unless the
        files.save(history)                   # last epoch's end, already saved, is where it ended)
    if stopped:
        print(f"training stopped early: {stopped}", f"saved: {files.said()}",
              "the test set was not scored: the run is not finished", sep="\n")
        statuses = {f"({signal_name(s)})": 128 + s for s in STOP_SIGNALS}   # a shell's: Ctrl-C 130, SIGTERM 143
        return next((status for name, status in statuses.items() if name in stopped), EXIT_INTERRUPTED)
    say(f"trained {history.epochs} epochs ({history.steps:,} steps) in {wall:.1f} s ({sum(history.seconds):.1f} s "
        "in training passes)")
    print(f"saved the model to {files.out}", flush=True)
    # The test set chose nothing: it is scored here, once, and by `minicnn evaluate`.
    _, test_acc, _ = evaluate(model, x_test, y_test)
    print(f"test accuracy, measured once after training: {100 * test_acc:.2f}% ({len(x_test):,} test images)")
    files.save(history, test_accuracy=float(test_acc), resumable=False)
    return 0
