"""Conv2d: im2col + one matrix multiply, forward and backward."""
import math

from ..backend import get_array_module
from ..windows import col2im, im2col, output_size, pad_nhwc, pair, to_nchw, to_nhwc, unpad_nhwc
from .module import Module, Parameter, init_uniform
from .registry import register_layer


@register_layer(torch="Conv2d", torch_fixed=dict(dilation=1, groups=1, padding_mode="zeros"), per_sample=True,
                example=lambda: (Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1), (2, 2, 7, 6)))
class Conv2d(Module):
    """2-D convolution (cross-correlation, as in PyTorch), NCHW in and out.

    weight: (C_out, C_in, KH, KW), bias: (C_out,)
    x: (N, C_in, H, W)  ->  y: (N, C_out, OH, OW), OH = (H + 2*PH - KH) // SH + 1
    padding: a number, an (h, w) pair, "valid" (0) or "same" (stride 1, odd kernel: OH = H).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels = pair(in_channels, "Conv2d in_channels")[0]
        self.out_channels = pair(out_channels, "Conv2d out_channels")[0]
        self.kernel_size = pair(kernel_size, "Conv2d kernel_size")
        self.stride = pair(stride, "Conv2d stride")
        self.padding = _padding(padding, self.kernel_size, self.stride)
        if min(self.in_channels, self.out_channels, *self.kernel_size, *self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"Conv2d needs channels, kernel_size and stride >= 1 and padding >= 0, got "
                             f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size="
                             f"{self.kernel_size}, stride={self.stride}, padding={self.padding}")
        kh, kw = self.kernel_size
        # PyTorch's default initialisation: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bound = 1.0 / math.sqrt(self.in_channels * kh * kw)
        self.weight = Parameter(init_uniform((self.out_channels, self.in_channels, kh, kw), bound))
        self.bias = Parameter(init_uniform((self.out_channels,), bound)) if bias else None
        self.needs_input_grad = True  # Sequential turns this off for a first layer: nothing consumes it
        self._cache = None

    def forward(self, x):
        self._check_input(x, 4, "(N, C, H, W)")
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"Conv2d expected {self.in_channels} input channels, "
                             f"received input of shape {tuple(x.shape)} ({c} channels)")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"Conv2d kernel {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input shape {tuple(x.shape)})")
        oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        x_pad = pad_nhwc(to_nhwc(x), ph, pw)                         # (N, H+2PH, W+2PW, C_in)
        cols = im2col(x_pad, (kh, kw), (sh, sw))                     # (M, KH*KW*C_in), M = N*OH*OW
        w_mat = self.weight.data.transpose(2, 3, 1, 0).reshape(-1, self.out_channels)  # (KH*KW*C_in, C_out)
        y = cols @ w_mat                                             # (M, C_out)
        if self.bias is not None:
            y += self.bias.data
        self.save_for_backward(cols, w_mat, x_pad.shape)
        return to_nchw(y.reshape(n, oh, ow, self.out_channels))     # (N, C_out, OH, OW), NHWC memory

    def backward(self, grad_output):
        cols, w_mat, padded_shape = self.saved_tensors
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        g = to_nhwc(grad_output).reshape(-1, self.out_channels)      # (M, C_out)
        dw_mat = cols.T @ g                                          # dW = colsᵀ g, (KH*KW*C_in, C_out)
        self.weight.accumulate(                                      # (C_out, C_in, KH, KW)
            dw_mat.reshape(kh, kw, self.in_channels, self.out_channels).transpose(3, 2, 0, 1))
        if self.bias is not None:                                    # db = Σ g over the M windows, (C_out,)
            # Plain: g.sum(axis=0). As ones @ g the same sum is a matrix-vector product, which BLAS runs
            # many times faster on this tall, thin g (benchmarks/micro.py times the two).
            self.bias.accumulate(get_array_module(g).ones(len(g), dtype=g.dtype) @ g)
        if not self.needs_input_grad:
            return None
        # dcols = g Wᵀ, handed to col2im one kernel offset's block at a time, g @ W[k]ᵀ (M, C_in), so each
        # block stays in cache. Plain: every block at once, dcols = g @ w_matᵀ (M, KH*KW*C_in), then col2im
        # over its blocks; benchmarks/micro.py times the two at batch 64 and 256.
        n, _, oh, ow = grad_output.shape
        w_by_offset = w_mat.reshape(kh * kw, self.in_channels, self.out_channels)   # (KH*KW, C_in, C_out)

        def dcols_at(k):                                             # (N, OH, OW, C_in)
            return (g @ w_by_offset[k].T).reshape(n, oh, ow, -1)
        dx_pad = col2im(dcols_at, self.kernel_size, self.stride, padded_shape)  # (N, H+2PH, W+2PW, C_in)
        return to_nchw(unpad_nhwc(dx_pad, ph, pw))                   # (N, C_in, H, W)

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding), bias=self.bias is not None)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (self.out_channels, output_size(h, kh, sh, ph), output_size(w, kw, sw, pw))

    def flops(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        per_output = 2 * self.in_channels * kh * kw + (1 if self.bias is not None else 0)
        return per_output * output_shape[0] * output_shape[1] * output_shape[2]


def _padding(padding, kernel_size, stride):
    """PyTorch's padding strings as numbers: "valid" is 0; "same" keeps H and W (stride 1, odd kernel)."""
    if padding == "same" and stride == (1, 1) and all(k % 2 for k in kernel_size):
        return tuple(k // 2 for k in kernel_size)
    if padding == "valid":
        return (0, 0)
    if isinstance(padding, str):
        raise ValueError(f"Conv2d padding={padding!r} is not accepted: give a number, a pair, 'valid', or "
                         f"'same' (which needs stride 1 and an odd kernel_size; got stride={stride}, "
                         f"kernel_size={kernel_size})")
    return pair(padding, "Conv2d padding")
