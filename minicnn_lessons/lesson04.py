"""Lesson 04: backpropagation and gradient checking. The solutions, and the checks of the learner's
versions (one line per case; see lesson03.Report)."""
import numpy as np

from . import Report, call, close_to, compare, whose

# ------------------------------------------------------------------------------------------------
# Given (lesson 01's im2col, repeated so that this lesson stands alone)
# ------------------------------------------------------------------------------------------------


def im2col(x_pad, KH, KW, stride=1):
    """Padded x (N, C, HP, WP) -> cols (N*OH*OW, C*KH*KW): one row per window, rows in (n, i, j) order."""
    N, C, HP, WP = x_pad.shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    cols = np.zeros((N, OH, OW, C, KH, KW), dtype=x_pad.dtype)
    for i in range(OH):
        for j in range(OW):
            cols[:, i, j] = x_pad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
    return cols.reshape(N * OH * OW, C * KH * KW)


# ------------------------------------------------------------------------------------------------
# The solutions
# ------------------------------------------------------------------------------------------------


def numerical_gradient(f, x, eps=1e-6):
    """f: array -> float; x: array of any shape (changed in place and restored) -> df/dx, shaped like x."""
    grad = np.zeros(x.shape)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        f_plus = f(x)
        x.flat[i] = old - eps
        f_minus = f(x)
        x.flat[i] = old                                  # put it back: x must end unchanged
        grad.flat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def conv2d_backward_loops(grad_y, x, weight, stride=1, padding=0):
    """grad_y (N, O, OH, OW), x (N, C, H, W), weight (O, C, KH, KW)
    -> (dx (N, C, H, W), dweight (O, C, KH, KW), dbias (O,)), in the dtype of x."""
    N, C, H, W = x.shape
    O, _, KH, KW = weight.shape
    OH, OW = grad_y.shape[2], grad_y.shape[3]
    P, S = padding, stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))      # (N, C, H+2P, W+2P)
    dx_pad = np.zeros_like(x_pad)
    dweight = np.zeros_like(weight)
    for n in range(N):
        for o in range(O):
            for i in range(OH):
                for j in range(OW):
                    g = grad_y[n, o, i, j]
                    rows, cols = slice(i * S, i * S + KH), slice(j * S, j * S + KW)   # output (i, j)'s window
                    dweight[o] += g * x_pad[n, :, rows, cols]                          # (C, KH, KW)
                    dx_pad[n, :, rows, cols] += g * weight[o]                          # (C, KH, KW)
    dbias = grad_y.sum(axis=(0, 2, 3))                        # (O,): every sample, every position
    return dx_pad[:, :, P:P + H, P:P + W], dweight, dbias     # the padding is not an input: crop it


def col2im(dcols, x_pad_shape, KH, KW, stride=1):
    """dcols (N*OH*OW, C*KH*KW), rows in (n, i, j) order -> dx_pad (x_pad_shape = (N, C, HP, WP)),
    in the dtype of dcols: each row added onto the pixels of its window."""
    N, C, HP, WP = x_pad_shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    windows = dcols.reshape(N, OH, OW, C, KH, KW)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for i in range(OH):
        for j in range(OW):
            # += : a pixel in several windows gets the sum of their gradients
            dx_pad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW] += windows[:, i, j]
    return dx_pad


# ------------------------------------------------------------------------------------------------
# Exercise 1: numerical_gradient
# ------------------------------------------------------------------------------------------------


