"""MaxPool2d and AvgPool2d on the shared window views, forward and backward."""
from ..backend import get_array_module
from ..windows import col2im, offset_view, output_size, pad_nhwc, pair, to_nchw, to_nhwc, unpad_nhwc, window_count
from .module import Module
from .registry import register_layer


class _Pool2d(Module):
    """What both pools share: arguments, shape checks, padding, the window views."""

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

    def _offsets(self, x, pad_value):
        """x: (N, C, H, W)  ->  views[k] for every kernel offset k = a*KW + b, the view holding the
        pixel at that offset of every window (N, OH, OW, C), and the padded shape."""
        self._check_input(x, 4, "(N, C, H, W)")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(f"{type(self).__name__} window {kh}x{kw} is larger than the padded input "
                             f"{x.shape[2] + 2 * ph}x{x.shape[3] + 2 * pw} (input shape {tuple(x.shape)})")
        x_pad = pad_nhwc(to_nhwc(x), ph, pw, pad_value)                # (N, H+2PH, W+2PW, C)
        out_hw = window_count(x_pad.shape, self.kernel_size, self.stride)
        views = [offset_view(x_pad, a, b, out_hw, self.stride) for a in range(kh) for b in range(kw)]
        return views, x_pad.shape

    def _to_input(self, grad_at, padded_shape):    # grad_at(k) (N, OH, OW, C) -> dx (N, C, H, W)
        dx_pad = col2im(grad_at, self.kernel_size, self.stride, padded_shape)
        return to_nchw(unpad_nhwc(dx_pad, *self.padding))

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride), padding=list(self.padding))

    def output_shape(self, input_shape):
        c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (c, output_size(h, kh, sh, ph), output_size(w, kw, sw, pw))

    def flops(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        return kh * kw * output_shape[0] * output_shape[1] * output_shape[2]


@register_layer(torch="MaxPool2d", torch_fixed=dict(dilation=1, ceil_mode=False, return_indices=False),
                per_sample=True, example=lambda: (MaxPool2d(3, 2, 1), (2, 2, 6, 7)))
class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch.

    x: (N, C, H, W)  ->  y: (N, C, OH, OW). Padding counts as -inf.
    """

    def forward(self, x):
        xp = get_array_module(x)
        views, padded_shape = self._offsets(x, -xp.inf)
        y = views[0].copy()                                           # (N, OH, OW, C): the running maximum
        # arg: each window's first maximum's offset, what lesson 02 keeps (its plain formula is
        # arg = windows.argmax(axis=1) over the im2col windows (M, KH*KW, C)). Offsets grow, so
        # "arg = k where v beats y" is a maximum of small integers, many times faster than that argmax
        # or than arg[better] = k (benchmarks/micro.py times the three).
        arg = xp.zeros(y.shape, dtype=xp.uint8 if len(views) <= 256 else xp.int32)
        for k, v in enumerate(views[1:], start=1):
            better = v > y                                            # strictly: a tie keeps the first
            xp.maximum(y, v, out=y)
            xp.maximum(arg, better * arg.dtype.type(k), out=arg)
        self.save_for_backward(arg, padded_shape)
        return to_nchw(y)                                             # (N, C, OH, OW)

    def backward(self, grad_output):
        arg, padded_shape = self.saved_tensors
        g = to_nhwc(grad_output)                                      # (N, OH, OW, C)
        return self._to_input(lambda k: g * (arg == k), padded_shape)  # all of it to the max


@register_layer(torch="AvgPool2d", torch_fixed=dict(ceil_mode=False, count_include_pad=True, divisor_override=None),
                per_sample=True, example=lambda: (AvgPool2d((2, 3), (1, 2), 1), (2, 2, 5, 7)))
class AvgPool2d(_Pool2d):
    """Mean over each window; padded zeros count in the mean (PyTorch's default).

    x: (N, C, H, W)  ->  y: (N, C, OH, OW)
    """

    def forward(self, x):
        views, padded_shape = self._offsets(x, 0.0)
        y = views[0].copy()                                           # (N, OH, OW, C)
        for v in views[1:]:
            y += v
        y *= y.dtype.type(1.0 / len(views))                           # the mean of each window
        self.save_for_backward(padded_shape)
        return to_nchw(y)                                             # (N, C, OH, OW)

    def backward(self, grad_output):
        (padded_shape,) = self.saved_tensors
        g = to_nhwc(grad_output)                                      # (N, OH, OW, C)
        share = g * g.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))  # each pixel's share
        return self._to_input(lambda k: share, padded_shape)
