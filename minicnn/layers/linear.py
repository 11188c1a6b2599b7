"""Linear (fully connected) and Flatten."""
import math

from ..windows import pair
from .module import Module, Parameter, init_uniform
from .registry import register_layer


@register_layer(torch="Linear", per_sample=True, example=lambda: (Linear(5, 3), (4, 5)))
class Linear(Module):
    """y = x @ weight.T + bias.

    weight: (out_features, in_features), bias: (out_features,)
    x: (N, in_features)  ->  y: (N, out_features)
    """

    def __init__(self, in_features, out_features, bias=True):
        self.in_features = pair(in_features, "Linear in_features")[0]
        self.out_features = pair(out_features, "Linear out_features")[0]
        if min(self.in_features, self.out_features) < 1:
            raise ValueError(f"Linear needs in_features and out_features >= 1, got "
                             f"{self.in_features} and {self.out_features}")
        bound = 1.0 / math.sqrt(self.in_features)  # PyTorch's default (kaiming_uniform, a=sqrt(5))
        self.weight = Parameter(init_uniform((self.out_features, self.in_features), bound))
        self.bias = Parameter(init_uniform((self.out_features,), bound)) if bias else None
        self.needs_input_grad = True
        self._cache = None

    def forward(self, x):
        self._check_input(x, 2, "(N, in_features)")
        if x.shape[1] != self.in_features:
            raise ValueError(f"Linear expected {self.in_features} input features, "
                             f"received input of shape {tuple(x.shape)}")
        y = x @ self.weight.data.T                                   # (N, out_features)
        if self.bias is not None:
            y += self.bias.data
        self.save_for_backward(x)
        return y

    def backward(self, grad_output):
        (x,) = self.saved_tensors
        self.weight.accumulate(grad_output.T @ x)                    # (out_features, in_features)
        if self.bias is not None:
            self.bias.accumulate(grad_output.sum(axis=0))            # (out_features,)
        if not self.needs_input_grad:
            return None
        return grad_output @ self.weight.data                        # (N, in_features)

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features, bias=self.bias is not None)

    def output_shape(self, input_shape):
        return (self.out_features,)

    def flops(self, input_shape, output_shape):
        return (2 * self.in_features + (1 if self.bias is not None else 0)) * self.out_features


@register_layer(torch="Flatten", torch_fixed=dict(start_dim=1, end_dim=-1), per_sample=True,
                example=lambda: (Flatten(), (2, 3, 2, 2)))
class Flatten(Module):
    """Flatten every dimension after the batch, in PyTorch's (C, H, W) order.

    x: (N, C, H, W)  ->  y: (N, C*H*W)
    """

    def forward(self, x):
        self._check_input(x, None, "(N, ...)")
        if x.ndim < 2:
            raise ValueError(f"Flatten expected an input with a batch dimension, received shape {x.shape}")
        self.save_for_backward(x.shape)
        return x.reshape(x.shape[0], -1)                             # (N, C*H*W)

    def backward(self, grad_output):
        (shape,) = self.saved_tensors
        return grad_output.reshape(shape)                            # (N, C, H, W)

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)
