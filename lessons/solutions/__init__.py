"""Solutions to the lessons' exercises, and the two helpers every exercise cell uses.

An exercise cell defines a function under ``@exercise("lesson01")`` and leaves it
returning None until you write it. While it returns None, the call is answered by
the function of the same name in ``solutions/lesson01.py`` (with a one-time note),
so the notebook always runs from top to bottom; as soon as your version returns
something, yours is used. The check cells then call ``check_close`` or
``check_gradcheck``, which say whether the version that ran is right.

To read one solution inside a notebook:  %load -s conv2d_loops solutions/lesson01.py
"""
import functools
import importlib

import numpy as np

__all__ = ["exercise", "check_close", "check_gradcheck"]


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
                print(f"[{name}] your version returned None (not written yet), so the solution from "
                      f"solutions/{lesson}.py answered. Write yours between the YOUR CODE HERE lines, "
                      f"make it return its result and run the cell again.")
            run.used_solution = True
            solution = getattr(importlib.import_module(f"{__name__}.{lesson}"), name)
            return solution(*args, **kwargs)

        run.used_solution = None
        run.lesson = lesson
        return run
    return wrap


def _whose(fn):
    if getattr(fn, "used_solution", False):
        return f"the solution's {fn.__name__}"
    return f"your {fn.__name__}"


def _verdict(fn, ok, text):
    """Print ✓ or ✗ and the reason; a failing *solution* is a bug in the lessons, so it raises.

    Returns None, so that a check as the last line of a cell prints nothing more.
    """
    if ok:
        print(f"✓ {text}")
    elif getattr(fn, "used_solution", False):
        raise AssertionError(f"the solution in solutions/{fn.lesson}.py failed its own check: {text} "
                             "(this is a bug in the lessons; please report it)")
    else:
        print(f"✗ {text}")


def check_close(fn, got, expected, against, rtol=1e-5, atol=1e-6, dtype=None):
    """Say whether ``got`` (what ``fn`` returned) matches ``expected`` (from ``against``).

    dtype: if given, ``got`` must also have this dtype.
    Prints ✓ or ✗ with the reason; raises only when the solution itself is wrong.
    """
    from minicnn import to_numpy
    who = _whose(fn)
    if got is None:
        return _verdict(fn, False, f"{who} returned None, expected an array of shape "
                                   f"{tuple(np.shape(to_numpy(expected)))}")
    if dtype is not None and getattr(got, "dtype", None) != np.dtype(dtype):
        return _verdict(fn, False, f"{who} returned dtype {getattr(got, 'dtype', type(got).__name__)}, "
                                   f"expected {np.dtype(dtype)}")
    got_np = np.asarray(to_numpy(got), dtype=np.float64)
    exp_np = np.asarray(to_numpy(expected), dtype=np.float64)
    if got_np.shape != exp_np.shape:
        return _verdict(fn, False, f"{who} returned shape {got_np.shape}, but {against} gives {exp_np.shape}")
    with np.errstate(invalid="ignore"):
        diff = np.abs(got_np - exp_np)                       # nan where both are the same infinity
        good = (got_np == exp_np) | (diff <= atol + rtol * np.abs(exp_np))   # nan in yours is bad
    bad = ~good
    worst = float(np.max(np.where(good, np.nan_to_num(diff), np.inf))) if diff.size else 0.0
    if not bad.any():
        return _verdict(fn, True, f"{who} matches {against}: largest difference {worst:.1e}")
    k = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1.0))), diff.shape)
    return _verdict(fn, False, f"{who} differs from {against} in {int(bad.sum())} of {bad.size} numbers; "
                               f"at index {tuple(int(i) for i in k)} yours is {got_np[k]:.6g}, "
                               f"expected {exp_np[k]:.6g}")


def check_gradcheck(fn, result, what):
    """Say (✓ or ✗) whether a ``minicnn.gradcheck`` result passed for the backward ``fn`` wrote."""
    return _verdict(fn, bool(result), f"{_whose(fn)}: {what}: {result!r}")
