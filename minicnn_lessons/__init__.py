"""What the lessons' notebooks share: exercises with a solution to fall back on, and checks.

An exercise cell defines a function under ``@exercise("lesson01")`` and leaves it
returning None until you write it. While it returns None, the call is answered by
the function of the same name in ``minicnn_lessons/lesson01.py`` (with a one-time
note), so the notebook always runs from top to bottom; as soon as your version
returns something, yours is used. Each lesson module also has the check of every
exercise (``check_conv2d_loops(conv2d_loops)``): it runs the version that answered
on cases chosen to catch the usual mistakes, and says ✓ or ✗ and whose version ran.

    show_solution(conv2d_loops)      # print the solution's code, when you are stuck

This package is installed with minicnn (``pip install "minicnn-by-hand[notebook]"``), so a
notebook finds it from any folder, in Jupyter, VS Code or Colab.
"""
import functools
import importlib
import inspect
import os
from pathlib import Path

import numpy as np

from minicnn.gradcheck import compare as tolerance     # the one tolerance comparison

__all__ = ["exercise", "show_solution", "verdict", "check_close", "check_gradcheck", "fast_mode",
           "work_dir", "Report", "call", "compare", "close_to"]


def fast_mode():
    """True when MINICNN_FAST is set (CI runs every notebook that way): less data, the same code."""
    return os.environ.get("MINICNN_FAST", "0") not in ("", "0")


def work_dir():
    """Where the lessons keep what they save (lesson 06's trained model, ...): a folder that
    does not depend on where the notebook runs. $MINICNN_LESSONS_DIR, else ~/.cache/minicnn/lessons."""
    folder = Path(os.environ.get("MINICNN_LESSONS_DIR") or Path.home() / ".cache" / "minicnn" / "lessons")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _solution(lesson, name):
    return getattr(importlib.import_module(f"{__name__}.{lesson}"), name)


def exercise(lesson):
    """Decorator: use the learner's function once it returns something, else the solution.

    The returned function has ``used_solution``: None before its first call, then
    True when the solution answered the last call, False when the learner's did.
    """
    def wrap(yours):
        name = yours.__name__

        @functools.wraps(yours)
        def run(*args, **kwargs):
            out = yours(*args, **kwargs)
            if out is not None:
                run.used_solution = False
                return out
            if run.used_solution is not True:
                print(f"[{name}] your version returned None (not written yet), so the solution "
                      f"answered. Write yours where it says YOUR CODE, make it return its result and "
                      f"run the cell again; show_solution({name}) prints the solution.")
            run.used_solution = True
            return _solution(lesson, name)(*args, **kwargs)

        run.used_solution = None
        run.lesson = lesson
        return run
    return wrap


def show_solution(fn):
    """Print the code of the solution to exercise ``fn`` (a function decorated with ``exercise``)."""
    print(inspect.getsource(_solution(fn.lesson, fn.__name__)))


def whose(fn):
    """'the solution's conv2d_loops' or 'your conv2d_loops': which version a check saw."""
    return f"the solution's {fn.__name__}" if getattr(fn, "used_solution", False) else f"your {fn.__name__}"


def verdict(fn, ok, text):
    """Print ✓ or ✗ and the reason; returns ``ok``. A failing *solution* is a bug in the
    lessons, so it raises instead (CI runs every notebook)."""
    if ok:
        print(f"✓ {text}")
    elif getattr(fn, "used_solution", False):
        raise AssertionError(f"the solution in minicnn_lessons/{fn.lesson}.py failed its own check: "
                             f"{text} (this is a bug in the lessons; please report it)")
    else:
        print(f"✗ {text}")
    return bool(ok)


def check_close(fn, got, expected, against, rtol=1e-5, atol=1e-6, dtype=None):
    """Say whether ``got`` (what ``fn`` returned) matches ``expected`` (computed by ``against``).

    dtype: if given, ``got`` must also have this dtype. Prints ✓ or ✗ with the reason
    and returns True or False; raises only when the solution itself is wrong.
    """
    from minicnn import to_numpy
    who = whose(fn)
    if got is None:
        return verdict(fn, False, f"{who} returned None, expected an array of shape "
                                  f"{tuple(np.shape(to_numpy(expected)))}")
    if dtype is not None and getattr(got, "dtype", None) != np.dtype(dtype):
        return verdict(fn, False, f"{who} returned dtype {getattr(got, 'dtype', type(got).__name__)}, "
                                  f"expected {np.dtype(dtype)}")
    got_np = np.asarray(to_numpy(got), dtype=np.float64)
    exp_np = np.asarray(to_numpy(expected), dtype=np.float64)
    if got_np.shape != exp_np.shape:
        return verdict(fn, False, f"{who} returned shape {got_np.shape}, but {against} gives {exp_np.shape}")
    bad, _, k, _ = tolerance(got_np, exp_np, atol, rtol)
    if not bad:
        return verdict(fn, True, f"{who} matches {against}: largest difference {_largest(got_np, exp_np):.1e}")
    return verdict(fn, False, f"{who} differs from {against} in {bad} of {got_np.size} numbers; "
                              f"at index {k} yours is {got_np[k]:.6g}, expected {exp_np[k]:.6g}")


