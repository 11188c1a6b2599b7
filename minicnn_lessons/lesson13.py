"""Lesson 13, generalisation: the solutions and the checks of its two exercises.

Every check compares with an answer worked out another way (PyTorch's documented formula and
minicnn's own layers for the bound; plain loops over the units for the dead fraction), never
with the solution. It reports through the package's Report: one ✓ line per aspect when all are
right, else a ✗ line for each aspect that is wrong (with a hint where the mistake is
recognisable) and the aspects that were right.
"""
import math

import numpy as np

from minicnn_lessons import Report, call, whose

# ---------------------------------------------------------------------------------------------
# Solutions
# ---------------------------------------------------------------------------------------------


def kaiming_uniform_bound(shape, a=0.0):
    """The bound b of Kaiming-uniform initialisation: every weight is drawn from U(-b, b).

    shape: a weight's shape, Linear (out_features, in_features) or Conv2d (out_channels,
    in_channels, KH, KW). a: the negative slope of the (leaky) ReLU after the layer; 0 for ReLU.
    Returns b, a float.
    """
    fan_in = math.prod(shape[1:])                 # the inputs that one output adds up
    gain = math.sqrt(2.0 / (1.0 + a * a))         # what makes the ReLU's halving up
    return math.sqrt(3.0) * gain / math.sqrt(fan_in)   # U(-b, b) has variance b**2 / 3


def dead_fraction(activations):
    """The fraction of units that are never active on a batch.

    activations: a ReLU's output on a batch, (N, C, H, W), where a unit is a channel, or
    (N, F), where a unit is a feature. Returns a float in [0, 1]: the fraction of the units
    whose output is 0 for every image of the batch (and, for a channel, at every position).
    """
    N, units = activations.shape[:2]
    active = (activations.reshape(N, units, -1) > 0).any(axis=(0, 2))    # (units,)
    return float(1.0 - active.mean())


# ---------------------------------------------------------------------------------------------
# Check helpers
# ---------------------------------------------------------------------------------------------


def _number(got):
    """got as a Python float, or None when it is not one number."""
    try:
        value = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(value) if value.shape == () else None


def _aspect(fn, what, cases, said, rtol=1e-9, atol=1e-12):
    """(ok, line) for one aspect, checked on ``cases`` [(label, args, expected, hints)], where hints
    are [(text, what that mistake returns)]. A wrong answer's line ends with the hint that matches
    it, unless this check already said it (``said``: the hints printed so far)."""
    for label, args, expected, hints in cases:
        got, error = call(fn, *args)
        if error:
            return False, f"{whose(fn)} failed on {what} ({label}): {error}"
        value = _number(got)
        if value is None:
            return False, (f"{whose(fn)} returned {type(got).__name__} {getattr(got, 'shape', '')} for "
                           f"{what} ({label}); expected one number, {expected:.6g}")
        if not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
            text = f"{whose(fn)} is wrong for {what} ({label}): yours is {value:.6g}, expected {expected:.6g}"
            hint = next((h for h, wrong in hints if math.isclose(value, wrong, rel_tol=1e-6, abs_tol=1e-12)),
                        None)
            if hint and hint not in said:
                said.add(hint)
                text += f"\n    hint: {hint}"
            return False, text
    return True, f"{whose(fn)} is right for {what} ({len(cases)} case{'s' * (len(cases) > 1)})"


def _checked(fn, aspects):
    """Report each aspect, (what, run) with run(said) -> (ok, line), through the package's Report:
    one ✓ line per aspect when all pass, else a ✗ line for each that failed. True if all passed."""
    report, said = Report(fn), set()
    for what, run in aspects:
        report.add(*run(said), what)
    return report.close()


# ---------------------------------------------------------------------------------------------
# Check of exercise 1: Kaiming-uniform's bound
# ---------------------------------------------------------------------------------------------


def _pytorch_bound(shape, a):
    """The bound as PyTorch's documentation of torch.nn.init.kaiming_uniform_ writes it:
    gain = calculate_gain('leaky_relu', a), std = gain / sqrt(fan_in), bound = sqrt(3) * std,
    where fan_in = size(1) * receptive field size."""
    receptive_field = 1
    for k in shape[2:]:
        receptive_field *= k
    fan_in = shape[1] * receptive_field
    std = math.sqrt(2.0 / (1 + a ** 2)) / math.sqrt(fan_in)
    return math.sqrt(3.0) * std


