"""Lesson 06: training a CNN on MNIST. The solution and check of the learner's training step, and
the model the lesson trains, for the lessons after it.

Lessons 07, 08 and 09 look at the network lesson 06 trained:

    from minicnn_lessons.lesson06 import trained_model
    model = trained_model()         # loads lesson 06's model, or trains it first if it is missing
    model.metadata                  # classes, settings, validation and test accuracy, ...

The file is ``saved_model_path()``, in ``minicnn_lessons.work_dir()``: mnist-lenet.npz, or
mnist-lenet-fast.npz in fast mode (MINICNN_FAST=1), which trains on a small subset (FAST_RUN).
"""
import numpy as np

from . import Report, call, close_to, fast_mode, whose, work_dir

# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def train_step(model, loss_fn, optimizer, xb, yb):
    """One SGD step on the batch xb (B, 1, 28, 28), yb (B,); returns the batch's loss (float)."""
    optimizer.zero_grad()                                  # .grad accumulates: clear the last step's
    loss = loss_fn.forward(model.forward(xb), yb)          # (B, 10) log-probabilities -> mean NLL
    model.backward(loss_fn.backward(), input_grad=False)   # adds dL/dp into every p.grad
    optimizer.step()                                       # v = mu v + g; p = p - lr v
    return loss


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _tiny_model(seed):
    """A small CNN for 8 x 8 images and 4 classes: quick, and with every kind of layer lenet has."""
    import minicnn as mc

    mc.manual_seed(seed)
    return mc.Sequential(mc.Conv2d(1, 3, 3), mc.MaxPool2d(2), mc.ReLU(),      # (B, 3, 3, 3)
                         mc.Flatten(), mc.Linear(27, 4), mc.LogSoftmax(dim=1))


def _weights(model):
    return np.concatenate([np.asarray(p.data, dtype=np.float64).ravel() for p in model.parameters()])


def _right_step(model, loss_fn, optimizer, xb, yb):
    """The reference the check compares with: zero_grad, forward, loss, backward, step."""
    optimizer.zero_grad()
    loss = loss_fn.forward(model.forward(xb), yb)
    model.backward(loss_fn.backward(), input_grad=False)
    optimizer.step()
    return loss


def _recorded(model, loss_fn, optimizer, events):
    """Make model, loss and optimizer append what is called, in order, to ``events``:
    ("zero_grad",), ("forward",), ("loss",), ("backward", input_grad), ("step",)."""
    def log(name, method, with_input_grad=False):
        def logged(*args, **kwargs):
            if with_input_grad:
                events.append((name, kwargs.get("input_grad", args[1] if len(args) > 1 else True)))
            else:
                events.append((name,))
            return method(*args, **kwargs)
        return logged

    model.forward = log("forward", model.forward)
    model.backward = log("backward", model.backward, with_input_grad=True)
    model.zero_grad = log("zero_grad", model.zero_grad)
    loss_fn.forward = log("loss", loss_fn.forward)
    optimizer.zero_grad = log("zero_grad", optimizer.zero_grad)
    optimizer.step = log("step", optimizer.step)


def _order_hint(events):
    """What the calls of one step say about a mistake, or ''."""
    names = [e[0] for e in events]
    if "step" not in names:
        return "optimizer.step() never ran, so the weights did not move"
    if names.count("step") > 1:
        return f"optimizer.step() ran {names.count('step')} times in one training step"
    if "backward" not in names:
        return "model.backward(...) never ran: no gradients, so nothing for the step to follow"
    step, backward = names.index("step"), names.index("backward")
    if step < backward:
        return ("optimizer.step() ran before model.backward(...): it moved the weights along the "
                "gradients that were in .grad before this batch (none, after zero_grad), and this "
                "batch's gradients came too late")
    clears = [i for i, n in enumerate(names) if n == "zero_grad"]
    if not clears:
        return ("nothing cleared .grad: gradients accumulate (lesson 04), so this step followed the "
                "gradient of this batch plus whatever .grad already held. Start with "
                "optimizer.zero_grad()")
    if any(backward < i < step for i in clears):
        return "zero_grad() between backward and step threw away the gradients the step needed"
    if all(i > step for i in clears):
        return ("zero_grad() ran only after the step, so the step followed this batch's gradient plus "
                "whatever .grad held before: clear it at the start of the step")
    return ""


