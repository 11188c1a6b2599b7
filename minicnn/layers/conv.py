"""Conv2d: im2col + one matrix multiply, forward and backward."""
import math

from ..backend import get_array_module
from ..windows import col2im, im2col, output_size, pad_nhwc, pair, to_nchw, to_nhwc, unpad_nhwc
from .module import Module, Parameter, init_uniform


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in PyTorch), NCHW in and out.

    weight: (C_out, C_in, KH, KW), bias: (C_out,)
    x: (N, C_in, H, W)  ->  y: (N, C_out, OH, OW), OH = (H + 2*PH - KH) // SH + 1
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "Conv2d kernel_size")
        self.stride = pair(stride, "Conv2d stride")
        self.padding = pair(padding, "Conv2d padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"Conv2d needs kernel_size >= 1, stride >= 1 and padding >= 0, got "
                             f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}")
        kh, kw = self.kernel_size
        # PyTorch's default initialisation: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bound = 1.0 / math.sqrt(self.in_channels * kh * kw)
        self.weight = Parameter(init_uniform((self.out_channels, self.in_channels, kh, kw), bound))
        self.bias = Parameter(init_uniform((self.out_channels,), bound)) if bias else None
        self.needs_input_grad = True  # Sequential turns this off for a first layer: nothing consumes it
        self._cache = None

    def forward(self, x):
        self._check_dims(x, 4, "(N, C, H, W)")
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"Conv2d expected {self.in_channels} input channels, "
                             f"received input of shape {tuple(x.shape)} ({c} channels)")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"Conv2d kernel {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input shape {tuple(x.shape)})")
        oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        x_pad = pad_nhwc(to_nhwc(x), ph, pw)                         # (N, H+2PH, W+2PW, C)
        # With one input channel the multiply is thin (K = KH*KW) and adding the bias
        # costs about as much as the multiply: fold it in as a column of ones instead.
        fold_bias = self.bias is not None and c == 1
        cols = im2col(x_pad, (kh, kw), (sh, sw), ones_column=fold_bias)  # (M, KH*KW*C [+1]), M = N*OH*OW
        w_mat = self.weight.data.transpose(2, 3, 1, 0).reshape(-1, self.out_channels)  # (KH*KW*C, C_out)
        if fold_bias:  # the bias is the weight of the column of ones
            w_mat = get_array_module(w_mat).concatenate([w_mat, self.bias.data[None, :]])
        y = cols @ w_mat                                             # (M, C_out)
        if self.bias is not None and not fold_bias:
            y += self.bias.data
        self._cache = (cols, w_mat, x_pad.shape)
        return to_nchw(y.reshape(n, oh, ow, self.out_channels))     # (N, C_out, OH, OW), NHWC memory

    def backward(self, grad_output):
        cols, w_mat, padded_shape = self._need_cache()
        xp = get_array_module(grad_output)
        n, _, oh, ow = grad_output.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        k = kh * kw * self.in_channels
        g = to_nhwc(grad_output).reshape(-1, self.out_channels)      # (M, C_out)
        dw_mat = cols.T @ g                                          # (KH*KW*C_in [+1], C_out)
        self.weight.accumulate(                                      # (C_out, C_in, KH, KW)
            dw_mat[:k].reshape(kh, kw, self.in_channels, self.out_channels).transpose(3, 2, 0, 1))
        if self.bias is not None:                                    # (C_out,): the sum of g over M
            # ones @ g is that sum as a matrix-vector product: 4-10x faster than g.sum(axis=0),
            # whose NumPy loop walks a tall, thin array one short row at a time (benchmarks/micro.py).
            self.bias.accumulate(dw_mat[k] if len(dw_mat) > k else xp.ones(len(g), dtype=g.dtype) @ g)
        if not self.needs_input_grad:
            return None
        w_by_offset = w_mat[:k].reshape(kh, kw, self.in_channels, self.out_channels)  # (KH, KW, C_in, C_out)

        def offset_grad(a, b):  # gradient wrt the pixel at offset (a, b) of every window
            return (g @ w_by_offset[a, b].T).reshape(n, oh, ow, self.in_channels)  # (N, OH, OW, C_in)

        dx_pad = col2im(offset_grad, self.kernel_size, self.stride, padded_shape, g)  # (N, H+2PH, W+2PW, C_in)
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
