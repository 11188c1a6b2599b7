"""MaxPool2d and AvgPool2d on the shared im2col windows, forward and backward."""
from ..backend import get_array_module
from ..windows import col2im, im2col, output_size, pad_nhwc, pair, to_nchw, to_nhwc, unpad_nhwc
from .module import Module
from .registry import register_layer


class _Pool2d(Module):
    """What both pools share: arguments, shape checks, padding, the windows."""

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

    def _windows(self, x, pad_value):
        """x: (N, C, H, W)  ->  every window, (M, KH*KW, C), and the output shape (N, OH, OW, C)."""
        self._check_input(x, 4, "(N, C, H, W)")
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{type(self).__name__} window {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input shape {tuple(x.shape)})")
        x_pad = pad_nhwc(to_nhwc(x), ph, pw, pad_value)                # (N, H+2PH, W+2PW, C)
        cols = im2col(x_pad, self.kernel_size, self.stride)           # (M, KH*KW*C)
        out_shape = (n, output_size(h, kh, sh, ph), output_size(w, kw, sw, pw), c)
        return cols.reshape(-1, kh * kw, c), x_pad.shape, out_shape   # (M, KH*KW, C)

    def _to_input(self, dcols, padded_shape):
        """dcols (M, KH*KW, C)  ->  dx (N, C, H, W): col2im, then the padding dropped."""
        dx_pad = col2im(dcols.reshape(dcols.shape[0], -1), self.kernel_size, self.stride, padded_shape)
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


@register_layer(torch="MaxPool2d", torch_fixed=dict(dilation=1, ceil_mode=False, return_indices=False),
                per_sample=True, example=lambda: (MaxPool2d(3, 2, 1), (2, 2, 6, 7)))
class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch.

    x: (N, C, H, W)  ->  y: (N, C, OH, OW). Padding counts as -inf.
    """

    def forward(self, x):
        cols, padded_shape, out_shape = self._windows(x, -get_array_module(x).inf)     # (M, KH*KW, C)
        arg = cols.argmax(axis=1)                                     # (M, C): the first maximum's offset
        y = cols.max(axis=1)                                          # (M, C)
        self.save_for_backward(arg, cols.shape, padded_shape)
        return to_nchw(y.reshape(out_shape))                          # (N, C, OH, OW)

    def backward(self, grad_output):
        arg, cols_shape, padded_shape = self.saved_tensors
        xp = get_array_module(grad_output)
        g = to_nhwc(grad_output).reshape(cols_shape[0], 1, cols_shape[2])  # (M, 1, C)
        offsets = xp.arange(cols_shape[1]).reshape(1, -1, 1)          # (1, KH*KW, 1)
        dcols = g * (offsets == arg[:, None, :])                      # (M, KH*KW, C): all to the max
        return self._to_input(dcols, padded_shape)                    # (N, C, H, W)


@register_layer(torch="AvgPool2d", torch_fixed=dict(ceil_mode=False, count_include_pad=True,
                                                     divisor_override=None),
                per_sample=True, example=lambda: (AvgPool2d((2, 3), (1, 2), 1), (2, 2, 5, 7)))
class AvgPool2d(_Pool2d):
    """Mean over each window; padded zeros count in the mean (PyTorch's default).

    x: (N, C, H, W)  ->  y: (N, C, OH, OW)
    """

    def forward(self, x):
        cols, padded_shape, out_shape = self._windows(x, 0.0)         # (M, KH*KW, C)
        y = cols.mean(axis=1)                                         # (M, C)
        self.save_for_backward(cols.shape, padded_shape)
        return to_nchw(y.reshape(out_shape))                          # (N, C, OH, OW)

    def backward(self, grad_output):
        cols_shape, padded_shape = self.saved_tensors
        xp = get_array_module(grad_output)
        g = to_nhwc(grad_output).reshape(cols_shape[0], 1, cols_shape[2])  # (M, 1, C)
        share = g * grad_output.dtype.type(1.0 / cols_shape[1])       # each of the KH*KW pixels' share
        dcols = xp.broadcast_to(share, cols_shape)                    # (M, KH*KW, C)
        return self._to_input(dcols, padded_shape)                    # (N, C, H, W)
