"""Draw a digit, see what the network sees, get a live prediction: ``DrawingPad`` is the notebook widget,
``preprocess_drawing`` turns any drawing (a canvas, a photo, a PIL image) into an MNIST-style 28x28 digit."""
from .pad import EMPTY_MESSAGE, NO_MODEL_MESSAGE, DrawingPad
from .preprocess import (INK_THRESHOLD, MNIST_BOX, MNIST_CENTER_OF_MASS, MNIST_SIZE, center_of_mass,
                         preprocess_drawing)

__all__ = ["DrawingPad", "preprocess_drawing", "center_of_mass", "MNIST_CENTER_OF_MASS", "MNIST_SIZE",
           "MNIST_BOX", "INK_THRESHOLD", "NO_MODEL_MESSAGE", "EMPTY_MESSAGE"]
