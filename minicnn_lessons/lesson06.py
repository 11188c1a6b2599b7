"""Lesson 06: your own CNN. The checks of the learner's layers, loss and optimizer (built from the
functions of lessons 01-05), and the network the lesson trains, for the lessons after it.

The learner's classes name the functions they call in ``uses`` (``MyConv2d.uses = (im2col,
col2im)``); each function is an ``@exercise``, answered by the solution of its lesson until the
learner's version returns something. A check says whose functions it saw.

Lessons 07, 08 and 09 look at the network lesson 06 trained:

    from minicnn_lessons.lesson06 import trained_model
    model = trained_model()         # loads lesson 06's model, or trains it first if it is missing
    model.metadata                  # classes, settings, validation and test accuracy, ...

The file is ``saved_model_path()``, in ``minicnn_lessons.work_dir()``: mnist-lenet.npz, or
mnist-lenet-fast.npz in fast mode (MINICNN_FAST=1), which trains on a small subset (FAST_RUN).
It holds minicnn's own layers (a lenet) with the weights the learner's network learned.
"""
import copy
import types

import numpy as np

from . import Report, fast_mode, tolerance, work_dir

# ------------------------------------------------------------------------------------------------
# The run: lenet, one pass over part of the training digits, the learning rate falling to 0
# ------------------------------------------------------------------------------------------------

# Normal mode: the 55,000 training digits left after minicnn train's split (5,000 held out with
# split seed 0), of which the first `train_digits` make the steps. Chosen on the validation digits
# as the shortest run that reaches 98%.
RUN = dict(val_size=5000, split_seed=0, train_digits=55000, epochs=1, batch_size=64, lr=0.05,
           momentum=0.9, seed=0)
# Fast mode (MINICNN_FAST=1): less data, the same code: the first 6,000 training images, of which
# 1,000 are held out for validation (lessons 07 and 09 hold out the same), 1,280 of the rest make
# 20 steps, and the first 2,000 test images.
FAST_RUN = dict(limit=6000, val_size=1000, train_digits=1280, test_limit=2000)


def settings(fast=None):
    """RUN, with FAST_RUN's smaller numbers in fast mode."""
    fast = fast_mode() if fast is None else fast
    return dict(RUN, **({k: FAST_RUN[k] for k in ("val_size", "train_digits")} if fast else {}))


def digits(fast=None):
    """(x_train, y_train, x_val, y_val, x_test, y_test) of MNIST as the lesson uses them: the
    training digits it steps on, the held-out validation digits, the test digits."""
    from minicnn.data import load_mnist, train_val_split

    fast = fast_mode() if fast is None else fast
    run = settings(fast)
    x_all, y_all, x_test, y_test = load_mnist()
    if fast:
        x_all, y_all = x_all[:FAST_RUN["limit"]], y_all[:FAST_RUN["limit"]]
        x_test, y_test = x_test[:FAST_RUN["test_limit"]], y_test[:FAST_RUN["test_limit"]]
    x_train, y_train, x_val, y_val = train_val_split(x_all, y_all, run["val_size"], seed=run["split_seed"])
    n = run["train_digits"]
    return x_train[:n], y_train[:n], x_val, y_val, x_test, y_test


# ------------------------------------------------------------------------------------------------
# Whose pieces: a class's functions, each answered by the learner or by a lesson's solution
# ------------------------------------------------------------------------------------------------


def _uses(piece):
    """The exercise functions a class (or an instance's class) calls; () for one that names none."""
    cls = piece if isinstance(piece, type) else type(piece)
    return tuple(getattr(cls, "uses", ()))


def _answered(piece):
    """A stand-in for the checks' verdict: ``used_solution`` is True when the solution answered
    every function the piece uses (then a failing check is a bug in the lessons, and raises)."""
    fns = _uses(piece)
    cls = piece if isinstance(piece, type) else type(piece)
    solution = bool(fns) and all(getattr(f, "used_solution", None) is True for f in fns)
    return types.SimpleNamespace(__name__=cls.__name__, used_solution=solution, lesson="lesson06")


def whose_functions(piece):
    """'your im2col, the solution's col2im': who answered each function the piece used last."""
    def who(f):
        answered = getattr(f, "used_solution", None)
        return "(not run yet)" if answered is None else "the solution's" if answered else "your"
    return ", ".join(f"{who(f)} {f.__name__}" for f in _uses(piece))


