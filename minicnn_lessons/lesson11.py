"""Lesson 11: speed. The solution of the vectorising exercise, and its check.

The exercise turns a double loop over pairs of rows into array operations: squared distances
|a_i - b_j|^2 = |a_i|^2 - 2 a_i . b_j + |b_j|^2, whose middle term is one matrix multiply. The check
goes through its aspects in order (lesson 01's case, aspect and in_order): the values, thin shapes,
float32, and last that no Python loop runs over the pairs.
"""
import time

import numpy as np

from . import call, whose
from .lesson01 import aspect, case, in_order

# ------------------------------------------------------------------------------------------------
# Given: the loop version, and the solution
# ------------------------------------------------------------------------------------------------


def squared_distances_loops(a, b):
    """a (M, D), b (N, D) -> (M, N) in the dtype of a: entry [i, j] = |a_i - b_j|^2, pair by pair."""
    out = np.zeros((len(a), len(b)), dtype=a.dtype)
    for i in range(len(a)):
        for j in range(len(b)):
            d = a[i] - b[j]                                  # (D,)
            out[i, j] = d @ d
    return out


def squared_distances(a, b):
    """a (M, D), b (N, D) -> (M, N) in the dtype of a, as squared_distances_loops, with no Python loop."""
    aa = (a * a).sum(axis=1)[:, None]                        # (M, 1): |a_i|^2
    bb = (b * b).sum(axis=1)[None, :]                        # (1, N): |b_j|^2
    d = aa - 2 * (a @ b.T) + bb                              # (M, N): the multiply does the work
    return np.maximum(d, 0)                                  # rounding can leave a zero distance at -1e-7


# ------------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------------


def _expansion(a, b, two=2.0, swap_norms=False):
    """The expansion done right, or with a typical slip: another factor than 2, or the norms
    broadcast along the wrong axes."""
    aa, bb = (a * a).sum(axis=1), (b * b).sum(axis=1)
    if swap_norms:
        return aa[None, :] - two * (a @ b.T) + bb[:, None]
    return aa[:, None] - two * (a @ b.T) + bb[None, :]


def _no_pair_loop(fn, a, b):
    """An aspect: fn runs at least 10 times faster than the loop over pairs (it is ~100 times)."""
    def run():
        for f in (fn, squared_distances_loops):              # warm-up
            _, error = call(f, a, b)
            if error:
                return False, f"{whose(fn)} failed on {len(a)} x {len(b)} pairs: {error}"
        fastest = {}
        for f in (fn, squared_distances_loops, fn, squared_distances_loops, fn, squared_distances_loops):
            start = time.perf_counter()
            f(a, b)
            fastest[f] = min(fastest.get(f, np.inf), time.perf_counter() - start)
        ratio = fastest[squared_distances_loops] / fastest[fn]
        text = (f"{whose(fn)} takes {1e3 * fastest[fn]:.2f} ms on {len(a)} x {len(b)} pairs of "
                f"{a.shape[1]} features, the loop over pairs {1e3 * fastest[squared_distances_loops]:.1f} "
                f"ms: {ratio:.0f} times faster")
        if ratio >= 10:
            return True, text
        return False, (text + "; a version without a Python loop over the pairs is about 100 times "
                       "faster: |a_i|^2 and |b_j|^2 are sums along axis 1, a_i . b_j for all pairs is a @ b.T")
    return "no loop over pairs: at least 10 times faster than the double loop", run


def check_squared_distances(fn):
    """The values against the double loop (with hints for the usual slips), thin shapes, float32 kept,
    and speed: at least 10 times faster than the loop over pairs."""
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    sa, sb = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))      # square: swapped axes broadcast
    a32, b32 = rng.standard_normal((6, 8)).astype(np.float32), rng.standard_normal((7, 8)).astype(np.float32)

    def slips(x, y):
        """(hint, what that slip gives) for x, y; swapped norms only broadcast where M = N."""
        found = [("Those are the distances, not their squares: leave out the square root.",
                  np.sqrt(np.maximum(squared_distances_loops(x, y), 0))),
                 ("The cross term is 2 a_i . b_j: |a - b|^2 = |a|^2 - 2 a . b + |b|^2.", _expansion(x, y, two=1.0)),
                 ("The cross term is subtracted: |a - b|^2 = |a|^2 - 2 a . b + |b|^2.", _expansion(x, y, two=-2.0))]
        if len(x) == len(y):
            found.append(("|a_i|^2 belongs to row i (a column, aa[:, None]) and |b_j|^2 to column j "
                          "(bb[None, :]); yours has them the other way round.", _expansion(x, y, swap_norms=True)))
            found.append(("Yours is transposed: row i holds a_i's distances, column j b_j's; the shape is "
                          "(M, N).", squared_distances_loops(y, x)))
        return found
    return in_order(fn, [
        aspect(fn, "the values: |a_i − b_j|² for every pair, as the double loop", [
            case("4 x 4 pairs of 6 features", fn, (sa, sb), squared_distances_loops(sa, sb), slips(sa, sb)),
            case("5 x 4 pairs of 3 features", fn, (a, b), squared_distances_loops(a, b), slips(a, b))],
            rtol=1e-9, atol=1e-9),
        aspect(fn, "thin shapes: one row, one feature", [
            case("1 x 7 pairs of 6 features", fn, (a[:1, :1].repeat(6, 1), sb.repeat(2, 0)[:7]),
                 squared_distances_loops(a[:1, :1].repeat(6, 1), sb.repeat(2, 0)[:7])),
            case("3 x 2 pairs of 1 feature", fn, (a[:3, :1], b[:2, :1]),
                 squared_distances_loops(a[:3, :1], b[:2, :1]))], rtol=1e-9, atol=1e-9),
        aspect(fn, "float32: float32 in, float32 out", [
            case("6 x 7 pairs of 8 features, float32", fn, (a32, b32), squared_distances_loops(a32, b32),
                 dtype=np.float32)], rtol=1e-4, atol=1e-4),
        _no_pair_loop(fn, rng.standard_normal((120, 32)), rng.standard_normal((120, 32))),
    ])
