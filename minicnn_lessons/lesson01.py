"""Lesson 01, convolution by hand: the solutions and the checks of its three exercises.

Notation (the lesson's): N samples, C input channels, H x W input, O output channels (filters),
KH x KW filter, S stride, P padding, OH x OW output; n, c, o, i, j index them and (u, v) is a
position inside a filter. Every check compares with an answer computed another way
(minicnn.reference's loops, NumPy's sliding_window_view, minicnn.Conv2d), never with the solution.

A check prints one ✓ or ✗ line per aspect (the plain sum, the bias, padding, stride, dtype, ...),
stops at the first aspect that fails (the later ones build on it), and adds a hint when the wrong
answer is exactly what a known mistake gives. Its helpers (attempt, aspect, case, in_order) are
shared with lesson 02.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minicnn_lessons import verdict, whose

# ---------------------------------------------------------------------------------------------
# Solutions
# ---------------------------------------------------------------------------------------------


def conv2d_loops(x, weight, bias, stride=1, padding=0):
    """Convolution (PyTorch's cross-correlation) with four loops over n, o, i, j.

    x (N, C, H, W), weight (O, C, KH, KW), bias (O,)  ->  y (N, O, OH, OW), in the dtype of x.
    stride S and padding P are ints, the same for rows and columns.
    """
    N, C, H, W = x.shape
    O, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))   # (N, C, H+2P, W+2P)
    y = np.zeros((N, O, OH, OW), dtype=x.dtype)
    for n in range(N):
        for o in range(O):
            for i in range(OH):
                for j in range(OW):
                    window = x_pad[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]  # (C, KH, KW)
                    y[n, o, i, j] = np.sum(window * weight[o]) + bias[o]
    return y


def im2col(x_pad, KH, KW, stride=1):
    """Every KH x KW window of an (already padded) input as one row.

    x_pad (N, C, HP, WP)  ->  cols (N*OH*OW, C*KH*KW), in the dtype of x_pad, with
    OH = (HP - KH) // S + 1 and OW = (WP - KW) // S + 1. Rows in (n, i, j) order; the
    columns of a row are its window flattened in (c, u, v) order, like weight.reshape(O, -1).
    """
    N, C, HP, WP = x_pad.shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    cols = np.zeros((N, OH, OW, C, KH, KW), dtype=x_pad.dtype)
    for i in range(OH):
        for j in range(OW):
            cols[:, i, j] = x_pad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]  # (N, C, KH, KW)
    return cols.reshape(N * OH * OW, C * KH * KW)


def conv2d_im2col(x, weight, bias, stride=1, padding=0):
    """The same convolution as conv2d_loops: im2col, then one matrix multiply.

    x (N, C, H, W), weight (O, C, KH, KW), bias (O,)  ->  y (N, O, OH, OW), in the dtype of x.
    """
    N, C, H, W = x.shape
    O, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))   # (N, C, H+2P, W+2P)
    cols = im2col(x_pad, KH, KW, stride)                  # (N*OH*OW, C*KH*KW)
    w_mat = weight.reshape(O, C * KH * KW)                # (O, C*KH*KW), columns in (c, u, v) order too
    y = cols @ w_mat.T + bias                             # (N*OH*OW, O): the one matrix multiply
    return y.reshape(N, OH, OW, O).transpose(0, 3, 1, 2)  # (N, O, OH, OW)


# ---------------------------------------------------------------------------------------------
# How a check reports: one ✓ or ✗ line per aspect, and a hint when the answer is a known mistake
# ---------------------------------------------------------------------------------------------


def attempt(fn, *args):
    """(what fn returned, None), or (None, 'raised ...') when the learner's version raised.
    The solution raising is a bug in the lessons: that propagates."""
    try:
        return fn(*args), None
    except Exception as error:                                # the learner's code may raise anything
        if getattr(fn, "used_solution", False):
            raise
        return None, f"raised {type(error).__name__}: {error}"


def _mismatch(got, expected, rtol, atol, dtype=None):
    """None when ``got`` matches ``expected``, else what differs, in one sentence."""
    if got is None:
        return f"returned None, expected an array of shape {np.shape(expected)}"
    if not hasattr(got, "shape"):
        return f"returned a {type(got).__name__}, expected an array of shape {np.shape(expected)}"
    if got.shape != np.shape(expected):
        return f"returned shape {got.shape}, expected {np.shape(expected)}"
    if dtype is not None and got.dtype != np.dtype(dtype):
        return f"returned dtype {got.dtype}, expected {np.dtype(dtype)}"
    g, e = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    bad = ~(np.abs(g - e) <= atol + rtol * np.abs(e))        # a NaN in yours counts as bad
    if not bad.any():
        return None
    k = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"differs in {int(bad.sum())} of {bad.size} numbers; at index {k} yours is {g[k]:.6g}, "
            f"expected {e[k]:.6g}")


def _same(got, candidate):
    """Is ``got`` exactly what a known mistake gives? (for hints only)"""
    return (hasattr(got, "shape") and got.shape == np.shape(candidate)
            and np.allclose(np.asarray(got, dtype=np.float64), candidate, rtol=1e-5, atol=1e-6))


def aspect(fn, what, cases, rtol=1e-5, atol=1e-8):
    """Run ``cases`` and print one line, ✓ or ✗, for this aspect of ``fn``; returns True or False.

    cases: (label, call, expected, mistakes, dtype): ``call()`` runs fn and returns
    (result, error); ``mistakes`` is a list of (hint, what that mistake returns), shown when
    the result is one of them.
    """
    worst = 0.0
    for label, call, expected, mistakes, dtype in cases:
        got, error = call()
        problem = error or _mismatch(got, expected, rtol, atol, dtype)
        if problem:
            verdict(fn, False, f"{whose(fn)}: {what}: {label}: {problem}")
            for hint, wrong in mistakes:
                if error is None and _same(got, wrong):
                    print(f"    hint: {hint}")
                    break
            return False
        worst = max(worst, float(np.max(np.abs(np.asarray(got, np.float64) - expected), initial=0.0)))
    verdict(fn, True, f"{whose(fn)}: {what} ({len(cases)} case{'s' * (len(cases) > 1)}, "
                      f"largest difference {worst:.1e})")
    return True


def case(label, fn, args, expected, mistakes=(), dtype=None):
    """One case of an aspect: fn(*args) should give ``expected``."""
    return label, lambda: attempt(fn, *args), expected, list(mistakes), dtype


def in_order(aspects):
    """Run aspects (functions returning True or False) until one fails: the later ones build on it,
    so they would fail for the same reason. Returns True when all passed."""
    for k, run in enumerate(aspects):
        if not run():
            if k + 1 < len(aspects):
                print(f"  (the {len(aspects) - k - 1} other aspect{'s' * (len(aspects) - k > 2)} "
                      f"will be checked once this one passes)")
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _reference(x, weight, bias, stride, padding):
    from minicnn.reference import conv2d_forward_naive
    return conv2d_forward_naive(x, weight, bias, stride, padding)


def _check_convolution(fn):
    """The five aspects every convolution must get right, whatever its method."""
    import minicnn as mc

    rng = np.random.default_rng(1)
    # Non-square everything, so that a swapped axis shows: N=2, C=3, 7x8 input, O=4 filters of
    # 3x2 (asymmetric random numbers: a flipped filter gives other numbers) -> 5x7 output.
    x = rng.standard_normal((2, 3, 7, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    no_bias, bias = np.zeros(4), rng.standard_normal(4)
    ref = _reference(x, w, no_bias, 1, 0)
    flipped = _reference(x, w[:, :, ::-1, ::-1], no_bias, 1, 0)
    with_bias = _reference(x, w, bias, 1, 0)
    conv = mc.Conv2d(3, 4, (3, 2), stride=2, padding=1)
    x32 = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    return in_order([
        lambda: aspect(fn, "cross-correlation (filters not flipped), summed over all input channels", [
            case("stride 1, no padding, zero bias", fn, (x, w, no_bias, 1, 0), ref, [
                ("your output is a true convolution: each filter flipped (w[..., ::-1, ::-1]). PyTorch and "
                 "minicnn do not flip: y[n, o, i, j] multiplies w[o, c, u, v] by x[n, c, iS+u, jS+v].",
                 flipped),
                ("your output is laid out (N, OH, OW, O); PyTorch's layout is (N, O, OH, OW).",
                 ref.transpose(0, 2, 3, 1)),
                ("you reshaped the (N*OH*OW, O) product straight to (N, O, OH, OW). Its rows are (n, i, j) "
                 "and its columns o: reshape to (N, OH, OW, O), then move o forward with "
                 "transpose(0, 3, 1, 2).", ref.transpose(0, 2, 3, 1).reshape(ref.shape))])]),
        lambda: aspect(fn, "bias b_o added once to every output of channel o", [
            case("stride 1, no padding, random bias", fn, (x, w, bias, 1, 0), with_bias, [
                ("your output has no bias in it.", ref),
                ("your bias was added to each of the C*KH*KW products of a window, not once to their sum.",
                 ref + bias[None, :, None, None] * (3 * 3 * 2))])]),
        lambda: aspect(fn, "padding P: P rows and columns of zeros around the input", [
            case(f"stride 1, padding {p}", fn, (x, w, bias, 1, p), _reference(x, w, bias, 1, p))
            for p in (1, 2)]),
        lambda: aspect(fn, "stride S: window (i, j) starts at row i*S, column j*S", [
            case(f"stride {s}, padding {p}", fn, (x, w, bias, s, p), _reference(x, w, bias, s, p), [
                ("your windows start at row i, column j (stride 1) though the output has the size for "
                 f"stride {s}: with stride S, window (i, j) starts at row i*S, column j*S.",
                 _reference(x, w, bias, 1, p)[:, :, :(7 + 2 * p - 3) // s + 1, :(8 + 2 * p - 2) // s + 1])])
            for s, p in [(2, 0), (2, 1), (3, 2)]]),
        lambda: aspect(fn, "float32 in, float32 out, as minicnn.Conv2d(3, 4, (3, 2), stride=2, padding=1)", [
            case("float32 input and filters", fn, (x32, conv.weight.data, conv.bias.data, 2, 1), conv(x32),
                 dtype=np.float32)], rtol=1e-4, atol=1e-5),
    ])


def check_conv2d_loops(fn):
    """Check a four-loop convolution against minicnn.reference and minicnn.Conv2d: ✓/✗ per aspect."""
    return _check_convolution(fn)


def check_im2col(fn):
    """Check im2col's rows, columns, stride and dtype against NumPy's sliding_window_view."""

    def windows(x_pad, kh, kw, s):       # independent of any loop: a strided view of every window
        win = sliding_window_view(x_pad, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]   # (N, C, OH, OW, KH, KW)
        return win.transpose(0, 2, 3, 1, 4, 5)                                      # (N, OH, OW, C, KH, KW)

    # Two samples, two channels, 5x6, windows 2x3 -> 4x4 positions; numbers 0, 1, 2, ... easy to read.
    x_pad = np.arange(2 * 2 * 5 * 6, dtype=np.float64).reshape(2, 2, 5, 6)
    win = windows(x_pad, 2, 3, 1)
    m = win.shape[0] * win.shape[1] * win.shape[2]
    x32 = np.random.default_rng(2).standard_normal((2, 3, 6, 7)).astype(np.float32)
    order = [
        ("your columns are in (u, v, c) order (channels last), but weight.reshape(O, -1) flattens "
         "each filter in (c, u, v) order: the products would pair the wrong numbers.",
         win.transpose(0, 1, 2, 4, 5, 3).reshape(m, -1)),
        ("your rows are in (i, j, n) order; the rows must go sample by sample, (n, i, j), so that "
         "the product reshapes to (N, OH, OW, O).", win.transpose(1, 2, 0, 3, 4, 5).reshape(m, -1)),
        ("your rows are in (n, j, i) order (down a column of windows first); go along a row of "
         "windows first: (n, i, j).", win.transpose(0, 2, 1, 3, 4, 5).reshape(m, -1))]
    return in_order([
        lambda: aspect(fn, "one row per window in (n, i, j) order, its columns in (c, u, v) order "
                           "(the order of weight.reshape(O, -1))", [
            case("2 samples, 2 channels, 5x6 input, 2x3 windows, stride 1", fn, (x_pad, 2, 3, 1),
                 win.reshape(m, -1), order)]),
        lambda: aspect(fn, "stride S: window (i, j) starts at row i*S, column j*S", [
            case(f"stride {s}", fn, (x_pad, 2, 3, s), windows(x_pad, 2, 3, s).reshape(-1, 12))
            for s in (2, 3)]),
        lambda: aspect(fn, "float32 in, float32 out", [
            case("float32 input, 3x3 windows, stride 2", fn, (x32, 3, 3, 2),
                 windows(x32, 3, 3, 2).reshape(-1, 27), dtype=np.float32)]),
    ])


def check_conv2d_im2col(fn):
    """Check an im2col convolution against minicnn.reference and minicnn.Conv2d: ✓/✗ per aspect."""
    return _check_convolution(fn)
