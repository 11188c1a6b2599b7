"""The one windowing primitive behind convolution and pooling.

Notation: N batch, C channels, H/W input height/width, KH/KW kernel size,
SH/SW stride, PH/PW padding, OH/OW output height/width.

Layers take and return NCHW arrays, as PyTorch does. Inside, this module works
on NHWC *views* of them (``x.transpose(0, 2, 3, 1)``): with the channels last,
one window is a contiguous run of KW*C numbers, so im2col is a single fast
copy and a convolution's output (N*OH*OW, C_out) is already NHWC. A layer
returns that NHWC memory as an NCHW view, so the next layer gets its NHWC view
back for free: no transposes are ever copied between layers.
"""
from .backend import get_array_module


def pair(v, name="value"):
    """An int or an (h, w) pair as a tuple of two ints."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


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


def sliding_windows(x, kernel, stride):
    """All KHxKW windows of an NHWC array as a strided view, no copy.

    x: (N, H, W, C)  ->  (N, OH, OW, KH, KW, C)
    ``view[n, i, j, a, b, c] == x[n, i*SH + a, j*SW + b, c]``.
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw) = kernel, stride
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s0, s1, s2, s3 = x.strides
    return xp.lib.stride_tricks.as_strided(
        x, shape=(n, oh, ow, kh, kw, c), strides=(s0, s1 * sh, s2 * sw, s1, s2, s3))


def im2col(x, kernel, stride):
    """Every window as one row: the input of convolution's single matrix multiply.

    x: (N, H, W, C) padded  ->  cols (N*OH*OW, KH*KW*C), columns ordered (kh, kw, c).
    """
    win = sliding_windows(x, kernel, stride)                 # (N, OH, OW, KH, KW, C) view
    n, oh, ow, kh, kw, c = win.shape
    return win.reshape(n * oh * ow, kh * kw * c)              # one copy, contiguous rows


def col2im(dwin, padded_shape, stride):
    """The adjoint of sliding_windows: add every window's gradient back to its pixels.

    dwin: (N, OH, OW, KH, KW, C) (may be a broadcast view)  ->  (N, H, W, C) padded
    Loops over the KH*KW kernel offsets, never over samples or pixels. Each
    offset's slice touches every pixel at most once, so ``+=`` is exact even
    where windows overlap.
    """
    xp = get_array_module(dwin)
    n, oh, ow, kh, kw, c = dwin.shape
    sh, sw = stride
    if (sh, sw) == (kh, kw) and padded_shape[1] == oh * kh and padded_shape[2] == ow * kw:
        # Windows tile the input exactly: a transpose puts each value in place, no adds.
        return xp.ascontiguousarray(dwin.transpose(0, 1, 3, 2, 4, 5)).reshape(padded_shape)
    dx = xp.zeros(padded_shape, dtype=dwin.dtype)
    dx_win = sliding_windows(dx, (kh, kw), (sh, sw))          # writable view into dx
    for a in range(kh):
        for b in range(kw):
            dx_win[:, :, :, a, b, :] += dwin[:, :, :, a, b, :]
    return dx


def unpad_nhwc(x, ph, pw):
    """Drop the padding added by pad_nhwc (a view)."""
    h, w = x.shape[1], x.shape[2]
    return x[:, ph:h - ph, pw:w - pw, :]
