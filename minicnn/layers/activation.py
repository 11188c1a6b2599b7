"""ReLU, LogSoftmax and Dropout: elementwise and row-wise layers."""
import math

from ..backend import get_array_module, random_uniform
from ..windows import pair
from .module import Module
from .registry import register_layer


@register_layer(torch="ReLU", per_sample=True, example=lambda: (ReLU(), (2, 3, 4, 4)))
class ReLU(Module):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0. Any shape in, same shape out."""

    def forward(self, x):
        self._check_input(x)
        y = get_array_module(x).maximum(x, 0)
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_tensors
        if grad_output.shape != y.shape:
            raise ValueError(f"ReLU.backward received a gradient of shape {tuple(grad_output.shape)}, "
                             f"but its last forward returned shape {tuple(y.shape)}")
        return grad_output * (y > 0)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape, output_shape):
        return math.prod(output_shape)  # one comparison per element


@register_layer(torch="LogSoftmax", per_sample=True, example=lambda: (LogSoftmax(dim=1), (3, 5)))
class LogSoftmax(Module):
    """y = x - logsumexp(x) along ``dim``; stable for logits of any size.

    Subtracting the row's max before exp keeps every exp() in (0, 1].
    Backward: dx = dy - softmax(x) * sum(dy).   x: (N, K) -> y: (N, K)
    """

    def __init__(self, dim=1):
        self.dim = pair(dim, "LogSoftmax dim")[0]
        self._cache = None

    def forward(self, x):
        xp = get_array_module(x)
        self._check_input(x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"LogSoftmax(dim={self.dim}) received input of shape {tuple(x.shape)}, "
                             f"which has no dimension {self.dim}")
        shifted = x - x.max(axis=self.dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_tensors
        xp = get_array_module(y)
        return grad_output - xp.exp(y) * grad_output.sum(axis=self.dim, keepdims=True)

    def config(self):
        return dict(dim=self.dim)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape, output_shape):
        return 4 * math.prod(output_shape)  # max, subtract, exp, sum per element


@register_layer(torch="Dropout", torch_fixed=dict(inplace=False), example=lambda: (Dropout(0.3), (4, 6)))
class Dropout(Module):
    """Zero each element with probability p in training, scale the rest by 1/(1-p).

    The identity in eval mode. Any shape in, same shape out.
    """

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self._cache = None

    def forward(self, x):
        self._check_input(x)
        if not self.training or self.p == 0.0:
            self.save_for_backward(None)
            return x
        u = random_uniform(x.shape, 0.0, 1.0, like=x)                    # (same shape as x) in [0, 1)
        keep = u >= self.p                                               # True for the kept elements
        mask = keep * x.dtype.type(1.0 / (1.0 - self.p))                 # 0 or 1/(1-p), in x's dtype
        self.save_for_backward(mask)
        return x * mask

    def backward(self, grad_output):
        (mask,) = self.saved_tensors
        return grad_output if mask is None else grad_output * mask

    def config(self):
        return dict(p=self.p)

    def output_shape(self, input_shape):
        return tuple(input_shape)
