"""minicnn <-> PyTorch: the same network with a copy of the same weights, in either direction.

    import minicnn as mc, torch
    model = mc.models.lenet()
    ...                                       # train it with minicnn
    net = mc.to_torch(model)                  # a torch.nn.Sequential with the trained weights
    torch.save(net.state_dict(), "lenet.pt")  # now it is an ordinary PyTorch model
    again = mc.from_torch(net)                # and back: a minicnn Sequential

Every minicnn layer has a PyTorch twin with the same arguments and the same weight
layout (Conv2d weight (C_out, C_in, KH, KW), Linear weight (out, in)), so each
direction is one line per layer. PyTorch is imported only when one of these is called.
"""
from .backend import asarray, to_numpy
from .checkpoint import LAYER_TYPES
from .layers import Conv2d, Dropout, Linear, LogSoftmax
from .optional import require
from .sequential import Sequential

SUPPORTED = ", ".join(LAYER_TYPES)
# The settings of PyTorch's layers that minicnn's lack, each with the one value minicnn computes
# with: from_torch refuses a layer where one has another value.
FIXED = {"Conv2d": dict(dilation=1, groups=1, padding_mode="zeros"),
         "MaxPool2d": dict(dilation=1, ceil_mode=False, return_indices=False),
         "AvgPool2d": dict(ceil_mode=False, count_include_pad=True, divisor_override=None),
         "Flatten": dict(start_dim=1, end_dim=-1)}


def to_torch(model, device="cpu"):
    """A ``torch.nn.Sequential`` twin of a minicnn ``Sequential``, weights copied.

    The twin has minicnn's dtype (float32 or float64), is on ``device`` ("cpu",
    "cuda", ...) and in the same train/eval mode. Parameter names match too:
    ``model.state_dict()`` and ``net.state_dict()`` have the same keys.
    """
    torch = require("torch", "minicnn.to_torch", "pip install torch", "PyTorch")
    params = model.parameters()
    dtype = torch.float64 if params and str(params[0].data.dtype) == "float64" else torch.float32
    layers = []
    for i, layer in enumerate(model.layers):
        kind = next((name for name, cls in LAYER_TYPES.items() if isinstance(layer, cls)), None)
        if kind is None:
            raise ValueError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch twin; "
                             f"expected one of {SUPPORTED}")
        # torch.nn's class of the same name takes the same arguments (AvgPool2d: padded zeros
        # count in the mean, in both).
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.config().items()}
        twin = getattr(torch.nn, kind)(**config).to(dtype)
        with torch.no_grad():
            for name, p in layer.named_parameters():
                getattr(twin, name).copy_(torch.from_numpy(to_numpy(p.data)))
        layers.append(twin)
    return torch.nn.Sequential(*layers).to(device).train(model.training)


def from_torch(net):
    """A minicnn ``Sequential`` twin of a ``torch.nn.Sequential``, weights copied.

    The layers must be among Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear,
    LogSoftmax and Dropout, with settings minicnn has (no dilation, groups,
    ceil_mode, ...); nested ``nn.Sequential`` blocks are flattened. Weights keep their
    dtype (float32 or float64) and go to minicnn's active backend. Anything else
    raises one error naming the layer and what minicnn lacks.
    """
    torch = require("torch", "minicnn.from_torch", "pip install torch", "PyTorch")
    if not isinstance(net, torch.nn.Sequential):
        raise TypeError(f"from_torch expects a torch.nn.Sequential, received {type(net).__name__}")
    layers = []
    for name, module in _leaves(net, torch.nn.Sequential):
        layer = _twin_of(name, module, torch.nn)
        for pname, p in layer.named_parameters():
            value = getattr(module, pname).detach().cpu()
            if value.dtype not in (torch.float32, torch.float64):
                raise ValueError(f"from_torch: layer {name} ({type(module).__name__}) has {pname} in "
                                 f"{value.dtype}; minicnn computes in float32 or float64")
            p.data = asarray(value.numpy().copy())
        layers.append(layer)
    return Sequential(*layers).train(net.training)


def _leaves(net, sequential, prefix=""):
    """(name, module) of every layer, nested Sequentials opened: names like "3" or "1.0"."""
    for name, module in net.named_children():
        if isinstance(module, sequential):
            yield from _leaves(module, sequential, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", module


def _twin_of(name, m, nn):
    kind = next((k for k in LAYER_TYPES if isinstance(m, getattr(nn, k))), None)
    if kind is None:
        raise ValueError(f"from_torch: layer {name} is a {type(m).__name__}, which has no minicnn "
                         f"twin; expected one of {SUPPORTED}")
    unsupported = [f"{k}={getattr(m, k)!r}" for k, v in FIXED.get(kind, {}).items()
                   if getattr(m, k) not in (v, (v, v))]             # an int setting may be a pair
    if kind == "Conv2d" and isinstance(m.padding, str) and m.padding != "valid":
        unsupported.append(f"padding={m.padding!r}")                # "same" depends on the input
    if kind == "LogSoftmax" and m.dim is None:
        unsupported.append("dim=None (give the dimension, e.g. nn.LogSoftmax(dim=1))")
    if unsupported:
        raise ValueError(f"from_torch: layer {name} ({type(m).__name__}) uses {unsupported[0]}, "
                         f"which minicnn's {kind} does not support")
    if kind == "Conv2d":
        padding = 0 if m.padding == "valid" else m.padding
        return Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, padding, bias=m.bias is not None)
    if kind == "Linear":
        return Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return LAYER_TYPES[kind](m.kernel_size, m.stride, m.padding)
    if kind == "LogSoftmax":
        return LogSoftmax(dim=m.dim)
    if kind == "Dropout":
        return Dropout(m.p)
    return LAYER_TYPES[kind]()                                      # ReLU, Flatten