def _bound_mistakes(shape, a):
    """What the typical wrong bounds give for ``shape`` and ``a``: [(hint, value)]."""
    fan_in = math.prod(shape[1:])
    fan_out = shape[0] * math.prod(shape[2:])
    gain2 = 2.0 / (1 + a * a)
    return [
        ("fan_in counts the inputs of one output: in_channels * KH * KW for a convolution; "
         "shape[1] alone leaves out the kernel's KH * KW.", math.sqrt(3 * gain2 / shape[1])),
        ("you used fan_out, the outputs one input feeds (shape[0] * KH * KW); Kaiming's rule keeps "
         "the forward signal's scale with fan_in (shape[1] * KH * KW).", math.sqrt(3 * gain2 / fan_out)),
        ("that is the standard deviation gain / sqrt(fan_in). U(-b, b) has variance b**2 / 3, so "
         "b = sqrt(3) * std.", math.sqrt(gain2 / fan_in)),
        ("that is the variance gain**2 / fan_in, not a bound: take its square root, times sqrt(3).",
         gain2 / fan_in),
        ("the gain is the square root of 2 / (1 + a**2), not 2 / (1 + a**2) itself.",
         math.sqrt(3.0) * gain2 / math.sqrt(fan_in)),
        ("your bound ignores a: the gain is sqrt(2 / (1 + a**2)).", math.sqrt(6.0 / fan_in)),
        ("you divided by fan_in, not by its square root.", math.sqrt(3 * gain2) / fan_in),
        ("fan_in is the product of shape[1:], not shape[-1] (a convolution's KW).",
         math.sqrt(3 * gain2 / shape[-1])),
    ]


def _bound_case(label, shape, a):
    return label, (shape, a), _pytorch_bound(shape, a), _bound_mistakes(shape, a)


def _fills_minicnn_layers(fn):
    """(ok, line): minicnn's Linear and Conv2d draw from U(-b, b) with PyTorch's default a = sqrt(5);
    their weights must lie inside your bound and come close to it."""
    import minicnn as mc

    mc.manual_seed(0)
    for layer, label in [(mc.Linear(300, 40), "minicnn.Linear(300, 40)"),
                         (mc.Conv2d(6, 16, 5), "minicnn.Conv2d(6, 16, 5)")]:
        w = mc.to_numpy(layer.weight.data).astype(np.float64)
        got, error = call(fn, tuple(w.shape), math.sqrt(5))
        b = _number(got)
        if error or b is None:
            return False, (f"{whose(fn)} gave {error or repr(got)} for {label}'s weight shape "
                           f"{tuple(w.shape)} with a = sqrt(5)")
        largest = float(np.abs(w).max())
        if not (largest <= b * (1 + 1e-6) and largest >= 0.99 * b):
            return False, (f"{whose(fn)}: {label}'s {w.size:,} weights, drawn with PyTorch's default "
                           f"a = sqrt(5), reach {largest:.6g}; your bound is {b:.6g}")
    return True, (f"{whose(fn)} with a = sqrt(5) is the bound minicnn's Linear and Conv2d draw their "
                  "weights from (their weights fill U(-b, b))")


def check_kaiming_uniform_bound(fn):
    """Check the bound for Linear and Conv2d shapes, for ReLU (a = 0), a leaky ReLU and PyTorch's
    default a = sqrt(5); then against the weights of minicnn's own layers."""
    aspects = [
        ("a Linear weight, ReLU (a = 0)", [
            _bound_case("shape (128, 256)", (128, 256), 0.0),
            _bound_case("shape (10, 50)", (10, 50), 0.0)]),
        ("a Conv2d weight: fan_in = in_channels * KH * KW", [
            _bound_case("shape (16, 8, 5, 5)", (16, 8, 5, 5), 0.0),
            _bound_case("shape (4, 3, 3, 2)", (4, 3, 3, 2), 0.0)]),
        ("the slope a of a leaky ReLU in the gain", [
            _bound_case("shape (32, 16, 3, 3), a = 0.1", (32, 16, 3, 3), 0.1),
            _bound_case("shape (20, 40), a = sqrt(5)", (20, 40), math.sqrt(5))]),
    ]
    return _checked(fn, [(what, lambda said, what=what, cases=cases: _aspect(fn, what, cases, said))
                         for what, cases in aspects]
                    + [("minicnn's own layers", lambda said: _fills_minicnn_layers(fn))])


