"""NLLLoss and CrossEntropyLoss: the mean over the batch, forward and backward."""
from .backend import get_array_module
from .layers.activation import LogSoftmax
from .layers.module import Module


def _check_target(name, scores, target):
    """Validate (N, K) scores against (N,) integer class labels; return labels as integers."""
    xp = get_array_module(scores)
    if not hasattr(scores, "ndim") or scores.ndim != 2:
        raise ValueError(f"{name} expected scores of shape (N, num_classes), received "
                         f"{getattr(scores, 'shape', type(scores).__name__)}")
    target = xp.asarray(target)
    n, k = scores.shape
    if target.shape != (n,):
        raise ValueError(f"{name} expected a target of shape ({n},) to match the batch, "
                         f"received shape {tuple(target.shape)}")
    if target.dtype.kind not in "iu":
        raise ValueError(f"{name} expected integer class labels, received dtype {target.dtype}")
    if n and (int(target.min()) < 0 or int(target.max()) >= k):
        bad = int(target.min()) if int(target.min()) < 0 else int(target.max())
        raise ValueError(f"{name} got target label {bad}, outside the class range 0..{k - 1}")
    return target


class NLLLoss(Module):
    """Negative log-likelihood: loss = -mean_i log_probs[i, target[i]].

    forward(log_probs (N, K), target (N,)) -> float;  backward() -> (N, K)
    """

    def forward(self, log_probs, target):
        xp = get_array_module(log_probs)
        target = _check_target(type(self).__name__, log_probs, target)
        n = log_probs.shape[0]
        self.save_for_backward(target, log_probs.shape, log_probs.dtype)
        return float(-log_probs[xp.arange(n), target].mean())

    def backward(self):
        target, shape, dtype = self.saved_tensors
        xp = get_array_module(target)
        grad = xp.zeros(shape, dtype=dtype)                             # (N, K)
        grad[xp.arange(shape[0]), target] = -1.0 / shape[0]
        return grad


class CrossEntropyLoss(NLLLoss):
    """LogSoftmax and NLLLoss fused, on raw scores (logits).

    forward(logits (N, K), target (N,)) -> float;  backward() -> (softmax - onehot) / N
    """

    def forward(self, logits, target):
        xp = get_array_module(logits)
        target = _check_target(type(self).__name__, logits, target)
        log_probs = LogSoftmax(dim=1).forward(logits)                   # (N, K)
        n = logits.shape[0]
        self.save_for_backward(target, log_probs)
        return float(-log_probs[xp.arange(n), target].mean())

    def backward(self):
        target, log_probs = self.saved_tensors
        xp = get_array_module(log_probs)
        n = log_probs.shape[0]
        grad = xp.exp(log_probs)                                        # softmax, (N, K)
        grad[xp.arange(n), target] -= 1.0
        grad *= 1.0 / n
        return grad
