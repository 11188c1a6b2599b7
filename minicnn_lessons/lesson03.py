"""Lesson 03: log-softmax and the NLL loss. The solutions, and the checks of the learner's versions.

Each check runs the version that answered on cases chosen to catch the usual mistakes and prints
one ✓ line per case when all of them pass. When one fails it prints a ✗ line for each case that
failed, with a hint where the mistake is recognisable, and lists the cases that were right
(without a ✓: a check that failed has not passed anything).
"""
import numpy as np

from . import Report, call, close_to, compare, whose

# ------------------------------------------------------------------------------------------------
# The solutions
# ------------------------------------------------------------------------------------------------


def log_softmax(z):
    """z (N, K) -> log-probabilities (N, K), stable for scores of any size."""
    m = z.max(axis=1, keepdims=True)                             # (N, 1): the largest score of each row
    shifted = z - m                                              # (N, K), every entry <= 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def nll_loss(log_probs, target):
    """log_probs (N, K), target (N,) int -> (loss: float, dL/dlog_probs: (N, K))."""
    N = log_probs.shape[0]
    loss = float(-log_probs[np.arange(N), target].mean())
    grad = np.zeros_like(log_probs)                              # (N, K): only the picked entries matter
    grad[np.arange(N), target] = -1.0 / N
    return loss, grad


def log_softmax_backward(grad_y, y):
    """grad_y: dL/dy (N, K), y: the forward's output, log-probabilities (N, K) -> dL/dz (N, K)."""
    p = np.exp(y)                                                # softmax, (N, K)
    return grad_y - p * grad_y.sum(axis=1, keepdims=True)


