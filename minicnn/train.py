"""The training loop: fit a model, evaluate it, predict class probabilities.

    from minicnn.train import fit, evaluate
    from minicnn.data import RandomAffine, train_val_split
    x_train, y_train, x_val, y_val = train_val_split(x, y, val_size=5000)
    history = fit(model, mc.NLLLoss(), mc.SGD(model.parameters(), lr=0.03, momentum=0.9), x_train, y_train, epochs=3,
                  batch_size=64, validation=(x_val, y_val), augment=RandomAffine(degrees=10, translate=(0.1, 0.1)))
    loss, accuracy, predictions = evaluate(model, x_test, y_test)     # once, at the end

Images are converted to float one batch at a time, so a whole data set never sits in memory as float32.
Ctrl-C, SIGTERM, SIGHUP (after the step in flight; a second Ctrl-C at once) and a NaN loss stop ``fit``
without raising; ``fit(..., resume=history.state_dict())`` continues a stopped run exactly.
"""
import math
import sys
import time

import numpy as np

from .backend import cpu_rng, to_numpy
from .data.loader import DataLoader, as_batch, check_count, check_images, check_labels
from .interrupts import StopRequest
from .layers import LogSoftmax, no_grad
from .optional import optional


class History:
    """What ``fit`` measured, one entry per completed epoch (``epochs`` counts them, ``steps`` the optimisation steps).

    train_loss, train_acc   mean loss and accuracy (a fraction in [0, 1]) over the epoch's training batches
    val_loss, val_acc       on ``validation`` after the epoch (empty lists without it)
    seconds                 wall time of the epoch's training pass (validation excluded)
    images_per_second       training images per second in that pass
    step_loss               the loss of every optimisation step, in order
    stopped                 None, or why training ended before fit's ``epochs`` were done
    warning                 None, or why the training seems not to learn (said once)
    position                for ``resume``: the next step's epoch, step (from 0), order, generators, sums; None mid-step
    """

    _LISTS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_second", "step_loss")

    def __init__(self):
        for name in self._LISTS:
            setattr(self, name, [])
        self.stopped, self.warning, self.position = None, None, None

    def state_dict(self):
        """What ``fit(..., resume=...)`` continues from: plain data, but ``position["order"]`` (int64 array or None)."""
        state = {name: [float(v) for v in getattr(self, name)] for name in self._LISTS}
        return dict(state, stopped=self.stopped, warning=self.warning, position=self.position)

    def load_state_dict(self, state):
        try:
            for name in self._LISTS:
                setattr(self, name, [float(v) for v in state[name]])
            self.warning, self.position = state["warning"], dict(state["position"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"History.load_state_dict expected what History.state_dict() "
                             f"returns ({type(e).__name__}: {e})") from None

    @property
    def epochs(self):
        return len(self.train_loss)

    @property
    def steps(self):
        return len(self.step_loss)

    def epoch_line(self, epochs):
        """One line on the last completed epoch (of ``epochs``): losses, accuracies, time, speed."""
        line = (f"epoch {self.epochs}/{epochs}: train loss {self.train_loss[-1]:.4f}, "
                f"train accuracy {100 * self.train_acc[-1]:.2f}%")
        if self.val_acc:
            line += f", val loss {self.val_loss[-1]:.4f}, val accuracy {100 * self.val_acc[-1]:.2f}%"
        return line + f", {self.seconds[-1]:.1f} s ({self.images_per_second[-1]:,.0f} images/s)"

    def __repr__(self):
        last = (f", last train_acc={self.train_acc[-1]:.4f}" if self.train_acc else "")
        last += (f", val_acc={self.val_acc[-1]:.4f}" if self.val_acc else "")
        return f"History(epochs={self.epochs}, steps={self.steps}{last}, stopped={self.stopped!r})"


def fit(model, loss, optimizer, x, y, epochs, batch_size, validation=None, seed=None,
        progress=True, callbacks=None, lr_schedule=None, augment=None, resume=None):
    """Train ``model`` with mini-batch SGD; return a History, with the model in eval mode.

    model            a Sequential or any Module with forward/backward/train/eval; DataParallel(model) uses every core
    loss, optimizer  e.g. NLLLoss() for a model ending in LogSoftmax, SGD(model.parameters(), lr=0.03, momentum=0.9)
    x, y             images (N, H, W) or (N, C, H, W), uint8 or float; labels (N,) integers
    validation       (x_val, y_val), held out of the training set (never the test set), evaluated after every epoch
    seed             seeds the shuffling and the augmentation (the same seed, the same batches)
    progress         a tqdm bar per epoch (without tqdm installed, one printed line per epoch)
    callbacks        ``callback(epoch_index, history)`` after every epoch; may set ``history.stopped``
    lr_schedule      (step, total_steps) -> ``optimizer.lr`` before every step, e.g. ``linear_decay``
    augment          ``augment(xb, rng) -> xb`` on training batches only (float, (B, C, H, W)), rng from ``seed``
    resume           ``history.state_dict()`` of a stopped run: continue it (same arguments, weights, optimizer)
    """
    epochs, batch_size = check_count("epochs", epochs, minimum=0), check_count("batch_size", batch_size)
    _check_images("fit", x, y)
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ValueError(f"fit expected validation=(x_val, y_val), received {type(validation).__name__}")
        _check_images("fit validation", *validation, names=("x_val", "y_val"))

    def check_all_labels(num_classes):            # the model's first output (B, K) says num_classes
        check_labels("fit", y, num_classes)
        if validation is not None:
            check_labels("fit validation", validation[1], num_classes, name="y_val")
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"fit callbacks must be callables f(epoch_index, history), received {cb!r}")
    if lr_schedule is not None and not hasattr(optimizer, "lr"):
        raise ValueError(f"fit lr_schedule needs an optimizer with an 'lr' attribute, "
                         f"received {type(optimizer).__name__}")
    if augment is not None and not callable(augment):
        raise ValueError(f"fit augment must be a callable augment(xb, rng), received {augment!r}")
    loader = DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed, dtype=model_dtype(model))
    rng = cpu_rng() if seed is None else np.random.default_rng((seed, 1))   # not the shuffling's
    history = History()
    if resume is not None:
        history.load_state_dict(resume)
        _resume_at(history.position, loader, rng, epochs)
    start = history.position                   # None: from the start
    first_lr = lr_schedule(0, epochs * len(loader)) if lr_schedule else getattr(optimizer, "lr", None)
    tqdm = optional("tqdm.auto") if progress else None      # a notebook-aware bar, where installed
    with StopRequest() as stop:
        for epoch in range(start["epoch"] if start else 0, epochs):
            bar = tqdm.tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch") if tqdm else None
            try:
                _train_epoch(model, loss, optimizer, loader, epoch, epochs, history, bar, stop, lr_schedule, augment,
                             rng, start if start and start["epoch"] == epoch and start["step"] else None,
                             check_all_labels)
                inner = getattr(model, "module", model)   # the model inside a DataParallel
                if hasattr(inner, "metadata") and history.steps:
                    inner.metadata["trained"] = True      # the drawing pad reads this
                if history.stopped is None and validation is not None:
                    val_loss, val_acc, _ = evaluate(model, *validation)
                    history.val_loss.append(val_loss)
                    history.val_acc.append(val_acc)
                    if bar is not None:
                        bar.set_postfix(loss=f"{history.train_loss[-1]:.4f}", acc=f"{history.train_acc[-1]:.4f}",
                                        val_acc=f"{val_acc:.4f}")
            except KeyboardInterrupt:
                # A second Ctrl-C, or a non-main thread: the step in flight may be incomplete (position None).
                history.stopped = (f"interrupted (KeyboardInterrupt) in epoch {epoch + 1}, after "
                                   f"{history.steps} steps in all")
            finally:
                if bar is not None:
                    bar.close()
            if history.stopped is not None:
                break
            if progress and tqdm is None:
                print(history.epoch_line(epochs), flush=True)
            try:
                for cb in callbacks:
                    cb(epoch, history)
            except KeyboardInterrupt:
                history.stopped = f"interrupted (KeyboardInterrupt) in a callback after epoch {epoch + 1}"
            if history.warning is None:
                history.warning = _not_learning(history, validation, first_lr)
                if history.warning:
                    print(f"minicnn.train.fit: warning: {history.warning}", file=sys.stderr, flush=True)
            if stop.requested and history.stopped is None:
                history.stopped = f"interrupted ({stop.requested}) after epoch {epoch + 1}"
            if history.stopped is not None:
                break
    model.eval()
    return history


