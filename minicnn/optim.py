"""SGD with momentum, dampening, weight decay and Nesterov: torch.optim.SGD's rule."""
from .backend import get_array_module
from .layers.module import Parameter


class SGD:
    """Stochastic gradient descent, step for step the same as ``torch.optim.SGD``.

    For each parameter p with gradient g:
        g = g + weight_decay * p
        b = g                                         (first step)
        b = momentum * b + (1 - dampening) * g        (later steps)
        g = g + momentum * b   if nesterov   else   g = b
        p = p - lr * g
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"SGD parameter {i} is a {type(p).__name__}, not a minicnn Parameter "
                                "(pass model.parameters())")
        if not lr > 0:
            raise ValueError(f"SGD learning rate must be positive, got lr={lr}")
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD needs momentum >= 0 and weight_decay >= 0, got "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD with nesterov=True needs momentum > 0 and dampening = 0")
        self.lr, self.momentum, self.dampening = float(lr), float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        self.buffers = [None] * len(self.params)   # momentum buffers, created on the first step

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                b = self.buffers[i]
                if b is None:
                    b = self.buffers[i] = get_array_module(g).array(g, copy=True)
                else:
                    b *= self.momentum
                    b += (1.0 - self.dampening) * g
                g = g + self.momentum * b if self.nesterov else b
            p.data -= self.lr * g      # in place: the layer keeps the same array
