"""Naive loop versions of convolution and pooling: slow, short, obviously right; the fast layers are
tested against them. Every loop is written out: sample n, output channel o (or channel c), output row i,
output column j. Inputs are NumPy arrays in NCHW; stride and padding are (h, w) pairs or ints.
"""
import numpy as np

from .windows import pair


def conv2d_forward_naive(x, weight, bias=None, stride=1, padding=0):
    """x: (N, C, H, W), weight: (O, C, KH, KW), bias: (O,)  ->  y: (N, O, OH, OW)"""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    (n_, c_, h, w), (o_, _, kh, kw) = x.shape, weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n_, o_, oh, ow), dtype=np.result_type(x, weight))
    for n in range(n_):
        for o in range(o_):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (C, KH, KW)
                    y[n, o, i, j] = np.sum(window * weight[o]) + (bias[o] if bias is not None else 0)
    return y


def conv2d_backward_naive(grad_y, x, weight, stride=1, padding=0):
    """grad_y: (N, O, OH, OW)  ->  (dx (N, C, H, W), dweight (O, C, KH, KW), dbias (O,))"""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    (n_, c_, h, w), (o_, _, kh, kw) = x.shape, weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(weight)
    oh, ow = grad_y.shape[2], grad_y.shape[3]
    for n in range(n_):
        for o in range(o_):
            for i in range(oh):
                for j in range(ow):
                    g = grad_y[n, o, i, j]
                    dw[o] += g * xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    dxp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += g * weight[o]
    db = grad_y.sum(axis=(0, 2, 3))
    return dxp[:, :, ph:ph + h, pw:pw + w], dw, db


def _pool_naive(x, kernel_size, stride, padding, pad_value, pool=None, grad_y=None, route=None):
    """Forward: y[n, c, i, j] = pool(window), y (N, C, OH, OW). Backward (given grad_y (N, C, OH, OW)):
    dx (N, C, H, W), each window adding route(window, grad_y[n, c, i, j]). Padding holds pad_value."""
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    sh, sw = pair(stride if stride is not None else kernel_size)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    oh, ow = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
    y = np.zeros(x.shape[:2] + (oh, ow), dtype=x.dtype)
    dxp = np.zeros(xp.shape, dtype=x.dtype if grad_y is None else grad_y.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    window = np.s_[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (KH, KW)
                    if grad_y is None:
                        y[n, c, i, j] = pool(xp[window])
                    else:
                        dxp[window] += route(xp[window], grad_y[n, c, i, j])
    return y if grad_y is None else dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


def _to_first_max(window, g):
    dwindow = np.zeros(window.shape)
    dwindow[np.unravel_index(np.argmax(window), window.shape)] = g   # all of g to the first maximum
    return dwindow


def maxpool2d_forward_naive(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W)  ->  y: (N, C, OH, OW); padding counts as -inf."""
    return _pool_naive(x, kernel_size, stride, padding, -np.inf, pool=np.max)


def maxpool2d_backward_naive(grad_y, x, kernel_size, stride=None, padding=0):
    """Send each output's gradient to the first maximum of its window.  ->  dx (N, C, H, W)"""
    return _pool_naive(x, kernel_size, stride, padding, -np.inf, grad_y=grad_y, route=_to_first_max)


def avgpool2d_forward_naive(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W)  ->  y: (N, C, OH, OW); padded zeros count in the mean."""
    return _pool_naive(x, kernel_size, stride, padding, 0.0, pool=np.mean)


def avgpool2d_backward_naive(grad_y, x, kernel_size, stride=None, padding=0):
    """Spread each output's gradient evenly over its window.  ->  dx (N, C, H, W)"""
    return _pool_naive(x, kernel_size, stride, padding, 0.0, grad_y=grad_y,
                       route=lambda window, g: np.full(window.shape, g / window.size))


# check_layer's ``reference`` for each registered layer with a naive forward (tests/test_registry.py reads it):
# NAIVE[name](layer) -> reference(x, *parameter arrays).
NAIVE = {
    "Conv2d": lambda layer: lambda x, w, b=None: conv2d_forward_naive(x, w, b, layer.stride, layer.padding),
    "MaxPool2d": lambda layer: lambda x: maxpool2d_forward_naive(x, layer.kernel_size, layer.stride, layer.padding),
    "AvgPool2d": lambda layer: lambda x: avgpool2d_forward_naive(x, layer.kernel_size, layer.stride, layer.padding),
}
