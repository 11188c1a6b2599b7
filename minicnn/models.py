"""The model zoo: networks from the two documents that inspired minicnn.

Both are written Conv2d -> MaxPool2d -> ReLU where the documents write Conv2d -> ReLU -> MaxPool2d: ReLU keeps order,
so maxpool(relu(x)) == relu(maxpool(x)), the same function and gradients, on a quarter of the numbers (lesson 02).
"""
from .layers import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .sequential import Sequential


def lenet(n_features=24, num_classes=10, in_channels=1):
    """The Quick, Draw! article's LeNet: two 5x5 convolutions of ``n_features`` filters.

    (N, 1, 28, 28) -> conv 5x5 -> (N, F, 24, 24) -> pool, relu -> (N, F, 12, 12)
    -> conv 5x5 -> (N, F, 8, 8) -> pool, relu -> (N, F, 4, 4) -> Linear 16F -> 50 -> num_classes.
    The article's code never applied its last Linear layer; here it does, then LogSoftmax (for NLLLoss).
    """
    f = int(n_features)
    return Sequential(
        Conv2d(in_channels, f, 5), MaxPool2d(2), ReLU(),
        Conv2d(f, f, 5), MaxPool2d(2), ReLU(),
        Flatten(),
        Linear(f * 4 * 4, 50), ReLU(),
        Linear(50, num_classes),
        LogSoftmax(dim=1),
    )


def convnet(num_classes=10, in_channels=1, dropout=0.5):
    """The Keras MNIST example's shape: 3x3 conv 32, pool, 3x3 conv 64, pool, dropout.

    (N, 1, 28, 28) -> (N, 32, 26, 26) -> (N, 32, 13, 13) -> (N, 64, 11, 11)
    -> (N, 64, 5, 5) -> 1600 -> 128 -> num_classes.
    """
    return Sequential(
        Conv2d(in_channels, 32, 3), MaxPool2d(2), ReLU(),
        Conv2d(32, 64, 3), MaxPool2d(2), ReLU(),
        Flatten(),
        Dropout(dropout),
        Linear(1600, 128), ReLU(),
        Linear(128, num_classes),
        LogSoftmax(dim=1),
    )


MODELS = {"lenet": lenet, "convnet": convnet}
