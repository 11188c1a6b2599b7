"""Numerical gradient checking by central differences, in float64.

The check compares a hand-written backward with (f(x + eps) - f(x - eps)) / 2eps for the input AND
every parameter. The scalar it differentiates is sum(G * forward(x)) with a RANDOM upstream gradient G:
with G all ones it would only check sum(output), which cannot see, for example, a wrong log-softmax
backward (the rows of its gradient always sum to zero).
"""
import contextlib
import copy
import inspect

import numpy as np

from . import backend
from .backend import get_array_module, to_numpy


class GradcheckResult:
    """Truthy when every gradient matched; says the worst relative error and where."""

    def __init__(self, ok, max_rel_error, worst, errors, problems):
        self.ok, self.max_rel_error, self.worst = ok, max_rel_error, worst
        self.errors = errors          # {tensor name: its worst relative error}
        self.problems = problems      # {tensor name: why it failed}
        self.messages = [f"{name}: {why}" for name, why in problems.items()]

    def __bool__(self):
        return self.ok

    def __repr__(self):
        verdict = "passed" if self.ok else "FAILED"
        text = f"gradcheck {verdict}: worst relative error {self.max_rel_error:.2e}"
        if self.worst:
            name, idx, a, n = self.worst
            text += f" in {name}{list(idx)} (backward {a:.6g}, numerical {n:.6g})"
        return text + "".join(f"\n  {m}" for m in self.messages)


def _takes_no_gradient(backward):
    try:
        params = inspect.signature(backward).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in params)


@contextlib.contextmanager
def same_random_numbers(seed, like):
    """Every forward run inside draws the same random numbers, so a dropout mask stays the same."""
    saved = backend._rng
    backend._rng = np.random.default_rng(seed)
    if backend.is_gpu_array(like):
        import cupy
        cupy.random.seed(seed)
    try:
        yield
    finally:
        backend._rng = saved


def compare(actual, expected, atol, rtol):
    """The one tolerance comparison of minicnn (gradcheck, check_layer, the lessons' checks):
    elementwise |actual - expected| <= atol + rtol * |expected|, on NumPy arrays of one shape.

    Returns (elements out of tolerance, worst relative error, index of the element farthest out,
    how far out: above 1 fails). Equal values pass (infinities too); NaN, or inf against another value, fail.
    """
    if not actual.size:
        return 0, 0.0, (), 0.0
    same = actual == expected
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):    # atol = 0 against a 0
        diff = np.where(same, 0.0, np.abs(actual - expected))
        score = diff / (atol + rtol * np.abs(expected))
        scale = np.maximum(np.abs(actual), np.abs(expected))
        rel = np.where(same | (scale <= atol), 0.0, diff / np.maximum(scale, 1e-300))
    broken = ~same & ~(np.isfinite(actual) & np.isfinite(expected))   # NaN, or inf against another value
    score, rel = (np.where(broken, np.inf, a) for a in (score, rel))
    k = np.unravel_index(int(score.argmax()), score.shape)
    return int((score > 1).sum()), float(rel.max()), tuple(int(i) for i in k), float(score[k])


def gradcheck(layer_or_function, x, *args, eps=1e-6, atol=1e-7, rtol=1e-5, seed=0):
    """Check input and parameter gradients of a layer, loss or (forward, backward) pair.

    layer_or_function: anything with ``forward`` and ``backward`` (copied and cast to float64 first;
        the original is untouched), or a pair ``(forward(x, *args) -> y, backward(dy) -> dx)``.
    x: the input (cast to float64); ``args`` go to forward unchanged (a loss's target, say).
    Returns a GradcheckResult, truthy when every element is within atol + rtol * |numerical|.
    """
    if isinstance(layer_or_function, tuple):
        forward, backward_fn = layer_or_function
        named = []
    else:
        layer = copy.deepcopy(layer_or_function)
        if hasattr(layer, "to"):
            layer.to(dtype=np.float64)
        forward, backward_fn = layer.forward, layer.backward
        named = list(layer.named_parameters()) if hasattr(layer, "named_parameters") else []
    is_loss = _takes_no_gradient(backward_fn)
    xp = get_array_module(x)
    x = xp.array(x, dtype=np.float64)

    def run_forward(inp):
        with same_random_numbers(seed, inp):
            return forward(inp, *args)

    y = run_forward(x)
    upstream_rng = np.random.default_rng(seed + 1)
    if is_loss:
        g = float(upstream_rng.standard_normal())
        objective = lambda out: float(out) * g                     # noqa: E731
        dx = backward_fn() * g
    else:
        g = xp.asarray(upstream_rng.standard_normal(y.shape))
        objective = lambda out: float((g * out).sum())             # noqa: E731
        dx = backward_fn(g)

    checks = [("input", x, dx)] + [(name, p.data, p.grad) for name, p in named]
    problems, errors = {}, {}
    max_rel, worst, worst_score = 0.0, None, -1.0
    for name, arr, analytic in checks:
        if analytic is None:
            problems[name] = "backward did not produce a gradient (it is None)"
            continue
        analytic = to_numpy(analytic).astype(np.float64)
        if analytic.shape != tuple(arr.shape):
            problems[name] = f"gradient has shape {analytic.shape}, expected {tuple(arr.shape)}"
            continue
        numeric = np.zeros(arr.shape)
        flat = arr.reshape(-1)  # a view: editing it moves the layer's own array
        for i in range(flat.size):
            old = float(flat[i])
            flat[i] = old + eps
            f_plus = objective(run_forward(x))
            flat[i] = old - eps
            f_minus = objective(run_forward(x))
            flat[i] = old
            numeric.flat[i] = (f_plus - f_minus) / (2 * eps)
        bad, errors[name], idx, score = compare(analytic, numeric, atol, rtol)
        max_rel = max(max_rel, errors[name])
        if arr.size and score > worst_score:
            worst_score, worst = score, (name, idx, float(analytic[idx]), float(numeric[idx]))
        if bad:
            problems[name] = (f"{bad} of {arr.size} elements differ (worst relative error "
                              f"{errors[name]:.2e})")
    return GradcheckResult(not problems, max_rel, worst, errors, problems)
