"""Two layers written by hand: LeakyReLU (no parameters) and ChannelScale (one parameter).

Each forward saves what its backward needs; each backward returns dL/dx and adds
dL/d(parameter) into the parameter's .grad with one line: self.weight.accumulate(dw).
"""
import numpy as np

import minicnn as mc


class LeakyReLU(mc.Module):
    """y = x where x > 0, else negative_slope * x. Any shape in, same shape out."""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, grad_output):
        # dy/dx is 1 where x > 0 and negative_slope elsewhere
        return np.where(self.x > 0, grad_output, self.negative_slope * grad_output)


class ChannelScale(mc.Module):
    """Multiply each channel by its own learnt number: y[n, c, h, w] = x[n, c, h, w] * weight[c].

    weight: (C,)   x: (N, C, H, W) -> y: (N, C, H, W)
    """

    def __init__(self, channels):
        # Spread from 0.5 to 1.5, not all 1: with equal weights a backward that
        # forgot the weight, or mixed the channels up, would look right.
        self.weight = mc.Parameter(np.linspace(0.5, 1.5, channels, dtype=np.float32))

    def forward(self, x):
        self.x = x
        return x * self.weight.data[None, :, None, None]              # (1, C, 1, 1) broadcasts

    def backward(self, grad_output):
        # weight[c] touches every element of channel c, in every image of the batch:
        # its gradient sums grad_output * x over N, H and W.
        dw = (grad_output * self.x).sum(axis=(0, 2, 3))                 # (C,)
        self.weight.accumulate(dw)
        return grad_output * self.weight.data[None, :, None, None]     # (N, C, H, W)


def channel_scale_loops(x, weight):
    """ChannelScale's forward as plain loops: the reference check_layer compares against."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            y[n, c] = x[n, c] * weight[c]
    return y
