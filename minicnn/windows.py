"""The one windowing primitive behind convolution and pooling.

Notation: N batch, C channels, H/W input height/width, KH/KW kernel size, SH/SW stride,
PH/PW padding, OH/OW output height/width, M = N*OH*OW windows.

Layers take and return NCHW arrays, as PyTorch does. Inside, this module works on NHWC *views*
of them (``x.transpose(0, 2, 3, 1)``): with the channels last, one window row is a contiguous run
of KW*C numbers, so im2col is a single fast copy and a convolution's output (M, C_out) is already
NHWC. A layer returns that NHWC memory as an NCHW view, and the next layer gets its NHWC view back
for free: no transposes are copied between layers. Everything is built on ``offset_view``: for one
kernel offset (a, b), the pixel that offset sees in every window, as an (N, OH, OW, C) view. Loops
run over the KH*KW offsets, never over samples or pixels.
"""
import numbers

from .backend import get_array_module


def pair(v, name="value"):
    """An int or an (h, w) pair of ints as a tuple of two ints; anything else is refused."""
    values = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(values) != 2 or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in values):
        raise ValueError(f"{name} must be a whole number or a pair (h, w) of whole numbers, got {v!r}")
    return int(values[0]), int(values[1])


def output_size(size, k, s, p):
    """Window positions along one axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def to_nhwc(x):
    """An NHWC view of an NCHW array (no copy)."""
    return x.transpose(0, 2, 3, 1)


def to_nchw(x):
    """An NCHW view of an NHWC array (no copy)."""
    return x.transpose(0, 3, 1, 2)


def pad_nhwc(x, ph, pw, value=0.0):
    """Pad H and W of an NHWC array with ``value``; always returns a C-contiguous array."""
    xp = get_array_module(x)
    n, h, w, c = x.shape
    if ph == 0 and pw == 0:
        return xp.ascontiguousarray(x)
    out = xp.full((n, h + 2 * ph, w + 2 * pw, c), value, dtype=x.dtype)
    out[:, ph:ph + h, pw:pw + w, :] = x
    return out


def unpad_nhwc(x, ph, pw):
    """Drop the padding added by pad_nhwc (a view)."""
    h, w = x.shape[1], x.shape[2]
    return x[:, ph:h - ph, pw:w - pw, :]


def window_count(padded_shape, kernel, stride):
    """(OH, OW) for an NHWC padded shape."""
    (kh, kw), (sh, sw) = kernel, stride
    return (padded_shape[1] - kh) // sh + 1, (padded_shape[2] - kw) // sw + 1


def offset_view(x, a, b, out_hw, stride):
    """The pixel at kernel offset (a, b) of every window: x[n, i*SH + a, j*SW + b, c].

    x: (N, H, W, C) padded  ->  (N, OH, OW, C), a view (readable and writable).
    """
    (oh, ow), (sh, sw) = out_hw, stride
    return x[:, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw, :]


def im2col(x, kernel, stride):
    """Every window as one row: the input of convolution's single matrix multiply.

    x: (N, H, W, C) padded  ->  cols (M, KH*KW*C), columns ordered (kh, kw, c).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw) = kernel, stride
    n, h, w, c = x.shape
    oh, ow = window_count(x.shape, kernel, stride)
    k = kh * kw * c
    s0, s1, s2, s3 = x.strides
    if c == 1:
        # One channel: a window row is only KW numbers long, so the row-by-row copy
        # below crawls. Copying offset-major instead (every window's pixel at offset
        # (a, b) in one long run) into a (KH*KW, M) array, and returning its
        # transpose, is ~4x faster (benchmarks/micro.py).
        by_offset = xp.lib.stride_tricks.as_strided(                  # (KH, KW, N, OH, OW) view
            x, shape=(kh, kw, n, oh, ow), strides=(s1, s2, s0, s1 * sh, s2 * sw))
        cols_t = xp.empty((k, n * oh * ow), dtype=x.dtype)
        cols_t.reshape(kh, kw, n, oh, ow)[...] = by_offset            # one copy
        return cols_t.T                                               # (M, KH*KW), a view
    windows = xp.lib.stride_tricks.as_strided(                        # (N, OH, OW, KH, KW, C) view
        x, shape=(n, oh, ow, kh, kw, c), strides=(s0, s1 * sh, s2 * sw, s1, s2, s3))
    return windows.reshape(n * oh * ow, k)                            # one copy, contiguous rows


def col2im(grad_at, kernel, stride, padded_shape):
    """The adjoint of im2col: add each window's gradient back onto the pixels it came from.

    grad_at(k) -> (N, OH, OW, C): the gradient at kernel offset k = a*KW + b of every window (the
    numbers of im2col's columns for that offset), asked for one offset at a time, so none is built
    before its turn  ->  dx (N, H, W, C) padded. Each offset's slice touches a pixel at most once,
    so ``+=`` is exact where windows overlap.
    """
    kh, kw = kernel
    oh, ow = window_count(padded_shape, kernel, stride)
    dx = None
    for a in range(kh):
        for b in range(kw):
            g = grad_at(a * kw + b)                                   # (N, OH, OW, C)
            if dx is None:
                dx = get_array_module(g).zeros(padded_shape, dtype=g.dtype)
            pixels = offset_view(dx, a, b, (oh, ow), stride)          # (N, OH, OW, C), a view of dx
            pixels += g
    return dx
