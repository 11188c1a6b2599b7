"""Lesson 02, pooling and ReLU: the solutions and the checks of its four exercises.

Every check compares with an answer computed another way (minicnn's layers, minicnn.reference's
loops, central differences), never with the solution, and prints one ✓ or ✗ line per aspect.
"""
import numpy as np

from minicnn_lessons import call, whose
from minicnn_lessons.lesson01 import aspect, case, in_order

# ---------------------------------------------------------------------------------------------
# Solutions
# ---------------------------------------------------------------------------------------------


def relu_backward(grad_y, x):
    """ReLU's backward: grad_y where x > 0, else 0 (also at x == 0 exactly, as in PyTorch).

    grad_y: dL/dy, x: the forward's input, both of the same shape  ->  dL/dx, that shape and dtype.
    """
    return grad_y * (x > 0)


def maxpool2d_forward(x, k, stride):
    """Max pooling over k x k windows, no padding, and the winners' positions for the backward.

    x (N, C, H, W)  ->  y (N, C, OH, OW) in the dtype of x, OH = (H - k) // stride + 1 (likewise OW),
    and cache = (indices, x.shape): indices (N, C, OH, OW) integers, the position row * W + col in
    x[n, c] of each window's FIRST maximum in row-major order (PyTorch's return_indices).
    """
    N, C, H, W = x.shape
    OH, OW = (H - k) // stride + 1, (W - k) // stride + 1
    y = np.zeros((N, C, OH, OW), dtype=x.dtype)
    indices = np.zeros((N, C, OH, OW), dtype=np.int64)
    for i in range(OH):
        for j in range(OW):
            window = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k]   # (N, C, k, k)
            first = window.reshape(N, C, k * k).argmax(axis=2)     # (N, C): u*k + v of the first maximum
            u, v = first // k, first % k
            y[:, :, i, j] = window.reshape(N, C, k * k).max(axis=2)
            indices[:, :, i, j] = (i * stride + u) * W + (j * stride + v)
    return y, (indices, x.shape)


def maxpool2d_backward(grad_y, cache):
    """Max pooling's backward: each output's gradient goes to its window's winner, and adds up
    where one pixel wins several (overlapping) windows.

    grad_y (N, C, OH, OW), cache = (indices, x.shape) from maxpool2d_forward  ->  dx (N, C, H, W).
    """
    indices, (N, C, H, W) = cache
    dx = np.zeros((N, C, H * W), dtype=grad_y.dtype)
    n = np.arange(N)[:, None, None, None]                  # broadcast against indices (N, C, OH, OW)
    c = np.arange(C)[None, :, None, None]
    # np.add.at adds once per index, repeats included; dx[n, c, indices] += grad_y would add only
    # one of the gradients of a pixel that wins two windows.
    np.add.at(dx, (n, c, indices), grad_y)
    return dx.reshape(N, C, H, W)


def avgpool2d_backward(grad_y, x_shape, k, stride, padding):
    """Average pooling's backward: each output's gradient shared equally by the k*k pixels of its
    window, padded ones included (they count in the mean: PyTorch's count_include_pad=True).

    grad_y (N, C, OH, OW), x_shape = (N, C, H, W) of the forward's input  ->  dx (N, C, H, W).
    """
    N, C, H, W = x_shape
    OH, OW = grad_y.shape[2], grad_y.shape[3]
    dx_pad = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=grad_y.dtype)
    share = grad_y / (k * k)                                   # (N, C, OH, OW): one pixel's share
    for i in range(OH):
        for j in range(OW):
            dx_pad[:, :, i * stride:i * stride + k, j * stride:j * stride + k] += share[:, :, i:i + 1, j:j + 1]
    return dx_pad[:, :, padding:padding + H, padding:padding + W]   # the padding's shares go nowhere


# ---------------------------------------------------------------------------------------------
# Known mistakes, computed here so that a check can name the one a learner made
# ---------------------------------------------------------------------------------------------


def _windows(shape, k, stride, padding=0):
    """(i, j, top row, left column) of every window of an input of ``shape`` padded by ``padding``."""
    OH = (shape[2] + 2 * padding - k) // stride + 1
    OW = (shape[3] + 2 * padding - k) // stride + 1
    return [(i, j, i * stride, j * stride) for i in range(OH) for j in range(OW)]


def _max_backward_variant(g, x, k, stride, winners="first", add=True):
    """Max pooling's backward done right (winners="first", add=True) or with a typical mistake:
    winners="last" or "all" tied maxima; add=False overwrites instead of adding."""
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i, j, r, s in _windows(x.shape, k, stride):
                window = x[n, c, r:r + k, s:s + k]
                tied = np.argwhere(window == window.max())                # row-major order
                for u, v in {"first": tied[:1], "last": tied[-1:], "all": tied}[winners]:
                    if add:
                        dx[n, c, r + u, s + v] += g[n, c, i, j]
                    else:
                        dx[n, c, r + u, s + v] = g[n, c, i, j]
    return dx


