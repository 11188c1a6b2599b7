"""check_layer: test a layer you wrote, forward and backward, in one call (docs/testing-your-layer.md).

    from minicnn.testing import check_layer
    check_layer(LeakyReLU(0.1), (2, 3, 4, 4), torch_module=lambda nn: nn.LeakyReLU(0.1))
"""
import copy
import os
import traceback

import numpy as np

from . import backend
from .backend import get_array_module, to_numpy
from .gradcheck import compare, gradcheck, same_random_numbers
from .layers.module import Module, Parameter
from .optional import optional

# An error is reported at its last line outside these files: theirs say nothing about the layer's bug.
_MACHINERY = (os.path.dirname(np.__file__) + os.sep, __file__, backend.__file__,
              gradcheck.__code__.co_filename, Parameter.accumulate.__code__.co_filename)


class Check:
    """One check's verdict ("passed", "FAILED" or "skipped"), its worst error, and where."""
    def __init__(self, verdict, error=None, tensor="", index=None, sentence="", errors=None):
        self.name, self.verdict, self.error = "", verdict, error
        self.tensor, self.index, self.sentence = tensor, index, sentence
        self.errors = errors or {}            # {tensor: worst relative error}, for the checks that compare

    def __bool__(self):
        return self.verdict != "FAILED"

    @property
    def where(self):
        if self.index is not None:
            return f"{self.tensor}[{', '.join(map(str, self.index))}]"
        return self.tensor or (self.sentence if self else "")

    def headline(self):
        at = "" if self.index is None else f" at index {tuple(self.index)}"
        return f"{self.name} FAILED{' for ' + self.tensor if self.tensor else ''}{at}: {self.sentence}"


class LayerReport:
    """What check_layer found: truthy when no check failed; prints as a table; report["gradients"]."""
    def __init__(self, layer_name, checks):
        self.layer_name, self.checks = layer_name, checks

    def __bool__(self):
        return all(self.checks)

    def __getitem__(self, name):
        return {c.name: c for c in self.checks}[name]

    def __str__(self):
        failed = [c for c in self.checks if not c]
        skipped = sum(c.verdict == "skipped" for c in self.checks)
        first = failed[0].headline() if failed else f"{len(self.checks) - skipped} passed, {skipped} skipped"
        rows = [("check", "verdict", "worst error", "where")] + [
            (c.name, c.verdict, "-" if c.error is None else f"{c.error:.1e}", c.where) for c in self.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        table = ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
        also = [f"  and {c.headline()}" for i, c in enumerate(failed)       # each different failure once
                if i and c.sentence not in (d.sentence for d in failed[:i])]
        return "\n".join([f"check_layer({self.layer_name}): {first}"] + table + also)

    __repr__ = __str__


class _Failure(Exception):         # a check failed: its sentence, and the tensor and index where known
    def __init__(self, sentence, tensor="", index=None, error=None, errors=None):
        super().__init__(sentence)
        self.check = Check("FAILED", error, tensor, index, sentence, errors)


def _call(layer, what, function, *args):
    """Run the layer's code; an exception becomes one sentence with the layer's line that raised it."""
    try:
        return function(*args)
    except Exception as e:  # noqa: BLE001 - an error in the layer is a finding, not a crash
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if not f.filename.startswith(_MACHINERY) and f"{os.sep}cupy{os.sep}" not in f.filename]
        at = "".join(f" at {os.path.basename(f.filename)}:{f.lineno} ({f.line.split('  #')[0].rstrip()})"
                     for f in frames[-1:])                    # the line without its comment
        owners = [frame.f_locals["self"] for frame, _ in traceback.walk_tb(e.__traceback__)
                  if frame.f_code is Parameter.accumulate.__code__]   # raised in accumulate: name that parameter
        tensor = next((n for n, p in layer.named_parameters() if p in owners), "")
        message = (str(e).splitlines() or [""])[0]
        raise _Failure(f"{what} raised {type(e).__name__}{at}: {message}", tensor) from None


