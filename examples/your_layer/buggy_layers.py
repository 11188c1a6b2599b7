"""The layers of my_layers.py, each with one planted bug: check_layer finds every one.

Only backward changes; the line with the bug is marked BUG.
"""
import numpy as np

import my_layers


class LeakyReLU(my_layers.LeakyReLU):
    def backward(self, grad_output):
        return np.where(self.x > 0, grad_output, 0)                         # BUG: slope 0, as in ReLU


class ChannelScale(my_layers.ChannelScale):
    def backward(self, grad_output):
        dw = (grad_output * self.x).sum(axis=(2, 3))                        # BUG: (N, C), the batch not summed
        self.weight.accumulate(dw)
        return grad_output * self.weight.data[None, :, None, None]


class ChannelScaleOverwritingGrad(my_layers.ChannelScale):
    def backward(self, grad_output):
        dw = (grad_output * self.x).sum(axis=(0, 2, 3))
        self.weight.grad = dw                                               # BUG: replaces, not adds
        return grad_output * self.weight.data[None, :, None, None]
