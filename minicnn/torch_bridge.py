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
from .layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .sequential import Sequential

SUPPORTED = "Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear, LogSoftmax, Dropout"


def _torch(caller):
    try:
        import torch
    except ImportError:
        raise ImportError(f"minicnn.{caller} needs PyTorch, which is not installed: pip install torch") from None
    return torch


def to_torch(model, device="cpu"):
    """A ``torch.nn.Sequential`` twin of a minicnn ``Sequential``, weights copied.

    The twin has minicnn's dtype (float32 or float64), is on ``device`` ("cpu",
    "cuda", ...) and in the same train/eval mode. Parameter names match too:
    ``model.state_dict()`` and ``net.state_dict()`` have the same keys.
    """
    torch = _torch("to_torch")
    nn = torch.nn
    params = model.parameters()
    dtype = torch.float64 if params and str(params[0].data.dtype) == "float64" else torch.float32
    layers = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2d):
            twin = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                             layer.padding, bias=layer.bias is not None)
        elif isinstance(layer, Linear):
            twin = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        elif isinstance(layer, MaxPool2d):
            twin = nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        elif isinstance(layer, AvgPool2d):      # padded zeros count in the mean, in both
            twin = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, count_include_pad=True)
        elif isinstance(layer, ReLU):
            twin = nn.ReLU()
        elif isinstance(layer, Flatten):
            twin = nn.Flatten()
        elif isinstance(layer, LogSoftmax):
            twin = nn.LogSoftmax(dim=layer.dim)
        elif isinstance(layer, Dropout):
            twin = nn.Dropout(layer.p)
        else:
            raise ValueError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch twin; "
                             f"expected one of {SUPPORTED}")
        twin = twin.to(dtype)
        with torch.no_grad():
            for name, p in layer.named_parameters():
                getattr(twin, name).copy_(torch.from_numpy(to_numpy(p.data)))
        layers.append(twin)
    return nn.Sequential(*layers).to(device).train(model.training)


def from_torch(net):
    """A minicnn ``Sequential`` twin of a ``torch.nn.Sequential``, weights copied.

    The layers must be among Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear,
    LogSoftmax and Dropout, with settings minicnn has (no dilation, groups,
    ceil_mode, ...); nested ``nn.Sequential`` blocks are flattened. Weights keep their
    dtype (float32 or float64) and go to minicnn's active backend. Anything else
    raises one error naming the layer and what minicnn lacks.
    """
    torch = _torch("from_torch")
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
    kind = type(m).__name__

    def refuse(setting):
        return ValueError(f"from_torch: layer {name} ({kind}) uses {setting}, which minicnn's {kind} "
                          "does not support")

    if isinstance(m, nn.Conv2d):
        if tuple(m.dilation) != (1, 1):
            raise refuse(f"dilation={m.dilation}")
        if m.groups != 1:
            raise refuse(f"groups={m.groups}")
        if m.padding_mode != "zeros":
            raise refuse(f"padding_mode={m.padding_mode!r}")
        padding = m.padding
        if isinstance(padding, str):            # "valid" is no padding; "same" depends on the input
            if padding != "valid":
                raise refuse(f"padding={padding!r}")
            padding = 0
        return Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, padding, bias=m.bias is not None)
    if isinstance(m, nn.MaxPool2d):
        if m.dilation not in (1, (1, 1)):
            raise refuse(f"dilation={m.dilation}")
        if m.ceil_mode:
            raise refuse("ceil_mode=True")
        if m.return_indices:
            raise refuse("return_indices=True")
        return MaxPool2d(m.kernel_size, m.stride, m.padding)
    if isinstance(m, nn.AvgPool2d):
        if m.ceil_mode:
            raise refuse("ceil_mode=True")
        if not m.count_include_pad:
            raise refuse("count_include_pad=False")
        if m.divisor_override is not None:
            raise refuse(f"divisor_override={m.divisor_override}")
        return AvgPool2d(m.kernel_size, m.stride, m.padding)
    if isinstance(m, nn.ReLU):
        return ReLU()
    if isinstance(m, nn.Flatten):
        if (m.start_dim, m.end_dim) != (1, -1):
            raise refuse(f"start_dim={m.start_dim}, end_dim={m.end_dim} (minicnn flattens all but the batch)")
        return Flatten()
    if isinstance(m, nn.Linear):
        return Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if isinstance(m, nn.LogSoftmax):
        if m.dim is None:
            raise refuse("dim=None (give the dimension, e.g. nn.LogSoftmax(dim=1))")
        return LogSoftmax(dim=m.dim)
    if isinstance(m, nn.Dropout):
        return Dropout(m.p)
    raise ValueError(f"from_torch: layer {name} is a {kind}, which has no minicnn twin; "
                     f"expected one of {SUPPORTED}")