def own_pieces(pieces):
    """One line per piece: which of its functions are the learner's own, which the solutions'."""
    lines = []
    for piece in pieces:
        fns = _uses(piece)
        mine = [f.__name__ for f in fns if getattr(f, "used_solution", None) is False]
        name = piece.__name__ if isinstance(piece, type) else type(piece).__name__
        verdict = ("all yours" if len(mine) == len(fns) else "the solutions' (none of yours yet)"
                   if not mine else f"partly yours ({', '.join(mine)})")
        lines.append(f"{name:<13} {verdict:<36} {whose_functions(piece)}")
    return lines


# ------------------------------------------------------------------------------------------------
# The checks: each piece against minicnn's twin
# ------------------------------------------------------------------------------------------------


def _same_weights(dst, src):
    for p, q in zip(dst.parameters(), src.parameters()):
        p.data = np.array(q.data, dtype=p.data.dtype)


def _forward_of(twin):
    """check_layer's reference: minicnn's twin with the layer's parameter arrays copied in."""
    def reference(x, *params):
        model = copy.deepcopy(twin).double()
        for p, a in zip(model.parameters(), params):
            p.data = np.array(a, dtype=np.float64)
        return model.forward(np.asarray(x, dtype=np.float64))
    return reference


def _backward_against_twin(layer, twin, shape, seed=1):
    """(ok, sentence): the layer's input and parameter gradients against the twin's, float64."""
    import minicnn as mc

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mine, ref = copy.deepcopy(layer).double(), copy.deepcopy(twin).double()
    _same_weights(mine, ref)
    try:
        with np.errstate(all="ignore"):
            y = mine.forward(x.copy())
            g = rng.standard_normal(np.shape(y))
            dx = mine.backward(g.copy())
    except Exception as e:                               # noqa: BLE001 (reported by check_layer too)
        return False, f"its forward or backward raised {type(e).__name__}: {e}"
    ref.forward(x.copy())
    pairs = [("the input gradient", dx, ref.backward(g.copy()))]
    pairs += [(f"the gradient of {n}", p.grad, q.grad) for (n, p), q in
              zip(mine.named_parameters(), ref.parameters())]
    worst = 0.0
    for what, got, expected in pairs:
        if got is None or np.shape(got) != np.shape(expected):
            return False, f"{what} is {'None' if got is None else f'of shape {np.shape(got)}'}, " \
                          f"minicnn's {np.shape(expected)}"
        bad, rel, k, _ = tolerance(np.asarray(got, np.float64), mc.to_numpy(expected), 1e-7, 1e-5)
        if bad:
            return False, f"{what} differs from minicnn's in {bad} of {np.size(got)} numbers"
        worst = max(worst, rel)
    return True, f"largest relative difference {worst:.1e}"


def check_my_layer(layer, shape, twin, torch_module=None):
    """check_layer on your layer, with minicnn's twin (the same weights copied in) as its reference,
    and PyTorch's twin where torch is installed; then the backward against the twin's. ✓ or ✗,
    and check_layer's table."""
    from minicnn.testing import check_layer

    name = type(layer).__name__
    report = check_layer(layer, shape, torch_module=torch_module, reference=_forward_of(twin),
                         raise_on_failure=False)
    fn = _answered(layer)
    who = whose_functions(layer)
    ok_back, back = _backward_against_twin(layer, twin, shape)
    lines = Report(fn)
    lines.add(bool(report), f"{name} ({who}): check_layer: {str(report).splitlines()[0].split(': ', 1)[1]}",
              "check_layer")
    lines.add(ok_back, f"{name} ({who}): backward against minicnn's {type(twin).__name__}: {back}",
              f"backward against {type(twin).__name__}")
    ok = lines.close()
    print("\n".join(str(report).splitlines()[1:]))
    return ok


def _batch(rng, n, k, dtype):
    z = rng.standard_normal((n, k)) * 3
    log_probs = z - np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)) - \
        z.max(axis=1, keepdims=True)
    return log_probs.astype(dtype), rng.integers(0, k, n)


