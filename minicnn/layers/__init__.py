"""The layers: each one's forward and backward in one place, and the registry that lists them."""
from .activation import Dropout, LogSoftmax, ReLU
from .batchnorm import BatchNorm2d
from .conv import Conv2d
from .linear import Flatten, Linear
from .module import Module, Parameter, is_grad_enabled, no_grad
from .pooling import AvgPool2d, MaxPool2d
from .registry import LAYERS, register_layer

__all__ = ["Module", "Parameter", "no_grad", "is_grad_enabled", "register_layer", "LAYERS", "Conv2d",
           "MaxPool2d", "AvgPool2d", "BatchNorm2d", "ReLU", "Flatten", "Linear", "LogSoftmax", "Dropout"]