def _reference_log_softmax(z, axis=1):
    """log-softmax in float64, independent of the learner's version (and of the dtype asked)."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=axis, keepdims=True)
    return (z - m) - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


# ------------------------------------------------------------------------------------------------
# Exercise 1: log_softmax
# ------------------------------------------------------------------------------------------------


def check_log_softmax(fn):
    """Ordinary, huge and tiny scores, and rows on different scales; float64 and float32 (whose dtype
    must be kept). One line per case."""
    rng = np.random.default_rng(3)
    over32 = float(np.log(np.finfo(np.float32).max))
    cases = [  # (name, z (N, K) with N != K, dtypes, what a nan or inf there usually means)
        ("ordinary scores (5 samples x 7 classes)", 2 * rng.standard_normal((5, 7)),
         (np.float64, np.float32), None),
        ("scores near 1000", 1000 + rng.standard_normal((4, 6)), (np.float64, np.float32),
         "exp(1000) overflows to inf (and inf / inf is nan): subtract each row's largest score "
         "before taking exp"),
        ("scores near 100", 100 + rng.standard_normal((3, 5)), (np.float32,),
         f"In float32, exp overflows above {over32:.1f}: subtract each row's largest score before exp"),
        ("rows on different scales (near 0, near 800, near -800)",
         np.stack([rng.standard_normal(6), 800 + rng.standard_normal(6), -800 + rng.standard_normal(6)]),
         (np.float64, np.float32),
         "Each row needs its own maximum (axis=1, keepdims=True): shifted by the largest score of the "
         "whole batch, a row of small scores underflows to exp(-800) = 0"),
        ("scores [0, -120]", np.array([[0.0, -120.0], [-120.0, 0.0], [3.0, -117.0]]), (np.float32,),
         "The probability e^-120 is below the smallest float32, so it becomes 0 and its log -inf: "
         "take the log of the formula, (z - m) - log(sum(exp(z - m))), not the log of a probability"),
    ]
    report = Report(fn)
    for name, z, dtypes, hint in cases:
        names = " and ".join(np.dtype(d).name for d in dtypes)
        for dtype in dtypes:
            what = f"{name} in {np.dtype(dtype).name}"
            zt = z.astype(dtype)
            got, error = call(fn, zt.copy())
            if error:
                ok, text = False, f"{whose(fn)} failed on {what}: {error}"
                break
            ok, text = compare(fn, got, _reference_log_softmax(zt), what,
                               rtol=1e-5 if dtype == np.float64 else 2e-5,
                               atol=1e-9 if dtype == np.float64 else 1e-5, dtype=dtype)
            if ok:
                continue
            if hint and "nan or inf" in text:
                text += f". {hint}"
            elif getattr(got, "shape", None) == z.shape and \
                    close_to(got, _reference_log_softmax(zt, axis=0), 1e-4, 1e-4):
                text += (". Yours normalises over axis 0, down the batch: each row (one sample) must "
                         "sum to 1 over its classes, axis 1")
            break
        if ok:
            text = f"{whose(fn)} is right for {name} in {names}"
        report.add(ok, text, name)
    return report.close()


# ------------------------------------------------------------------------------------------------
# Exercise 2: nll_loss
# ------------------------------------------------------------------------------------------------


def check_nll_loss(fn):
    """The loss and its gradient for a batch of 8 (10 classes, float64) and of 3 (5 classes, float32)."""
    rng = np.random.default_rng(4)
    report = Report(fn)
    for n, k, dtype in [(8, 10, np.float64), (3, 5, np.float32)]:
        log_probs = _reference_log_softmax(2 * rng.standard_normal((n, k))).astype(dtype)
        target = rng.permutation(np.arange(n) % k)
        where = f"a batch of {n} ({k} classes, {np.dtype(dtype).name})"
        out, error = call(fn, log_probs.copy(), target)
        if error or not (isinstance(out, tuple) and len(out) == 2):
            report.add(False, f"{whose(fn)} on {where}: " + (error or f"returned {type(out).__name__}, "
                                                             f"expected a pair (loss, grad)"), where)
            continue
        loss, grad = out
        expected = -log_probs[np.arange(n), target].astype(np.float64).mean()
        expected_grad = np.zeros((n, k))
        expected_grad[np.arange(n), target] = -1.0 / n
        try:
            loss = float(loss)
        except (TypeError, ValueError):
            report.add(False, f"{whose(fn)}'s loss on {where} is not one number: it has shape "
                              f"{np.shape(loss)}", f"the loss on {where}")
        else:
            ok = bool(np.isclose(loss, expected, rtol=1e-5, atol=0))
            text = (f"{whose(fn)} gives the right loss on {where} ({loss:.6g})" if ok else
                    f"{whose(fn)} gives the loss {loss:.6g} on {where}, expected {expected:.6g}")
            if not ok and np.isclose(loss, n * expected, rtol=1e-5):
                text += ". That is the sum over the batch; the loss is the mean (divide by N)"
            elif not ok and np.isclose(loss, -expected, rtol=1e-5):
                text += ". The sign is wrong: the loss is MINUS the mean log-probability, and never negative"
            report.add(ok, text, f"the loss on {where}")
        ok, text = compare(fn, grad, expected_grad, f"the gradient on {where}", rtol=1e-5, atol=1e-7,
                           dtype=dtype)
        if not ok and close_to(grad, -expected_grad):
            text += (". The sign is wrong: raising the true class's log-probability lowers the loss, "
                     "so its gradient is negative")
        elif not ok and close_to(grad, n * expected_grad):
            text += ". Not divided by N: the loss is a mean, so each sample's share of the gradient is 1/N"
        elif not ok and close_to(grad, -n * expected_grad):
            text += ". Wrong sign and not divided by N"
        report.add(ok, text, f"the gradient on {where}")
    return report.close()


# ------------------------------------------------------------------------------------------------
# Exercise 3: log_softmax_backward
# ------------------------------------------------------------------------------------------------


def check_log_softmax_backward(fn):
    """A random upstream gradient (an all-ones one would hide mistakes, lesson 04), 6 samples x 9
    classes, in float64 and float32; then gradcheck: the numerical gradient of sum(G * log_softmax(z))."""
    import minicnn as mc

    rng = np.random.default_rng(5)
    z = 3 * rng.standard_normal((6, 9))
    g = rng.standard_normal((6, 9))
    y = _reference_log_softmax(z)
    p = np.exp(y)
    expected = g - p * g.sum(axis=1, keepdims=True)
    report = Report(fn)
    case = "a random upstream gradient (6 samples x 9 classes)"
    for dtype in (np.float64, np.float32):
        what = f"{case} in {np.dtype(dtype).name}"
        got, error = call(fn, g.astype(dtype), y.astype(dtype))
        if error:
            ok, text = False, f"{whose(fn)} failed on {what}: {error}"
            break
        ok, text = compare(fn, got, expected, what, rtol=1e-5 if dtype == np.float64 else 1e-4,
                           atol=1e-9 if dtype == np.float64 else 1e-5, dtype=dtype)
        if ok:
            continue
        if close_to(got, g):
            text += (". Yours returns the upstream gradient unchanged, but every output depends on every "
                     "score of its row: that gives the term - softmax * (the row's sum of grad_y)")
        elif close_to(got, g * (1 - z.shape[1] * p), 1e-4, 1e-6):
            text += (". Yours multiplies grad_y elementwise by d(sum of outputs)/dz, which is right only "
                     "when grad_y is all ones: the row's sum of grad_y belongs in the formula")
        elif close_to(got, g - p * g.sum(axis=0, keepdims=True), 1e-4, 1e-6):
            text += ". Yours sums grad_y over axis 0 (the batch); the sum runs over each row's classes, axis 1"
        break
    if ok:
        text = f"{whose(fn)} is right for {case} in float64 and float32"
    report.add(ok, text, case)
    result, error = call(mc.gradcheck, (log_softmax, lambda grad: fn(grad, log_softmax(z))), z)
    report.add(not error and bool(result), f"{whose(fn)} in gradcheck (the numerical gradient of "
                                           f"sum(G * log_softmax(z)), G random): {error or repr(result)}",
               "gradcheck")
    return report.close()
