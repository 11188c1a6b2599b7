"""Lesson 07: looking inside the network. The trained model the lessons 07-09 share, the
solution of the saliency-map exercise, and its check.

The check runs the version that answered on a small network of its own (float64, so that finite
differences are exact to many digits) and prints one ✓ line per case when all of them pass. When
one fails it prints a ✗ line for each case that failed, with a hint where the mistake is
recognisable, and lists the cases that were right.
"""
import numpy as np

from . import Report, call, close_to, compare, whose

# The network lesson 06 trains and saves (lessons 07-09 read it; it is trained first if missing)
from .lesson06 import FAST_RUN, saved_model_path, trained_model  # noqa: E402,F401


# ------------------------------------------------------------------------------------------------
# The solution
# ------------------------------------------------------------------------------------------------


def saliency_map(model, x, target):
    """model: a network ending in LogSoftmax; x: one image as a batch (1, 1, H, W); target: a class.
    Returns |d s_target / d x| as (H, W), where s = the scores before the LogSoftmax."""
    import minicnn as mc

    scorer = mc.Sequential(*model.layers[:-1])       # the same layer objects, without the LogSoftmax
    scores = scorer.forward(x)                       # (1, K)
    one_hot = np.zeros_like(scores)                  # d s_target / d scores
    one_hot[0, target] = 1.0
    grad_x = scorer.backward(one_hot, input_grad=True)   # (1, 1, H, W): backward returns d s / d x
    return np.abs(grad_x[0, 0])                      # (H, W)


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _networks():
    """Two networks of the zoo's shape (Conv2d -> MaxPool2d -> ReLU, ..., Linear, LogSoftmax) with
    random weights, each in float64 and float32: a small one on non-square (1, 1, 12, 16) images with
    5 classes, and lenet on (1, 1, 28, 28). Built without touching minicnn's random generator, so that
    the check never changes what a notebook's later cells draw."""
    import minicnn as mc
    from minicnn.backend import cpu_rng
    from minicnn.models import lenet

    def small():
        return mc.Sequential(mc.Conv2d(1, 4, 3), mc.MaxPool2d(2), mc.ReLU(), mc.Flatten(),
                             mc.Linear(4 * 5 * 7, 16), mc.ReLU(), mc.Linear(16, 5), mc.LogSoftmax(dim=1))

    generator = cpu_rng()
    state = generator.bit_generator.state
    try:
        rng = np.random.default_rng(7)
        nets = {}
        for name, build in (("small", small), ("lenet", lenet)):
            weights = None
            for dtype in (np.float64, np.float32):
                net = build()
                if weights is None:          # the same random weights in both precisions
                    weights = [rng.standard_normal(p.data.shape) * (1.5 / np.sqrt(np.prod(p.data.shape[1:])))
                               if p.data.ndim > 1 else 0.1 * rng.standard_normal(p.data.shape)
                               for p in net.parameters()]
                for p, w in zip(net.parameters(), weights):
                    p.data = w.astype(dtype)
                nets[name, np.dtype(dtype).name] = net
    finally:
        generator.bit_generator.state = state
    return nets


def _input_gradient(model, x, target=None, through_log_softmax=False):
    """d s_target / d x, signed, (H, W), by minicnn's own backward: s = the scores before the
    LogSoftmax (or log p with ``through_log_softmax``); target None: the sum of all scores."""
    import minicnn as mc
    net = model if through_log_softmax else mc.Sequential(*model.layers[:-1])
    out = net.forward(x)                                                  # (1, K)
    upstream = np.ones_like(out) if target is None else np.zeros_like(out)
    if target is not None:
        upstream[0, target] = 1.0
    grad = net.backward(upstream, input_grad=True)[0, 0]                  # (H, W)
    model.zero_grad()
    return np.asarray(grad, dtype=np.float64)


def _finite_differences(model64, x, target, pixels, eps=1e-6):
    """Central differences of the score s_target (float64) at each (row, column) of ``pixels``."""
    import minicnn as mc
    scorer = mc.Sequential(*model64.layers[:-1])
    batch = np.repeat(x.astype(np.float64), 2 * len(pixels), axis=0)      # (2P, 1, H, W)
    for k, (i, j) in enumerate(pixels):
        batch[2 * k, 0, i, j] += eps
        batch[2 * k + 1, 0, i, j] -= eps
    s = np.asarray(scorer.forward(batch))[:, target]                      # (2P,)
    return (s[0::2] - s[1::2]) / (2 * eps)


