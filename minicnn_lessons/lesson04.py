"""Solutions for lesson 04: backpropagation and gradient checking."""
import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """f: array -> float; x: array of any shape (changed in place and restored) -> df/dx, shaped like x."""
    grad = np.zeros(x.shape)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        f_plus = f(x)
        x.flat[i] = old - eps
        f_minus = f(x)
        x.flat[i] = old                                  # put it back: x must end unchanged
        grad.flat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def linear_backward(grad_y, x, weight):
    """grad_y (N, O), x (N, I), weight (O, I) -> (dx (N, I), dweight (O, I), dbias (O,))."""
    dx = grad_y @ weight                                 # (N, O) @ (O, I) -> (N, I)
    dweight = grad_y.T @ x                               # (O, N) @ (N, I) -> (O, I)
    dbias = grad_y.sum(axis=0)                           # (O,)
    return dx, dweight, dbias
