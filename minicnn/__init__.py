"""minicnn: a convolutional neural network written by hand, forward and backward.

    import minicnn as mc
    model = mc.Sequential(mc.Conv2d(1, 8, 3), mc.ReLU(), mc.MaxPool2d(2),
                          mc.Flatten(), mc.Linear(8 * 13 * 13, 10), mc.LogSoftmax(dim=1))
"""
from .backend import asarray, get_array_module, get_backend, manual_seed, set_backend, to_numpy, xp
from .gradcheck import GradcheckResult, gradcheck
from .layers import (AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d,
                     Module, Parameter, ReLU, is_grad_enabled, no_grad, register_layer)
from .losses import CrossEntropyLoss, NLLLoss
from .optim import SGD
from .sequential import Sequential

__version__ = "0.1.0"

__all__ = ["asarray", "get_array_module", "get_backend", "manual_seed", "set_backend", "to_numpy", "xp",
           "GradcheckResult", "gradcheck", "AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout", "Flatten", "Linear",
           "LogSoftmax", "MaxPool2d", "Module", "Parameter", "ReLU", "no_grad", "is_grad_enabled", "register_layer",
           "CrossEntropyLoss", "NLLLoss", "SGD", "Sequential", "DataParallel", "to_torch", "from_torch", "models"]


def __getattr__(name):         # lazy: the core never imports DataParallel; the bridge and the zoo load when asked
    if name == "models":
        import importlib
        return importlib.import_module(f"{__name__}.models")
    if name == "DataParallel":
        from .parallel import DataParallel
        return DataParallel
    if name in ("to_torch", "from_torch"):
        from . import torch_bridge
        return getattr(torch_bridge, name)
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")