def _run(layer, x, seed, upstream_seed=None):
    """forward, then (given upstream_seed) backward of a random g: (y, g, dx, {name: copy of .grad})."""
    name = type(layer).__name__
    x_given = x.copy()
    with same_random_numbers(seed, x):       # a dropout mask is the same on every pass
        y = _call(layer, f"{name}.forward", layer.forward, x)
    _unchanged(f"{name}.forward", "its input x", x, x_given, "input")
    if not hasattr(y, "shape"):
        raise _Failure(f"{name}.forward returned {type(y).__name__}, not an array")
    if upstream_seed is None:
        return y, None, None, {}
    g = get_array_module(y).asarray(np.random.default_rng(upstream_seed).standard_normal(y.shape), x.dtype)
    g_given = g.copy()
    dx = _call(layer, f"{name}.backward", layer.backward, g)
    _unchanged(f"{name}.backward", "grad_output", g, g_given, "input")
    if dx is None:
        raise _Failure(f"{name}.backward returned None: return the input gradient, an array of the input's shape",
                       "input")
    for n, p in layer.named_parameters():
        if not hasattr(p.grad, "shape"):
            got = "None" if p.grad is None else f"a {type(p.grad).__name__}"
            raise _Failure(f"{n}.grad is {got} after backward: add the gradient in backward with "
                           f"self.{n.split('.')[-1]}.accumulate(gradient)", n)
    return y, g, dx, {n: to_numpy(p.grad) for n, p in layer.named_parameters()}  # copies, on the CPU


def _unchanged(who, what, array, given, tensor):
    """A layer that edits its input changes its caller's copy: name that, not the wrong numbers it leads to."""
    if array.shape != given.shape or not bool((array == given).all()):
        raise _Failure(f"{who} changed {what} in place (x *= ..., x[...] = ...): the caller still holds that "
                       f"array; compute into a new one (grad_output * mask, not grad_output *= mask)", tensor)


def _compare(pairs, rtol, atol, names):
    """Compare (tensor, actual, expected) arrays; raise _Failure at the first tensor out of tolerance."""
    errors, worst, where = {}, "", None
    for tensor, actual, expected in pairs:
        actual, expected = to_numpy(actual).astype(np.float64), to_numpy(expected).astype(np.float64)
        if actual.shape != expected.shape:
            raise _Failure(f"{names[0]} gave shape {actual.shape}, {names[1]} {expected.shape}", tensor)
        bad, errors[tensor], index, _ = compare(actual, expected, atol, rtol)
        if bad:
            raise _Failure(f"{names[0]} gave {actual[index]:.6g}, {names[1]} {expected[index]:.6g}",
                           tensor, index, errors[tensor], errors)
        if not worst or errors[tensor] > errors[worst]:
            worst, where = tensor, index
    return Check("passed", errors.get(worst), worst, where, errors=errors)


def _gradients(layer, x, seed, rtol, atol, **_):
    _run(copy.deepcopy(layer).double(), x, seed, seed + 1)  # a backward that raises is explained here
    result = _call(layer, "gradcheck", lambda: gradcheck(layer, x, atol=atol, rtol=rtol, seed=seed))
    name, index, analytic, numeric = result.worst or ("", None, 0.0, 0.0)
    if name in result.problems:               # the worst element is out of tolerance
        raise _Failure(f"backward gave {analytic:.6g}, central differences {numeric:.6g}", name, index,
                       result.errors[name], result.errors)
    for other, why in result.problems.items():  # a gradient that is None or of the wrong shape
        raise _Failure(why, other, errors=result.errors)
    return Check("passed", result.max_rel_error, name, index, errors=result.errors)


def _accumulation(layer, x, seed, rtol, atol, **_):
    model = copy.deepcopy(layer).double()
    if not model.named_parameters():
        return Check("skipped", sentence="no parameters")
    first = _run(model, x, seed, seed + 1)[3]
    both = _run(model, x, seed, seed + 2)[3]          # no zero_grad in between: the two should add up
    model.zero_grad()
    for n in [n for n, p in model.named_parameters() if p.grad is not None][:1]:
        raise _Failure(f"zero_grad() left {n}.grad set", n)
    second = _run(model, x, seed, seed + 2)[3]
    for n in first:                                   # the usual mistake: .grad replaced, not added to
        if compare(both[n], first[n] + second[n], atol, rtol)[0] and not compare(both[n], second[n], atol, rtol)[0]:
            attr = n.split(".")[-1]
            raise _Failure(f"after two backward passes without zero_grad, {n}.grad holds only the second pass's "
                           f"gradient: backward overwrites .grad; write self.{attr}.accumulate(...) instead of "
                           f"assigning self.{attr}.grad", n)
    return _compare([(n, both[n], first[n] + second[n]) for n in first], rtol, atol,
                    ("two backward passes without zero_grad", "the sum of the two passes' gradients"))