# ---------------------------------------------------------------------------------------------
# Check of exercise 2: the fraction of dead units
# ---------------------------------------------------------------------------------------------


def _dead_by_loops(a):
    """The fraction of dead units, one unit at a time: a unit is alive if any of its numbers is > 0."""
    units = a.shape[1]
    dead = 0
    for u in range(units):
        alive = False
        for value in a[:, u].ravel():
            if value > 0:
                alive = True
                break
        dead += not alive
    return dead / units


def _dead_mistakes(a):
    """What the typical wrong answers give on the batch ``a``: [(hint, value)]."""
    N, units = a.shape[:2]
    per_unit = a.reshape(N, units, -1)
    return [
        ("that is the fraction of all numbers that are 0 (how sparse the activations are); a unit is "
         "dead only if it is 0 for every image.", float((a == 0).mean())),
        ("you counted a unit as dead when it is 0 for SOME image (any); it is dead when it is 0 for "
         "ALL images (and positions).", float((per_unit == 0).any(axis=(0, 2)).mean())),
        ("after a ReLU no number is below 0, so testing < 0 finds nothing: a dead unit's numbers "
         "are exactly 0 (test <= 0, or look for any > 0).", float((per_unit < 0).all(axis=(0, 2)).mean())),
        ("you looked at the first image only; a unit is dead if no image of the batch makes it fire.",
         float((per_unit[0] <= 0).all(axis=1).mean())),
        ("you counted the dead units; the exercise asks for a fraction of the units.",
         float((per_unit <= 0).all(axis=(0, 2)).sum())),
        ("you reduced over the units instead of over the images: that is the fraction of images for "
         "which every unit is 0.", float((per_unit <= 0).all(axis=(1, 2)).mean())),
        ("for a convolution a unit is a channel: you counted (channel, row, column) positions that "
         "are 0 for every image.", float((per_unit <= 0).all(axis=0).mean())),
        ("you averaged, over the images, the fraction of units that are 0 on that image.",
         float((per_unit <= 0).all(axis=2).mean())),
    ]


def _dead_case(label, a):
    return label, (a,), _dead_by_loops(a), _dead_mistakes(a)


def _batches():
    """Batches with known dead units, made so that each typical mistake gives another number."""
    rng = np.random.default_rng(13)
    conv = np.maximum(rng.standard_normal((6, 5, 3, 4)), 0)          # (N, C, H, W), after a ReLU
    conv[:, 1] = 0.0                                                  # dead
    conv[:, 3] = 0.0                                                  # dead
    conv[:, 2] = 0.0
    conv[4, 2, 1, 3] = 0.7                                            # alive: one image, one position
    conv[:, 4] = 0.0
    conv[:, 4, 0, 0] = rng.uniform(0.1, 1.0, 6)                       # alive, at one position only
    conv[2, 0] = 0.0                                                  # one image silences channel 0
    features = np.maximum(rng.standard_normal((7, 10)), 0)            # (N, F)
    features[:, [0, 4, 9]] = 0.0                                      # dead
    features[:, 5] = 0.0
    features[3, 5] = 1e-30                                            # alive, if barely
    features[0] = 0.0                                                 # the first image silences all
    return conv, features


def check_dead_fraction(fn):
    """Check the dead fraction on batches with known dead units: channels (N, C, H, W) and
    features (N, F); units alive on one image or one position only; float32; none and all dead."""
    conv, features = _batches()
    alive = np.abs(np.random.default_rng(1).standard_normal((4, 3, 5, 5))) + 0.1
    aspects = [
        ("features (N, F): a unit is dead when it is 0 for every image", [
            _dead_case("7 images, 10 features", features)]),
        ("channels (N, C, H, W): a channel is dead when it is 0 everywhere", [
            _dead_case("6 images, 5 channels of 3 x 4", conv)]),
        ("no unit dead, every unit dead", [
            _dead_case("all positive", alive),
            _dead_case("all zero", np.zeros((4, 3, 5, 5)))]),
        ("float32 activations", [
            _dead_case("the channels, in float32", conv.astype(np.float32))]),
    ]
    return _checked(fn, [(what, lambda said, what=what, cases=cases: _aspect(fn, what, cases, said))
                         for what, cases in aspects])