def check_numerical_gradient(fn):
    """Against exact derivatives, with a tolerance that a central difference meets and a one-sided
    one cannot: f(x) = sum(x^3) with eps = 1e-3 (the central difference is off by exactly eps^2, the
    one-sided one by about 3 |x| eps), and f(x) = sum(sin(3x)) with the default eps = 1e-6 (central:
    about 1e-9, from rounding; one-sided: about eps/2 |f''|, over 1e-7 for most elements)."""
    rng = np.random.default_rng(6)
    report = Report(fn)
    cubic_x = rng.choice([-1, 1], (3, 4)) * rng.uniform(0.5, 2.0, (3, 4))
    sine_x = rng.uniform(-2, 2, (2, 3, 2))
    eps = 1e-3
    cases = [  # name, f, x, exact f'(x), eps (None: the default), allowed error
        (f"f(x) = sum(x^3) with eps = {eps:g} on a 3 x 4 array", lambda v: float(np.sum(v ** 3)),
         cubic_x, 3 * cubic_x ** 2, eps, 10 * eps ** 2),
        ("f(x) = sum(sin(3x)) with the default eps on a 2 x 3 x 2 array",
         lambda v: float(np.sum(np.sin(3 * v))), sine_x, 3 * np.cos(3 * sine_x), None, 1e-7),
    ]
    for name, f, x, exact, step, allowed in cases:
        got, error = call(fn, f, x) if step is None else call(fn, f, x, eps=step)   # x must end unchanged
        if error:
            hint = ". Put each element back after nudging it" if "in place" in error else ""
            report.add(False, f"{whose(fn)} failed on {name}: {error}{hint}", name)
            continue
        ok, text = compare(fn, got, exact, f"{name}, allowed error {allowed:.0e}", rtol=0, atol=allowed,
                           dtype=np.float64)
        if not ok and getattr(got, "dtype", None) == np.float32:
            text += (". Central differences need float64: in float32 a nudge of 1e-6 is lost in "
                     "rounding, so the docstring asks for a float64 gradient (np.zeros(x.shape))")
        if not ok and getattr(got, "shape", None) == x.shape:
            step = step or 1e-6
            nudges = step * np.eye(x.size).reshape((x.size,) + x.shape)
            forward = np.array([(f(x + e) - f(x)) / step for e in nudges]).reshape(x.shape)
            backward = np.array([(f(x) - f(x - e)) / step for e in nudges]).reshape(x.shape)
            if close_to(got, forward, 1e-6, 1e-9) or close_to(got, backward, 1e-6, 1e-9):
                worst = np.abs(np.asarray(got, dtype=np.float64) - exact).max()
                text += (f". Its error, up to {worst:.1e}, is of order eps: a one-sided difference. "
                         f"Nudge x up AND down and divide by 2 eps: the central difference's error is "
                         f"of order eps^2")
            elif close_to(got, 2 * exact, 1e-4, 1e-6):
                text += ". Yours is twice the derivative: the two nudged points are 2 eps apart"
        report.add(ok, text, name)
    return report.close()


# ------------------------------------------------------------------------------------------------
# Exercise 2: conv2d_backward_loops
# ------------------------------------------------------------------------------------------------


def _conv_layer_backward(grad_y, x, weight, stride, padding):
    """(dx, dweight, dbias) from minicnn's Conv2d (im2col and col2im on strided views)."""
    import minicnn as mc

    O, C, KH, KW = weight.shape
    layer = mc.Conv2d(C, O, (KH, KW), stride=stride, padding=padding)
    layer.to(dtype=x.dtype)
    layer.weight.data = weight.copy()
    layer.bias.data = np.zeros(O, dtype=x.dtype)
    layer.forward(x)
    dx = layer.backward(grad_y)
    return np.array(dx), layer.weight.grad, layer.bias.grad


def check_conv2d_backward_loops(fn):
    """Against minicnn's Conv2d: stride 1; stride 2 with padding 1 (overlapping windows, non-square
    input); stride 3 with padding 2 and a 2x3 kernel (gaps between windows); float32."""
    rng = np.random.default_rng(7)
    cases = [  # name, x shape, weight shape, stride, padding, dtype
        ("stride 1, padding 0", (2, 3, 6, 7), (4, 3, 3, 3), 1, 0, np.float64),
        ("stride 2, padding 1", (2, 2, 7, 9), (3, 2, 3, 3), 2, 1, np.float64),
        ("stride 3, padding 2, a 2x3 kernel", (3, 2, 8, 7), (2, 2, 2, 3), 3, 2, np.float64),
        ("float32, stride 2, padding 1", (2, 1, 6, 6), (2, 1, 3, 3), 2, 1, np.float32),
    ]
    report = Report(fn)
    stride_one_right = None
    for name, x_shape, w_shape, stride, padding, dtype in cases:
        x = rng.standard_normal(x_shape).astype(dtype)
        weight = rng.standard_normal(w_shape).astype(dtype)
        N, C, H, W = x_shape
        O, _, KH, KW = w_shape
        OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
        grad_y = rng.standard_normal((N, O, OH, OW)).astype(dtype)
        expected = _conv_layer_backward(grad_y, x, weight, stride, padding)
        out, error = call(fn, grad_y, x.copy(), weight.copy(), stride, padding)
        if error or not (isinstance(out, tuple) and len(out) == 3):
            report.add(False, f"{whose(fn)} on {name}: " + (error or f"returned {type(out).__name__}, "
                                                             f"expected (dx, dweight, dbias)"), name)
            continue
        rtol, atol = (1e-6, 1e-9) if dtype == np.float64 else (1e-4, 1e-4)
        ok, text = True, ""
        for tensor, got, want in zip(("dx", "dweight", "dbias"), out, expected):
            ok, text = compare(fn, got, want, f"{tensor} ({name})", rtol=rtol, atol=atol, dtype=dtype)
            if ok:
                continue
            shape = tuple(getattr(got, "shape", ()))
            if tensor == "dx" and shape == (N, C, H + 2 * padding, W + 2 * padding) and padding:
                text += (f". That is the padded input's shape: the padding (P = {padding} rows and columns "
                         f"on each side) is not an input, so crop it from dx")
            elif tensor == "dbias" and shape != (O,):
                text += ". dbias has one number per output channel: sum grad_y over the batch and every position"
            elif tensor == "dbias" and close_to(got, grad_y[0].sum(axis=(1, 2)), rtol, atol):
                text += ". That is the first sample's sum only: dbias sums over the whole batch"
            elif tensor == "dweight" and N > 1 and close_to(
                    got, _conv_layer_backward(grad_y[:1], x[:1], weight, stride, padding)[1], rtol, atol):
                text += ". That is the first sample's contribution only: dweight adds up every sample's"
            elif tensor == "dweight" and N > 1 and close_to(
                    got, _conv_layer_backward(grad_y[-1:], x[-1:], weight, stride, padding)[1], rtol, atol):
                text += (". That is the last sample's contribution only: each sample's contribution must "
                         "be ADDED to dweight (+=), not assigned")
            elif stride > 1 and stride_one_right:
                text += (f". Right with stride 1, wrong with stride {stride}: the window of output (i, j) "
                         f"starts at row i * stride and column j * stride of the padded input")
            break
        if stride == 1:
            stride_one_right = ok
        if ok:
            text = f"{whose(fn)} is right for {name}: dx, dweight and dbias match minicnn's Conv2d"
        report.add(ok, text, name)
    return report.close()