def _shapes_and_dtypes(layer, x, seed, **_):
    for dtype in (np.float64, np.float32):
        model, xd = copy.deepcopy(layer).to(dtype=dtype), x.astype(dtype)
        y, _, dx, grads = _run(model, xd, seed, seed + 1)
        shapes = {"output": y.shape, "input": xd.shape, **{n: p.shape for n, p in model.named_parameters()}}
        for tensor, a in [("output", y), ("input", dx)] + list(grads.items()):
            what = "the output" if tensor == "output" else f"the gradient of {tensor}"
            if tuple(a.shape) != tuple(shapes[tensor]):
                raise _Failure(f"{what} has shape {tuple(a.shape)}, {tensor} {tuple(shapes[tensor])}", tensor)
            if a.dtype != dtype:
                raise _Failure(f"{what} is {a.dtype} for a {np.dtype(dtype).name} input: an array made of "
                               "Python floats (np.where(x > 0, 1.0, 0.1), np.array([...])) is float64; "
                               "give it the input's dtype with .astype(x.dtype)", tensor)
    return Check("passed", sentence="float64 and float32")


def _against_torch(layer, x, seed, rtol, atol, torch_module, **_):
    import torch
    # float32 keeps ~7 significant digits: sums of a few dozen products agree to ~1e-6.
    checks = []
    for dtype, tol in ((np.float64, (rtol, atol)), (np.float32, (max(rtol, 1e-4), max(atol, 1e-5)))):
        model, xd = copy.deepcopy(layer).to(dtype=dtype), x.astype(dtype)
        twin = copy.deepcopy(torch_module).to(getattr(torch, np.dtype(dtype).name)).train(model.training)
        with torch.no_grad():
            for p, q in zip(model.parameters(), twin.parameters()):
                q.copy_(torch.from_numpy(to_numpy(p.data)))
        y, g, dx, grads = _run(model, xd, seed, seed + 1)
        xt = torch.tensor(to_numpy(xd), requires_grad=True)
        yt = twin(xt)
        yt.backward(torch.from_numpy(to_numpy(g)))
        pairs = [("output", y, yt.detach().numpy()), ("input", dx, xt.grad.numpy())]
        pairs += [(n, grads[n], q.grad.numpy()) for n, q in zip(grads, twin.parameters())]
        checks.append(_compare(pairs, *tol, ("the layer" + " in float32" * (dtype == np.float32), "PyTorch")))
    return checks[0]


def _against_reference(layer, x, seed, rtol, atol, reference, **_):
    model = copy.deepcopy(layer).double()
    y = _run(model, x, seed)[0]
    arrays = [to_numpy(p.data) for p in model.parameters()]
    expected = _call(model, "the reference", reference, to_numpy(x), *arrays)
    if not hasattr(expected, "shape"):
        raise _Failure(f"the reference returned {type(expected).__name__}, not an array")
    return _compare([("output", y, expected)], rtol, atol, ("the layer", "the reference"))


def _layer_name(layer):
    name = type(layer).__name__
    if not isinstance(layer, Module):
        got = f"the class {layer.__name__} itself" if isinstance(layer, type) else f"a {name}"
        raise TypeError(f"check_layer needs a layer, an instance of a minicnn.Module subclass with forward "
                        f"and backward, received {got}")
    for method, argument in (("forward", "x"), ("backward", "grad_output")):
        if getattr(type(layer), method) is getattr(Module, method):
            raise TypeError(f"check_layer({name}): {name} has no {method} of its own: define "
                            f"{method}(self, {argument}) in the class")
    return name


