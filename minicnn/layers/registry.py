"""The one list of layer types, by name: what saving, loading, the PyTorch bridge, the summary,
DataParallel and the shared layer tests read. A layer joins it with a decorator:

    @minicnn.register_layer
    class LeakyReLU(minicnn.Module):
        def __init__(self, negative_slope=0.01): ...
        def config(self): return dict(negative_slope=self.negative_slope)   # what rebuilds it

Then a network holding it can be saved and loaded by name, as Keras's ``register_keras_serializable``
allows. docs/adding-a-layer.md walks through it.
"""

LAYERS = {}     # name -> LayerType


class LayerType:
    """What the library knows of one registered layer class.

    torch        the torch.nn class that takes the same constructor arguments (None: no twin)
    torch_fixed  settings of that torch class which this layer lacks, each with the one value it computes
    per_sample   each sample's output depends on that sample alone, with no random numbers
                 (DataParallel may run such a layer on chunks of the batch)
    example      () -> (layer, input shape): a small case the library's shared tests check
    """

    def __init__(self, cls, torch=None, torch_fixed=None, per_sample=False, example=None):
        self.cls, self.name = cls, cls.__name__
        self.torch, self.torch_fixed = torch, dict(torch_fixed or {})
        self.per_sample, self.example = per_sample, example


def register_layer(cls=None, *, torch=None, torch_fixed=None, per_sample=False, example=None):
    """Class decorator: register a layer under its class name (``@register_layer`` or with options)."""
    def register(cls):
        from .module import Module
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"register_layer decorates a class derived from minicnn.Module, received {cls!r}")
        known = LAYERS.get(cls.__name__)
        if known is not None and known.cls.__module__ != cls.__module__:
            raise ValueError(f"a layer named {cls.__name__!r} is registered already (from {known.cls.__module__}); "
                             "give yours another name")
        LAYERS[cls.__name__] = LayerType(cls, torch, torch_fixed, per_sample, example)
        return cls
    return register if cls is None else register(cls)


def layer_type(layer):
    """The LayerType of ``layer``'s exact class, or None: a subclass may compute something else."""
    entry = LAYERS.get(type(layer).__name__)
    return entry if entry is not None and entry.cls is type(layer) else None