def check_train_step(fn):
    """Three steps of a small CNN (momentum SGD), each compared with the right step from the same
    weights: the loss returned and every weight after the step. The first on a fresh model; the
    second right after it, when .grad still holds the first step's gradients unless cleared; the
    third on a model whose .grad holds stale gradients from an earlier backward. The order of the
    calls names the mistake."""
    import minicnn as mc

    rng = np.random.default_rng(6)
    batches = [(rng.random((6, 1, 8, 8)).astype(np.float32), rng.integers(0, 4, 6)) for _ in range(3)]
    mine, ref = _tiny_model(0), _tiny_model(0)
    opt_mine = mc.SGD(mine.parameters(), lr=0.1, momentum=0.9)
    opt_ref = mc.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    loss_mine, loss_ref = mc.NLLLoss(), mc.NLLLoss()
    events = []
    _recorded(mine, loss_mine, opt_mine, events)
    cases = ["the first step on a fresh model (.grad empty)",
             "the second step (.grad still holds the first step's gradients unless they are cleared)",
             "a step on a model whose .grad holds stale gradients from an earlier backward"]
    report, input_grads = Report(fn), set()
    for k, (name, (xb, yb)) in enumerate(zip(cases, batches)):
        if k == 2:                                   # stale gradients, the same in both models
            for p, q in zip(mine.parameters(), ref.parameters()):
                p.grad = rng.standard_normal(p.shape).astype(p.dtype)
                q.grad = p.grad.copy()
        del events[:]
        expected = _right_step(ref, loss_ref, opt_ref, xb, yb)
        out, error = call(fn, mine, loss_mine, opt_mine, xb, yb)
        input_grads.update(e[1] for e in events if e[0] == "backward")
        hint = _order_hint(events)
        if error:
            report.add(False, f"{whose(fn)} failed on {name}: {error}", name)
            break
        moved = close_to(_weights(mine), _weights(ref), rtol=1e-5, atol=1e-7)
        try:
            loss = float(out)
        except (TypeError, ValueError):
            shape = getattr(out, "shape", None)
            what = (f"an array of shape {shape}" if shape is not None else f"a {type(out).__name__}")
            report.add(False, f"{whose(fn)} returned {what} on {name}: return the batch's loss, the "
                              f"float loss_fn.forward(...) gave" +
                       (" (the scores go into the loss; the loss is one number)" if shape else ""), name)
            break
        if not moved:
            report.add(False, f"{whose(fn)} left the wrong weights after {name}" +
                       (f": {hint}" if hint else ""), name)
            break
        if not np.isclose(loss, expected, rtol=1e-5, atol=1e-7):
            text = f"{whose(fn)} returned the loss {loss:.6g} on {name}, expected {expected:.6g}"
            after = loss_ref.forward(ref.forward(xb), yb)          # the loss with the new weights
            if np.isclose(loss, after, rtol=1e-5, atol=1e-7):
                text += (": that is the loss after the step (a second forward pass). Return the loss "
                         "the gradient was computed from, before the step")
            report.add(False, text, name)
            break
        report.add(True, f"{whose(fn)} is right for {name}: the loss ({loss:.4f}) and every weight", name)
    ok = report.close()
    if ok and any(g is not False for g in input_grads):
        print("  note: pass input_grad=False to model.backward: nothing needs the gradient with "
              "respect to the pixels, and the first layer can skip computing it")
    return ok


# ------------------------------------------------------------------------------------------------
# The trained model, for lessons 07-09
# ------------------------------------------------------------------------------------------------

# Fast mode (MINICNN_FAST=1): less data, the same code: the first 6,000 training images, of which
# 1,000 are held out for validation, one epoch, and the first 2,000 test images.
FAST_RUN = dict(limit=6000, val_size=1000, epochs=1, test_limit=2000)


def saved_model_path(fast=None):
    """Where lesson 06 saves its trained lenet: mnist-lenet.npz (mnist-lenet-fast.npz in fast mode)
    in ``minicnn_lessons.work_dir()``."""
    fast = fast_mode() if fast is None else fast
    return work_dir() / ("mnist-lenet-fast.npz" if fast else "mnist-lenet.npz")


def trained_model(fast=None):
    """Lesson 06's trained lenet (a ``minicnn.Sequential`` with ``.metadata``), read from
    ``saved_model_path()``. If the file is missing (lesson 06 not run, or the file deleted), it is
    trained first, as lesson 06 trains it: ``minicnn train`` with its defaults (in fast mode with
    FAST_RUN's smaller data), which prints what it does; that takes minutes in normal mode."""
    import minicnn as mc
    from minicnn.cli import main as minicnn_command

    fast = fast_mode() if fast is None else fast
    path = saved_model_path(fast)
    if not path.exists():
        print(f"{path} is missing (it is saved by lesson 06): training it now with minicnn train, "
              f"as lesson 06 does" + (" (fast mode: a small subset)" if fast else ""))
        flags = ["train", "--out", str(path), "--no-progress"]
        if fast:
            flags += ["--limit", str(FAST_RUN["limit"]), "--val-size", str(FAST_RUN["val_size"]),
                      "--epochs", str(FAST_RUN["epochs"]), "--test-limit", str(FAST_RUN["test_limit"])]
        if minicnn_command(flags) != 0:
            raise RuntimeError(f"training the model for {path} failed: see the message above")
    return mc.Sequential.load(path)
