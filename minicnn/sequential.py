"""Sequential: layers in a row. Forward runs them in order, backward in reverse."""
from . import checkpoint, summary
from .layers.module import Module
from .layers.registry import register_layer


@register_layer
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

    def named_children(self):
        """("0", first layer), ("1", second layer), ...: PyTorch's names ("0.weight")."""
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        """A layer, or for a slice (``model[1:3]``) a Sequential of those layers (the same objects)."""
        return Sequential(*self.layers[i]) if isinstance(i, slice) else self.layers[i]

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

        With ``input_grad=False`` (what training uses) the first layer skips that gradient: None is returned.
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

    # -- files and the summary table (checkpoint.py, summary.py) ------------------------------
    def save(self, path, metadata=None, **options):
        """Write the architecture, weights, buffers and metadata to a .npz file (no pickle)."""
        return checkpoint.save(self, path, metadata, **options)

    @classmethod
    def load(cls, path):
        """Rebuild a Sequential saved by ``save``."""
        model = checkpoint.load(path)
        if not isinstance(model, Sequential):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a Sequential: "
                             "use minicnn.checkpoint.load(path)")
        return model

    def summary_rows(self, input_shape):
        """[(name, output shape, parameter count, forward FLOPs per sample)], one per layer."""
        return summary.summary_rows(self, input_shape)

    def summary(self, input_shape):
        """Print each layer's output shape, parameter count and forward FLOPs (one sample)."""
        summary.summary(self, input_shape)
