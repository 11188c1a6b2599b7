"""What the lessons' notebooks share: exercises with a solution to fall back on, and checks.

An exercise cell defines a function under ``@exercise("lesson01")`` and leaves it
returning None until you write it. While it returns None, the call is answered by
the function of the same name in ``minicnn_lessons/lesson01.py`` (with a one-time
note), so the notebook always runs from top to bottom; as soon as your version
returns something, yours is used. Each lesson module also has the check of every
exercise (``check_conv2d_loops(conv2d_loops)``): it runs the version that answered
on cases chosen to catch the usual mistakes, and says ✓ or ✗ and whose version ran.

    show_solution(conv2d_loops)      # print the solution's code, when you are stuck

This package is installed with minicnn (``pip install "minicnn[notebook]"``), so a
notebook finds it from any folder, in Jupyter, VS Code or Colab.
"""
import functools
import importlib
import inspect
import os
from pathlib import Path

import numpy as np

__all__ = ["exercise", "show_solution", "verdict", "check_close", "check_gradcheck", "fast_mode",
           "work_dir"]


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
    with np.errstate(invalid="ignore"):
        diff = np.abs(got_np - exp_np)                       # nan where both are the same infinity
        good = (got_np == exp_np) | (diff <= atol + rtol * np.abs(exp_np))   # nan in yours is bad
    bad = ~good
    worst = float(np.max(np.where(good, np.nan_to_num(diff), np.inf))) if diff.size else 0.0
    if not bad.any():
        return verdict(fn, True, f"{who} matches {against}: largest difference {worst:.1e}")
    k = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1.0))), diff.shape)
    return verdict(fn, False, f"{who} differs from {against} in {int(bad.sum())} of {bad.size} numbers; "
                              f"at index {tuple(int(i) for i in k)} yours is {got_np[k]:.6g}, "
                              f"expected {exp_np[k]:.6g}")


def check_gradcheck(fn, result, what):
    """Say (✓ or ✗) whether a ``minicnn.gradcheck`` result passed for the backward ``fn`` wrote."""
    return verdict(fn, bool(result), f"{whose(fn)}: {what}: {result!r}")
