"""minicnn: a convolutional neural network written by hand, forward and backward.

    import minicnn as mc
    model = mc.Sequential(mc.Conv2d(1, 8, 3), mc.ReLU(), mc.MaxPool2d(2),
                          mc.Flatten(), mc.Linear(8 * 13 * 13, 10), mc.LogSoftmax(dim=1))
"""
from .backend import (asarray, get_array_module, get_backend, manual_seed, set_backend, to_numpy,
                      xp)
from .gradcheck import GradcheckResult, gradcheck
from .layers import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, Module,
                     Parameter, ReLU)
from .losses import CrossEntropyLoss, NLLLoss
from .optim import SGD
from .sequential import Sequential
from .threads import get_chunk_engine, get_num_threads, set_chunk_engine, set_num_threads

__version__ = "0.1.0"

__all__ = ["asarray", "get_array_module", "get_backend", "manual_seed", "set_backend", "to_numpy",
           "xp", "GradcheckResult", "gradcheck", "AvgPool2d", "Conv2d", "Dropout", "Flatten",
           "Linear", "LogSoftmax", "MaxPool2d", "Module", "Parameter", "ReLU", "CrossEntropyLoss",
           "NLLLoss", "SGD", "Sequential", "get_chunk_engine", "get_num_threads", "set_chunk_engine",
           "set_num_threads"]


def __getattr__(name):
    # Lazy re-exports: the drawing pad pulls in optional extras only when asked for, and
    # the PyTorch bridge is loaded only when used (it imports torch when called).
    if name == "preprocess_drawing":
        from .drawing import preprocess_drawing
        return preprocess_drawing
    if name in ("to_torch", "from_torch"):
        from . import torch_bridge
        return getattr(torch_bridge, name)
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")