def _avg_backward_variant(g, x_shape, k, stride, padding, divide_by="k*k", add=True):
    """Average pooling's backward done right or with a typical mistake: divide_by="real pixels"
    (the padding ignored), "k" or "1"; add=False overwrites instead of adding."""
    N, C, H, W = x_shape
    dx = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    real = np.zeros_like(dx)
    real[:, :, padding:padding + H, padding:padding + W] = 1
    for i, j, r, s in _windows(x_shape, k, stride, padding):
        count = {"k*k": k * k, "k": k, "1": 1,
                 "real pixels": real[:, :, r:r + k, s:s + k].sum(axis=(2, 3))[..., None, None]}[divide_by]
        share = g[:, :, i:i + 1, j:j + 1] / count
        if add:
            dx[:, :, r:r + k, s:s + k] += share
        else:
            dx[:, :, r:r + k, s:s + k] = share
    return dx[:, :, padding:padding + H, padding:padding + W]


def _distinct(shape, seed):
    """Numbers that are all different and at least 0.1 apart: no ties, safe for central differences."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1


def _gradcheck_aspect(fn, what, forward, backward, x):
    """An aspect (what, run): minicnn.gradcheck of (forward, backward) at x passes."""
    import minicnn as mc

    def run():
        result, error = call(mc.gradcheck, (forward, backward), x)
        text = error or repr(result).replace("\n", ";")
        return (not error and bool(result)), f"{whose(fn)} in {what}: {text}"
    return what, run


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def check_relu_backward(fn):
    """Check ReLU's backward against minicnn.ReLU, at exactly 0 and in float32."""
    import minicnn as mc

    rng = np.random.default_rng(4)
    x = rng.uniform(0.1, 1.0, (2, 3, 4, 5)) * rng.choice([-1.0, 1.0], (2, 3, 4, 5))   # away from 0
    g = rng.standard_normal(x.shape)
    x0 = x.copy()
    x0[:, :, ::2, ::2] = 0.0                                       # exact zeros: the kink itself
    x32, g32 = x.astype(np.float32), g.astype(np.float32)

    def layer_backward(grad, inp):                                 # minicnn's ReLU layer: the reference
        layer = mc.ReLU()
        layer.forward(inp)
        return layer.backward(grad)
    return in_order(fn, [
        aspect(fn, "the gradient: grad_y where x > 0, 0 where x < 0, as minicnn.ReLU().backward", [
            case("random x and grad_y", fn, (g, x), layer_backward(g, x), [
                ("Your gradient passes everywhere. If you tested y = max(x, 0) >= 0: that is always True.", g),
                ("You returned the derivative f'(x) alone; by the chain rule, dL/dx = grad_y * f'(x).",
                 (x > 0).astype(float)),
                ("You multiplied grad_y by y = max(x, 0); the derivative f'(x) is 1 or 0, not y.",
                 g * np.maximum(x, 0))])]),
        aspect(fn, "x = 0: the gradient is 0 at exactly x = 0 (minicnn's and PyTorch's convention, as minicnn.ReLU)", [
            case("x with exact zeros", fn, (g, x0), layer_backward(g, x0), [
                ("Your gradient passes where x == 0 (x >= 0); the convention is x > 0.", g * (x0 >= 0))])]),
        aspect(fn, "float32: float32 in, float32 out", [
            case("float32 x and grad_y", fn, (g32, x32), layer_backward(g32, x32), dtype=np.float32)]),
    ])


def _pooled(result):
    """The y of a forward that should return (y, cache)."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"maxpool2d_forward should return a pair (y, cache), it returned "
                        f"{type(result).__name__}")
    return result[0]


def _forward_case(label, fn, x, k, stride, expected, part, mistakes=(), dtype=None):
    """A case on one part of what maxpool2d_forward returns: its y, or the indices in its cache."""
    def result():
        out, error = call(fn, x, k, stride)
        if error:
            return None, error
        if not (isinstance(out, tuple) and len(out) == 2):
            return None, f"it returned {type(out).__name__}, expected a pair (y, cache)"
        if part == "y":
            return out[0], None
        cache = out[1]
        if not (isinstance(cache, tuple) and len(cache) == 2 and tuple(cache[1]) == x.shape):
            return None, "its cache is not (indices, x.shape), the form the docstring asks for"
        return cache[0], None
    return label, result, expected, list(mistakes), dtype


def _max_indices(x, k, stride, which=0):
    """Where each window's first (which=0) or last (which=-1) maximum sits, as row * W + col."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, (H - k) // stride + 1, (W - k) // stride + 1), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i, j, r, s in _windows(x.shape, k, stride):
                window = x[n, c, r:r + k, s:s + k]
                u, v = np.argwhere(window == window.max())[which]     # row-major order
                out[n, c, i, j] = (r + u) * W + (s + v)
    return out


