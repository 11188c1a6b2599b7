"""Lesson 12, your own layer: the solutions and the checks of its two exercises (two layer classes).

An exercise here is a whole class, not a function, so ``@layer_exercise`` stands in for
``@exercise("lesson12")``: a forward or backward that returns None ("not written yet") is answered
by the solution's class of the same name, with a one-time note, and the class records whose
version answered. Each check runs ``minicnn.testing.check_layer`` (gradients by central
differences, accumulation, shapes and dtypes, PyTorch, a PyTorch-free reference forward) on a
few layers and inputs, and reports through the package's Report: one ✓ line per check when all
pass, else a ✗ line for each check that failed (with a hint for a recognisable mistake).
"""
import functools

import numpy as np

from minicnn import Module, Parameter
from minicnn_lessons import Report, call, whose

# ---------------------------------------------------------------------------------------------
# Solutions
# ---------------------------------------------------------------------------------------------


class LeakyReLU(Module):
    """y = x where x > 0, else negative_slope * x. Any shape in, the same shape and dtype out."""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x                                      # the cache: backward needs the signs of x
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, grad_output):
        # dy/dx is 1 where x > 0, else negative_slope; grad_output's dtype is kept on both sides
        return np.where(self.x > 0, grad_output, self.negative_slope * grad_output)


class ChannelScale(Module):
    """Multiply each channel by its own learnt number: y[n, c, h, w] = x[n, c, h, w] * weight[c].

    weight: (C,)   x: (N, C, H, W) -> y: (N, C, H, W)
    """

    def __init__(self, channels):
        # Spread from 0.5 to 1.5, not all 1: with equal weights a backward that forgot
        # the weight, or mixed the channels up, would look right.
        self.weight = Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

    def forward(self, x):
        self.x = x                                                       # the cache
        return x * self.weight.data[None, :, None, None]                 # (1, C, 1, 1) broadcasts

    def backward(self, grad_output):
        # weight[c] multiplies every element of channel c, in every image of the batch:
        # its gradient sums grad_output * x over N, H and W.
        self.weight.accumulate((grad_output * self.x).sum(axis=(0, 2, 3)))   # (C,)
        return grad_output * self.weight.data[None, :, None, None]            # (N, C, H, W)


# ---------------------------------------------------------------------------------------------
# The exercise decorator for a class
# ---------------------------------------------------------------------------------------------


def layer_exercise(cls):
    """Class decorator: use the learner's forward and backward once they return something.

    While one returns None (not written yet, or a missing ``return``), the solution's class of
    the same name in this module answers for it, with a one-time note. ``cls.used_solution``
    is then True when the solution answered both the last forward and the last backward,
    False when the learner's answered either, None before the first call.
    """
    solution = globals().get(cls.__name__)
    if not (isinstance(solution, type) and issubclass(solution, Module)):
        raise NameError(f"lesson 12 has no exercise class named {cls.__name__}: keep the name the "
                        f"notebook gives it (LeakyReLU or ChannelScale)")
    for method in ("forward", "backward"):
        if method not in vars(cls):
            raise TypeError(f"{cls.__name__} needs a {method} of its own: keep the {method} of the "
                            "exercise cell, with your code in it")
    yours_forward, yours_backward = cls.forward, cls.backward
    answered, noted = {}, set()

    def record(part, by):
        if by == "the solution" and part not in noted:
            noted.add(part)
            print(f"[{cls.__name__}.{part}] your {part} returned None (not written yet, or its return "
                  f"is missing), so the solution's {part} answered. Write yours where it says YOUR CODE, "
                  f"make it return its result and run the cell again; show_solution({cls.__name__}) "
                  "prints the solution.")
        answered[part] = by
        cls.used_solution = all(v == "the solution" for v in answered.values())
        cls.answered = dict(answered)

    @functools.wraps(yours_forward)
    def forward(self, x):
        self._lesson_input = x                   # a solution's backward redoes its forward from it
        y = yours_forward(self, x)
        by = "you"
        if y is None:
            y, by = solution.forward(self, x), "the solution"
        record("forward", by)
        return y

    @functools.wraps(yours_backward)
    def backward(self, grad_output):
        saved = {n: None if p.grad is None else p.grad.copy() for n, p in self.named_parameters()}
        dx = yours_backward(self, grad_output)
        by = "you"
        if dx is None:
            # Undo what a half-written backward added to .grad, then let the solution do it all,
            # on a twin that shares this layer's parameters and has the solution's own cache.
            for n, p in self.named_parameters():
                p.grad = saved[n]
            twin = object.__new__(solution)
            twin.__dict__.update(self.__dict__)
            solution.forward(twin, self._lesson_input)
            dx, by = solution.backward(twin, grad_output), "the solution"
        record("backward", by)
        return dx

    cls.forward, cls.backward = forward, backward
    cls.lesson, cls.used_solution, cls.answered = "lesson12", None, {}
    return cls


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