def check_my_loss(loss):
    """Your NLL loss against minicnn.NLLLoss: the loss and its gradient for a batch of 8 (10 classes,
    float64) and of 3 (5 classes, float32), and minicnn.gradcheck's central differences."""
    import minicnn as mc

    rng = np.random.default_rng(6)
    name = type(loss).__name__
    report = Report(_answered(loss))
    for n, k, dtype in ((8, 10, np.float64), (3, 5, np.float32)):
        case = f"a batch of {n}, {k} classes, {np.dtype(dtype).name}"
        log_probs, target = _batch(rng, n, k, dtype)
        twin = mc.NLLLoss()
        expected, expected_grad = twin.forward(log_probs, target), twin.backward()
        try:
            with np.errstate(all="ignore"):
                got = loss.forward(log_probs.copy(), target)
                grad = loss.backward()
        except Exception as e:                           # noqa: BLE001 (a learner's error, reported)
            report.add(False, f"{name} ({whose_functions(loss)}) raised {type(e).__name__} for {case}: {e}", case)
            continue
        if not isinstance(got, float):
            report.add(False, f"{name}.forward returned a {type(got).__name__} for {case}: return the loss "
                              "as a Python float (float(...))", case)
            continue
        tol = 1e-5 if dtype == np.float32 else 1e-9
        if not np.isclose(got, expected, rtol=tol, atol=tol):
            hint = (f": that is {got / expected:.3g} times minicnn's, the sum over the batch instead of the "
                    "mean" if np.isclose(got, expected * n, rtol=tol) else "")
            report.add(False, f"{name} ({whose_functions(loss)}) gives the loss {got:.6g} for {case}, "
                              f"minicnn.NLLLoss {expected:.6g}{hint}", case)
            continue
        if getattr(grad, "shape", None) != expected_grad.shape or grad.dtype != expected_grad.dtype:
            report.add(False, f"{name}.backward returned {getattr(grad, 'shape', type(grad).__name__)} "
                              f"{getattr(grad, 'dtype', '')} for {case}, minicnn.NLLLoss "
                              f"{expected_grad.shape} {expected_grad.dtype}", case)
            continue
        bad = tolerance(np.asarray(grad, np.float64), expected_grad.astype(np.float64), tol, tol)[0]
        report.add(not bad, f"{name} ({whose_functions(loss)}) {'matches' if not bad else 'differs from'} "
                            f"minicnn.NLLLoss for {case}: the loss and {'its' if not bad else f'{bad} numbers of its'} "
                            "gradient", case)
    log_probs, target = _batch(rng, 4, 6, np.float64)
    try:
        result = mc.gradcheck(copy.deepcopy(loss), log_probs, target)
        report.add(bool(result), f"{name}: minicnn.gradcheck against central differences: {result!r}",
                   "gradcheck")
    except Exception as e:                               # noqa: BLE001
        report.add(False, f"{name}: minicnn.gradcheck raised {type(e).__name__}: {e}", "gradcheck")
    return report.close()