def _input(x, name, seed):
    if isinstance(x, tuple):
        if not x or not all(isinstance(d, (int, np.integer)) and d > 0 for d in x):
            raise ValueError(f"check_layer({name}): a shape x must be a tuple of positive integers such as "
                             f"(2, 3, 4, 4), received {x}")
        n, rng = int(np.prod(x)), np.random.default_rng(seed)
        values = rng.permutation(np.arange(1, n + 1) / n) * rng.choice([-1.0, 1.0], size=n)  # (n,)
        return backend.asarray(values.reshape(x))
    if not (isinstance(x, np.ndarray) or backend.is_gpu_array(x)) or x.dtype.kind not in "fiu":
        got = f"an array of {x.dtype}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        raise TypeError(f"check_layer({name}): x must be a NumPy (or CuPy) array of numbers or a shape "
                        f"tuple such as (2, 3, 4, 4), received {got}")
    # A copy, on the active backend like the layer's parameters: NumPy x and CuPy weights do not mix.
    return backend.xp().array(backend.asarray(x), dtype=np.float64)


def _torch_twin(torch_module, layer, name):
    """(the PyTorch module, None), or (None, why the check is skipped). A mismatch is an error."""
    if torch_module is None:
        return None, "no torch_module given"
    torch = optional("torch")
    if torch is None:
        return None, "PyTorch is not installed (pip install torch)"
    if callable(torch_module) and not isinstance(torch_module, torch.nn.Module):
        torch_module = torch_module(torch.nn)
    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"check_layer({name}): torch_module must be a torch.nn.Module or a function "
                        f"nn -> torch.nn.Module, but gave a {type(torch_module).__name__}")
    ours, theirs = layer.named_parameters(), list(torch_module.named_parameters())
    if [tuple(p.shape) for _, p in ours] != [tuple(q.shape) for _, q in theirs]:
        listed = [", ".join(f"{n} {tuple(p.shape)}" for n, p in ps) or "none" for ps in (ours, theirs)]
        raise ValueError(f"check_layer({name}): the parameters of torch_module do not match the layer's, "
                         f"which are copied into them in order: the layer has {len(ours)} ({listed[0]}), "
                         f"torch_module {len(theirs)} ({listed[1]})")
    return torch_module, None


def check_layer(layer, x, *, torch_module=None, reference=None, rtol=1e-5, atol=1e-7, seed=0, raise_on_failure=True):
    """Check a layer five ways, on copies: gradients, accumulation, shapes and dtypes, against PyTorch, a reference.

    layer: an instance of a minicnn.Module subclass with its own forward and backward.
    x: an input array, or a shape such as (2, 3, 4, 4): then float64 values drawn from ``seed``, random signs
        times a permutation of 1/n, ..., n/n: none within 1/n of 0 (ReLU's kink) or of another (a max-pool tie).
    torch_module: the layer in PyTorch, a torch.nn.Module or a function nn -> one (``lambda nn: nn.ReLU()``,
        skipped without PyTorch); given the layer's parameters in order; compared in float64 and float32 (1e-4).
    reference: ``reference(x, *parameter_arrays) -> y`` on NumPy arrays; forward compared.
    rtol, atol: a float64 comparison passes where |a - b| <= atol + rtol * |b|.
    Returns a LayerReport (truthy when no check failed), or raises AssertionError naming the check, the
    tensor, the index and both values unless ``raise_on_failure=False``.
    """
    __tracebackhide__ = True                  # pytest: show the message, not this function's lines
    name = _layer_name(layer)
    x = _input(x, name, seed)
    twin, torch_skipped = _torch_twin(torch_module, layer, name)
    steps = [("gradients", _gradients, None), ("accumulation", _accumulation, None),
             ("shapes and dtypes", _shapes_and_dtypes, None), ("against PyTorch", _against_torch, torch_skipped),
             ("against a reference", _against_reference, None if reference else "no reference given")]
    checks = []
    for title, run, skipped in steps:
        try:
            check = Check("skipped", sentence=skipped) if skipped else run(
                layer, x, seed, rtol=rtol, atol=atol, torch_module=twin, reference=reference)
        except _Failure as failure:
            check = failure.check
        check.name = title
        checks.append(check)
    report = LayerReport(name, checks)
    if raise_on_failure and not report:
        raise AssertionError(str(report))
    return report