def check_maxpool2d_forward(fn):
    """Check max pooling's y against minicnn.reference, and the winners in its cache on ties."""
    from minicnn.reference import maxpool2d_forward_naive

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 8))
    x_odd = rng.standard_normal((2, 3, 7, 9))
    ties = rng.integers(0, 3, (2, 3, 6, 9)).astype(np.float64)     # small integers: ties everywhere
    ties[0, 0, :3, :3] = 1.0                                       # a whole window of one value
    x32 = x.astype(np.float32)

    def ref(inp, k, s):
        return maxpool2d_forward_naive(inp, k, s)

    return in_order(fn, [
        aspect(fn, "the max: y holds the max of each k x k window", [
            _forward_case("2x2 windows, stride 2", fn, x, 2, 2, ref(x, 2, 2), "y")]),
        aspect(fn, "leftovers: rows and columns that fit no window are left out of y", [
            _forward_case("7x9 input, 2x2 windows, stride 2", fn, x_odd, 2, 2, ref(x_odd, 2, 2), "y")]),
        aspect(fn, "overlapping windows: stride < k", [
            _forward_case(f"{k}x{k} windows, stride {s}", fn, x_odd, k, s, ref(x_odd, k, s), "y")
            for k, s in [(3, 2), (2, 1), (3, 1)]]),
        aspect(fn, "the cache: the position row * W + col of each window's first maximum, ties included", [
            _forward_case(f"small integers, {k}x{k} windows, stride {s}", fn, ties, k, s,
                          _max_indices(ties, k, s), "indices", [
                              ("Your indices point at the LAST maximum of a window with ties; the first one, "
                               "in row-major order (what np.argmax returns), is the convention.",
                               _max_indices(ties, k, s, which=-1)),
                              ("Your indices count inside the window (u * k + v); the backward needs the "
                               "position in the whole input, row * W + col.",
                               _window_offsets(ties, k, s))])
            for k, s in [(2, 2), (3, 2)]]),
        aspect(fn, "float32: float32 in, float32 out", [
            _forward_case("float32 input", fn, x32, 2, 2, ref(x32, 2, 2), "y", dtype=np.float32)]),
    ])


