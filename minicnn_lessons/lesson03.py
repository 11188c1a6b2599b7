"""Solutions for lesson 03: log-softmax and the NLL loss."""
import numpy as np


def log_softmax(z):
    """z (N, K) -> log-probabilities (N, K), stable for scores of any size."""
    m = z.max(axis=1, keepdims=True)                             # (N, 1): the largest score of each row
    shifted = z - m                                              # (N, K), every entry <= 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def nll_loss(log_probs, target):
    """log_probs (N, K), target (N,) int -> (loss: float, dL/dlog_probs: (N, K))."""
    N, K = log_probs.shape
    loss = float(-log_probs[np.arange(N), target].mean())
    grad = np.zeros_like(log_probs)
    grad[np.arange(N), target] = -1.0 / N
    return loss, grad


def log_softmax_backward(grad_y, y):
    """grad_y: dL/dy (N, K), y: the forward's output, log-probabilities (N, K) -> dL/dz (N, K)."""
    p = np.exp(y)                                                # softmax, (N, K)
    return grad_y - p * grad_y.sum(axis=1, keepdims=True)