def check_my_optimizer(make):
    """Your optimizer against minicnn.SGD (torch.optim.SGD's rule): ``make(params, lr, momentum)``
    builds it. Four steps of two parameters with momentum 0.9, the learning rate changed between
    steps as fit's schedule changes it (``optimizer.lr = ...``), then zero_grad."""
    import minicnn as mc

    rng = np.random.default_rng(5)
    start = [rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    mine = [mc.Parameter(a.copy()) for a in start]
    ref = [mc.Parameter(a.copy()) for a in start]
    try:
        opt = make(mine, lr=0.1, momentum=0.9)
    except Exception as e:                               # noqa: BLE001
        report = Report(_answered(make))
        report.add(False, f"building it raised {type(e).__name__}: {e}", "construction")
        return report.close()
    name = type(opt).__name__
    report = Report(_answered(opt))
    twin = mc.SGD(ref, lr=0.1, momentum=0.9)
    for step, lr in enumerate((0.1, 0.1, 0.05, 0.02), 1):
        grads = [rng.standard_normal(a.shape).astype(np.float32) for a in start]
        for p, q, g in zip(mine, ref, grads):
            p.grad, q.grad = g.copy(), g.copy()
        opt.lr = twin.lr = lr
        case = f"step {step} (lr {lr})"
        try:
            opt.step()
        except Exception as e:                           # noqa: BLE001
            report.add(False, f"{name} ({whose_functions(opt)}) raised {type(e).__name__} at {case}: {e}", case)
            return report.close()
        twin.step()
        bad = sum(tolerance(np.asarray(p.data, np.float64), q.data.astype(np.float64), 1e-7, 1e-5)[0]
                  for p, q in zip(mine, ref))
        if bad:
            hint = ""
            if step == 2:
                hint = ": the first step was right, so look at the velocity: is it kept from one step to the next?"
            elif step == 3:
                hint = ": the first two steps were right, at lr 0.1; does the step read self.lr, which fit's schedule changes?"
            report.add(False, f"{name} ({whose_functions(opt)}) leaves {bad} weights unlike minicnn.SGD's "
                              f"after {case}{hint}", case)
            return report.close()
        if any(p.data.dtype != np.float32 for p in mine):
            report.add(False, f"{name} turned float32 weights into {[str(p.data.dtype) for p in mine]} at "
                              f"{case}", case)
            return report.close()
        report.add(True, f"{name} ({whose_functions(opt)}) matches minicnn.SGD after {case}", case)
    opt.zero_grad()
    cleared = all(p.grad is None or not np.any(p.grad) for p in mine)
    report.add(cleared, f"{name}.zero_grad() {'clears' if cleared else 'leaves'} every .grad", "zero_grad")
    return report.close()


# ------------------------------------------------------------------------------------------------
# The trained model, for lessons 07-09
# ------------------------------------------------------------------------------------------------


def saved_model_path(fast=None):
    """Where lesson 06 saves its trained lenet: mnist-lenet.npz (mnist-lenet-fast.npz in fast mode)
    in ``minicnn_lessons.work_dir()``."""
    fast = fast_mode() if fast is None else fast
    return work_dir() / ("mnist-lenet-fast.npz" if fast else "mnist-lenet.npz")


def save_for_later_lessons(state, history, test_accuracy, fast=None):
    """Save a lenet in minicnn's own layers holding ``state`` (a trained lenet's state_dict) where
    lessons 07-09 read it, with what minicnn train records beside it. Returns the path."""
    from minicnn.data import MNIST_CLASSES
    from minicnn.models import lenet

    run, path = settings(fast), saved_model_path(fast)
    model = lenet()
    model.load_state_dict(state)
    model.save(path, metadata=dict(
        classes=list(MNIST_CLASSES), dataset="mnist", model="lenet", input_shape=[1, 28, 28],
        epochs=run["epochs"], batch_size=run["batch_size"], lr=run["lr"], momentum=run["momentum"],
        schedule="linear", seed=run["seed"], augment=None, train_images=run["train_digits"], val_size=run["val_size"], split_seed=run["split_seed"],
        val_accuracy=history.val_acc[-1], test_accuracy=test_accuracy, trained=True))
    return path


def train_lenet(fast=None):
    """Lesson 06's run in minicnn's own layers: lenet from seed RUN["seed"], one pass over the
    training digits of ``digits()``, SGD with momentum, the learning rate falling linearly to 0.
    Returns (model, history); the learner's network, from the same weights, learns the same."""
    import minicnn as mc
    from minicnn.models import lenet
    from minicnn.train import fit, linear_decay

    run = settings(fast)
    x_train, y_train, x_val, y_val, _, _ = digits(fast)
    mc.manual_seed(run["seed"])
    model = lenet()
    history = fit(model, mc.NLLLoss(), mc.SGD(model.parameters(), lr=run["lr"], momentum=run["momentum"]),
                  x_train, y_train, epochs=run["epochs"], batch_size=run["batch_size"],
                  validation=(x_val, y_val), seed=run["seed"], lr_schedule=linear_decay(run["lr"]),
                  progress=False)
    return model, history


def trained_model(fast=None):
    """Lesson 06's trained lenet (a ``minicnn.Sequential`` with ``.metadata``), read from
    ``saved_model_path()``. If the file is missing (lesson 06 not run, or the file deleted), it is
    trained first as lesson 06 trains it, in minicnn's own layers (``train_lenet``): that gives the
    learner's network's weights up to rounding, and takes a few minutes in normal mode."""
    import minicnn as mc
    from minicnn.train import evaluate

    fast = fast_mode() if fast is None else fast
    path = saved_model_path(fast)
    if not path.exists():
        print(f"{path} is missing (it is saved by lesson 06): training it now in minicnn's layers, "
              f"as lesson 06 does" + (" (fast mode: a small subset)" if fast else ""), flush=True)
        model, history = train_lenet(fast)
        *_, x_test, y_test = digits(fast)
        save_for_later_lessons(model.state_dict(), history, evaluate(model, x_test, y_test)[1], fast)
    return mc.Sequential.load(path)
