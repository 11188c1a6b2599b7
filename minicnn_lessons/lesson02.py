"""Solutions for lesson 02: pooling and ReLU, forward and backward."""
import numpy as np


def relu_backward(grad_y, x):
    """grad_y: dL/dy, x: the forward's input (same shape) -> dL/dx (same shape)."""
    return grad_y * (x > 0)


def maxpool2d_backward(grad_y, x, k):
    """grad_y (N, C, H//k, W//k), x: the forward's input (N, C, H, W) -> dx (N, C, H, W)."""
    N, C, OH, OW = grad_y.shape
    dx = np.zeros_like(x, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    window = x[n, c, i * k:(i + 1) * k, j * k:(j + 1) * k]     # (k, k)
                    a, b = np.unravel_index(np.argmax(window), window.shape)   # the first maximum
                    dx[n, c, i * k + a, j * k + b] += grad_y[n, c, i, j]
    return dx


def avgpool2d_backward(grad_y, k):
    """grad_y (N, C, OH, OW) -> dx (N, C, OH*k, OW*k): each window's gradient shared equally."""
    return np.repeat(np.repeat(grad_y, k, axis=2), k, axis=3) / (k * k)