def _train_epoch(model, loss, optimizer, loader, epoch, epochs, history, bar, stop, lr_schedule,
                 augment, rng, start, check_all_labels):
    """One pass over ``loader`` (from ``start`` when resuming); the epoch's train metrics unless it stops early."""
    model.train()
    total_steps = epochs * len(loader)
    start = start or dict(order=loader.epoch_order(), step=0, sums=(0, 0, 0.0, 0.0))
    order, first, (seen, correct, loss_sum, seconds) = start["order"], start["step"], start["sums"]
    if bar is not None:
        bar.update(first)
    began = time.perf_counter() - seconds
    for step, (xb, yb) in enumerate(loader.batches(order, first), first):
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule(history.steps, total_steps))
        if augment is not None:
            xb = augment(xb, rng)
        optimizer.zero_grad()
        out = model.forward(xb)                                   # (B, K) log-probabilities
        if step == first:
            check_all_labels(int(out.shape[1]))                   # all labels in 0..K-1, before any update
        value = loss.forward(out, yb)
        if not math.isfinite(value):            # back-propagating it would only turn every weight into NaN
            history.stopped = (f"the loss became {value} at epoch {epoch + 1}, step {step + 1}: training diverged; "
                               f"try a lower learning rate (lr was {getattr(optimizer, 'lr', float('nan')):g})")
            print(f"minicnn.train.fit stopped: {history.stopped}", file=sys.stderr, flush=True)
            return
        model.backward(loss.backward(), input_grad=False)
        history.position = None                # the weights are changing: no place to resume
        optimizer.step()
        history.step_loss.append(value)
        n = int(yb.shape[0])
        seen += n
        loss_sum += value * n
        correct += int((out.argmax(axis=1) == yb).sum())
        done = step + 1 == len(loader)
        # Where the next step starts, with all it draws at random: resuming here repeats an uninterrupted run.
        history.position = dict(
            epoch=epoch + 1 if done else epoch, step=0 if done else step + 1, order=None if done else order,
            sums=(0, 0, 0.0, 0.0) if done else (seen, correct, loss_sum, time.perf_counter() - began),
            generators=dict(loader=None if loader.rng is None else loader.rng.bit_generator.state,
                            augment=rng.bit_generator.state, minicnn=cpu_rng().bit_generator.state))
        if bar is not None:
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
            bar.update(1)
        if stop.requested and not done:        # at the end of an epoch, fit stops after it
            history.stopped = (f"interrupted ({stop.requested}) in epoch {epoch + 1}, after step "
                               f"{step + 1} of {len(loader)}")
            return
    seconds = time.perf_counter() - began
    history.train_loss.append(loss_sum / seen)
    history.train_acc.append(correct / seen)
    history.seconds.append(seconds)
    history.images_per_second.append(seen / seconds if seconds > 0 else float("inf"))