def _window_offsets(x, k, stride):
    """The mistake of counting inside the window: u * k + v of each first maximum."""
    W = x.shape[3]
    absolute = _max_indices(x, k, stride)
    OH, OW = absolute.shape[2], absolute.shape[3]
    tops = (np.arange(OH) * stride)[:, None]
    lefts = (np.arange(OW) * stride)[None, :]
    return (absolute // W - tops) * k + (absolute % W - lefts)


def check_maxpool2d_backward(fn, forward=None):
    """Check max pooling's backward, fed by the caches of ``forward`` (your maxpool2d_forward), against
    minicnn.reference on ties and overlapping windows, and by central differences.

    If your backward is not written yet, the solution's backward is checked with the solution's forward.
    """
    rng = np.random.default_rng(6)
    probe = _distinct((1, 1, 4, 4), 0)
    call(fn, np.ones((1, 1, 2, 2)), maxpool2d_forward(probe, 2, 2)[1])   # whose backward answers?
    if forward is None or getattr(fn, "used_solution", False):
        forward, forward_name = maxpool2d_forward, "the solution's maxpool2d_forward"
    else:
        call(forward, probe, 2, 2)                                         # whose forward answers?
        forward_name = whose(forward)
    print(f"Checking {whose(fn)} on the caches of {forward_name}:")

    def pair_case(label, x, k, s, mistakes=(), dtype=None):
        from minicnn.reference import maxpool2d_backward_naive
        g = rng.standard_normal(x.shape[:2] + ((x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1))
        g = g.astype(x.dtype)                                       # a random upstream gradient

        def result():
            out, error = call(forward, x, k, s)
            if error:
                return None, f"{forward_name}: {error}"
            if not (isinstance(out, tuple) and len(out) == 2):
                return None, f"{forward_name} returned {type(out).__name__}, expected a pair (y, cache)"
            return call(fn, g, out[1])
        expected = maxpool2d_backward_naive(g, x, k, s)
        hints = [(text, _max_backward_variant(g, x, k, s, **variant)) for text, variant in mistakes]
        return label, result, expected, hints, dtype

    ties = rng.integers(0, 3, (2, 3, 6, 9)).astype(np.float64)
    ties[0, 0, :3, :3] = 1.0                                       # a whole window of one value
    no_ties = _distinct((2, 3, 7, 9), 1)
    small = _distinct((1, 2, 5, 7), 3)                             # for gradcheck: two forwards per number
    tie_hints = [
        ("The gradient went to every tied maximum of a window; only the first one (row-major, "
         "np.argmax's) receives it, as in PyTorch.", dict(winners="all")),
        ("The gradient went to the LAST tied maximum of a window; the first one (row-major) receives it.",
         dict(winners="last"))]
    overlap_hints = [
        ("Where one pixel wins two windows, it kept one gradient instead of their sum. Fancy-index "
         "assignment (dx[idx] += g) writes a repeated index once; np.add.at(dx, idx, g) adds every time.",
         dict(add=False))]
    return in_order(fn, [
        aspect(fn, "the winners: each window's gradient goes to its maximum (windows that tile, no ties)", [
            pair_case("2x2 windows, stride 2", no_ties, 2, 2)]),
        aspect(fn, "ties: only the first maximum (row-major) receives the gradient", [
            pair_case(f"small integers, {k}x{k} windows, stride {k}", ties, k, k, tie_hints) for k in (2, 3)]),
        aspect(fn, "overlapping windows: a pixel that wins several gets the sum of their gradients", [
            pair_case(f"{k}x{k} windows, stride {s}", no_ties, k, s, overlap_hints)
            for k, s in [(3, 2), (2, 1), (3, 1)]]),
        _gradcheck_aspect(
            fn, "gradcheck: the forward and backward together, 3x3 windows, stride 2 (central differences)",
            lambda inp: _pooled(forward(inp, 3, 2)),
            lambda grad: fn(grad, forward(small, 3, 2)[1]), small),
        aspect(fn, "float32: float32 in, float32 out", [
            pair_case("float32, 2x2 windows, stride 2", no_ties.astype(np.float32), 2, 2, dtype=np.float32)]),
    ])


def check_avgpool2d_backward(fn):
    """Check average pooling's backward against minicnn.reference (padding, overlap) and gradcheck."""
    from minicnn.reference import avgpool2d_backward_naive, avgpool2d_forward_naive

    rng = np.random.default_rng(7)

    def avg_case(label, shape, k, s, p, mistakes=(), dtype=np.float64):
        OH, OW = (shape[2] + 2 * p - k) // s + 1, (shape[3] + 2 * p - k) // s + 1
        g = rng.standard_normal(shape[:2] + (OH, OW)).astype(dtype)
        expected = avgpool2d_backward_naive(g, np.zeros(shape), k, s, p)
        hints = [(text, _avg_backward_variant(g, shape, k, s, p, **variant)) for text, variant in mistakes]
        return case(label, fn, (g, shape, k, s, p), expected, hints,
                    dtype=dtype if dtype == np.float32 else None)

    share_hints = [("You divided by k; the mean of a k x k window divides by k*k.", dict(divide_by="k")),
                   ("You copied the gradient to every pixel of its window without dividing: the mean "
                    "divides by k*k, so does its derivative.", dict(divide_by="1"))]
    overlap_hints = [("Where windows overlap, a pixel kept one share instead of the sum of its shares.",
                      dict(add=False))]
    padding_hints = [
        ("You divided by the number of real pixels of each window, as if the padded zeros did not count "
         "(count_include_pad=False). minicnn and PyTorch count them: every share is g / (k*k), also at "
         "the border.", dict(divide_by="real pixels"))]
    x_pad_check = _distinct((1, 2, 5, 7), 2)
    return in_order(fn, [
        aspect(fn, "the shares: each window's gradient shared equally by its k*k pixels (windows that tile)", [
            avg_case("2x2 windows, stride 2", (2, 3, 6, 8), 2, 2, 0, share_hints)]),
        aspect(fn, "leftovers: pixels in no window get 0", [
            avg_case("7x9 input, 2x2 windows, stride 2", (2, 3, 7, 9), 2, 2, 0)]),
        aspect(fn, "overlapping windows: a pixel in several gets the sum of its shares", [
            avg_case(f"{k}x{k} windows, stride {s}", (2, 3, 7, 9), k, s, 0, overlap_hints)
            for k, s in [(3, 2), (3, 1)]]),
        aspect(fn, "padding: the padded zeros count in the mean, every share is g / (k*k)", [
            avg_case(f"{k}x{k} windows, stride {s}, padding {p}", (2, 3, 7, 9), k, s, p, padding_hints)
            for k, s, p in [(3, 2, 1), (2, 2, 1), (3, 1, 1)]]),
        _gradcheck_aspect(
            fn, "gradcheck: with minicnn.reference's forward, 3x3 windows, stride 2, padding 1",
            lambda inp: avgpool2d_forward_naive(inp, 3, 2, 1),
            lambda grad: fn(grad, x_pad_check.shape, 3, 2, 1), x_pad_check),
        aspect(fn, "float32: float32 in, float32 out", [
            avg_case("float32, 3x3 windows, stride 2, padding 1", (2, 3, 7, 9), 3, 2, 1, dtype=np.float32)]),
    ])
