"""minicnn <-> PyTorch: the same network with a copy of the same weights, in either direction.

    import minicnn as mc, torch
    model = mc.models.lenet()                 # ... trained with minicnn
    net = mc.to_torch(model)                  # a torch.nn.Sequential with the trained weights
    torch.save(net.state_dict(), "lenet.pt")  # now it is an ordinary PyTorch model
    again = mc.from_torch(net)                # and back: a minicnn Sequential

Every registered layer with a PyTorch twin (the registry's ``torch``) takes its twin's constructor arguments and
weight layout (Conv2d (C_out, C_in, KH, KW), Linear (out, in)): a lookup per layer, the same state_dict keys.
"""
import inspect

from .backend import to_numpy
from .layers.registry import LAYERS, layer_type
from .optional import require
from .sequential import Sequential


def _twins():
    return ", ".join(sorted(name for name, entry in LAYERS.items() if entry.torch))


def to_torch(model, device="cpu"):
    """A ``torch.nn.Sequential`` twin, weights and buffers copied (minicnn's dtype), on ``device``, same train/eval."""
    torch = require("torch", "minicnn.to_torch", "pip install torch", "PyTorch")
    params = model.parameters()
    dtype = torch.float64 if params and str(params[0].data.dtype) == "float64" else torch.float32
    layers = []
    for i, layer in enumerate(model.layers):
        entry = layer_type(layer)
        if entry is None or entry.torch is None:
            raise ValueError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch twin; "
                             f"expected one of {_twins()}")
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.config().items()}
        twin = getattr(torch.nn, entry.torch)(**config).to(dtype)
        with torch.no_grad():
            for name, value in layer.state_dict().items():
                getattr(twin, name).copy_(torch.from_numpy(to_numpy(value)))
        layers.append(twin)
    return torch.nn.Sequential(*layers).to(device).train(model.training)


def from_torch(net):
    """A minicnn ``Sequential`` twin of a ``torch.nn.Sequential``, weights (in their dtype) and buffers copied; nested
    ``nn.Sequential`` blocks are flattened. Each layer must be a torch.nn class a registered layer twins (no subclass
    with its own forward), with settings minicnn has (no dilation, groups, ceil_mode, ...), or an error names it."""
    torch = require("torch", "minicnn.from_torch", "pip install torch", "PyTorch")
    if not isinstance(net, torch.nn.Sequential):
        raise TypeError(f"from_torch expects a torch.nn.Sequential, received {type(net).__name__}")
    layers = []
    for name, module in _leaves(net, torch.nn.Sequential):
        layer = _twin_of(name, module, torch.nn)
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        floats = {v.dtype for v in state.values() if v.is_floating_point()}
        for key, value in state.items():
            if value.dtype not in (torch.float32, torch.float64, torch.int64) or len(floats) > 1:
                raise ValueError(f"from_torch: layer {name} ({type(module).__name__}) has {key} in "
                                 f"{value.dtype}; minicnn computes in float32 or float64, one of them")
        if floats:                                    # keep PyTorch's dtype
            layer.to(dtype=str(floats.pop()).replace("torch.", ""))
        layer.load_state_dict({k: v.numpy() for k, v in state.items()})
        layers.append(layer)
    return Sequential(*layers).train(net.training)


def _leaves(net, sequential, prefix=""):
    """(name, module) of every layer, nested Sequentials opened: names like "3" or "1.0"."""
    _check_exact(net, sequential, f"block {prefix[:-1]}" if prefix else "the network")
    for name, module in net.named_children():
        if isinstance(module, sequential):
            yield from _leaves(module, sequential, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", module


def _check_exact(m, cls, what):
    """Refuse a subclass of ``cls`` whose forward is its own: it computes something minicnn's twin does not."""
    if type(m) is not cls and type(m).forward is not cls.forward:
        raise ValueError(f"from_torch: {what} is a {type(m).__name__}, a subclass of nn.{cls.__name__} with "
                         f"a forward of its own, which minicnn's {cls.__name__} would not compute")


def _twin_of(name, m, nn):
    entry = next((e for e in LAYERS.values() if e.torch and isinstance(m, getattr(nn, e.torch))), None)
    if entry is None:
        raise ValueError(f"from_torch: layer {name} is a {type(m).__name__}, which has no minicnn "
                         f"twin; expected one of {_twins()}")
    _check_exact(m, getattr(nn, entry.torch), f"layer {name}")
    unsupported = [f"{k}={getattr(m, k)!r}" for k, v in entry.torch_fixed.items()
                   if getattr(m, k) not in (v, (v, v))]             # an int setting may be a pair
    if entry.name == "LogSoftmax" and m.dim is None:
        unsupported.append("dim=None (give the dimension, e.g. nn.LogSoftmax(dim=1))")
    if unsupported:
        raise ValueError(f"from_torch: layer {name} ({type(m).__name__}) uses {unsupported[0]}, "
                         f"which minicnn's {entry.name} does not support")
    # The same constructor arguments, read off the torch module by name (a bias: a tensor there, a bool here).
    names = [p for p in inspect.signature(entry.cls.__init__).parameters if p != "self"]
    config = {k: (getattr(m, k) is not None) if k == "bias" else getattr(m, k) for k in names if hasattr(m, k)}
    try:
        return entry.cls(**config)
    except ValueError as e:
        raise ValueError(f"from_torch: layer {name} ({type(m).__name__}): {e}") from None