def _resume_at(position, loader, rng, epochs):
    """Check that ``position`` fits this run, and put the generators back where it says."""
    try:
        epoch, step, order, states = position["epoch"], position["step"], position["order"], position["generators"]
        n = len(loader.x)                   # the order holds each image once: an index past n fails mid-epoch
        if not (0 <= epoch <= epochs and 0 <= step < len(loader) and len(position["sums"]) == 4
                and (order is None or len(order) == n and np.array_equal(np.sort(order), np.arange(n)))):
            raise ValueError(f"epoch {epoch}, step {step} of {len(loader)} (an order of "
                             f"{'no' if order is None else len(order)} images for {n}, each once)")
        for generator, state in ((loader.rng, states["loader"]), (rng, states["augment"]),
                                 (cpu_rng(), states["minicnn"])):
            if generator is not None:
                generator.bit_generator.state = state
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"fit cannot resume from this position, it does not fit a run of "
                         f"{epochs} epochs of {len(loader)} steps ({type(e).__name__}: {e})") from None


# The warning's thresholds: what a run that learns leaves behind after one epoch.
CHANCE_MARGIN = 0.01          # validation accuracy within 1 point of always guessing one class
CHANCE_MIN_STEPS = 50         # after fewer steps a network that learns may still be at chance
LOSS_GROWTH = 10.0            # the epoch's mean loss ten times the first step's


