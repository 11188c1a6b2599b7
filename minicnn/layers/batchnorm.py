"""BatchNorm2d: each channel normalised over the batch; running statistics kept as buffers."""
import numpy as np

from ..backend import get_array_module
from ..windows import pair
from .module import Module, Parameter, init_full
from .registry import register_layer


def _per_channel(v):
    return v.reshape(1, -1, 1, 1)           # (C,) -> (1, C, 1, 1): broadcasts over N, H and W


@register_layer(torch="BatchNorm2d", example=lambda: (BatchNorm2d(3), (4, 3, 3, 2)))
class BatchNorm2d(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, for each channel, as torch.nn.BatchNorm2d.

    Training: mean and (biased) var of the batch over N, H and W; the running statistics
    move towards them, running = (1 - momentum) * running + momentum * batch statistic
    (the unbiased var, as PyTorch keeps it; momentum=None: the average of all batches).
    Eval: the running statistics instead (track_running_stats=False: always the batch's).
    weight, bias: (C,)   buffers: running_mean, running_var (C,), num_batches_tracked ()
    x: (N, C, H, W)  ->  y: (N, C, H, W)
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.num_features = pair(num_features, "BatchNorm2d num_features")[0]
        if self.num_features < 1 or not eps > 0 or not (momentum is None or 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm2d needs num_features >= 1, eps > 0 and momentum in [0, 1] or None, "
                             f"got num_features={num_features}, eps={eps}, momentum={momentum}")
        self.eps, self.momentum = float(eps), None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        c = self.num_features
        self.weight = Parameter(init_full((c,), 1.0)) if affine else None
        self.bias = Parameter(init_full((c,), 0.0)) if affine else None
        track = self.track_running_stats
        self.register_buffer("running_mean", init_full((c,), 0.0) if track else None)
        self.register_buffer("running_var", init_full((c,), 1.0) if track else None)
        self.register_buffer("num_batches_tracked", init_full((), 0, "int64") if track else None)
        self._cache = None

    def forward(self, x):
        self._check_input(x, 4, "(N, C, H, W)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d expected {self.num_features} channels, received shape {tuple(x.shape)}")
        if self.running_mean is not None and x.dtype != self.running_mean.dtype:
            raise ValueError(f"BatchNorm2d has {self.running_mean.dtype} running statistics but received "
                             f"{x.dtype} input: cast one to the other")
        xp = get_array_module(x)
        use_batch = self.training or self.running_mean is None
        if use_batch:
            m = x.size // self.num_features                                # values per channel, N*H*W
            if m < 2:
                raise ValueError(f"BatchNorm2d needs more than one value per channel to train, received "
                                 f"shape {tuple(x.shape)}")
            mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))      # (C,), var divides by m
            if self.training and self.running_mean is not None:
                self.num_batches_tracked += 1
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean *= 1 - f
                self.running_mean += f * mean
                self.running_var *= 1 - f
                self.running_var += f * var * (m / (m - 1))                 # unbiased, as PyTorch keeps it
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))                # (C,)
        x_hat = (x - _per_channel(mean)) * _per_channel(inv_std)           # (N, C, H, W)
        y = x_hat * _per_channel(self.weight.data) + _per_channel(self.bias.data) if self.affine else x_hat
        self.save_for_backward(x_hat, inv_std, use_batch)
        return y

    def backward(self, grad_output):
        x_hat, inv_std, used_batch = self.saved_tensors
        g = grad_output                                                    # (N, C, H, W)
        if self.affine:
            self.weight.accumulate((g * x_hat).sum(axis=(0, 2, 3)))        # (C,)
            self.bias.accumulate(g.sum(axis=(0, 2, 3)))                    # (C,)
            g = g * _per_channel(self.weight.data)                         # dL/dx_hat, (N, C, H, W)
        if not used_batch:                                                 # the statistics are constants
            return g * _per_channel(inv_std)
        # With batch statistics, mean and var depend on every x of the channel: their share
        # of the gradient is the two means subtracted here.
        g_mean = g.mean(axis=(0, 2, 3), keepdims=True)                     # (1, C, 1, 1)
        gx_mean = (g * x_hat).mean(axis=(0, 2, 3), keepdims=True)          # (1, C, 1, 1)
        return (g - g_mean - x_hat * gx_mean) * _per_channel(inv_std)      # (N, C, H, W)

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum,
                    affine=self.affine, track_running_stats=self.track_running_stats)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape, output_shape):
        return 4 * int(np.prod(output_shape))       # subtract, multiply (normalise), multiply, add (affine)
