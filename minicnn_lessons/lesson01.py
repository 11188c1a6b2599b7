"""Lesson 01, convolution by hand: the solutions and the checks of its three exercises.

Notation (the lesson's): N samples, C input channels, H x W input, O output channels (filters),
KH x KW filter, S stride, P padding, OH x OW output; n, c, o, i, j index them and (u, v) is a
position inside a filter. Every check compares with an answer computed another way
(minicnn.reference's loops, NumPy's sliding_window_view, minicnn.Conv2d), never with the solution.

A check goes through the aspects of an exercise in order (the plain sum, the bias, padding,
stride, dtype, ...) and prints one ✓ line per aspect when all are right. The first aspect that
fails stops it, since the later ones build on it: a ✗ line, with a hint when the wrong answer is
exactly what a known mistake gives, then the aspects that were right (without a ✓) and those not
checked yet. Its helpers (case, aspect, in_order) are shared with lesson 02.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minicnn_lessons import Report, call, close_to, compare, whose

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
# How these checks report (with the package's Report, call and compare): the aspects of an
# exercise in order, each one a few cases; a hint when a wrong answer is exactly a known mistake
# ---------------------------------------------------------------------------------------------


def case(label, fn, args, expected, mistakes=(), dtype=None):
    """One case of an aspect: fn(*args) should give ``expected``. mistakes: (hint, what that
    mistake returns) pairs; dtype: the dtype the result must have (None: any)."""
    return label, lambda: call(fn, *args), expected, list(mistakes), dtype


def aspect(fn, what, cases, rtol=1e-5, atol=1e-8):
    """One aspect of an exercise (``what``: the bias, padding, ...), checked on ``cases``:
    returns (what, run), where run() gives (ok, the line to print)."""
    def run():
        worst = 0.0
        for label, result, expected, mistakes, dtype in cases:
            got, error = result()
            where = f"{what} ({label})"
            if error:
                return False, f"{whose(fn)} failed on {where}: {error}"
            ok, text = compare(fn, got, expected, where, rtol=rtol, atol=atol, dtype=dtype)
            if not ok:
                hints = [hint for hint, wrong in mistakes if hasattr(got, "shape") and close_to(got, wrong, 1e-5, 1e-6)]
                return False, text + "".join(f". {hint}" for hint in hints[:1])
            worst = max(worst, float(np.max(np.abs(np.asarray(got, np.float64) - expected), initial=0.0)))
        return True, (f"{whose(fn)} is right for {what} ({len(cases)} case{'s' * (len(cases) > 1)}, "
                      f"largest difference {worst:.1e})")
    return what, run


def in_order(fn, aspects):
    """Check ``aspects`` ((what, run) pairs) in order and print the verdict: one ✓ line per aspect
    when all pass. The first that fails stops the check, since the later ones build on it: its ✗
    line, the aspects that were right, and those not checked yet. Returns True or False."""
    report = Report(fn)
    for k, (what, run) in enumerate(aspects):
        ok, text = run()
        report.add(ok, text, what.split(":")[0])            # "the bias: b_o added once ..." -> "the bias"
        if not ok:
            report.close()
            later = [name.split(":")[0] for name, _ in aspects[k + 1:]]
            if later:
                print("  not checked yet (they build on this one): " + "; ".join(later))
            return False
    return report.close()


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
    return in_order(fn, [
        aspect(fn, "the sum: filters not flipped (cross-correlation), all input channels summed", [
            case("stride 1, no padding, zero bias", fn, (x, w, no_bias, 1, 0), ref, [
                ("Your output is a true convolution: each filter flipped (w[..., ::-1, ::-1]). PyTorch and "
                 "minicnn do not flip: y[n, o, i, j] multiplies w[o, c, u, v] by x[n, c, iS+u, jS+v].",
                 flipped),
                ("Your output is laid out (N, OH, OW, O); PyTorch's layout is (N, O, OH, OW).",
                 ref.transpose(0, 2, 3, 1)),
                ("You reshaped the (N*OH*OW, O) product straight to (N, O, OH, OW). Its rows are (n, i, j) "
                 "and its columns o: reshape to (N, OH, OW, O), then move o forward with "
                 "transpose(0, 3, 1, 2).", ref.transpose(0, 2, 3, 1).reshape(ref.shape))])]),
        aspect(fn, "the bias: b_o added once to every output of channel o", [
            case("stride 1, no padding, random bias", fn, (x, w, bias, 1, 0), with_bias, [
                ("Your output has no bias in it.", ref),
                ("Your bias was added to each of the C*KH*KW products of a window, not once to their sum.",
                 ref + bias[None, :, None, None] * (3 * 3 * 2))])]),
        aspect(fn, "padding P: P rows and columns of zeros around the input", [
            case(f"stride 1, padding {p}", fn, (x, w, bias, 1, p), _reference(x, w, bias, 1, p))
            for p in (1, 2)]),
        aspect(fn, "stride S: window (i, j) starts at row i*S, column j*S", [
            case(f"stride {s}, padding {p}", fn, (x, w, bias, s, p), _reference(x, w, bias, s, p), [
                ("Your windows start at row i, column j (stride 1) though the output has the size for "
                 f"stride {s}: with stride S, window (i, j) starts at row i*S, column j*S.",
                 _reference(x, w, bias, 1, p)[:, :, :(7 + 2 * p - 3) // s + 1, :(8 + 2 * p - 2) // s + 1])])
            for s, p in [(2, 0), (2, 1), (3, 2)]]),
        aspect(fn, "float32: float32 in, float32 out, as minicnn.Conv2d(3, 4, (3, 2), stride=2, padding=1)", [
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
        ("Your columns are in (u, v, c) order (channels last), but weight.reshape(O, -1) flattens "
         "each filter in (c, u, v) order: the products would pair the wrong numbers.",
         win.transpose(0, 1, 2, 4, 5, 3).reshape(m, -1)),
        ("Your rows are in (i, j, n) order; the rows must go sample by sample, (n, i, j), so that "
         "the product reshapes to (N, OH, OW, O).", win.transpose(1, 2, 0, 3, 4, 5).reshape(m, -1)),
        ("Your rows are in (n, j, i) order (down a column of windows first); go along a row of "
         "windows first: (n, i, j).", win.transpose(0, 2, 1, 3, 4, 5).reshape(m, -1))]
    return in_order(fn, [
        aspect(fn, "the order: one row per window in (n, i, j) order, its columns in (c, u, v) "
                           "order, as weight.reshape(O, -1)", [
            case("2 samples, 2 channels, 5x6 input, 2x3 windows, stride 1", fn, (x_pad, 2, 3, 1),
                 win.reshape(m, -1), order)]),
        aspect(fn, "stride S: window (i, j) starts at row i*S, column j*S", [
            case(f"stride {s}", fn, (x_pad, 2, 3, s), windows(x_pad, 2, 3, s).reshape(-1, 12))
            for s in (2, 3)]),
        aspect(fn, "float32: float32 in, float32 out", [
            case("float32 input, 3x3 windows, stride 2", fn, (x32, 3, 3, 2),
                 windows(x32, 3, 3, 2).reshape(-1, 27), dtype=np.float32)]),
    ])


def check_conv2d_im2col(fn):
    """Check an im2col convolution against minicnn.reference and minicnn.Conv2d: ✓/✗ per aspect."""
    return _check_convolution(fn)
