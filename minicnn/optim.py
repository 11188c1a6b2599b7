"""SGD with momentum, dampening, weight decay and Nesterov: torch.optim.SGD's rule."""
import math

from . import allocator
from .backend import get_array_module, to_numpy
from .layers.module import Parameter

_HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")


class SGD:
    """Stochastic gradient descent, step for step the same as ``torch.optim.SGD``.

    For each parameter p with gradient g:
        g = g + weight_decay * p
        b = g                                         (first step)
        b = momentum * b + (1 - dampening) * g        (later steps)
        g = g + momentum * b   if nesterov   else   g = b
        p = p - lr * g

    Creating the first one makes training keep freed memory (minicnn/allocator.py; opt out there).
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"SGD parameter {i} is a {type(p).__name__}, not a minicnn Parameter "
                                "(pass model.parameters())")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("SGD was given the same parameter twice: it would be updated twice per step")
        self._set_hyperparameters(dict(lr=lr, momentum=momentum, dampening=dampening,
                                       weight_decay=weight_decay, nesterov=nesterov))
        self.buffers = [None] * len(self.params)   # momentum buffers, created on the first step
        allocator.on_first_training()               # training starts: steps reuse freed memory

    def _set_hyperparameters(self, h):
        for name in ("lr", "momentum", "dampening", "weight_decay"):
            if isinstance(h[name], bool) or not isinstance(h[name], (int, float)) or not math.isfinite(h[name]):
                raise ValueError(f"SGD {name} must be a finite number, got {name}={h[name]!r}")
        if h["lr"] < 0:
            raise ValueError(f"SGD learning rate must not be negative, got lr={h['lr']}")
        if not 0 <= h["momentum"] < 1:
            raise ValueError(f"SGD momentum must be in [0, 1), got momentum={h['momentum']}")
        if h["weight_decay"] < 0:
            raise ValueError(f"SGD weight_decay must not be negative, got weight_decay={h['weight_decay']}")
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError("SGD with nesterov=True needs momentum > 0 and dampening = 0")
        self.lr, self.momentum, self.dampening = float(h["lr"]), float(h["momentum"]), float(h["dampening"])
        self.weight_decay, self.nesterov = float(h["weight_decay"]), bool(h["nesterov"])

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

    # -- resuming: PyTorch's layout, {"state": {i: {"momentum_buffer": b}}, "param_groups": [...]} --
    def state_dict(self):
        """The momentum buffers (NumPy copies) and hyperparameters, shaped as torch.optim.SGD's."""
        state = {i: {"momentum_buffer": to_numpy(b)} for i, b in enumerate(self.buffers) if b is not None}
        group = {name: getattr(self, name) for name in _HYPER}
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict):
        """Continue where ``state_dict()`` left off: the same buffers and hyperparameters."""
        try:
            (group,) = state_dict["param_groups"]
            indices, state = list(group["params"]), dict(state_dict["state"])
            hyper = {name: group[name] for name in _HYPER}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError("SGD.load_state_dict expected {'state': {...}, 'param_groups': [one group]} "
                             f"as SGD.state_dict() returns it ({type(e).__name__}: {e})") from None
        if indices != list(range(len(self.params))):
            raise ValueError(f"SGD.load_state_dict: the state is for {len(indices)} parameters, "
                             f"this optimizer has {len(self.params)}")
        buffers = [None] * len(self.params)
        for key, entry in state.items():
            i = int(key)
            if not 0 <= i < len(self.params) or "momentum_buffer" not in entry:
                raise ValueError(f"SGD.load_state_dict: state entry {key!r} names no parameter's momentum")
            b, p = entry["momentum_buffer"], self.params[i]
            if tuple(b.shape) != tuple(p.data.shape):
                raise ValueError(f"SGD.load_state_dict: parameter {i} has shape {tuple(p.data.shape)}, "
                                 f"its momentum buffer {tuple(b.shape)}")
            buffers[i] = get_array_module(p.data).array(to_numpy(b), dtype=p.data.dtype)
        self._set_hyperparameters(hyper)
        self.buffers = buffers
