"""Sequential: layers in a row. Forward runs them in order, backward in reverse."""
from .backend import get_array_module, to_numpy
from .layers.module import Module


class Sequential(Module):
    """Apply layers in the order written; backward runs them in reverse.

        model = Sequential(Conv2d(1, 8, 3), ReLU(), MaxPool2d(2), Flatten(), Linear(8 * 13 * 13, 10))
        y = model.forward(x)             # every layer's forward, first to last
        dx = model.backward(dy)          # every layer's backward, last to first
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential layer {i} is a {type(layer).__name__}, not a minicnn layer")
        self.layers = list(layers)
        self.metadata = {}        # what a checkpoint records beside the weights (classes, settings)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            try:
                x = layer.forward(x)
            except ValueError as e:                      # say which layer refused its input
                raise ValueError(f"Sequential layer {i}: {e}") from None
        return x

    def backward(self, grad_output, input_grad=True):
        """Backpropagate dL/d(output) through every layer, last to first; return dL/d(input).

        With ``input_grad=False`` (what training uses) the first layer skips a
        gradient that nothing would read, and None is returned.
        """
        first = self.layers[0] if self.layers else None
        skip = not input_grad and hasattr(first, "needs_input_grad")
        if skip:
            first.needs_input_grad = False
        try:
            for layer in reversed(self.layers):
                grad_output = layer.backward(grad_output)
        finally:
            if skip:
                first.needs_input_grad = True
        return grad_output if input_grad else None

    def named_parameters(self):
        """("0.weight", Parameter), ...: PyTorch's names, layer index first."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def train(self, mode=True):
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def to(self, device=None, dtype=None):
        for layer in self.layers:
            layer.to(device, dtype)
        return self

    def __repr__(self):
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    # -- weights ------------------------------------------------------------------------
    def state_dict(self):
        """{"0.weight": array, "0.bias": array, ...}, PyTorch's naming."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters; names and shapes must match exactly."""
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing or 'nothing'}, "
                             f"unexpected {unexpected or 'nothing'}")
        for name, p in params.items():
            if tuple(state[name].shape) != tuple(p.data.shape):
                raise ValueError(f"parameter {name!r} has shape {tuple(p.data.shape)} in the model "
                                 f"but {tuple(state[name].shape)} in the state dict")
        for name, p in params.items():
            xp = get_array_module(p.data)
            p.data = xp.array(to_numpy(state[name]), dtype=p.data.dtype)  # a copy on the model's device
            p.grad = None

    # -- files and the summary table (checkpoint.py, summary.py) ------------------------------
    def save(self, path, metadata=None):
        """Write the architecture, weights and metadata to a .npz file (no pickle)."""
        from .checkpoint import save
        return save(self, path, metadata)

    @classmethod
    def load(cls, path):
        """Rebuild a Sequential saved by ``save``."""
        from .checkpoint import load
        return load(path)

    def summary_rows(self, input_shape):
        """[(name, output shape, parameter count, forward FLOPs per sample)], one per layer."""
        from .summary import summary_rows
        return summary_rows(self, input_shape)

    def summary(self, input_shape):
        """Print each layer's output shape, parameter count and forward FLOPs (one sample)."""
        from .summary import summary
        summary(self, input_shape)
