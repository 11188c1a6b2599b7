"""MaxPool2d and AvgPool2d on the shared sliding-window view, forward and backward."""
from ..backend import get_array_module
from ..windows import (col2im, offset_view, output_size, pad_nhwc, pair, to_nchw, to_nhwc,
                       unpad_nhwc, window_count)
from .module import Module


class _Pool2d(Module):
    """What both pools share: arguments, shape checks, padding, the window view."""

    def __init__(self, kernel_size, stride=None, padding=0):
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, f"{name} kernel_size")
        self.stride = pair(stride if stride is not None else kernel_size, f"{name} stride")
        self.padding = pair(padding, f"{name} padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name} needs kernel_size >= 1, stride >= 1 and padding >= 0, got "
                             f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name} padding {self.padding} must be at most half the kernel size "
                             f"{self.kernel_size} (as in PyTorch)")
        self._cache = None

    def _padded(self, x, pad_value):
        """x: (N, C, H, W)  ->  padded NHWC (N, H+2PH, W+2PW, C) and (OH, OW)."""
        self._check_dims(x, 4, "(N, C, H, W)")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        h, w = x.shape[2], x.shape[3]
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{type(self).__name__} window {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input shape {tuple(x.shape)})")
        x_pad = pad_nhwc(to_nhwc(x), ph, pw, pad_value) if ph or pw else to_nhwc(x)
        return x_pad, window_count(x_pad.shape, self.kernel_size, self.stride)

    def _offsets(self):
        """(k, a, b) for every kernel offset, k = a*KW + b."""
        kh, kw = self.kernel_size
        return [(a * kw + b, a, b) for a in range(kh) for b in range(kw)]

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
        x_pad, out_hw = self._padded(x, -xp.inf)                      # (N, H+2PH, W+2PW, C)
        offsets = self._offsets()
        y = offset_view(x_pad, 0, 0, out_hw, self.stride).copy()      # (N, OH, OW, C)
        arg = xp.zeros(y.shape, dtype=xp.uint8 if len(offsets) <= 256 else xp.int32)  # offset of the max
        better = xp.empty(y.shape, dtype=bool)
        for k, a, b in offsets[1:]:
            v = offset_view(x_pad, a, b, out_hw, self.stride)
            xp.greater(v, y, out=better)                              # strict: ties keep the first
            xp.maximum(y, v, out=y)
            # arg = k where better: k grows, so a max is the same and much faster than masking
            xp.maximum(arg, better.view(xp.uint8) * arg.dtype.type(k), out=arg)
        self._cache = (arg, x_pad.shape)
        return to_nchw(y)                                             # (N, C, OH, OW)

    def backward(self, grad_output):
        arg, padded_shape = self._need_cache()
        g = to_nhwc(grad_output)                                      # (N, OH, OW, C)
        kw = self.kernel_size[1]
        dx_pad = col2im(lambda a, b: g * (arg == a * kw + b), self.kernel_size, self.stride,
                        padded_shape, g)                              # (N, H+2PH, W+2PW, C)
        return self._unpad(dx_pad)                                    # (N, C, H, W)


class AvgPool2d(_Pool2d):
    """Mean over each window; padded zeros count in the mean (PyTorch's default).

    x: (N, C, H, W)  ->  y: (N, C, OH, OW)
    """

    def forward(self, x):
        x_pad, out_hw = self._padded(x, 0.0)                          # (N, H+2PH, W+2PW, C)
        offsets = self._offsets()
        y = offset_view(x_pad, 0, 0, out_hw, self.stride).copy()      # (N, OH, OW, C)
        for _, a, b in offsets[1:]:
            y += offset_view(x_pad, a, b, out_hw, self.stride)
        y *= 1.0 / len(offsets)
        self._cache = (x_pad.shape,)
        return to_nchw(y)                                             # (N, C, OH, OW)

    def backward(self, grad_output):
        (padded_shape,) = self._need_cache()
        g = to_nhwc(grad_output) * (1.0 / len(self._offsets()))       # (N, OH, OW, C), same for every offset
        dx_pad = col2im(lambda a, b: g, self.kernel_size, self.stride, padded_shape, g)
        return self._unpad(dx_pad)                                    # (N, C, H, W)