# What each of check_layer's five checks confirms when it passes.
_PASSED = {
    "gradients": "backward agrees with central differences of forward",
    "accumulation": "two backward passes add up in .grad, and zero_grad() clears it",
    "shapes and dtypes": "every gradient has its tensor's shape; float32 in, float32 out",
    "against PyTorch": "output and gradients equal PyTorch's, in float64 and float32",
    "against a reference": "forward equals a reference written another way",
}


def _probe(cls, make, x):
    """One forward and backward of a fresh layer, so that whose(cls) knows who answered.
    A broken layer is reported by check_layer, not here."""
    try:
        layer = make()
        layer.backward(np.ones_like(layer.forward(x)))
    except Exception:                                   # noqa: BLE001
        if getattr(cls, "used_solution", False):
            raise


def _layer_checks(cls, cases, hints):
    """Run check_layer on each case and report one line per check, for all cases together,
    through the package's Report (✓ lines when all pass; else a ✗ line for each check that failed).

    cases: [(label, make_layer, x, check_layer keywords)]; hints(name, failed) -> lines that name
    a typical mistake. Returns True when no check failed in any case.
    """
    from minicnn.testing import check_layer

    report = Report(cls)
    reports = []
    for label, make, x, keywords in cases:
        layer, error = call(make)
        if not error:
            result, error = call(check_layer, layer, x, raise_on_failure=False, **keywords)
        if error:                          # refused before any check: not a Module, __init__ raised
            report.add(False, f"{whose(cls)}: {label}: check_layer could not run: {error}", label)
            return report.close()
        reports.append((label, result))
    said, skipped = set(), []
    for name in [c.name for c in reports[0][1].checks]:
        rows = [(label, result[name]) for label, result in reports]
        failed = [(label, c) for label, c in rows if c.verdict == "FAILED"]
        passed = [c for _, c in rows if c.verdict == "passed"]
        if failed:
            label, first = failed[0]
            where = "on both layers" if len(failed) == len(rows) == 2 else \
                f"on {len(failed)} of {len(rows)} layers"
            if first.sentence in said:           # a layer that raises fails every check the same way
                report.add(False, f"{whose(cls)}: {name} FAILED with the same error  [{where}]", name)
                continue
            said.add(first.sentence)
            lines = [line for line in hints(name, failed) if line not in said]
            said.update(lines)
            report.add(False, f"{whose(cls)}: {first.headline()}  [{label}; {where}]"
                       + "".join(f"\n    hint: {line}" for line in lines), name)
        elif passed:
            errors = [c.error for c in passed if c.error is not None]
            worst = f" (largest relative error {max(errors):.1e})" if errors else ""
            where = "both layers" if len(passed) == len(rows) == 2 else \
                f"{len(passed)} of {len(rows)} layers (skipped on the others)"
            report.add(True, f"{whose(cls)}: {name}: {_PASSED[name]}, on {where}{worst}", name)
        else:
            skipped.append(f"{name} ({rows[0][1].sentence})")
    ok = report.close()
    if skipped:
        print("  skipped: " + "; ".join(skipped))
    return ok


def _header(cls, cases):
    parts = getattr(cls, "answered", {})
    mixed = ""
    if len(set(parts.values())) > 1:
        mixed = " (" + ", ".join(f"{part}: {'yours' if by == 'you' else 'the solution' + chr(39) + 's'}"
                                 for part, by in parts.items()) + ")"
    print(f"Checking {whose(cls)}{mixed} with minicnn.testing.check_layer on "
          f"{', '.join(label for label, *_ in cases)}:")


def _torch_leaky_relu(slope):
    return lambda nn: nn.LeakyReLU(slope)


def _leaky_reference(slope):
    def reference(x):
        """LeakyReLU's forward written another way: max(x, 0) + slope * min(x, 0)."""
        return np.maximum(x, 0) + slope * np.minimum(x, 0)
    return reference


_CACHE_HINT = ("backward reads something forward never stored: forward must keep what "
               "backward needs on self (the cache), e.g. the input x")