# ------------------------------------------------------------------------------------------------
# Exercise 3: col2im
# ------------------------------------------------------------------------------------------------


def _im2col_transpose(dcols, x_pad_shape, KH, KW, stride):
    """col2im's definition, computed literally: build im2col's matrix A column by column
    (cols.ravel() = A @ x_pad.ravel()) and multiply by its transpose."""
    size = int(np.prod(x_pad_shape))
    basis = np.eye(size).reshape((size,) + tuple(x_pad_shape))
    A = np.stack([im2col(e, KH, KW, stride).ravel() for e in basis], axis=1)   # (cols.size, x_pad.size)
    return (A.T @ np.asarray(dcols, dtype=np.float64).ravel()).reshape(x_pad_shape)


def _col2im_variant(dcols, x_pad_shape, KH, KW, stride, assign=False):
    """Two typical wrong col2ims, to name the mistake: '=' instead of '+=', or the stride forgotten."""
    N, C, HP, WP = x_pad_shape
    OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
    windows = np.asarray(dcols, dtype=np.float64).reshape(N, OH, OW, C, KH, KW)
    out = np.zeros(x_pad_shape)
    s = stride if assign else 1
    for i in range(OH):
        for j in range(OW):
            if assign:
                out[:, :, i * s:i * s + KH, j * s:j * s + KW] = windows[:, i, j]
            else:
                out[:, :, i * s:i * s + KH, j * s:j * s + KW] += windows[:, i, j]
    return out


def check_col2im(fn):
    """Against the transpose of im2col's matrix (col2im's definition): overlapping windows (stride 1
    and 2), windows with gaps between them (pixels in no window), and float32."""
    rng = np.random.default_rng(8)
    cases = [  # name, x_pad shape, KH, KW, stride, dtype
        ("3x3 windows, stride 1 (they overlap)", (2, 2, 6, 7), 3, 3, 1, np.float64),
        ("3x3 windows, stride 2 (they overlap by one row or column)", (1, 3, 7, 9), 3, 3, 2, np.float64),
        ("2x3 windows, stride 3 (gaps: some pixels are in no window)", (2, 1, 8, 10), 2, 3, 3, np.float64),
        ("float32, 3x3 windows, stride 2", (2, 2, 7, 7), 3, 3, 2, np.float32),
    ]
    report = Report(fn)
    for name, shape, KH, KW, stride, dtype in cases:
        N, C, HP, WP = shape
        OH, OW = (HP - KH) // stride + 1, (WP - KW) // stride + 1
        dcols = rng.standard_normal((N * OH * OW, C * KH * KW)).astype(dtype)
        expected = _im2col_transpose(dcols, shape, KH, KW, stride)
        got, error = call(fn, dcols.copy(), shape, KH, KW, stride)
        if error:
            report.add(False, f"{whose(fn)} failed on {name}: {error}", name)
            continue
        rtol, atol = (1e-9, 1e-12) if dtype == np.float64 else (1e-5, 1e-5)
        ok, text = compare(fn, got, expected, name, rtol=rtol, atol=atol, dtype=dtype)
        if not ok and getattr(got, "shape", None) == shape:
            if close_to(got, _col2im_variant(dcols, shape, KH, KW, stride, assign=True), rtol, atol):
                text += (". Wrong only where windows overlap: a pixel in several windows gets the SUM of "
                         "their gradients (+=); = keeps only the last window's")
            elif stride > 1 and close_to(got, _col2im_variant(dcols, shape, KH, KW, stride), rtol, atol):
                text += (f". Yours puts window (i, j) at row i, column j: with stride {stride} it starts at "
                         f"row i * stride, column j * stride")
        if ok:
            text = f"{whose(fn)} is right for {name}: it matches the transpose of im2col's matrix"
        report.add(ok, text, name)
    return report.close()