def _hint(got, model, x, target):
    """A sentence naming the mistake when ``got`` is recognisably one, else ''. model: float64."""
    shape = tuple(getattr(got, "shape", ()))
    h, w = x.shape[-2:]
    if shape in {tuple(p.data.shape) for p in model.parameters()}:
        return (". That is the shape of a weight: the saliency map is the gradient with respect to the "
                "input image, which is what backward(..., input_grad=True) returns")
    if shape in ((1, 1, h, w), (1, h, w)):
        return f". Drop the batch and channel axes: the map is (H, W) = {(h, w)}"
    if shape != (h, w):
        return ""
    got = np.asarray(got, dtype=np.float64)
    signed = _input_gradient(model, x, target)
    top = max(float(np.abs(signed).max()), 1e-12)

    def like(candidate):
        return close_to(got, candidate, rtol=1e-3, atol=1e-4 * top)

    if like(signed):
        return ". That is the signed gradient: the map asked for is its absolute value, |d s / d x|"
    if like(np.abs(_input_gradient(model, x, target, through_log_softmax=True))):
        return (". That is the gradient of the log-probability log p_target: the LogSoftmax mixes in "
                "every other class's score. The map asked for is the gradient of the score before "
                "the LogSoftmax (model.layers[:-1])")
    if like(np.abs(_input_gradient(model, x, None))):
        return (". That is the gradient of the sum of all scores: the upstream gradient must be one-hot, "
                "1 at the target class and 0 elsewhere")
    classes = np.asarray(model.forward(x)).shape[1]
    predicted = int(np.argmax(np.asarray(model.forward(x))[0]))
    for other in [predicted] + [k for k in range(classes) if k != predicted]:
        if other != target and like(np.abs(_input_gradient(model, x, other))):
            who = f"the predicted class {other}" if other == predicted else f"class {other}"
            return (f". That is the map of {who}, not of the target {target}: the one-hot gradient has "
                    f"its 1 at [0, target]")
    return ""


def check_saliency_map(fn):
    """Three calls on a small float64 network with a non-square image (a class the network thinks
    unlikely, the predicted class, the first again: nothing may carry over between calls), each
    against central finite differences of the score at every pixel; then lenet in float32 (the
    precision of the trained network), against finite differences at a few pixels in float64."""
    nets = _networks()
    rng = np.random.default_rng(11)
    report = Report(fn)

    small64 = nets["small", "float64"]
    x = rng.random((1, 1, 12, 16))
    scores = np.asarray(small64.forward(x))[0]
    unlikely, predicted = int(np.argmin(scores)), int(np.argmax(scores))
    every_pixel = [(i, j) for i in range(12) for j in range(16)]
    exact = {t: np.abs(_finite_differences(small64, x, t, every_pixel)).reshape(12, 16)
             for t in (unlikely, predicted)}
    for target, what in [(unlikely, f"class {unlikely}, which the small network finds least likely"),
                         (predicted, f"class {predicted}, the small network's prediction"),
                         (unlikely, f"class {unlikely} again (nothing may carry over from the calls before)")]:
        case = f"{what}, a 12x16 image, float64"
        got, error = call(fn, small64, x.copy(), target)
        if error:
            report.add(False, f"{whose(fn)} failed on {case}: {error}", case)
            continue
        ok, text = compare(fn, got, exact[target], f"{case}, against finite differences at all 192 pixels",
                           rtol=1e-5, atol=1e-8)
        if not ok:
            text += _hint(got, small64, x, target)
        report.add(ok, text, case)

    lenet64, lenet32 = nets["lenet", "float64"], nets["lenet", "float32"]
    x = rng.random((1, 1, 28, 28)).astype(np.float32)
    target = int(np.argsort(np.asarray(lenet64.forward(x.astype(np.float64)))[0])[-2])  # runner-up
    case = f"lenet in float32, a 28x28 image, class {target} (the runner-up)"
    got, error = call(fn, lenet32, x.copy(), target)
    if error:
        report.add(False, f"{whose(fn)} failed on {case}: {error}", case)
        return report.close()
    reference = np.abs(_input_gradient(lenet64, x.astype(np.float64), target))     # (28, 28)
    ok, text = compare(fn, got, reference, case, rtol=1e-3, atol=1e-4 * reference.max())
    if ok:
        strongest = np.argsort(-reference, axis=None)[:5]
        pixels = [tuple(int(v) for v in np.unravel_index(k, reference.shape)) for k in strongest]
        pixels += [tuple(int(v) for v in p) for p in rng.integers(0, 28, (5, 2))]
        fd = np.abs(_finite_differences(lenet64, x, target, pixels))
        mine = np.array([float(got[i, j]) for i, j in pixels])
        ok = close_to(mine, fd, rtol=1e-3, atol=1e-4 * reference.max())
        text = (f"{whose(fn)} is right for {case}: at the 5 most salient and 5 random pixels it agrees "
                f"with finite differences of the score in float64 (largest difference "
                f"{np.abs(mine - fd).max():.1e})" if ok else
                f"{whose(fn)} disagrees with finite differences of the score for {case}")
    else:
        text += _hint(got, lenet64, x.astype(np.float64), target)
    report.add(ok, text, case)
    return report.close()