def _leaky_hints(cls):
    def hints(name, failed):
        lines = []
        sentences = " ".join(c.sentence for _, c in failed)
        if "AttributeError" in sentences:
            lines.append(_CACHE_HINT)
        if name == "gradients" and "raised" not in sentences:
            try:                                 # what your backward gives on each side of 0
                layer = cls(0.25)
                x = np.array([[-2.0, -0.5, 0.5, 2.0]])
                layer.forward(x.copy())
                dx = np.asarray(layer.backward(np.ones_like(x)), dtype=np.float64)
            except Exception:                                   # noqa: BLE001
                return lines
            slopes = {0.0: "0, ReLU's slope", 1.0: "1, as if x were positive",
                      4.0: "1 / negative_slope"}
            for value, text in slopes.items():
                if np.allclose(dx[0, :2], value):
                    lines.append(f"LeakyReLU(0.25).backward of ones gives {text}, where x < 0; "
                                 "dy/dx there is negative_slope")
            if np.allclose(dx[0, 2:], 0.25):
                lines.append("LeakyReLU(0.25).backward of ones gives negative_slope where x > 0; "
                             "dy/dx there is 1")
        return lines
    return hints


def check_leaky_relu(cls):
    """Check a LeakyReLU class with check_layer: two slopes, a 4-D and a 2-D input; against
    PyTorch's nn.LeakyReLU (where installed) and a reference forward written another way."""
    cases = [(f"LeakyReLU({slope}) on {shape}", functools.partial(cls, slope), shape,
              dict(torch_module=_torch_leaky_relu(slope), reference=_leaky_reference(slope)))
             for slope, shape in [(0.1, (2, 3, 4, 4)), (0.25, (5, 7))]]
    _probe(cls, cases[0][1], np.linspace(-1.0, 1.0, 12).reshape(3, 4))
    _header(cls, cases)
    return _layer_checks(cls, cases, _leaky_hints(cls))


def _channel_scale_reference(x, weight):
    """ChannelScale's forward as loops over images and channels: obviously right."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            y[n, c] = x[n, c] * weight[c]
    return y


def _torch_channel_scale(channels):
    def make(nn):
        import torch

        class TorchChannelScale(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(channels))

            def forward(self, x):
                return x * self.weight[None, :, None, None]
        return TorchChannelScale()
    return make


def _channel_scale_with(cls, weight):
    """A fresh layer whose weights are ``weight``: distinct numbers, one of them negative."""
    def make():
        layer = cls(len(weight))
        layer.weight.data = np.array(weight, dtype=np.float32)
        return layer
    return make


def _channel_scale_hints(cls):
    def hints(name, failed):
        lines = []
        sentences = " ".join(c.sentence for _, c in failed)
        if "cannot be added to a parameter of shape" in sentences:
            lines.append("weight[c] is shared by every image of the batch: its gradient sums over the "
                         "batch axis N as well as over H and W, shape (C,)")
        if "AttributeError" in sentences:
            lines.append(_CACHE_HINT)
        if name == "gradients" and "raised" not in sentences:
            try:                                 # your gradients on one small case, by hand
                layer = _channel_scale_with(cls, [2.0, -3.0])()
                x = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
                g = np.ones_like(x)
                layer.forward(x.copy())
                dx = np.asarray(layer.backward(g), dtype=np.float64)
                dw = np.asarray(layer.weight.grad, dtype=np.float64)
            except Exception:                                   # noqa: BLE001
                return lines
            w = np.array([2.0, -3.0])[None, :, None, None]
            if dw.shape == (2,) and np.allclose(dw, (g * x * w).sum(axis=(0, 2, 3))):
                lines.append("the weight's gradient sums grad_output * y, the output; dy/dweight[c] is "
                             "x, the input: keep the input in the cache")
            if dx.shape == x.shape and np.allclose(dx, g):
                lines.append("backward returns grad_output unchanged; dy/dx is weight[c], so dL/dx is "
                             "grad_output * weight[c]")
        return lines
    return hints


def check_channel_scale(cls):
    """Check a ChannelScale class with check_layer: three and one channels, distinct weights (one
    negative), batches of 2 and 3 images; against a loop reference and a PyTorch twin."""
    cases = [(f"ChannelScale({len(w)}) on {shape}", _channel_scale_with(cls, w), shape,
              dict(reference=_channel_scale_reference, torch_module=_torch_channel_scale(len(w))))
             for w, shape in [([0.5, -1.25, 2.0], (2, 3, 4, 5)), ([1.5], (3, 1, 2, 3))]]
    _probe(cls, cases[1][1], np.linspace(-1.0, 1.0, 18).reshape(3, 1, 2, 3))
    _header(cls, cases)
    return _layer_checks(cls, cases, _channel_scale_hints(cls))