def _not_learning(history, validation, lr):
    """A sentence if the last (completed) epoch shows training that does not learn, else None."""
    lr = "its learning rate" if lr is None else f"the learning rate (lr was {lr:g})"
    if validation is not None and history.val_acc and history.steps >= CHANCE_MIN_STEPS:
        _, counts = np.unique(to_numpy(validation[1]), return_counts=True)
        chance = counts.max() / counts.sum()           # always answering the commonest class
        if history.val_acc[-1] <= chance + CHANCE_MARGIN:
            return (f"validation accuracy after epoch {history.epochs} is {100 * history.val_acc[-1]:.2f}%, what "
                    f"guessing one class scores ({100 * chance:.2f}%): the model is not learning; try lowering {lr}")
    if history.train_loss[-1] > LOSS_GROWTH * history.step_loss[0]:
        return (f"the training loss grew from {history.step_loss[0]:.3g} (first step) to {history.train_loss[-1]:.3g} "
                f"(epoch {history.epochs}): training is diverging; try lowering {lr}")
    return None


def evaluate(model, x, y, batch_size=1000):
    """(mean NLLLoss, accuracy in [0, 1], predictions (N,) int64) on ``x``, ``y``; raw scores log-softmaxed first."""
    _check_images("evaluate", x, y)
    labels = np.asarray(to_numpy(y)).astype(np.int64, copy=False)
    loss_sum, predictions = 0.0, []
    for start, lp in _log_prob_batches(model, x, batch_size, "evaluate"):
        if start == 0:            # the first output says how many classes: check every label now
            check_labels("evaluate", labels, lp.shape[1])
        yb = labels[start:start + len(lp)]
        loss_sum += float(-lp[np.arange(len(yb)), yb].sum())
        predictions.append(lp.argmax(axis=1))
    predictions = np.concatenate(predictions).astype(np.int64)
    return loss_sum / len(labels), float((predictions == labels).mean()), predictions


def predict_proba(model, x, batch_size=1000):
    """Class probabilities, a NumPy array (N, K) whose rows sum to 1."""
    _check_images("predict_proba", x)
    rows = [np.exp(lp.astype(np.float64)) for _, lp in _log_prob_batches(model, x, batch_size, "predict_proba")]
    return np.concatenate(rows)


def linear_decay(lr, final_fraction=0.0):
    """A schedule for ``fit``: from ``lr`` at step 0 linearly down to ``lr * final_fraction`` at the end."""
    def schedule(step, total_steps):
        return lr * (1.0 - (1.0 - final_fraction) * step / max(total_steps, 1))
    return schedule


def model_dtype(model):
    """The dtype of the model's first parameter (inputs must match it), float32 if it has none."""
    return next((p.data.dtype for p in model.parameters()), np.dtype(np.float32))


def _log_prob_batches(model, x, batch_size, who):
    """Yield (start index, log-probabilities, a NumPy (B, K)) with the model in eval mode, inside no_grad()."""
    batch_size = check_count(f"{who} batch_size", batch_size)
    was_training, dtype = getattr(model, "training", False), model_dtype(model)
    model.eval()
    try:
        ends_in_log_softmax = isinstance(getattr(model, "layers", [None])[-1], LogSoftmax)
        for start in range(0, len(x), batch_size):
            with no_grad():                                              # no backward will follow
                out = model.forward(as_batch(x[start:start + batch_size], dtype))    # (B, K)
            if getattr(out, "ndim", 0) != 2:
                raise ValueError(f"{who} expected the model to output scores of shape "
                                 f"(N, num_classes), received shape {tuple(out.shape)}")
            yield start, to_numpy(out if ends_in_log_softmax else LogSoftmax(dim=1).forward(out))
    finally:
        model.train(was_training)


def _check_images(who, x, y=None, names=("x", "y")):
    if check_images(who, x, y, names) == 0:
        raise ValueError(f"{who} received no images (an empty array)")
