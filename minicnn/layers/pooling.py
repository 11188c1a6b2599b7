"""MaxPool2d and AvgPool2d on the shared sliding-window view, forward and backward."""
from ..backend import get_array_module
from ..windows import (col2im, output_size, pad_nhwc, pair, sliding_windows, to_nchw, to_nhwc,
                       unpad_nhwc)
from .module import Module


class _Pool2d(Module):
    """What both pools share: arguments, shape checks, padding, the window view."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride if stride is not None else kernel_size, "stride")
        self.padding = pair(padding, "padding")
        name = type(self).__name__
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name} needs kernel_size >= 1, stride >= 1 and padding >= 0, got "
                             f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name} padding {self.padding} must be at most half the kernel size "
                             f"{self.kernel_size} (as in PyTorch)")
        self._cache = None

    def _windows(self, x, pad_value):
        """x: (N, C, H, W)  ->  padded NHWC copy and its (N, OH, OW, KH, KW, C) window view."""
        self._check_dims(x, 4, "(N, C, H, W)")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        h, w = x.shape[2], x.shape[3]
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{type(self).__name__} window {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input shape {tuple(x.shape)})")
        x_pad = pad_nhwc(to_nhwc(x), ph, pw, pad_value)               # (N, H+2PH, W+2PW, C)
        return x_pad, sliding_windows(x_pad, self.kernel_size, self.stride)

    def _unpad(self, dx_pad):
        return to_nchw(unpad_nhwc(dx_pad, *self.padding))              # (N, C, H, W)

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding))

    def output_shape(self, input_shape):
        c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (c, output_size(h, kh, sh, ph), output_size(w, kw, sw, pw))

    def flops(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        return kh * kw * output_shape[0] * output_shape[1] * output_shape[2]


class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch.

    x: (N, C, H, W)  ->  y: (N, C, OH, OW). Padding counts as -inf.
    """

    def forward(self, x):
        xp = get_array_module(x)
        x_pad, win = self._windows(x, -xp.inf)                        # win: (N, OH, OW, KH, KW, C)
        kh, kw = self.kernel_size
        # Loop over the KH*KW offsets (not pixels): elementwise max and where it was.
        y = win[:, :, :, 0, 0, :].copy()                              # (N, OH, OW, C)
        arg = xp.zeros(y.shape, dtype=xp.uint8)                       # offset a*KW + b of the max
        for k in range(1, kh * kw):
            v = win[:, :, :, k // kw, k % kw, :]
            better = v > y                                            # strict: ties keep the first
            xp.maximum(y, v, out=y)
            arg[better] = k
        self._cache = (arg, x_pad.shape)
        return to_nchw(y)                                             # (N, C, OH, OW)

    def backward(self, grad_output):
        arg, padded_shape = self._need_cache()
        xp = get_array_module(grad_output)
        g = to_nhwc(grad_output)                                      # (N, OH, OW, C)
        kh, kw = self.kernel_size
        dwin = xp.zeros(g.shape[:3] + (kh, kw) + g.shape[3:], dtype=g.dtype)  # (N, OH, OW, KH, KW, C)
        for k in range(kh * kw):
            dwin[:, :, :, k // kw, k % kw, :] = xp.where(arg == k, g, 0)
        return self._unpad(col2im(dwin, padded_shape, self.stride))


class AvgPool2d(_Pool2d):
    """Mean over each window; padded zeros count in the mean (PyTorch's default).

    x: (N, C, H, W)  ->  y: (N, C, OH, OW)
    """

    def forward(self, x):
        x_pad, win = self._windows(x, 0.0)                            # win: (N, OH, OW, KH, KW, C)
        kh, kw = self.kernel_size
        y = win[:, :, :, 0, 0, :].copy()                              # (N, OH, OW, C)
        for k in range(1, kh * kw):
            y += win[:, :, :, k // kw, k % kw, :]
        y *= 1.0 / (kh * kw)
        self._cache = (x_pad.shape,)
        return to_nchw(y)                                             # (N, C, OH, OW)

    def backward(self, grad_output):
        (padded_shape,) = self._need_cache()
        xp = get_array_module(grad_output)
        kh, kw = self.kernel_size
        g = to_nhwc(grad_output) * (1.0 / (kh * kw))                  # (N, OH, OW, C)
        dwin = xp.broadcast_to(g[:, :, :, None, None, :], g.shape[:3] + (kh, kw) + g.shape[3:])
        return self._unpad(col2im(dwin, padded_shape, self.stride))   # (N, C, H, W)