def _largest(got, expected):
    """The largest difference between two arrays that are equal within tolerance."""
    with np.errstate(invalid="ignore"):
        return float(np.where(got == expected, 0.0, np.abs(got - expected)).max()) if got.size else 0.0


def check_gradcheck(fn, result, what):
    """Say (✓ or ✗) whether a ``minicnn.gradcheck`` result passed for the backward ``fn`` wrote."""
    return verdict(fn, bool(result), f"{whose(fn)}: {what}: {result!r}")


# -- what the checks share: several cases, one verdict -------------------------------------------
# A check runs the version that answered on cases chosen to catch the usual mistakes. When every
# case passes it prints one ✓ line per case; when one fails, a ✗ line for each case that failed
# (with a hint where the mistake is recognisable) and the cases that were right, without a ✓.

class Report:
    """The cases of one check: ``add`` each result, then ``close`` prints and returns the verdict."""

    def __init__(self, fn):
        self.fn, self.results = fn, []

    def add(self, ok, text, case):
        """ok: did ``case`` (a few words) pass; text: the line to print for it."""
        self.results.append((bool(ok), text, case))
        return bool(ok)

    def close(self):
        failed = [text for ok, text, _ in self.results if not ok]
        if not failed:
            for _, text, _ in self.results:
                verdict(self.fn, True, text)
            return True
        for text in failed:
            verdict(self.fn, False, text)          # raises if the solution failed: a bug in the lessons
        right = [case for ok, _, case in self.results if ok]
        if right:
            print("  right for: " + "; ".join(right))
        return False


def call(fn, *args, **kwargs):
    """(what fn returned, None) or (None, 'it raised ...'): a check reports an error, never stops on it.

    Every check calls the learner's function through here, so this is the one place that also makes
    sure it left the caller's arrays as they were: one it changed in place gives (None, 'it changed
    grad_y in place ...'), whatever it returned."""
    before = [(name, array, array.copy()) for name, array in _arrays(fn, args, kwargs)]
    try:
        with np.errstate(all="ignore"):                         # the check explains overflow itself
            out = fn(*args, **kwargs)
    except Exception as e:                                      # noqa: BLE001 (a learner's error, reported)
        return None, f"it raised {type(e).__name__}: {e}"
    changed = [name for name, array, copy in before
               if array.shape != copy.shape or not np.array_equal(array, copy, equal_nan=True)]
    if changed:
        return None, (f"it changed {', '.join(changed)} in place, but the caller's arrays must end as "
                      f"they were given: compute into a new array (g * mask, not g *= mask), and put "
                      f"back any element you change on the way")
    return out, None


def _arrays(fn, args, kwargs):
    """(name, array) for every NumPy array among the arguments, also inside tuples, lists and dicts
    (a cache): named after fn's parameters where its signature says them."""
    try:
        named = list(inspect.signature(fn).bind_partial(*args, **kwargs).arguments.items())
    except (TypeError, ValueError):
        named = [(f"argument {k + 1}", a) for k, a in enumerate(args)] + list(kwargs.items())
    found, seen = [], set()

    def walk(name, value, depth):
        if isinstance(value, np.ndarray) and id(value) not in seen:
            seen.add(id(value))
            found.append((name, value))
        elif isinstance(value, (tuple, list)) and depth < 3:
            for k, item in enumerate(value):
                walk(f"{name}[{k}]", item, depth + 1)
        elif isinstance(value, dict) and depth < 3:
            for key, item in value.items():
                walk(f"{name}[{key!r}]", item, depth + 1)
    for name, value in named:
        walk(name, value, 0)
    return found


def close_to(got, expected, rtol=1e-5, atol=1e-7):
    """Elementwise |got - expected| <= atol + rtol |expected| (matching infinities count as equal)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and tolerance(got, expected, atol, rtol)[0] == 0


def compare(fn, got, expected, what, rtol=1e-5, atol=1e-7, dtype=None):
    """(ok, one line) for ``got`` against ``expected``: shape, dtype, nan/inf, the worst element."""
    who = whose(fn)
    if got is None:
        return False, f"{who} returned None for {what}"
    if not hasattr(got, "shape"):
        return False, f"{who} returned a {type(got).__name__} for {what}, expected an array"
    expected = np.asarray(expected)
    if tuple(got.shape) != expected.shape:
        return False, f"{who} returned shape {tuple(got.shape)} for {what}, expected {expected.shape}"
    if dtype is not None and got.dtype != np.dtype(dtype):
        return False, f"{who} returned dtype {got.dtype} for {what}, expected {np.dtype(dtype)}"
    g, e = np.asarray(got, dtype=np.float64), expected.astype(np.float64)
    if not np.isfinite(g).all() and np.isfinite(e).all():
        bad = int((~np.isfinite(g)).sum())
        return False, f"{who} gives nan or inf in {bad} of {g.size} numbers for {what}, where every answer is finite"
    bad, _, k, _ = tolerance(g, e, atol, rtol)
    if not bad:
        return True, f"{who} is right for {what} (largest difference {_largest(g, e):.1e})"
    return False, (f"{who} is wrong for {what}: {bad} of {g.size} numbers differ; at index "
                   f"{k} yours is {g[k]:.6g}, expected {e[k]:.6g}")
