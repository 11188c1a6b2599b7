"""The layers: each one's forward and backward in one place."""
from .activation import Dropout, LogSoftmax, ReLU
from .conv import Conv2d
from .linear import Flatten, Linear
from .module import Module, Parameter
from .pooling import AvgPool2d, MaxPool2d

__all__ = ["Module", "Parameter", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten",
           "Linear", "LogSoftmax", "Dropout"]
